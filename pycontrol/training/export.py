"""Export folders (docs/model-manifest.md): ``model.onnx``, ``parity.json``,
``manifest.json`` and, for trees, ``model.lgbm.txt``. The one writer of the manifest.

Parity runs the exported graph in onnxruntime against the framework's own probabilities
(:func:`pycontrol.training.parity.parity`). Held-out rows are used as they are when there
are at least 10,000; otherwise, as the manifest contract says, 10,000 rows are drawn from
them with replacement and perturbed within ``input_bounds`` (``parity.source`` says so).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from pycontrol.data.manifest import sha256_file
from pycontrol.registry.contract import DRIFT_REFERENCE_FILE
from pycontrol.training.parity import MIN_ROWS, parity

Arr = np.ndarray[Any, Any]
SCHEMA_VERSION = 1
# perturbation: uniform within +-5% of each input's training range, then clipped to it
_JITTER = 0.05


def code_commit() -> str:
    """``git rev-parse HEAD`` of the checkout this package is imported from (not of the
    current directory: training run from elsewhere still records its code), or 'unknown'
    when the package is not in a git checkout (an installed wheel)."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
            cwd=here,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def input_bounds(x: Arr) -> dict[str, list[float]]:
    """Per-feature min and max over the last axis (rows, or rows x window steps), ignoring
    NaNs (missing values trees route; a bound must be a number)."""
    flat = np.asarray(x, dtype=np.float64).reshape(-1, x.shape[-1])
    return {"min": np.nanmin(flat, axis=0).tolist(), "max": np.nanmax(flat, axis=0).tolist()}


def onnx_io(path: Path) -> dict[str, Any]:
    """The manifest's ``onnx`` interface (``opset``, ``inputs``, ``outputs``) read from the
    graph in ``path``: tensor names, numpy dtype names, shapes with dynamic dims as -1;
    initializers are not inputs."""
    import onnx

    model = onnx.load(str(path))

    def spec(v: Any) -> dict[str, Any]:
        t = v.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else -1 for d in t.shape.dim]
        dtype = onnx.helper.tensor_dtype_to_np_dtype(t.elem_type).name
        return {"name": v.name, "dtype": dtype, "shape": dims}

    inits = {i.name for i in model.graph.initializer}
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    return {
        "opset": int(opset),
        "inputs": [spec(v) for v in model.graph.input if v.name not in inits],
        "outputs": [spec(v) for v in model.graph.output],
    }


def parity_inputs(
    held_out: Arr,
    bounds: Mapping[str, Sequence[float]],
    seed: int = 0,
    renormalise: int | None = None,
) -> tuple[Arr, str]:
    """The rows parity runs on and their ``source``. ``renormalise=C``: the input is
    concatenated probability blocks of ``C`` columns, kept summing to 1 after jitter."""
    x = np.asarray(held_out, dtype=np.float32)
    if len(x) >= MIN_ROWS:
        return x, "held-out"
    if len(x) == 0:
        raise ValueError("parity: no held-out rows")
    rng = np.random.default_rng(seed)
    pick = x[rng.integers(0, len(x), MIN_ROWS)].astype(np.float64)
    lo, hi = np.asarray(bounds["min"], float), np.asarray(bounds["max"], float)
    pick += rng.uniform(-_JITTER, _JITTER, pick.shape) * (hi - lo)
    pick = np.clip(pick, lo, hi)
    if renormalise:
        blocks = pick.reshape(len(pick), -1, renormalise)
        blocks /= np.maximum(blocks.sum(axis=2, keepdims=True), 1e-12)
        pick = blocks.reshape(len(pick), -1)
    return pick.astype(np.float32), "held-out-resampled-perturbed"


def onnx_proba(path: Path, input_name: str, x: Arr) -> tuple[Arr, Arr]:
    """(probabilities, labels) of an exported model on ``x`` (float32), one thread."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    label, proba = sess.run(["label", "probabilities"], {input_name: np.asarray(x, np.float32)})
    return np.asarray(proba), np.asarray(label)


def run_parity(
    folder: Path,
    input_name: str,
    reference: Callable[[Arr], Arr],
    held_out: Arr,
    bounds: Mapping[str, Sequence[float]],
    reference_name: str,
    renormalise: int | None = None,
) -> dict[str, Any]:
    """Parity of ``folder/model.onnx`` against ``reference``; writes ``parity.json``."""
    x, source = parity_inputs(held_out, bounds, renormalise=renormalise)
    got, _ = onnx_proba(folder / "model.onnx", input_name, x)
    result = parity(reference(x), got, reference_name, source=source)
    (folder / "parity.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def model_id(family: str, kind: str, created: datetime, salt: str) -> str:
    stamp = created.strftime("%Y%m%dT%H%M%SZ")
    digest = hashlib.sha256(f"{family}/{kind}/{stamp}/{salt}".encode()).hexdigest()[:8]
    return f"{family}-{kind}-{stamp}-{digest}"


def write_manifest(
    folder: Path,
    *,
    family: str,
    model_id: str,
    created: datetime,
    kind: str,
    classes: Sequence[str],
    class_values: Sequence[int],
    feature_set: Mapping[str, Any],
    onnx_info: Mapping[str, Any],
    sequence: Mapping[str, Any] | None,
    members: Sequence[Mapping[str, Any]] | None,
    bounds: Mapping[str, Sequence[float]],
    max_age_days: int | None,
    metrics: Mapping[str, Any],
    seeds: Sequence[int],
    lineage: Mapping[str, Any],
    parity_result: Mapping[str, Any],
) -> dict[str, Any]:
    """Writes ``folder/manifest.json`` in the docs/model-manifest.md v1 format."""
    native = onnx_info.get("native")
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "family": family,
        "model_id": model_id,
        "created_at": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "kind": kind,
        "classes": list(classes),
        "class_values": [int(c) for c in class_values],
        "feature_set": dict(feature_set),
        "onnx": {
            "file": "model.onnx",
            "sha256": sha256_file(folder / "model.onnx"),
            "opset": int(onnx_info["opset"]),
            "inputs": list(onnx_info["inputs"]),
            "outputs": list(onnx_info["outputs"]),
        },
        "native": (
            {"file": native, "format": "lightgbm-text", "sha256": sha256_file(folder / native)}
            if native
            else None
        ),
        "sequence": dict(sequence) if sequence else None,
        "members": [dict(m) for m in members] if members else None,
        "input_bounds": {"min": list(bounds["min"]), "max": list(bounds["max"])},
        # None (no age gate) only for test fixtures; the schema requires an integer
        "max_age_days": None if max_age_days is None else int(max_age_days),
        "metrics": dict(metrics),
        "seeds": [int(s) for s in seeds],
        "lineage": dict(lineage),
        "parity": dict(parity_result),
    }
    # the training inputs' reference for drift (written beside the model before the manifest)
    if (folder / DRIFT_REFERENCE_FILE).is_file():
        manifest["drift_reference"] = {
            "file": DRIFT_REFERENCE_FILE,
            "sha256": sha256_file(folder / DRIFT_REFERENCE_FILE),
        }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest
