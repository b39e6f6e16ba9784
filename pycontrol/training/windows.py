"""Lookback windows for sequence models, built from the same bar-feature matrix the tree
models use (one feature implementation for every model).

A window for row t holds rows t-lookback+1 .. t: everything known at the close of bar t and
nothing after it, so a split that is leak-free for row t stays leak-free for its window.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def make_windows(
    features: np.ndarray[Any, Any], rows: np.ndarray[Any, Any], lookback: int
) -> np.ndarray[Any, Any]:
    """(len(rows), lookback, n_features) float32 windows ending at each row (inclusive).

    Rows with fewer than `lookback` rows of history are an error, not padded: the caller drops
    them (they are the warm-up)."""
    x = np.asarray(features, dtype=np.float32)
    r = np.asarray(rows, dtype=np.int64)
    if x.ndim != 2:
        raise ValueError(f"make_windows: features must be 2-D, got shape {x.shape}")
    if lookback < 1:
        raise ValueError(f"make_windows: lookback must be >= 1, got {lookback}")
    if r.size and (r.min() < lookback - 1 or r.max() >= x.shape[0]):
        raise ValueError(
            f"make_windows: rows must lie in [{lookback - 1}, {x.shape[0] - 1}], "
            f"got [{r.min()}, {r.max()}]"
        )
    offsets = np.arange(-lookback + 1, 1, dtype=np.int64)
    out: np.ndarray[Any, Any] = x[r[:, None] + offsets[None, :]]
    return out
