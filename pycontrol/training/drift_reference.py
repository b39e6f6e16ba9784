"""The drift reference of an export (``drift_reference.json``): per feature, decile bin edges
of the training rows (open ends) and the share of rows in each bin, plus the model's
out-of-sample calibration (accuracy, log-loss, reliability bins). The Rust core
(``tradecore::drift``) reads it and compares a running engine's rows against it (PSI, KS).

Binning rule shared with the core: a value ``x`` falls in bin ``searchsorted(edges, x,
side="right")``; NaN is counted apart (``nan_share``), never binned."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from pycontrol.registry.contract import DRIFT_REFERENCE_FILE as FILE

Arr = npt.NDArray[Any]

SCHEMA = "tradecore.drift_reference/1"
# Deciles: the usual PSI binning; fewer bins where a feature has fewer distinct values.
N_BINS = 10
RELIABILITY_BINS = 10


def feature_reference(name: str, x: Arr, n_bins: int = N_BINS) -> dict[str, Any]:
    """Edges at the inner quantiles of the finite values (deduplicated) and the shares of
    the non-NaN values per bin (infinities fall in the open end bins)."""
    x = np.asarray(x, dtype=np.float64)
    nan = np.isnan(x)
    vals = x[~nan]
    finite = vals[np.isfinite(vals)]
    if len(finite) == 0:
        edges = np.empty(0)
    else:
        edges = np.unique(np.quantile(finite, np.arange(1, n_bins) / n_bins))
    if len(vals) == 0:
        shares = np.zeros(len(edges) + 1)
        shares[0] = 1.0
    else:
        counts = np.bincount(np.searchsorted(edges, vals, side="right"), minlength=len(edges) + 1)
        shares = counts / len(vals)
    return {
        "name": name,
        "edges": [float(e) for e in edges],
        "shares": [float(s) for s in shares],
        "nan_share": float(nan.mean()) if len(x) else 0.0,
    }


def calibration_summary(probs: Arr, y: Arr, classes: Arr) -> dict[str, Any] | None:
    """Accuracy, mean log-loss and reliability bins (of the predicted class's probability)
    of out-of-sample probabilities ``probs`` (rows x classes; rows with NaN are left out)
    against realized class values ``y``. None when no row is scored."""
    probs = np.asarray(probs, dtype=np.float64)
    ok = np.isfinite(probs).all(axis=1)
    p, yv = probs[ok], np.asarray(y)[ok]
    if len(p) == 0:
        return None
    idx = np.searchsorted(np.asarray(classes), yv)
    pred = p.argmax(axis=1)
    hit = pred == idx
    p_true = np.clip(p[np.arange(len(p)), idx], 1e-15, 1.0)
    conf = p.max(axis=1)
    which = np.minimum((conf * RELIABILITY_BINS).astype(int), RELIABILITY_BINS - 1)
    bins = [
        {
            "p_mean": float(conf[which == b].mean()),
            "freq": float(hit[which == b].mean()),
            "count": int((which == b).sum()),
        }
        for b in range(RELIABILITY_BINS)
        if (which == b).any()
    ]
    return {
        "accuracy": float(hit.mean()),
        "log_loss": float(-np.log(p_true).mean()),
        "rows": len(p),
        "reliability": bins,
    }


def build(
    features: Arr, names: Sequence[str], calibration: dict[str, Any] | None
) -> dict[str, Any]:
    """The reference of the training feature matrix ``features`` (rows x features)."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or features.shape[1] != len(names):
        raise ValueError(
            f"drift reference: features of shape {features.shape} for {len(names)} names"
        )
    return {
        "schema": SCHEMA,
        "rows": int(features.shape[0]),
        "features": [feature_reference(n, features[:, j]) for j, n in enumerate(names)],
        "calibration": calibration,
    }


def write(folder: Path, reference: dict[str, Any]) -> Path:
    """Writes ``folder/drift_reference.json`` (listed by the manifest with its sha256)."""
    path = folder / FILE
    path.write_text(json.dumps(reference) + "\n")
    return path
