"""Event-to-intent latency as a session accounts for it: every sample the session publishes
(paper/live: market update to intents, timed by the session; replay: the engine's own
samples) goes into fixed histogram buckets and a bounded window for quantiles. The session's
``status`` carries the summary, so a dashboard or ``/metrics`` that subscribed late (or
missed telemetry at its high-water mark) still shows every sample's bucket."""

from __future__ import annotations

from collections import deque
from typing import Any

# histogram bucket upper bounds, microseconds (the last bucket is "more")
LATENCY_BUCKETS_US = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)


class LatencyStats:
    def __init__(self, window: int = 10_000) -> None:
        self.counts = [0] * (len(LATENCY_BUCKETS_US) + 1)
        self.recent: deque[float] = deque(maxlen=window)
        self.sum_us = 0.0

    def add(self, us: float) -> None:
        if us != us:  # NaN: not a sample
            return
        i = next((k for k, b in enumerate(LATENCY_BUCKETS_US) if us <= b), -1)
        self.counts[i] += 1
        self.recent.append(us)
        self.sum_us += us

    def summary(self) -> dict[str, Any]:
        """Bucket counts and sum over every sample; p50/p99 over the last ``window``."""
        xs = sorted(self.recent)

        def q(p: float) -> float | None:
            return xs[min(len(xs) - 1, int(p * len(xs)))] if xs else None

        return {
            "buckets_us": list(LATENCY_BUCKETS_US),
            "counts": list(self.counts),
            "n": sum(self.counts),
            "sum_us": self.sum_us,
            "p50_us": q(0.5),
            "p99_us": q(0.99),
        }
