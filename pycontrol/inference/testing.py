"""Builders of small, real model export folders (docs/model-manifest.md) for tests and benches.

LightGBM boosters converted with onnxmltools, a small torch LSTM and a stacking meta-learner
exported with ``torch.onnx``, each with a manifest whose IO, hashes and bounds are taken from
the files written, plus registry helpers (publish a version, move an alias). Nothing here is
used by the engine; heavy imports (lightgbm, torch, onnx) happen inside the functions.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from pycontrol._core import FeatureSet

CLASSES = {
    2: (["DOWN", "UP"], [-1, 1]),
    3: (["SELL", "HOLD", "BUY"], [-1, 0, 1]),
    5: (["STRONG_SELL", "SELL", "HOLD", "BUY", "STRONG_BUY"], [-2, -1, 0, 1, 2]),
}


@dataclass(frozen=True)
class Export:
    """An export folder and the data it was fit on (for parity checks)."""

    path: Path
    model_id: str
    x: np.ndarray[Any, Any]
    feature_names: list[str]


def feature_names(n: int) -> list[str]:
    """The first `n` features of the default bar set: real names with a real hash."""
    return list(FeatureSet.default().names()[:n])


def synthetic_rows(n: int, n_features: int, seed: int) -> np.ndarray[Any, Any]:
    """Float32 rows with the awkward values trees meet: exact zeros and NaNs."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, n_features)).astype(np.float32)
    x[rng.random(x.shape) < 0.05] = 0.0
    x[rng.random(x.shape) < 0.05] = np.nan
    return x


def _labels(x: np.ndarray[Any, Any], n_classes: int) -> np.ndarray[Any, Any]:
    score = np.nan_to_num(x[:, 0]) + 0.5 * np.nan_to_num(x[:, 1]) * np.nan_to_num(x[:, 2])
    edges = np.quantile(score, np.linspace(0, 1, n_classes + 1)[1:-1])
    labels: np.ndarray[Any, Any] = np.searchsorted(edges, score).astype(np.int64)
    return labels


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _onnx_io(model_path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """IO of an ONNX file as the manifest writes it (dynamic dims as -1)."""
    import onnx

    m = onnx.load(str(model_path))
    names = {1: "float32", 7: "int64", 11: "float64", 6: "int32"}

    def spec(v: Any) -> dict[str, Any]:
        t = v.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else -1 for d in t.shape.dim]
        return {"name": v.name, "dtype": names.get(t.elem_type, str(t.elem_type)), "shape": dims}

    inits = {i.name for i in m.graph.initializer}
    ins = [spec(i) for i in m.graph.input if i.name not in inits]
    return ins, [spec(o) for o in m.graph.output]


