"""Builders of small, real model export folders (docs/model-manifest.md) for tests and benches.

LightGBM models converted with onnxmltools, a small torch LSTM and a stacking meta-learner
exported with ``torch.onnx``. Every folder is finished by :func:`finish_export` through the
research pipeline's own writer (:mod:`pycontrol.training.export`): the ONNX interface read from
the graph, sha256 of the files, input bounds, and a real parity run (onnxruntime against the
framework, >= 10,000 rows), so a change to the manifest format is made in one place.

- inference/hot-swap: :func:`make_lightgbm`, :func:`make_lstm`, :func:`make_stacking`,
  :func:`publish`, :func:`set_alias`;
- registry: :func:`build_export` (a FeatureSet-shaped LightGBM with held-out metrics beside
  majority and logistic baselines), :func:`derive` (a variant: new version id, edited
  manifest, same model files) and :func:`set_accuracy`.

Nothing here is used by the engine; heavy imports (lightgbm, torch, onnx) happen inside the
functions.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import shutil
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from pycontrol._core import FeatureSet
from pycontrol.data.manifest import sha256_file
from pycontrol.training.baselines import LogisticBaseline, MajorityClass
from pycontrol.training.export import input_bounds, model_id, onnx_io, run_parity, write_manifest
from pycontrol.training.parity import MIN_ROWS

Arr = np.ndarray[Any, Any]
CLASSES = {
    2: (["DOWN", "UP"], [-1, 1]),
    3: (["SELL", "HOLD", "BUY"], [-1, 0, 1]),
    5: (["STRONG_SELL", "SELL", "HOLD", "BUY", "STRONG_BUY"], [-2, -1, 0, 1, 2]),
}
_ids = itertools.count()
sha256 = sha256_file


@dataclass(frozen=True)
class Export:
    """An export folder and the data it was fit on (for parity checks)."""

    path: Path
    model_id: str
    x: Arr
    feature_names: list[str]


def feature_names(n: int) -> list[str]:
    """The first `n` features of the default bar set: real names with a real hash."""
    return list(FeatureSet.default().names()[:n])


def synthetic_rows(n: int, n_features: int, seed: int) -> Arr:
    """Float32 rows with the awkward values trees meet: exact zeros and NaNs."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, n_features)).astype(np.float32)
    x[rng.random(x.shape) < 0.05] = 0.0
    x[rng.random(x.shape) < 0.05] = np.nan
    return x


def _labels(x: Arr, n_classes: int) -> Arr:
    score = np.nan_to_num(x[:, 0]) + 0.5 * np.nan_to_num(x[:, 1]) * np.nan_to_num(x[:, 2])
    edges = np.quantile(score, np.linspace(0, 1, n_classes + 1)[1:-1])
    labels: Arr = np.searchsorted(edges, score).astype(np.int64)
    return labels


def _feature_set_hash(names: Sequence[str]) -> str:
    try:
        return str(FeatureSet(list(names)).hash)
    except Exception:  # stacking inputs are member probabilities, not features
        return hashlib.sha256("\n".join(names).encode()).hexdigest()[:16]


def finish_export(
    out: Path,
    *,
    family: str,
    kind: str,
    model_id: str,
    n_classes: int,
    names: Sequence[str],
    train_x: Arr,
    held_out: Arr,
    reference: Callable[[Arr], Arr],
    reference_name: str,
    sequence: Mapping[str, Any] | None = None,
    members: Sequence[Mapping[str, Any]] | None = None,
    created: datetime | None = None,
    max_age_days: int | None = 30,
    metrics: Mapping[str, Any] | None = None,
    seeds: Sequence[int] = (0,),
    lineage: Mapping[str, Any] | None = None,
    feature_set_hash: str | None = None,
) -> dict[str, Any]:
    """Writes ``parity.json`` and ``manifest.json`` for the model files already in ``out``
    (``model.onnx``, and ``model.lgbm.txt`` if there) with the pipeline's functions; the
    classes are ``CLASSES[n_classes]``."""
    classes, class_values = CLASSES[n_classes]
    info = onnx_io(out / "model.onnx")
    info["native"] = "model.lgbm.txt" if (out / "model.lgbm.txt").exists() else None
    bounds = input_bounds(train_x)
    input_name = info["inputs"][0]["name"]
    par = run_parity(out, input_name, reference, held_out, bounds, reference_name)
    return write_manifest(
        out,
        family=family,
        model_id=model_id,
        created=created or datetime.now(UTC).replace(microsecond=0),
        kind=kind,
        classes=classes,
        class_values=class_values,
        feature_set={
            "hash": feature_set_hash or _feature_set_hash(names),
            "names": list(names),
            "timeframe": "1m",
        },
        onnx_info=info,
        sequence=sequence,
        members=members,
        bounds=bounds,
        max_age_days=max_age_days,
        metrics=metrics or {},
        seeds=seeds,
        lineage=lineage or {"data": [], "code_commit": "unknown", "trial_count": 1},
        parity_result=par,
    )


