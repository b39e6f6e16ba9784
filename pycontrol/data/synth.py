"""Synthetic CME-like MBO order flow written as real DBN files (the project's embedded data).

The generator runs in Rust (`tradecore::synth`) with the GIL released; this module only
shapes arguments. Files are deterministic per seed and arguments.
"""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike
from typing import Any

from pycontrol import _core

PathArg = str | PathLike[str]

#: Roots the generator knows, with their CME-like specs (tick size, multiplier).
ROOTS = ("ES", "NQ", "RTY", "CL", "GC")


def synth_mbo(
    out: PathArg,
    events: int,
    seed: int = 0,
    instruments: Sequence[str] = ("ES",),
    mbp10: PathArg | None = None,
) -> dict[str, Any]:
    """Writes `events` live events of synthetic MBO order flow to `out` (DBN version 3,
    dataset GLBX.MDP3; zstd-compressed when the name ends in `.zst`), after a start-of-day
    snapshot per instrument. With `mbp10`, also writes the MBP-10 view of the generator's
    own book at every event boundary to that path (ground truth for L3 rebuilds).

    `seed` may be any int (it is reduced modulo 2**64). Returns a summary: record, event,
    trade and fill counts, the time range, and one entry per instrument (root, symbol,
    instrument_id, tick_size, multiplier, events, trades, volume, last_bid, last_ask).
    Raises `ConfigError` for bad arguments and `CoreIOError` when a file cannot be written.
    """
    if isinstance(instruments, str):
        instruments = [instruments]
    return _core.synth_mbo(out, events, seed & 0xFFFF_FFFF_FFFF_FFFF, list(instruments), mbp10)
