"""The engine interface the control plane drives, and a real, simple engine behind it.

:class:`Engine` is the seam: market data and execution reports in, order intents (and risk
denials) out, plus status, risk limits, halt/resume/flatten and model swap. The Rust engine
(branches ``sim`` and ``risk``) replaces :class:`ScriptedEngine` by implementing the same
calls; :mod:`pycontrol.session.channel` carries them over ZeroMQ, so the engine can live in
its own thread (today) or process (the Rust engine) without the control plane noticing.

:class:`ScriptedEngine` trades a scripted signal list (intent ids fixed in the config, so a
restarted session recomputes the same ids and the journal suppresses repeats), tracks
positions and working orders from execution reports, and gates every new intent with
pre-trade limits whose denials carry a reason code.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from pycontrol.session.config import RiskConfig, SignalConfig
from pycontrol.session.orders import (
    Bracket,
    ExecutionReport,
    Leg,
    OrderIntent,
    client_order_id,
    opposite,
    sign,
)

ACTIVE, REDUCING, HALTED = "ACTIVE", "REDUCING", "HALTED"
TRADING_STATES = (ACTIVE, REDUCING, HALTED)

# Risk denial reason codes.
DENY_HALTED = "HALTED"
DENY_REDUCING = "REDUCING_ONLY"
DENY_MAX_QTY = "MAX_ORDER_QTY"
DENY_MAX_POSITION = "MAX_POSITION"
DENY_NOT_REDUCING = "REDUCE_ONLY_WOULD_INCREASE"
DENY_NO_MARKET = "NO_MARKET"


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


@dataclass(frozen=True)
class WorkingOrder:
    client_order_id: int
    symbol: str
    side: str
    remaining: int
    parent_client_order_id: int | None = None


class Engine(Protocol):
    """What the control plane needs from an engine (Python today, Rust later)."""

    def restore(
        self, positions: dict[str, int], working: list[WorkingOrder], done_intent_ids: list[int]
    ) -> None: ...
    def on_market_data(self, md: MarketData) -> EngineOutput: ...
    def on_trade(self, tp: TradePrint) -> EngineOutput: ...
    def on_execution_report(self, report: ExecutionReport) -> EngineOutput: ...
    def on_commission(self, client_order_id: int, commission: float) -> None: ...
    def status(self) -> dict[str, Any]: ...
    def set_risk_limits(self, max_order_qty: int, max_position: int) -> None: ...
    def halt(self, reason: str) -> None: ...
    def resume(self) -> None: ...
    def set_reducing(self) -> None: ...
    def flatten(self) -> EngineOutput: ...
    def swap_model(self, name: str) -> None: ...


class ScriptedEngine:
    """Scripted signals, a position tracker and pre-trade limits (see module docstring)."""

    def __init__(
        self, symbol: str, tick_size: float, risk: RiskConfig, signals: tuple[SignalConfig, ...]
    ) -> None:
        self.symbol = symbol
        self.tick = tick_size
        self.max_order_qty = risk.max_order_qty
        self.max_position = risk.max_position
        self.signals = sorted(signals, key=lambda s: s.at_event)
        self.state = ACTIVE
        self.halt_reason = ""
        self.model = "scripted"
        self.events = 0
        self.positions: dict[str, int] = {}
        self.working: dict[int, WorkingOrder] = {}
        self.done_signals: set[int] = set()
        self.next_intent_id = max([s.intent_id for s in signals] + [0]) + 1
        self.last_md: MarketData | None = None
        self.denied = 0

    # -- lifecycle -----------------------------------------------------------------------------

    def restore(
        self, positions: dict[str, int], working: list[WorkingOrder], done_intent_ids: list[int]
    ) -> None:
        """State from the journal (and the broker, after reconciliation): a signal whose
        intent id the journal holds already happened; new ids start above all of them."""
        self.positions = dict(positions)
        self.working = {w.client_order_id: w for w in working}
        done = set(done_intent_ids)
        self.done_signals = {s.intent_id for s in self.signals if s.intent_id in done}
        self.next_intent_id = max([self.next_intent_id, *(i + 1 for i in done)])

    # -- events ----------------------------------------------------------------------------

    def on_market_data(self, md: MarketData) -> EngineOutput:
        out = EngineOutput()
        self.events += 1
        self.last_md = md
        for s in self.signals:
            if s.at_event > self.events:
                break
            if s.intent_id in self.done_signals:
                continue
            self.done_signals.add(s.intent_id)
            self._gate(self._intent_from_signal(s, md), out)
        return out

    def on_trade(self, tp: TradePrint) -> EngineOutput:
        """Trades do not move scripted signals (they count market-data events only)."""
        return EngineOutput()

    def on_commission(self, client_order_id: int, commission: float) -> None:
        """The scripted engine keeps positions, not P&L: nothing to book."""

    def on_execution_report(self, report: ExecutionReport) -> EngineOutput:
        w = self.working.get(report.client_order_id)
        if report.kind == "fill":
            self.positions[report.symbol] = (
                self.positions.get(report.symbol, 0) + sign(report.side) * report.qty
            )
            if w is not None:
                left = w.remaining - report.qty
                if left <= 0:
                    del self.working[w.client_order_id]
                else:
                    self.working[w.client_order_id] = WorkingOrder(
                        w.client_order_id, w.symbol, w.side, left, w.parent_client_order_id
                    )
        elif report.kind in ("reject", "cancelled"):
            self.working.pop(report.client_order_id, None)
        elif report.kind == "ack" and w is None:
            # an order we learn about from the venue (adopted after a cold start)
            self.working[report.client_order_id] = WorkingOrder(
                report.client_order_id, report.symbol, report.side, report.qty
            )
        return EngineOutput()

    # -- commands --------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "halt_reason": self.halt_reason,
            "model": self.model,
            "events": self.events,
            "positions": dict(self.positions),
            "working": [asdict(w) for w in self.working.values()],
            "limits": {"max_order_qty": self.max_order_qty, "max_position": self.max_position},
            "denied": self.denied,
        }

    def set_risk_limits(self, max_order_qty: int, max_position: int) -> None:
        RiskConfig(max_order_qty=max_order_qty, max_position=max_position)  # validates
        self.max_order_qty = max_order_qty
        self.max_position = max_position

    def halt(self, reason: str) -> None:
        self.state = HALTED
        self.halt_reason = reason

    def resume(self) -> None:
        self.state = ACTIVE
        self.halt_reason = ""

    def set_reducing(self) -> None:
        self.state = REDUCING

    def swap_model(self, name: str) -> None:
        if not name:
            raise ValueError("model name must not be empty")
        self.model = name

    def flatten(self) -> EngineOutput:
        """Cancels every working order (children go with their parent) and closes every
        position with a reduce-only market order. Leaves the engine REDUCING: a flatten must
        not be undone by the next signal."""
        out = EngineOutput()
        ts = self.last_md.ts if self.last_md else 0
        for w in list(self.working.values()):
            if w.parent_client_order_id is not None and w.parent_client_order_id in self.working:
                continue
            iid = self._new_id()
            out.intents.append(
                OrderIntent(
                    iid,
                    ts,
                    w.symbol,
                    w.side,
                    w.remaining,
                    "MKT",
                    "CANCEL",
                    target_client_order_id=w.client_order_id,
                )
            )
        for sym, pos in self.positions.items():
            if pos == 0:
                continue
            side = "SELL" if pos > 0 else "BUY"
            intent = OrderIntent(self._new_id(), ts, sym, side, abs(pos), "MKT", reduce_only=True)
            out.intents.append(intent)
            self._track(intent)
        if self.state == ACTIVE:
            self.state = REDUCING
        return out

    # -- internals -------------------------------------------------------------------------

    def _new_id(self) -> int:
        iid = self.next_intent_id
        self.next_intent_id += 1
        return iid

    def _intent_from_signal(self, s: SignalConfig, md: MarketData) -> OrderIntent:
        t = self.tick
        buy = s.side == "BUY"
        price = stop = None
        if s.order_type == "LMT":
            price = md.bid - s.offset_ticks * t if buy else md.ask + s.offset_ticks * t
        elif s.order_type == "STP":
            stop = md.ask + s.offset_ticks * t if buy else md.bid - s.offset_ticks * t
        bracket = None
        if s.stop_ticks is not None and s.take_ticks is not None:
            ref = (
                price
                if price is not None
                else (stop if stop is not None else md.ask if buy else md.bid)
            )
            d = 1 if buy else -1
            bracket = Bracket(
                stop_loss=ref - d * s.stop_ticks * t, take_profit=ref + d * s.take_ticks * t
            )
        return OrderIntent(
            intent_id=s.intent_id,
            ts=md.ts,
            symbol=md.symbol,
            side=s.side,
            qty=s.qty,
            order_type=s.order_type,
            price=price,
            stop_price=stop,
            tif=s.tif,
            bracket=bracket,
        )

    def _exposure(self, symbol: str, side: str) -> int:
        """Position plus every working order on ``side``: the worst case if all fill."""
        pos = self.positions.get(symbol, 0)
        working = sum(
            w.remaining
            for w in self.working.values()
            if w.symbol == symbol and w.side == side and w.parent_client_order_id is None
        )
        return pos + sign(side) * working

    def _deny(self, out: EngineOutput, intent: OrderIntent, reason: str, detail: str) -> None:
        self.denied += 1
        out.denials.append(Denial(intent, reason, detail))

    def _gate(self, intent: OrderIntent, out: EngineOutput) -> None:
        """Pre-trade limits; cancels always pass."""
        if intent.action == "CANCEL":
            out.intents.append(intent)
            return
        pos = self.positions.get(intent.symbol, 0)
        reduces = (
            pos != 0 and sign(intent.side) != (1 if pos > 0 else -1) and intent.qty <= abs(pos)
        )
        if self.state == HALTED:
            return self._deny(out, intent, DENY_HALTED, f"trading halted: {self.halt_reason}")
        if self.state == REDUCING and not reduces:
            return self._deny(out, intent, DENY_REDUCING, f"position {pos}: only reducing orders")
        if intent.reduce_only and not reduces:
            return self._deny(out, intent, DENY_NOT_REDUCING, f"position {pos}")
        if intent.qty > self.max_order_qty:
            return self._deny(
                out, intent, DENY_MAX_QTY, f"qty {intent.qty} > max_order_qty {self.max_order_qty}"
            )
        projected = self._exposure(intent.symbol, intent.side) + sign(intent.side) * intent.qty
        if abs(projected) > self.max_position:
            return self._deny(
                out,
                intent,
                DENY_MAX_POSITION,
                f"projected position {projected} exceeds max_position {self.max_position}",
            )
        out.intents.append(intent)
        self._track(intent)
        return None

    def _track(self, intent: OrderIntent) -> None:
        cid = client_order_id(intent.intent_id, Leg.ENTRY)
        self.working[cid] = WorkingOrder(cid, intent.symbol, intent.side, intent.qty)
        if intent.bracket is not None:
            for leg in (Leg.TAKE_PROFIT, Leg.STOP_LOSS):
                c = client_order_id(intent.intent_id, leg)
                self.working[c] = WorkingOrder(
                    c, intent.symbol, opposite(intent.side), intent.qty, cid
                )