def _fix_batch_dims(model: Any) -> None:
    """onnxmltools declares `label` as shape [1]; the contract says [-1] (any batch)."""
    for o in model.graph.output:
        dims = o.type.tensor_type.shape.dim
        if dims:
            dims[0].Clear()
            dims[0].dim_param = "N"


def _lightgbm_onnx(model: Any, n_features: int, path: Path) -> None:
    from onnxmltools import convert_lightgbm
    from onnxmltools.convert.common.data_types import FloatTensorType

    onx = convert_lightgbm(
        model,
        initial_types=[("input", FloatTensorType([None, n_features]))],
        zipmap=False,
        target_opset=15,
    )
    _fix_batch_dims(onx)
    path.write_bytes(onx.SerializeToString())


def _booster_proba(booster: Any) -> Callable[[Arr], Arr]:
    def proba(x: Arr) -> Arr:
        p = np.asarray(booster.predict(x))
        return np.column_stack([1 - p, p]) if p.ndim == 1 else p

    return proba


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
    max_age_days: int | None = 30,
    x: Arr | None = None,
    names: list[str] | None = None,
    drift_reference: bool = False,
) -> Export:
    """Trains a LightGBM booster and exports it (ONNX + text dump): on `x` with column
    `names` when given (e.g. real features of a file), else on synthetic rows. Parity runs on
    fresh synthetic rows (10,000, unseen in training), or on `x` itself when given."""
    import lightgbm as lgb

    out.mkdir(parents=True, exist_ok=True)
    if x is None:
        names = feature_names(n_features)
        x = synthetic_rows(n_rows, n_features, seed)
        held_out = synthetic_rows(MIN_ROWS, n_features, seed + 1)
    else:
        x = np.ascontiguousarray(x, dtype=np.float32)
        n_features = x.shape[1]
        names = names or feature_names(n_features)
        held_out = x
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
    _lightgbm_onnx(booster, n_features, out / "model.onnx")
    mid = model_id or f"{family}-lightgbm-{seed}"
    if drift_reference:
        # the training rows' reference and the held-out rows' calibration, as `train` writes
        from pycontrol.training import drift_reference as dref

        cal = dref.calibration_summary(
            _booster_proba(booster)(held_out), _labels(held_out, n_classes), np.arange(n_classes)
        )
        dref.write(out, dref.build(x, names, cal))
    finish_export(
        out,
        family=family,
        kind="lightgbm",
        model_id=mid,
        n_classes=n_classes,
        names=names,
        train_x=x,
        held_out=held_out,
        reference=_booster_proba(booster),
        reference_name="lightgbm",
        created=created_at,
        max_age_days=max_age_days,
        seeds=[seed],
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
            output_names=["label", "probabilities"],
            dynamic_axes={"input": {0: "N"}, "label": {0: "N"}, "probabilities": {0: "N"}},
            opset_version=15,
            dynamo=False,
        )


def _with_label(net: Any, class_values: Sequence[int]) -> Any:
    """``net`` (probabilities) plus the contract's ``label`` output: the class value of the
    arg-max column."""
    import torch

    class Labelled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net
            self.register_buffer("values", torch.tensor(list(class_values), dtype=torch.int64))

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            p = self.net(x)
            values: torch.Tensor = self.get_buffer("values")
            return values[p.argmax(dim=-1)], p

    return Labelled().eval()


