"""Real model exports for tests (registry, inference, hot-swap): a small LightGBM classifier
trained on synthetic rows shaped like a FeatureSet, exported to ONNX with onnxmltools
(``zipmap=False``, ``target_opset=15``), with its native text dump, held-out metrics beside
majority and logistic baselines, and a real parity check over >= 10,000 rows, written as an
export folder per docs/model-manifest.md.

Build one with :func:`build_export` (a few seconds) and derive variants cheaply with
:func:`derive` (a new version id, an edited manifest, the same model files).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from pycontrol._core import FeatureSet
from pycontrol.data.manifest import sha256_file
from pycontrol.training.baselines import LogisticBaseline, MajorityClass
from pycontrol.training.parity import MIN_ROWS, parity

CLASSES = ["STRONG_SELL", "SELL", "HOLD", "BUY", "STRONG_BUY"]
CLASS_VALUES = [-2, -1, 0, 1, 2]
_ids = itertools.count()
Arr = np.ndarray[Any, Any]


def _model_id(family: str, kind: str, created: datetime, salt: str) -> str:
    stamp = created.strftime("%Y%m%dT%H%M%SZ")
    digest = hashlib.sha256(f"{family}/{kind}/{stamp}/{salt}/{next(_ids)}".encode()).hexdigest()
    return f"{family}-{kind}-{stamp}-{digest[:8]}"


def _synthetic(n: int, n_features: int, seed: int) -> tuple[Arr, Arr]:
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


def _onnx_io(model: Any) -> dict[str, Any]:
    def tensors(values: Any) -> list[dict[str, Any]]:
        import onnx

        out = []
        for v in values:
            t = v.type.tensor_type
            dims = [d.dim_value if d.dim_value > 0 else -1 for d in t.shape.dim]
            dtype = onnx.helper.tensor_dtype_to_np_dtype(t.elem_type).name
            out.append({"name": v.name, "dtype": dtype, "shape": dims})
        return out

    outputs = tensors(model.graph.output)
    for o in outputs:
        if o["name"] == "label":
            o["shape"] = [-1]  # the converter declares [1]; one label per row is what runs
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    return {"inputs": tensors(model.graph.input), "outputs": outputs, "opset": int(opset)}


def build_export(
    out_dir: str | Path,
    *,
    family: str = "regime_hourly",
    feature_set: FeatureSet | None = None,
    seed: int = 0,
    n_rows: int = 1500,
    n_estimators: int = 25,
    parity_rows: int = MIN_ROWS,
) -> dict[str, Any]:
    """Trains, exports and checks one LightGBM model into ``out_dir`` (created); returns its
    manifest. Single-threaded and seeded, so the same arguments give the same model."""
    import lightgbm as lgb
    import onnxruntime as ort
    from onnxmltools import convert_lightgbm
    from onnxmltools.convert.common.data_types import FloatTensorType

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fs = feature_set or FeatureSet.default()
    names = fs.names()
    X, y = _synthetic(n_rows, len(names), seed)
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
    onx = convert_lightgbm(
        clf,
        initial_types=[("input", FloatTensorType([None, len(names)]))],
        zipmap=False,
        target_opset=15,
    )
    (out / "model.onnx").write_bytes(onx.SerializeToString())
    clf.booster_.save_model(str(out / "model.lgbm.txt"))

    # Parity on held-out rows drawn with replacement and perturbed within the training
    # bounds (fewer than 10k held-out rows; the contract's rule, named in parity.source).
    lo, hi = Xtr.min(axis=0), Xtr.max(axis=0)
    rng = np.random.default_rng(seed + 1)
    rows = Xte[rng.integers(0, len(Xte), parity_rows)]
    rows = rows + rng.normal(scale=0.05, size=rows.shape).astype(np.float32)
    rows = np.clip(rows, lo, hi).astype(np.float32)
    opts = ort.SessionOptions()
    opts.log_severity_level = 3  # the converter's declared label shape draws a warning per run
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(out / "model.onnx"), opts, providers=["CPUExecutionProvider"])
    got = sess.run(["probabilities"], {"input": rows})[0]
    par = parity(np.asarray(clf.predict_proba(rows)), got, "lightgbm", source="held-out+perturbed")
    (out / "parity.json").write_text(json.dumps(par, indent=2) + "\n")

    model = _scores(yte, np.asarray(clf.predict_proba(Xte)))
    baselines = {
        "majority": _scores(yte, MajorityClass().fit(Xtr, ytr).predict_proba(Xte)),
        "logistic": _scores(yte, LogisticBaseline(seed=seed).fit(Xtr, ytr).predict_proba(Xte)),
    }
    best = max(baselines, key=lambda b: baselines[b]["accuracy"])
    best_acc = baselines[best]["accuracy"]
    created = datetime.now(UTC).replace(microsecond=0)
    manifest: dict[str, Any] = {
        "schema_version": 1,
        "family": family,
        "model_id": _model_id(family, "lightgbm", created, f"{seed}"),
        "created_at": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "kind": "lightgbm",
        "classes": CLASSES,
        "class_values": CLASS_VALUES,
        "feature_set": {"hash": fs.hash, "names": names, "timeframe": "1m"},
        "onnx": {"file": "model.onnx", "sha256": sha256_file(out / "model.onnx"), **_onnx_io(onx)},
        "native": {
            "file": "model.lgbm.txt",
            "format": "lightgbm-text",
            "sha256": sha256_file(out / "model.lgbm.txt"),
        },
        "sequence": None,
        "members": None,
        "input_bounds": {"min": lo.astype(float).tolist(), "max": hi.astype(float).tolist()},
        "max_age_days": 30,
        "metrics": {
            "primary": "accuracy",
            "folds": [
                {
                    "fold": 0,
                    "n_train": n_train,
                    "n_test": n_rows - n_train,
                    "model": model,
                    "baselines": baselines,
                }
            ],
            "aggregate": {
                "model": {**model, "accuracy_std": 0.0},
                "baselines": baselines,
                "best_baseline": best,
                "best_baseline_accuracy": best_acc,
                "accuracy_over_best_baseline": model["accuracy"] - best_acc,
            },
        },
        "seeds": [seed],
        "lineage": {
            "data": [hashlib.sha256(X.tobytes() + y.tobytes()).hexdigest()],
            "code_commit": "unknown",
            "config": {"path": None, "sha256": None},
            "splitter": {"kind": "holdout", "train_rows": n_train, "test_rows": n_rows - n_train},
            "trial_count": 1,
        },
        "parity": par,
    }
    write_manifest(out, manifest)
    return manifest


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    """Writes manifest.json and, when the manifest has a parity record, parity.json beside it
    (the two must agree)."""
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
        m["model_id"] = _model_id(m["family"], m["kind"], created, str(dst))
    if edit is not None:
        edit(m)
    write_manifest(dst, m)
    return m


def set_accuracy(manifest: dict[str, Any], accuracy: float) -> None:
    """Sets the aggregate model accuracy and the figure derived from it, keeping the manifest's
    cross-field arithmetic true (as a different training run would)."""
    agg = manifest["metrics"]["aggregate"]
    agg["model"]["accuracy"] = accuracy
    agg["accuracy_over_best_baseline"] = accuracy - agg["best_baseline_accuracy"]
