"""Purged walk-forward splits with an embargo, over time-ordered rows.

Rows ``0 .. n-1`` are in time order; the label of row ``i`` looks at rows ``i+1 .. i+h``
(``h`` = ``label_horizon``) and its features at rows ``i-L .. i`` (``L`` =
``feature_lookback``, bars back; a feature with warm-up ``w`` base bars has ``L = w - 1``).
Training rows are always before the test fold (walk-forward).

For a test fold ``[a, b)``:

- purge: training rows ``i >= a - purge`` are dropped. A training label window reaches a
  bar some test row's features read iff ``i + h >= a - L``; ``purge >= h + L`` drops exactly
  those rows (and, a fortiori, every label window reaching the test fold), so a test row's
  inputs never encode a training target.
- embargo: a further ``embargo`` rows before the purged zone are dropped. In k-fold CV the
  embargo follows the test fold; here training only precedes it, so the embargo widens the
  gap instead, guarding against serial dependence (volatility clustering) that outlives the
  label window. ``embargo >= h`` is enforced.

The first test row is ``min_train + purge + embargo``, so the first fold trains on exactly
``min_train`` rows; the rows from there on are cut into ``n_folds`` contiguous test folds of
near-equal size (earlier folds one row longer when it does not divide). ``window="rolling"``
keeps only the last ``train_size`` (default ``min_train``) training rows of each fold.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

import numpy as np
import polars as pl

from pycontrol.training.errors import SplitConfigError, fail

Index = np.ndarray[Any, np.dtype[np.int64]]
Window = Literal["expanding", "rolling"]


def _int_ok(v: object, lo: int) -> bool:
    return isinstance(v, int | np.integer) and not isinstance(v, bool) and int(v) >= lo


class PurgedWalkForward:
    """Walk-forward splitter; see the module docstring for the exact rules."""

    def __init__(
        self,
        n_folds: int,
        label_horizon: int,
        feature_lookback: int,
        embargo: int,
        min_train: int,
        *,
        purge: int | None = None,
        window: Window = "expanding",
        train_size: int | None = None,
    ) -> None:
        bad: list[str] = []
        for name, v, lo in (
            ("n_folds", n_folds, 1),
            ("label_horizon", label_horizon, 1),
            ("feature_lookback", feature_lookback, 0),
            ("embargo", embargo, 0),
            ("min_train", min_train, 1),
        ):
            if not _int_ok(v, lo):
                bad.append(f"{name} must be an int >= {lo}, got {v!r}")
        ints_ok = not bad
        p = (label_horizon + feature_lookback) if purge is None and ints_ok else purge
        if purge is not None and not _int_ok(purge, 0):
            bad.append(f"purge must be an int >= 0, got {purge!r}")
        elif ints_ok and p is not None and p < label_horizon + feature_lookback:
            bad.append(
                f"purge {p} < label_horizon + feature_lookback = "
                f"{label_horizon + feature_lookback}: training labels would overlap test inputs"
            )
        if ints_ok and embargo < label_horizon:
            bad.append(f"embargo {embargo} < label_horizon {label_horizon}")
        if window not in ("expanding", "rolling"):
            bad.append(f"window must be 'expanding' or 'rolling', got {window!r}")
        if train_size is not None and (
            not _int_ok(train_size, 1) or (ints_ok and train_size < min_train)
        ):
            bad.append(
                f"train_size must be an int >= min_train ({min_train!r}), got {train_size!r}"
            )
        if train_size is not None and window != "rolling":
            bad.append("train_size applies only to window='rolling'")
        if bad:
            fail(SplitConfigError, "PurgedWalkForward", bad)
        self.n_folds = int(n_folds)
        self.label_horizon = int(label_horizon)
        self.feature_lookback = int(feature_lookback)
        self.embargo = int(embargo)
        self.min_train = int(min_train)
        self.purge = int(p)  # type: ignore[arg-type]
        self.window: Window = window
        self.train_size = int(train_size) if train_size is not None else None

    def params(self) -> dict[str, Any]:
        """Every parameter, for the run log (a run is reproducible from this dict)."""
        return {
            "splitter": "PurgedWalkForward",
            "n_folds": self.n_folds,
            "label_horizon": self.label_horizon,
            "feature_lookback": self.feature_lookback,
            "purge": self.purge,
            "embargo": self.embargo,
            "min_train": self.min_train,
            "window": self.window,
            "train_size": self.train_size,
        }

    def _folds(self, n: int) -> list[tuple[int, int, int, int, int]]:
        """(train_start, train_end, embargo_start, test_start, test_end) per fold."""
        gap = self.purge + self.embargo
        first = self.min_train + gap
        if not _int_ok(n, 0) or n - first < self.n_folds:
            fail(
                SplitConfigError,
                "PurgedWalkForward.split",
                [
                    f"{n} rows are too few: min_train + purge + embargo = {first} rows precede "
                    f"the first test row and {self.n_folds} folds need at least one row each"
                ],
            )
        sizes = [len(c) for c in np.array_split(np.arange(n - first), self.n_folds)]
        out = []
        a = first
        for size in sizes:
            train_end = a - gap
            start = 0
            if self.window == "rolling":
                start = max(0, train_end - (self.train_size or self.min_train))
            out.append((start, train_end, train_end, a, a + size))
            a += size
        return out

    def split(self, n_rows: int) -> Iterator[tuple[Index, Index]]:
        """Yields ``(train_idx, test_idx)`` int64 index arrays over ``n_rows`` rows."""
        for start, train_end, _, a, b in self._folds(n_rows):
            yield (
                np.arange(start, train_end, dtype=np.int64),
                np.arange(a, b, dtype=np.int64),
            )

    def describe(self, n_rows: int) -> pl.DataFrame:
        """One row per fold: train/test ranges and sizes and how many rows purge and embargo
        dropped (``n_purged`` + ``n_embargoed`` = the gap between train and test)."""
        rows = []
        for k, (start, train_end, _, a, b) in enumerate(self._folds(n_rows)):
            rows.append(
                {
                    "fold": k,
                    "train_start": start,
                    "train_end": train_end,
                    "n_train": train_end - start,
                    "n_embargoed": self.embargo,
                    "n_purged": self.purge,
                    "test_start": a,
                    "test_end": b,
                    "n_test": b - a,
                }
            )
        return pl.DataFrame(rows)


_TF_MINUTES = {"s": 1 / 60, "m": 1, "h": 60, "d": 1440}


def feature_lookback(specs: list[dict[str, Any]], base_timeframe: str = "1m") -> int:
    """The ``feature_lookback`` (base bars back) of a feature set, from
    ``FeatureSet.specs()``: a base-timeframe feature with warm-up ``w`` reads ``w - 1`` bars
    back; a coarser one (``k`` base bars per bar) reads ``w`` completed bars plus the up to
    ``k - 1`` base bars of the one in progress, ``(w + 1) * k - 1`` at most."""

    def minutes(tf: str) -> float:
        return int(tf[:-1]) * _TF_MINUTES[tf[-1]]

    base = minutes(base_timeframe)
    out = 0
    for s in specs:
        w = int(s["warmup"])
        k = max(1, round(minutes(s["timeframe"] or base_timeframe) / base))
        out = max(out, w - 1 if k == 1 else (w + 1) * k - 1)
    return out
