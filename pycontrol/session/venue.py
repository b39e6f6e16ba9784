"""The one interface a session's broker venue implements (IB, Tradovate, ...), and the sinks
through which it hands the session what happens at the broker.

A venue serves every instrument of the session over one broker connection. It resolves each
root's front month, reconciles working orders, fills and positions against the journal on
every (re)connect, streams quotes and trade prints, and sends intents the session has already
journaled: each order is journaled before it is sent, never sent twice, and an intent held
while the venue cannot send (disconnected, restart window) is re-gated through ``regate``
before it goes out. The session picks the venue with ``[venue] broker``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from pycontrol.session.engine import MarketData, TradePrint
from pycontrol.session.journal import Journal
from pycontrol.session.orders import ExecutionReport, OrderIntent


@dataclass(frozen=True)
class VenueSinks:
    """Where a venue reports. ``on_report``: an order ack, fill, cancel or reject the venue
    has already journaled (second argument: "live", "backfill", "reconcile"). ``on_deny``: an
    intent the venue refused to send (reason code, detail). ``on_market`` / ``on_trade``:
    quotes and trade prints by the contract's local symbol. ``on_event``: connectivity,
    contract, reconcile, held, order events for telemetry. ``on_commission``: a fill's
    commission reported after it (client order id, exec id, amount). ``regate``: the engine's
    gate at send time for a held intent, (reason, detail) to refuse it."""

    on_report: Callable[[ExecutionReport, str], None]
    on_deny: Callable[[OrderIntent, str, str], None]
    on_market: Callable[[MarketData], None]
    on_event: Callable[[str, dict[str, Any]], None]
    on_trade: Callable[[TradePrint], None] | None = None
    on_commission: Callable[[int, str, float], None] | None = None
    regate: Callable[[OrderIntent], tuple[str, str] | None] | None = None


class Venue(Protocol):
    """A broker venue of a paper or live session."""

    held: list[OrderIntent]

    async def start(self) -> None:
        """Connects, resolves contracts, reconciles, subscribes; raises when it cannot."""

    async def stop(self) -> None: ...

    async def submit(self, intent: OrderIntent) -> None:
        """Sends (or holds, or denies through ``on_deny``) a journaled intent."""

    def symbols(self) -> dict[str, str]:
        """Root -> local symbol of the contract traded now (e.g. ES -> ESZ6)."""

    def status(self) -> dict[str, Any]: ...


def hold(held: list[OrderIntent], journal: Journal, sinks: VenueSinks, intent: OrderIntent,
         reason: str) -> None:  # fmt: skip
    """An intent the venue cannot send now (disconnected, the broker's restart window):
    kept in ``held`` and journaled with the reason."""
    held.append(intent)
    journal.append("held", {"reason": reason}, intent_id=intent.intent_id)
    sinks.on_event("held", {"intent_id": intent.intent_id, "reason": reason})


def release(held: list[OrderIntent], journal: Journal, sinks: VenueSinks) -> list[OrderIntent]:
    """Empties ``held``: each intent passes the engine's gate again at this moment
    (``regate``); a refused one is denied through ``on_deny``, the others are journaled as
    released and returned, in order, for the venue to send."""
    out, pending = [], list(held)
    held.clear()
    for intent in pending:
        refused = sinks.regate(intent) if sinks.regate is not None else None
        if refused is not None:
            reason, detail = refused
            sinks.on_deny(intent, reason, f"held, then refused at release: {detail}")
            continue
        journal.append("released", {}, intent_id=intent.intent_id)
        out.append(intent)
    return out
