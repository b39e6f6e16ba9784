"""Reconnect delays for broker venues: endless exponential backoff with full jitter, so
many clients do not reconnect in lockstep (the rule IB's venue uses, here without importing
any broker library)."""

from __future__ import annotations

import random
from collections.abc import Iterator


def backoff_delays(
    initial: float, maximum: float, factor: float = 2.0, rng: random.Random | None = None
) -> Iterator[float]:
    """Each delay is uniform in [0.5, 1.0] x the capped exponential step."""
    r = rng or random.Random()
    step = initial
    while True:
        yield step * (0.5 + 0.5 * r.random())
        step = min(maximum, step * factor)
