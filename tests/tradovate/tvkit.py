"""Helpers for tests driving the real Tradovate client against the test double on loopback:
a config pointing at the double, sinks that record what the venue reports, a venue, and a
wait for a condition inside the loop."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pycontrol.session.config import SessionConfig
from pycontrol.session.engine import MarketData, TradePrint
from pycontrol.session.journal import Journal
from pycontrol.session.orders import ExecutionReport, OrderIntent
from pycontrol.session.venue import VenueSinks
from pycontrol.testing.tradovate_gateway import TradovateGateway, credential_env
from pycontrol.tradovate.venue import TradovateVenue

T = TypeVar("T")
TODAY = dt.date(2026, 11, 20)
CLOCK = dt.datetime(2026, 11, 20, 15, 0, tzinfo=dt.UTC)


def run(coro_fn: Callable[[], Awaitable[T]], timeout: float = 30) -> T:
    async def main() -> T:
        return await asyncio.wait_for(coro_fn(), timeout)  # type: ignore[arg-type]

    return asyncio.run(main())


async def until(cond: Callable[[], bool], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        if loop.time() > end:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def cfg(gw: TradovateGateway, roots: tuple[str, ...] = ("ES",), **tv: Any) -> SessionConfig:
    return SessionConfig.from_dict(
        {
            "name": "tv",
            "venue": {"broker": "tradovate"},
            "instruments": [{"root": r} for r in roots],
            "tradovate": {
                **gw.config(),
                "reconnect_initial": 0.05,
                "reconnect_max": 0.2,
                "connect_timeout": 3.0,
                "request_timeout": 3.0,
                **tv,
            },
        }
    )


@dataclass
class Recorder:
    """What a venue handed the session."""

    reports: list[tuple[ExecutionReport, str]] = field(default_factory=list)
    denials: list[tuple[int, str, str]] = field(default_factory=list)
    quotes: list[MarketData] = field(default_factory=list)
    trades: list[TradePrint] = field(default_factory=list)
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    commissions: list[tuple[int, str, float]] = field(default_factory=list)
    regate: Callable[[OrderIntent], tuple[str, str] | None] | None = None

    def sinks(self) -> VenueSinks:
        return VenueSinks(
            on_report=lambda r, src: self.reports.append((r, src)),
            on_deny=lambda i, reason, detail: self.denials.append((i.intent_id, reason, detail)),
            on_market=self.quotes.append,
            on_event=lambda k, d: self.events.append((k, d)),
            on_trade=self.trades.append,
            on_commission=lambda c, x, a: self.commissions.append((c, x, a)),
            regate=lambda i: self.regate(i) if self.regate is not None else None,
        )

    def kinds(self, cid: int) -> list[str]:
        return [r.kind for r, _ in self.reports if r.client_order_id == cid]


def venue(
    gw: TradovateGateway,
    j: Journal,
    rec: Recorder,
    roots: tuple[str, ...] = ("ES",),
    mode: str = "paper",
    **tv: Any,
) -> TradovateVenue:
    return TradovateVenue(
        cfg(gw, roots, **tv), mode, j, rec.sinks(), clock=lambda: CLOCK, env=credential_env()
    )
