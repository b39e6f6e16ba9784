"""The export parity check: a model's ONNX probabilities against the framework's own.

One definition for every exporter (LightGBM, the sequence models, the meta-learner), so the
registry can gate on one record shape (docs/model-manifest.md, `parity`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

TOLERANCE = 1e-5
MIN_ROWS = 10_000


def parity(
    reference: np.ndarray[Any, Any],
    exported: np.ndarray[Any, Any],
    reference_name: str,
    tolerance: float = TOLERANCE,
    source: str = "held-out",
) -> dict[str, Any]:
    """Compare two (rows, classes) probability arrays; `passed` needs >= MIN_ROWS rows, every
    probability within `tolerance` and the arg-max class equal on every row."""
    ref = np.asarray(reference, dtype=np.float64)
    got = np.asarray(exported, dtype=np.float64)
    if ref.shape != got.shape or ref.ndim != 2:
        raise ValueError(f"parity: shapes differ or are not 2-D: {ref.shape} vs {got.shape}")
    rows = int(ref.shape[0])
    diff = float(np.max(np.abs(ref - got))) if rows else float("nan")
    agree = float(np.mean(ref.argmax(axis=1) == got.argmax(axis=1))) if rows else 0.0
    return {
        "rows": rows,
        "tolerance": tolerance,
        "max_abs_diff": diff,
        "class_agreement": agree,
        "passed": bool(rows >= MIN_ROWS and diff <= tolerance and agree == 1.0),
        "reference": reference_name,
        "source": source,
    }
