"""Argument types for the CLI: numbers checked against their range when parsed, so a bad
value is one line from the parser (``--levels -1``), never an OverflowError from the core."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def int_range(lo: int, hi: int | None = None) -> Callable[[str], int]:
    """An int in ``[lo, hi]`` (no upper bound when ``hi`` is None)."""

    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if v < lo or (hi is not None and v > hi):
            what = f">= {lo}" if hi is None else f"in {lo}..{hi}"
            raise argparse.ArgumentTypeError(f"must be {what}, got {v}")
        return v

    parse.__name__ = "int"
    return parse


def positive_float(text: str) -> float:
    """A finite float > 0 (timeouts, rates)."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (v > 0 and v != float("inf")):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return v


positive_float.__name__ = "number"

NONNEG = int_range(0)
POSITIVE = int_range(1)
PORT = int_range(0, 65535)


def nonneg_float(text: str) -> float:
    """A finite float >= 0 (0 often meaning "no limit")."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (v >= 0 and v != float("inf")):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return v


nonneg_float.__name__ = "number"
