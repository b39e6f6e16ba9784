"""Order-book replays as polars DataFrames (the loop itself runs in Rust, GIL released)."""

from __future__ import annotations

from os import PathLike
from typing import Any

import polars as pl

from pycontrol import _core

PathArg = str | PathLike[str]


def _frame(cols: dict[str, Any]) -> pl.DataFrame:
    """Wraps numpy columns (moved out of Rust) into a DataFrame without Python objects."""
    df = pl.DataFrame(cols)
    px = [c for c in df.columns if "_px_" in c]
    return df.with_columns(
        pl.col("ts_event", "ts_recv").cast(pl.Datetime("ns", "UTC")),
        # An empty level is NaN in the buffer; null is what polars users expect.
        *(pl.col(c).fill_nan(None) for c in px),
    )


def replay_book(path: PathArg, levels: int = 10, *, with_stats: bool = False) -> Any:
    """Replays a DBN file (MBO -> L3 books, MBP/BBO -> L2 books) and returns one row per
    event boundary (F_LAST) per instrument: timestamps, instrument id, the top `levels`
    levels per side (price, size, order count) and the integrity flags `untrusted` and
    `crossed`. With `with_stats=True` returns `(frame, stats)`, where stats counts records,
    boundaries and book anomalies.
    """
    cols, stats = _core.replay_book(path, levels)
    df = _frame(cols)
    return (df, stats) if with_stats else df
