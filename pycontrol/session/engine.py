"""What flows between the session and its engine: market data and trade prints in, order
intents and risk denials out (:class:`EngineOutput`), and the error a command the engine
cannot carry out raises.

The engine itself is the Rust core's (:mod:`pycontrol.session.rust_engine`) in every mode;
the Python scripted engine that once traded here is gone, and scripted signals enter the
Rust engine through its signal inbox like any external signal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pycontrol.session.orders import OrderIntent


class EngineUnsupported(Exception):
    """A command this engine cannot carry out (a model swap on an engine without a model
    predictor); the session answers it with an error reply and changes nothing."""


@dataclass(frozen=True)
class MarketData:
    """Top of book of one instrument at ``ts`` (UTC ns), prices in price units."""

    symbol: str
    ts: int
    bid: float
    ask: float
    bid_size: int = 0
    ask_size: int = 0


@dataclass(frozen=True)
class TradePrint:
    """One trade of an instrument at ``ts`` (UTC ns) as the feed reports it: price in price
    units, size in contracts, ``aggressor`` "B" (a buyer lifted the ask), "A" (a seller hit
    the bid) or "N" (unknown). IB's last-trade ticks carry no side: :func:`aggressor_of`
    infers it from the quote the trade met."""

    symbol: str
    ts: int
    price: float
    size: int
    aggressor: str = "N"


def aggressor_of(price: float, bid: float | None, ask: float | None) -> str:
    """The tick rule at the touch: at or above the ask a buyer took it, at or below the bid a
    seller did; inside the spread (or without a quote) it is unknown."""
    if ask is not None and price >= ask:
        return "B"
    if bid is not None and price <= bid:
        return "A"
    return "N"


@dataclass(frozen=True)
class Denial:
    intent: OrderIntent
    reason: str
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"intent": self.intent.to_dict(), "reason": self.reason, "detail": self.detail}


@dataclass
class EngineOutput:
    intents: list[OrderIntent] = field(default_factory=list)
    denials: list[Denial] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "intents": [i.to_dict() for i in self.intents],
            "denials": [d.to_dict() for d in self.denials],
        }

    @staticmethod
    def from_dict(d: dict[str, Any]) -> EngineOutput:
        return EngineOutput(
            [OrderIntent.from_dict(i) for i in d["intents"]],
            [
                Denial(OrderIntent.from_dict(x["intent"]), x["reason"], x["detail"])
                for x in d["denials"]
            ],
        )