def _torch_proba(net: Any) -> Callable[[Arr], Arr]:
    import torch

    def proba(x: Arr) -> Arr:
        with torch.no_grad():
            return np.asarray(net(torch.from_numpy(np.asarray(x, np.float32))).numpy())

    return proba


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
    values = CLASSES[n_classes][1]
    names = feature_names(n_features)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(256, lookback, n_features)).astype(np.float32)
    held_out = rng.normal(size=(MIN_ROWS, lookback, n_features)).astype(np.float32)
    _torch_export(_with_label(net, values), torch.from_numpy(x[:2]), out / "model.onnx")
    mid = model_id or f"{family}-lstm-{seed}"
    finish_export(
        out,
        family=family,
        kind="lstm",
        model_id=mid,
        n_classes=n_classes,
        names=names,
        train_x=x,
        held_out=held_out,
        reference=_torch_proba(net),
        reference_name="torch",
        sequence={"lookback": lookback},
        seeds=[seed],
    )
    return Export(out, mid, x, names)


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
    values = CLASSES[n_classes][1]
    _torch_export(_with_label(net, values), torch.rand(2, width), out / "model.onnx")
    names = [
        f"{m.model_id}:p{k}" for m, n in zip(members, member_classes, strict=True) for k in range(n)
    ]
    mid = model_id or f"{family}-stacking-{seed}"
    bounds_x = np.concatenate([np.zeros((1, width)), np.ones((1, width))]).astype(np.float32)
    # parity rows: each member's block a probability vector
    rng = np.random.default_rng(seed)
    held_out = np.hstack([rng.dirichlet(np.ones(n), size=MIN_ROWS) for n in member_classes])
    finish_export(
        out,
        family=family,
        kind="stacking",
        model_id=mid,
        n_classes=n_classes,
        names=names,
        train_x=bounds_x,
        held_out=held_out.astype(np.float32),
        reference=_torch_proba(net),
        reference_name="torch",
        members=[{"model_id": m.model_id, "kind": "member"} for m in members],
        seeds=[seed],
    )
    return Export(out, mid, bounds_x, names)


def publish(root: Path, export: Path, family: str, version: str) -> Path:
    """Copies an export folder into the registry layout `<root>/<family>/<version>/`."""
    dest = root / family / version
    shutil.copytree(export, dest)
    return dest


def set_alias(root: Path, family: str, alias: str, version: str | None) -> None:
    """Points `alias` of `family` at `version`, rewriting aliases.json atomically, and audits
    the move the way the registry does (a registration entry with the manifest's sha256 the
    first time a version is seen, then the move), so the core's audit check vouches for it.
    Gates are not evaluated: this is a fixture, not a promotion."""
    from pycontrol.data.manifest import sha256_file
    from pycontrol.registry.store import Registry

    reg = Registry(root)
    if version is not None and reg.registered_manifest_sha256(family, version) is None:
        sha = sha256_file(root / family / version / "manifest.json")
        reg._append_audit(
            {
                "action": "register",
                "family": family,
                "alias": "candidate",
                "from": None,
                "to": version,
                "moved": False,
                "reason": "fixture",
                "evaluation": {"manifest_sha256": sha},
            }
        )
    previous = reg.aliases(family)[alias] if (root / family / "aliases.json").exists() else None
    reg._append_audit(
        {
            "action": "promote",
            "family": family,
            "alias": alias,
            "from": previous,
            "to": version,
            "moved": True,
            "reason": "fixture",
            "evaluation": None,
        }
    )
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


# -- registry fixtures ---------------------------------------------------------------------


