"""Order-book replays as polars DataFrames (the loop itself runs in Rust, GIL released)."""

from __future__ import annotations

import warnings
from os import PathLike
from typing import Any, Literal

import numpy as np
import polars as pl
import pyarrow as pa

from pycontrol import _core

PathArg = str | PathLike[str]
Flush = Literal["event", "record"]


class MissingBoundaryWarning(UserWarning):
    """Book records whose event never closed (no F_LAST after them) were left out of a
    replay's frame: the venue or file may not set F_LAST."""


_TIMESTAMPS = ("ts_event", "ts_recv")


def _frame(cols: dict[str, Any], validity: dict[str, Any]) -> pl.DataFrame:
    """Assembles Arrow arrays over the buffers Rust filled (moved, not copied) and hands
    them to polars zero-copy: timestamps become UTC datetimes by type alone, and a price
    column whose level is missing in some rows gets its validity bitmap (null, not NaN).
    """
    arrays = []
    for name, values in cols.items():
        if values.dtype == np.bool_:
            arrays.append(pa.array(values))  # Arrow booleans are bit-packed: one pass.
            continue
        typ = (
            pa.timestamp("ns", tz="UTC")
            if name in _TIMESTAMPS
            else pa.from_numpy_dtype(values.dtype)
        )
        valid = validity.get(name)
        buffers = [None if valid is None else pa.py_buffer(valid), pa.py_buffer(values)]
        arrays.append(pa.Array.from_buffers(typ, len(values), buffers))
    frame = pl.from_arrow(pa.Table.from_arrays(arrays, names=list(cols)))
    assert isinstance(frame, pl.DataFrame)
    return frame


def replay_book(
    path: PathArg, levels: int = 10, *, flush: Flush = "event", with_stats: bool = False
) -> Any:
    """Replays a DBN file (MBO -> L3 books, MBP/BBO -> L2 books) and returns one row per
    event boundary (F_LAST) per instrument: timestamps, instrument id, the top `levels`
    levels per side (price, size, order count) and the integrity flags `untrusted` and
    `crossed`. With `with_stats=True` returns `(frame, stats)`, where stats counts records,
    boundaries, `unflushed` (book records after the last boundary) and book anomalies.

    A venue or file that never sets F_LAST has no boundaries: with `flush="event"` the
    records after the last boundary are not in the frame, and a
    :class:`MissingBoundaryWarning` says how many (an all-records-unflushed file would
    otherwise give an empty frame without a word). `flush="record"` emits a row after
    every book record instead.
    """
    cols, validity, stats = _core.replay_book(path, levels, flush)
    df = _frame(cols, validity)
    if stats["unflushed"]:
        warnings.warn(
            f"{path}: {stats['unflushed']} of {stats['book_records']} book records came "
            f"after the last F_LAST boundary ({stats['boundaries']} boundaries in the file) "
            "and are not in the frame; if the venue does not set F_LAST, pass "
            "flush='record' for a row per record",
            MissingBoundaryWarning,
            stacklevel=2,
        )
    return (df, stats) if with_stats else df
