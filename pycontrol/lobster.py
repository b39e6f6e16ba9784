"""LOBSTER (NASDAQ) replay and ground-truth verification as polars DataFrames.

The replay and the check against the orderbook file run in Rust (GIL released); this
module only converts LOBSTER's integer prices (USD x 10000, dummy +-9999999999 for empty
levels) into float dollars with nulls for empty levels.
"""

from __future__ import annotations

from os import PathLike
from typing import Any

import numpy as np
import polars as pl

from pycontrol import _core

PathArg = str | PathLike[str]


def _dollars(px: np.ndarray[Any, Any], *, book: bool) -> np.ndarray[Any, Any]:
    # numpy divides exactly; polars multiplies by the reciprocal (585.91 -> 585.9100000000001).
    out: np.ndarray[Any, Any] = px / float(_core.LOBSTER_PRICE_SCALE)
    if book:
        out[(px == _core.LOBSTER_EMPTY_BID) | (px == _core.LOBSTER_EMPTY_ASK)] = np.nan
    return out


def _frame(cols: dict[str, Any]) -> pl.DataFrame:
    book_px = [c for c in cols if "_px_" in c]
    out: dict[str, Any] = {"ts": cols.pop("ts_ns") / 1e9}
    for c, v in cols.items():
        out[c] = _dollars(v, book=c in book_px) if c == "price" or c in book_px else v
    # An empty level is NaN in the buffer; null is what polars users expect.
    return pl.DataFrame(out).with_columns(pl.col(c).fill_nan(None) for c in book_px)


def replay_lobster(
    message_path: PathArg, orderbook_path: PathArg, levels: int
) -> tuple[pl.DataFrame, dict[str, Any]]:
    """Rebuilds the book from a LOBSTER message file and checks it against the orderbook
    file after every message.

    Returns `(frame, summary)`. The frame has one row per message: `ts` (seconds after
    midnight), `type`, `order_id`, `size`, `price` (USD), `direction`, then the top
    `levels` of the book after the message (`bid_px_00..`, `bid_sz_00..`, `ask_px_00..`,
    `ask_sz_00..`; null price and size 0 for an empty level), and per row the number of
    level entries `seeded` from the file and of `mismatches`. The summary holds `rows`,
    `levels`, `seeded`, `mismatches`, `first_mismatches` (dicts with row, side, level,
    price, expected, predicted, kind, text) and `type_counts`.

    A level that enters the top-N window from outside is seeded from the file (the
    messages cannot see it); every other value must be predicted from the messages.
    """
    cols, summary = _core.replay_lobster(message_path, orderbook_path, levels)
    return _frame(cols), summary


def verify_lobster(message_path: PathArg, orderbook_path: PathArg, levels: int) -> dict[str, Any]:
    """Like :func:`replay_lobster` but returns only the summary (no per-row frame)."""
    return _core.verify_lobster(message_path, orderbook_path, levels)