def _registry_rows(n: int, n_features: int, seed: int) -> tuple[Arr, Arr]:
    """Rows with a non-linear signal in four columns (trees find it, a linear model does not)
    and noise elsewhere; five quantile classes, so the majority class is about 20%."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_features)).astype(np.float32)
    s = np.sin(2 * X[:, 0]) + X[:, 1] * X[:, 2] + 0.5 * np.abs(X[:, 3]) + 0.3 * rng.normal(size=n)
    y = np.digitize(s, np.quantile(s, [0.2, 0.4, 0.6, 0.8])).astype(np.int64)
    return X, y


def _scores(y: Arr, proba: Arr) -> dict[str, float]:
    pred = proba.argmax(axis=1)
    recalls = [float(np.mean(pred[y == c] == c)) for c in np.unique(y)]
    p = np.clip(proba[np.arange(len(y)), y], 1e-15, 1.0)
    return {
        "accuracy": float(np.mean(pred == y)),
        "balanced_accuracy": float(np.mean(recalls)),
        "log_loss": float(-np.mean(np.log(p))),
    }


def _calibration_block(proba: Arr, y: Arr) -> dict[str, Any]:
    """ECE and Brier of the held-out probabilities (no calibrator in a synthetic export)."""
    from pycontrol.training.calibration import brier, ece

    classes = np.arange(proba.shape[1])
    base = np.array([np.mean(y == c) for c in classes])
    b = brier(proba, y, classes)
    e = ece(proba, y, classes)
    return {
        "method": "none",
        "ece": e,
        "brier": b,
        "ece_raw": e,
        "brier_raw": b,
        "brier_climatology": brier(np.tile(base, (len(y), 1)), y, classes),
    }


def _synthetic_trading(proba: Arr, y: Arr) -> dict[str, Any]:
    """The manifest's trading block for a synthetic export: long (short) when the two top
    (bottom) classes are likelier, the move of a row is its class code (-2..2), "days" of 15
    rows; one trial, so the deflated Sharpe is the PSR and PBO is undefined."""
    from pycontrol.registry.trials import deflated

    score = proba[:, 3:].sum(axis=1) - proba[:, :2].sum(axis=1)
    pnl = np.sign(score) * (y - 2.0)
    daily = pnl[: len(pnl) // 15 * 15].reshape(-1, 15).sum(axis=1)
    ic = float(np.corrcoef(np.argsort(np.argsort(score)), np.argsort(np.argsort(y)))[0, 1])
    d = deflated(daily, [{"sharpe_daily": None}])
    return {"net_usd": float(pnl.sum()), "psr": d["dsr"], "pbo": None, "rank_ic": ic, **d}


def build_export(
    out_dir: str | Path,
    *,
    family: str = "regime_hourly",
    feature_set: FeatureSet | None = None,
    seed: int = 0,
    n_rows: int = 1500,
    n_estimators: int = 25,
) -> dict[str, Any]:
    """Trains, exports and checks one five-class LightGBM model on rows shaped like
    ``feature_set`` (default ``FeatureSet.default()``) into ``out_dir`` (created), with
    held-out metrics beside majority and logistic baselines; returns its manifest.
    Single-threaded and seeded, so the same arguments give the same model."""
    import lightgbm as lgb

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fs = feature_set or FeatureSet.default()
    names = fs.names()
    X, y = _registry_rows(n_rows, len(names), seed)
    n_train = int(n_rows * 0.8)
    Xtr, ytr, Xte, yte = X[:n_train], y[:n_train], X[n_train:], y[n_train:]

    clf = lgb.LGBMClassifier(
        n_estimators=n_estimators,
        num_leaves=15,
        learning_rate=0.1,
        min_child_samples=10,
        n_jobs=1,
        random_state=seed,
        verbose=-1,
    )
    clf.fit(Xtr, ytr)
    _lightgbm_onnx(clf, len(names), out / "model.onnx")
    clf.booster_.save_model(str(out / "model.lgbm.txt"))

    proba_te = np.asarray(clf.predict_proba(Xte))
    model = _scores(yte, proba_te)
    baselines = {
        "majority": _scores(yte, MajorityClass().fit(Xtr, ytr).predict_proba(Xte)),
        "logistic": _scores(yte, LogisticBaseline(seed=seed).fit(Xtr, ytr).predict_proba(Xte)),
    }
    best = max(baselines, key=lambda b: baselines[b]["accuracy"])
    best_acc = baselines[best]["accuracy"]
    fold = {"fold": 0, "n_train": n_train, "n_test": n_rows - n_train}
    created = datetime.now(UTC).replace(microsecond=0)
    return finish_export(
        out,
        family=family,
        kind="lightgbm",
        model_id=model_id(family, "lightgbm", created, f"{seed}/{next(_ids)}"),
        n_classes=5,
        names=names,
        train_x=Xtr,
        held_out=Xte,
        reference=lambda x: np.asarray(clf.predict_proba(x)),
        reference_name="lightgbm",
        created=created,
        metrics={
            "primary": "accuracy",
            "folds": [{**fold, "model": model, "baselines": baselines}],
            "aggregate": {
                "model": {**model, "accuracy_std": 0.0},
                "baselines": baselines,
                "best_baseline": best,
                "best_baseline_accuracy": best_acc,
                "accuracy_over_best_baseline": model["accuracy"] - best_acc,
                "trading": _synthetic_trading(proba_te, yte),
                "calibration": _calibration_block(proba_te, yte),
            },
        },
        seeds=[seed],
        lineage={
            "data": [hashlib.sha256(X.tobytes() + y.tobytes()).hexdigest()],
            "code_commit": "unknown",
            "config": {"path": None, "sha256": None},
            "splitter": {"kind": "holdout", "train_rows": n_train, "test_rows": n_rows - n_train},
            "trial_count": 1,
        },
        feature_set_hash=fs.hash,
    )


def _rewrite(folder: Path, manifest: dict[str, Any]) -> None:
    """Writes an edited manifest back, and ``parity.json`` beside it from its parity record
    (the two must agree; none when the record is null)."""
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    if manifest.get("parity") is not None:
        (folder / "parity.json").write_text(json.dumps(manifest["parity"], indent=2) + "\n")
    else:
        (folder / "parity.json").unlink(missing_ok=True)


def derive(
    src: str | Path,
    dst: str | Path,
    edit: Callable[[dict[str, Any]], None] | None = None,
    new_id: bool = True,
) -> dict[str, Any]:
    """Copies an export folder to ``dst`` with a fresh model_id (unless ``new_id`` is false)
    and ``edit`` applied to its manifest; the model files are unchanged."""
    src, dst = Path(src), Path(dst)
    shutil.copytree(src, dst)
    for f in dst.iterdir():
        f.chmod(0o644)
    m: dict[str, Any] = json.loads((dst / "manifest.json").read_text())
    if new_id:
        created = datetime.strptime(m["created_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        m["model_id"] = model_id(m["family"], m["kind"], created, f"{dst}/{next(_ids)}")
    if edit is not None:
        edit(m)
    _rewrite(dst, m)
    return m


def set_accuracy(manifest: dict[str, Any], accuracy: float) -> None:
    """Sets the aggregate model accuracy and the figure derived from it, keeping the manifest's
    cross-field arithmetic true (as a different training run would)."""
    agg = manifest["metrics"]["aggregate"]
    agg["model"]["accuracy"] = accuracy
    agg["accuracy_over_best_baseline"] = accuracy - agg["best_baseline_accuracy"]


def make_prior_lightgbm(
    out: Path,
    *,
    prior: Sequence[float],
    names: Sequence[str],
    low: Sequence[float],
    high: Sequence[float],
    n_rows: int = 4000,
    seed: int = 0,
    family: str = "prior",
    model_id: str | None = None,
) -> Export:
    """A 3-class LightGBM whose probabilities are ``prior`` (SELL, HOLD, BUY) wherever its
    inputs lie in [``low``, ``high``]: labels drawn from the prior independently of
    features drawn uniformly there, and leaves too large to split on the noise, so every
    tree is one leaf and the model answers the prior. A real model (ONNX and the native
    trees, parity-checked) whose probability a test knows."""
    import lightgbm as lgb

    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    lo, hi = np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)
    x = (lo + (hi - lo) * rng.random((n_rows, len(names)))).astype(np.float32)
    y = rng.choice(3, size=n_rows, p=np.asarray(prior) / np.sum(prior))
    params: dict[str, Any] = {
        "objective": "multiclass",
        "num_class": 3,
        "num_leaves": 2,
        "min_data_in_leaf": n_rows,  # no split: the model is its prior
        "learning_rate": 0.1,
        "num_threads": 1,
        "seed": seed,
        "deterministic": True,
        "verbose": -1,
    }
    booster = lgb.train(params, lgb.Dataset(x, y, feature_name=list(names)), num_boost_round=3)
    booster.save_model(str(out / "model.lgbm.txt"))
    _lightgbm_onnx(booster, len(names), out / "model.onnx")
    held = (lo + (hi - lo) * rng.random((MIN_ROWS, len(names)))).astype(np.float32)
    mid = model_id or f"{family}-prior-{seed}"
    finish_export(
        out,
        family=family,
        kind="lightgbm",
        model_id=mid,
        n_classes=3,
        names=names,
        train_x=x,
        held_out=held,
        reference=_booster_proba(booster),
        reference_name="lightgbm",
        seeds=[seed],
    )
    return Export(out, mid, x, list(names))
