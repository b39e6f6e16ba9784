"""Idempotency keys (a bounded store with a TTL) and a token bucket per strategy.

Both are bounded in memory whatever the senders do: the key store evicts expired keys, then
the oldest, beyond ``max_keys``; the buckets are per configured strategy (or capped when any
strategy is accepted)."""

from __future__ import annotations

from collections import OrderedDict


class IdempotencyStore:
    """Alert ids seen within ``ttl_s``; ``seen_or_add`` answers and records at once."""

    def __init__(self, ttl_s: float = 24 * 3600.0, max_keys: int = 100_000) -> None:
        self.ttl_ns = int(ttl_s * 1e9)
        self.max_keys = max_keys
        self._keys: OrderedDict[str, int] = OrderedDict()

    def __len__(self) -> int:
        return len(self._keys)

    def _expire(self, now_ns: int) -> None:
        while self._keys:
            t = next(iter(self._keys.values()))
            if now_ns - t <= self.ttl_ns and len(self._keys) <= self.max_keys:
                break
            self._keys.popitem(last=False)

    def seen(self, key: str, now_ns: int) -> bool:
        self._expire(now_ns)
        return key in self._keys

    def discard(self, key: str) -> None:
        self._keys.pop(key, None)

    def add(self, key: str, now_ns: int) -> None:
        self._keys[key] = now_ns
        self._keys.move_to_end(key)
        self._expire(now_ns)


class TokenBucket:
    """``rate_per_s`` tokens a second up to ``burst``; ``take`` spends one if there is."""

    def __init__(self, rate_per_s: float, burst: int) -> None:
        self.rate = rate_per_s
        self.burst = float(burst)
        self.tokens = float(burst)
        self.last_ns: int | None = None

    def take(self, now_ns: int) -> bool:
        if self.last_ns is not None:
            dt = max(0, now_ns - self.last_ns) / 1e9
            self.tokens = min(self.burst, self.tokens + dt * self.rate)
        self.last_ns = now_ns
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class RateLimits:
    """One bucket per strategy (at most ``max_strategies``; beyond, new ones share one)."""

    def __init__(self, rate_per_min: float, burst: int, max_strategies: int = 1024) -> None:
        self.rate = rate_per_min / 60.0
        self.burst = burst
        self.max_strategies = max_strategies
        self._buckets: dict[str, TokenBucket] = {}

    def allow(self, strategy: str, now_ns: int) -> bool:
        b = self._buckets.get(strategy)
        if b is None:
            key = strategy if len(self._buckets) < self.max_strategies else "*overflow*"
            b = self._buckets.setdefault(key, TokenBucket(self.rate, self.burst))
        return b.take(now_ns)
