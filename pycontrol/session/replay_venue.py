"""Replay mode: market data from a DBN file (``pycontrol.BookReplay``) through the same session
path as live data, and a simple simulated venue that fills against the replayed book's BBO
with the same fill rule as the test gateway (:class:`pycontrol.ib.testgateway.BboVenue`).

This is the placeholder for the L3 simulated exchange with queue position (branch ``sim``):
the lead replaces :class:`ReplayVenue` (same ``submit`` / ``on_quote`` / ``status``) with it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pycontrol import BookReplay
from pycontrol.ib.testgateway import BboVenue, Quote
from pycontrol.session.engine import MarketData
from pycontrol.session.journal import Journal
from pycontrol.session.orders import ExecutionReport, Leg, OrderIntent, client_order_id, opposite

ReportSink = Callable[[ExecutionReport, str], None]
DenySink = Callable[[OrderIntent, str, str], None]


@dataclass
class SimOrder:
    client_order_id: int
    symbol: str
    action: str
    qty: int
    order_type: str
    lmt_price: float | None
    aux_price: float | None
    parent: int | None = None
    oca: str = ""
    filled: int = 0
    active: bool = True

    @property
    def remaining(self) -> int:
        return self.qty - self.filled


def dbn_quotes(path: str | Path) -> Iterator[MarketData]:
    """Every change of the top of book of the file's instruments (uncrossed, two-sided)."""
    replay = BookReplay(path)
    last: dict[int, tuple[float, float]] = {}
    while True:
        step = replay.step()
        if step is None:
            return
        ts, _, iid, crossed = step
        if crossed:
            continue
        bid, ask = replay.bbo(iid)
        if bid is None or ask is None:
            continue
        if last.get(iid) == (bid[0], ask[0]):
            continue
        last[iid] = (bid[0], ask[0])
        yield MarketData(str(iid), ts, bid[0], ask[0], bid[1], ask[1])


class ReplayVenue:
    def __init__(self, journal: Journal, on_report: ReportSink, on_deny: DenySink) -> None:
        self.journal = journal
        self.on_report = on_report
        self.on_deny = on_deny
        self.model = BboVenue()
        self.quotes: dict[str, Quote] = {}
        self.orders: dict[int, SimOrder] = {}
        self._exec = itertools.count(1)
        self.ts = 0

    def on_quote(self, md: MarketData) -> None:
        self.ts = md.ts
        self.quotes[md.symbol] = Quote(md.bid, md.ask, md.bid_size, md.ask_size)
        for o in list(self.orders.values()):
            if o.symbol == md.symbol and o.active:
                self._match(o)

    async def submit(self, intent: OrderIntent) -> None:
        if intent.action == "CANCEL":
            o = self.orders.get(intent.target_client_order_id or -1)
            if o is not None:
                self._cancel(o, "cancel")
            return
        if intent.action == "MODIFY":
            o = self.orders.get(intent.target_client_order_id or -1)
            if o is None:
                self.on_deny(intent, "NOT_WORKING", "no such working order")
                return
            self.journal.update_order(
                o.client_order_id,
                "modify",
                qty=intent.qty,
                price=intent.price,
                stop_price=intent.stop_price,
            )
            o.qty, o.lmt_price, o.aux_price = intent.qty, intent.price, intent.stop_price
            self._match(o)
            return
        legs = [(Leg.ENTRY, intent.side, intent.order_type, intent.price, intent.stop_price)]
        if intent.bracket is not None:
            ex = opposite(intent.side)
            legs += [
                (Leg.TAKE_PROFIT, ex, "LMT", intent.bracket.take_profit, None),
                (Leg.STOP_LOSS, ex, "STP", None, intent.bracket.stop_loss),
            ]
        entry_cid = client_order_id(intent.intent_id, Leg.ENTRY)
        new: list[SimOrder] = []
        for leg, side, typ, px, stp in legs:
            cid = client_order_id(intent.intent_id, leg)
            parent = None if leg == Leg.ENTRY else entry_cid
            if not self.journal.record_order(
                cid,
                intent_id=intent.intent_id,
                leg=int(leg),
                symbol=intent.symbol,
                side=side,
                qty=intent.qty,
                order_type=typ,
                price=px,
                stop_price=stp,
                parent_client_order_id=parent,
                venue_order_id=None,
            ):
                return
            oca = f"oca-{intent.intent_id}" if parent is not None else ""
            new.append(
                SimOrder(
                    cid,
                    intent.symbol,
                    side,
                    intent.qty,
                    typ,
                    px,
                    stp,
                    parent,
                    oca,
                    active=parent is None,
                )
            )
        for o in new:
            self.orders[o.client_order_id] = o
            self.journal.update_order(o.client_order_id, "ack", status="submitted")
            self.on_report(
                ExecutionReport(
                    "ack",
                    o.client_order_id,
                    o.symbol,
                    o.action,
                    o.qty,
                    ts=self.ts,
                ),
                "replay",
            )
        self._match(new[0])

    def _match(self, o: SimOrder) -> None:
        q = self.quotes.get(o.symbol)
        if q is None or not o.active or o.remaining <= 0:
            return
        for qty, price in self.model.match(o, q):
            self._fill(o, min(qty, o.remaining), price)

    def _fill(self, o: SimOrder, qty: int, price: float) -> None:
        exec_id = f"replay-{next(self._exec)}"
        o.filled += qty
        if self.journal.record_fill(
            exec_id,
            client_order_id=o.client_order_id,
            symbol=o.symbol,
            side=o.action,
            qty=qty,
            price=price,
            ts_ns=self.ts,
            source="replay",
        ):
            self.on_report(
                ExecutionReport(
                    "fill",
                    o.client_order_id,
                    o.symbol,
                    o.action,
                    qty,
                    price,
                    exec_id,
                    self.ts,
                ),
                "replay",
            )
        if o.remaining <= 0:
            del self.orders[o.client_order_id]
            for c in list(self.orders.values()):
                if c.parent == o.client_order_id:
                    c.active = True
                    self._match(c)
        if o.oca:
            for c in list(self.orders.values()):
                if c.oca == o.oca and c is not o:
                    self._cancel(c, "oca")

    def _cancel(self, o: SimOrder, why: str) -> None:
        self.orders.pop(o.client_order_id, None)
        self.journal.update_order(
            o.client_order_id, "cancelled", status="cancelled", payload={"why": why}
        )
        self.on_report(
            ExecutionReport(
                "cancelled",
                o.client_order_id,
                o.symbol,
                o.action,
                o.remaining,
                ts=self.ts,
            ),
            "replay",
        )
        for c in list(self.orders.values()):
            if c.parent == o.client_order_id:
                self._cancel(c, "parent cancelled")

    def status(self) -> dict[str, Any]:
        return {"venue": "replay", "working": len(self.orders), "symbols": sorted(self.quotes)}