def write_manifest(
    out: Path,
    *,
    family: str,
    model_id: str,
    kind: str,
    n_classes: int,
    names: list[str],
    x: np.ndarray[Any, Any] | None,
    native: bool,
    lookback: int | None = None,
    members: list[dict[str, str]] | None = None,
    created_at: datetime | None = None,
    max_age_days: float | None = 30,
) -> dict[str, Any]:
    """Writes `manifest.json` for the files in `out` and returns it."""
    classes, values = CLASSES[n_classes]
    ins, outs = _onnx_io(out / "model.onnx")
    bounds = None
    if x is not None:
        flat = x.reshape(-1, len(names))
        bounds = {
            "min": [float(v) for v in np.nanmin(flat, axis=0)],
            "max": [float(v) for v in np.nanmax(flat, axis=0)],
        }
    try:
        fs_hash = FeatureSet(names).hash
    except Exception:  # stacking inputs are member probabilities, not features
        fs_hash = hashlib.sha256("\n".join(names).encode()).hexdigest()[:16]
    when = (created_at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    manifest: dict[str, Any] = {
        "schema_version": 1,
        "family": family,
        "model_id": model_id,
        "created_at": when,
        "kind": kind,
        "classes": classes,
        "class_values": values,
        "feature_set": {"hash": fs_hash, "names": names, "timeframe": "1m"},
        "onnx": {
            "file": "model.onnx",
            "sha256": sha256(out / "model.onnx"),
            "opset": 15,
            "inputs": ins,
            "outputs": outs,
        },
        "native": (
            {
                "file": "model.lgbm.txt",
                "format": "lightgbm-text",
                "sha256": sha256(out / "model.lgbm.txt"),
            }
            if native
            else None
        ),
        "sequence": {"lookback": lookback} if lookback else None,
        "members": members,
        "input_bounds": bounds,
        "max_age_days": max_age_days,
        "metrics": {},
        "seeds": [0],
        "lineage": {"data": [], "code_commit": "unknown", "trial_count": 1},
        "parity": None,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest


def _fix_batch_dims(model: Any) -> None:
    """onnxmltools declares `label` as shape [1]; the contract says [-1] (any batch)."""
    for o in model.graph.output:
        dims = o.type.tensor_type.shape.dim
        if dims:
            dims[0].Clear()
            dims[0].dim_param = "N"


def make_lightgbm(
    out: Path,
    *,
    n_classes: int = 3,
    n_features: int = 8,
    n_trees: int = 20,
    num_leaves: int = 15,
    n_rows: int = 3000,
    seed: int = 0,
    family: str = "test_family",
    model_id: str | None = None,
    created_at: datetime | None = None,
    max_age_days: float | None = 30,
    x: np.ndarray[Any, Any] | None = None,
    names: list[str] | None = None,
) -> Export:
    """Trains a LightGBM booster and exports it (ONNX + text dump): on `x` with column
    `names` when given (e.g. real features of a file), else on synthetic rows."""
    import lightgbm as lgb
    import onnxmltools
    from onnxmltools.convert.common.data_types import FloatTensorType

    out.mkdir(parents=True, exist_ok=True)
    if x is None:
        names = feature_names(n_features)
        x = synthetic_rows(n_rows, n_features, seed)
    else:
        x = np.ascontiguousarray(x, dtype=np.float32)
        n_features = x.shape[1]
        names = names or feature_names(n_features)
    y = _labels(x, n_classes)
    params: dict[str, Any] = {
        "objective": "binary" if n_classes == 2 else "multiclass",
        "num_leaves": num_leaves,
        "learning_rate": 0.1,
        "min_data_in_leaf": 5,
        "num_threads": 1,
        "seed": seed,
        "deterministic": True,
        "verbose": -1,
    }
    if n_classes > 2:
        params["num_class"] = n_classes
    booster = lgb.train(params, lgb.Dataset(x, y, feature_name=names), num_boost_round=n_trees)
    booster.save_model(str(out / "model.lgbm.txt"))
    onx = onnxmltools.convert_lightgbm(
        booster,
        initial_types=[("input", FloatTensorType([None, n_features]))],
        zipmap=False,
        target_opset=15,
    )
    _fix_batch_dims(onx)
    (out / "model.onnx").write_bytes(onx.SerializeToString())
    mid = model_id or f"{family}-lightgbm-{seed}"
    write_manifest(
        out,
        family=family,
        model_id=mid,
        kind="lightgbm",
        n_classes=n_classes,
        names=names,
        x=x,
        native=True,
        created_at=created_at,
        max_age_days=max_age_days,
    )
    return Export(out, mid, x, names)


def make_lstm(
    out: Path,
    *,
    n_classes: int = 3,
    n_features: int = 8,
    lookback: int = 16,
    hidden: int = 16,
    seed: int = 0,
    family: str = "test_family",
    model_id: str | None = None,
) -> Export:
    """A small (untrained, seeded) LSTM classifier with softmax inside the graph."""
    import torch

    torch.manual_seed(seed)

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = torch.nn.LSTM(n_features, hidden, batch_first=True)
            self.head = torch.nn.Linear(hidden, n_classes)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h, _ = self.lstm(x)
            return torch.softmax(self.head(h[:, -1, :]), dim=-1)

    out.mkdir(parents=True, exist_ok=True)
    net = Net().eval()
    names = feature_names(n_features)
    x = np.random.default_rng(seed).normal(size=(256, lookback, n_features)).astype(np.float32)
    _torch_export(net, torch.from_numpy(x[:2]), out / "model.onnx")
    mid = model_id or f"{family}-lstm-{seed}"
    write_manifest(
        out,
        family=family,
        model_id=mid,
        kind="lstm",
        n_classes=n_classes,
        names=names,
        x=x,
        native=False,
        lookback=lookback,
    )
    return Export(out, mid, x, names)


def _torch_export(net: Any, example: Any, path: Path) -> None:
    """Legacy (TorchScript) exporter, batch axis dynamic; its deprecation and tracer
    warnings are expected here and silenced."""
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            net,
            (example,),
            str(path),
            input_names=["input"],
            output_names=["probabilities"],
            dynamic_axes={"input": {0: "N"}, "probabilities": {0: "N"}},
            opset_version=15,
            dynamo=False,
        )


def make_stacking(
    out: Path,
    members: list[Export],
    member_classes: list[int],
    *,
    n_classes: int = 3,
    seed: int = 0,
    family: str = "test_family",
    model_id: str | None = None,
) -> Export:
    """A stacking meta-learner (linear + softmax over the members' probabilities)."""
    import torch

    torch.manual_seed(seed)
    width = sum(member_classes)
    net = torch.nn.Sequential(torch.nn.Linear(width, n_classes), torch.nn.Softmax(dim=-1)).eval()
    out.mkdir(parents=True, exist_ok=True)
    _torch_export(net, torch.rand(2, width), out / "model.onnx")
    names = [
        f"{m.model_id}:p{k}" for m, n in zip(members, member_classes, strict=True) for k in range(n)
    ]
    mid = model_id or f"{family}-stacking-{seed}"
    bounds_x = np.concatenate([np.zeros((1, width)), np.ones((1, width))]).astype(np.float32)
    write_manifest(
        out,
        family=family,
        model_id=mid,
        kind="stacking",
        n_classes=n_classes,
        names=names,
        x=bounds_x,
        native=False,
        members=[{"model_id": m.model_id, "kind": "member"} for m in members],
    )
    return Export(out, mid, bounds_x, names)


def publish(root: Path, export: Path, family: str, version: str) -> Path:
    """Copies an export folder into the registry layout `<root>/<family>/<version>/`."""
    dest = root / family / version
    shutil.copytree(export, dest)
    return dest


def set_alias(root: Path, family: str, alias: str, version: str | None) -> None:
    """Points `alias` of `family` at `version`, rewriting aliases.json atomically."""
    path = root / family / "aliases.json"
    aliases: dict[str, str | None] = {"candidate": None, "staging": None, "production": None}
    if path.exists():
        aliases.update(json.loads(path.read_text()))
    aliases[alias] = version
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as f:
        json.dump(aliases, f)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)
