"""The Interactive Brokers venue of a paper or live session (ib_async).

- Connects (port probing, 326 -> next client id, paper-account check), resolves the front
  month of every instrument of the session (one connection serves a portfolio), reconciles,
  subscribes to market data for each contract.
- Sends orders journaled first: every IB order (with its orderId -> client order id mapping
  and ``orderRef = tc:<client_order_id>``) is committed to the journal before placeOrder, so a
  crash can never lead to sending it again; an order the journal knows is never resent.
- Reconnects after a disconnect with exponential backoff and jitter; after a reconnect or
  1101/1102 it backfills executions (reqExecutions), reconciles open orders and positions
  against the journal and restores the market data subscription.
- Positions come from reqPositions and the journal, never from replaying executions alone
  (reqExecutions only reaches back to the start of the trading day). A disagreement is
  journaled and the broker's position wins; no fill is ever invented to make them agree.
- Orders the journal does not know are adopted (our orderRef) or reported (anyone else's),
  never cancelled.
- No order goes out inside the daily gateway restart window or while disconnected: such
  intents are held (sent after) or denied, per config, with a reason.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
from collections.abc import Callable
from typing import Any

from ib_async import IB, Contract, ExecutionFilter, Trade

from pycontrol.ib.connect import Connected, IBConnectError, connect
from pycontrol.ib.contracts import resolve_front
from pycontrol.ib.orders import build_orders, parse_order_ref
from pycontrol.session import failpoints
from pycontrol.session.backoff import backoff_delays
from pycontrol.session.config import SessionConfig
from pycontrol.session.engine import MarketData, TradePrint, aggressor_of
from pycontrol.session.journal import WORKING, Journal
from pycontrol.session.orders import ExecutionReport, OrderIntent, intent_of
from pycontrol.session.reconcile import close_missing, settle_positions
from pycontrol.session.venue import VenueSinks, hold, release

log = logging.getLogger("pycontrol.ib.broker")

IB_SIDE = {"BOT": "BUY", "SLD": "SELL", "BUY": "BUY", "SELL": "SELL"}
CONNECTION_LOST, RESTORED_LOST_DATA, RESTORED = 1100, 1101, 1102
REJECT_CODES = {201, 203, 103, 200, 320}


def _mkt(ts: dt.datetime | None = None) -> int:
    return int((ts or dt.datetime.now(dt.UTC)).timestamp() * 1e9)


class IBVenue:
    """The IB venue (:class:`pycontrol.session.venue.Venue`) of every instrument of a session."""

    def __init__(
        self,
        cfg: SessionConfig,
        mode: str,
        journal: Journal,
        sinks: VenueSinks,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.cfg = cfg
        # The engine's pre-trade gate at the moment a held intent would go out: what was
        # fine when it was decided may not be after a halt or a tightened limit.
        self.sinks = sinks
        self.regate = sinks.regate
        self.mode = mode
        self.journal = journal
        self.on_report = sinks.on_report
        self.on_deny = sinks.on_deny
        self.on_market = sinks.on_market
        self.on_event = sinks.on_event
        self.on_trade = sinks.on_trade
        self.on_commission = sinks.on_commission
        self.clock = clock
        self.ib = IB()
        self.ib.RequestTimeout = cfg.ib.connect_timeout * 2
        # root -> the front-month contract traded now, and local symbol -> contract
        self.contracts: dict[str, Contract] = {}
        self.by_local: dict[str, Contract] = {}
        self.connected: Connected | None = None
        self.ready = False
        self.trades: dict[int, Trade] = {}  # client order id -> Trade
        self.held: list[OrderIntent] = []
        self.reconnects = 0
        self._stopping = False
        self._reconnect_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._tickers: dict[int, Any] = {}  # conId -> ticker
        self._last_quote: dict[str, tuple[float, float]] = {}  # local symbol -> (bid, ask)
        # The account id is a secret: read from the environment, never logged or journaled.
        self.account = os.environ.get(cfg.ib.account_env, "")
        ib = self.ib
        ib.orderStatusEvent += self._on_status
        ib.execDetailsEvent += self._on_exec
        ib.commissionReportEvent += self._on_commission
        ib.errorEvent += self._on_error
        ib.disconnectedEvent += self._on_disconnected

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        await self._connect_once()
        await self._after_connect()
        self._spawn(self._window_watch())

    async def stop(self) -> None:
        self._stopping = True
        for t in list(self._tasks):
            t.cancel()
        if self._reconnect_task is not None:
            self._reconnect_task.cancel()
        self.ib.disconnect()

    def _spawn(self, coro: Any) -> None:
        t = asyncio.ensure_future(coro)
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)

    async def _connect_once(self) -> None:
        c = self.cfg.ib
        self.connected = await connect(
            self.ib, self.mode, c.host, c.port, c.client_id, c.max_client_ids, c.connect_timeout
        )
        if self.account and self.account not in self.connected.accounts:
            self.ib.disconnect()
            raise IBConnectError(
                f"the account in ${c.account_env} is not managed by this gateway "
                f"({len(self.connected.accounts)} accounts there)"
            )
        self.on_event(
            "connected",
            {"port": self.connected.port, "client_id": self.connected.client_id},
        )

    def symbols(self) -> dict[str, str]:
        return {root: c.localSymbol for root, c in self.contracts.items()}

    def _know(self, c: Contract) -> None:
        """A contract we hold a position or a working order in (an old month before its
        roll): tradable, so the engine's exit of it can be sent. Only the engine decides
        what is traded; the venue only refuses contracts it cannot name."""
        if not c.localSymbol or c.localSymbol in self.by_local:
            return
        if not c.exchange:
            root = next((i for i in self.cfg.instruments if i.root == c.symbol), None)
            c.exchange = root.exchange if root is not None else ""
        self.by_local[c.localSymbol] = c

    async def _after_connect(self) -> None:
        for inst in self.cfg.instruments:
            if inst.root in self.contracts:
                continue
            c = await resolve_front(
                self.ib, inst.root, inst.exchange, inst.roll_days, self.clock().date()
            )
            self.contracts[inst.root] = c
            self.by_local[c.localSymbol] = c
            self.on_event(
                "contract",
                {
                    "root": inst.root,
                    "symbol": c.localSymbol,
                    "con_id": c.conId,
                    "expiry": c.lastTradeDateOrContractMonth,
                },
            )
        max_known = self.journal.max_venue_order_id()
        self.ib.client.updateReqId(max_known + 1)  # type: ignore[no-untyped-call]
        why = "connect" if self.reconnects == 0 else "reconnect"
        await asyncio.wait_for(self.reconcile(why), self.cfg.ib.connect_timeout * 4)
        self._subscribe()
        self.ready = True
        await self._release_held()

    def _subscribe(self) -> None:
        for c in self.contracts.values():
            old = self._tickers.pop(c.conId, None)
            if old is not None:
                old.updateEvent -= self._on_ticker
                self.ib.cancelMktData(c)
            t = self.ib.reqMktData(c)
            t.updateEvent += self._on_ticker
            self._tickers[c.conId] = t

    def _on_ticker(self, t: Any) -> None:
        sym = t.contract.localSymbol
        if self.on_trade is not None:
            # last-trade ticks (4, delayed 68) of this update, in arrival order, before the
            # quote: a trade prints against the book it found
            bid, ask = self._last_quote.get(sym, (None, None))
            for k in t.ticks:
                if k.tickType in (4, 68) and k.size > 0 and k.price == k.price and k.price > 0:
                    px = float(k.price)
                    side = aggressor_of(px, bid, ask)
                    self.on_trade(TradePrint(sym, _mkt(), px, _size(k.size), side))
        bid, ask = t.bid, t.ask
        if not (bid == bid and ask == ask) or bid <= 0 or ask <= 0:  # NaN: side not yet known
            return
        if self._last_quote.get(sym) == (bid, ask):
            return
        self._last_quote[sym] = (bid, ask)
        self.on_market(MarketData(sym, _mkt(), bid, ask, _size(t.bidSize), _size(t.askSize)))

    # -- reconnect -----------------------------------------------------------------------------

    def _on_disconnected(self) -> None:
        if self._stopping or not self.contracts:
            return  # stopping, or start() itself failed (it raises; nothing to resume)
        self.ready = False
        self.on_event("disconnected", {})
        if self._reconnect_task is None or self._reconnect_task.done():
            self._reconnect_task = asyncio.ensure_future(self._reconnect_loop())

    async def _reconnect_loop(self) -> None:
        c = self.cfg.ib
        for attempt, delay in enumerate(backoff_delays(c.reconnect_initial, c.reconnect_max), 1):
            if self._stopping:
                return
            await asyncio.sleep(delay)
            try:
                await self._connect_once()
                self.reconnects += 1
                self.on_event("reconnected", {"attempt": attempt})
                self._tickers.clear()  # subscriptions die with the connection
                await self._after_connect()
                return
            except (IBConnectError, OSError, TimeoutError, ConnectionError) as e:
                # the gateway went away again mid-reconcile: start over, nothing half-applied
                # matters (every journal write is its own transaction and idempotent)
                log.warning("reconnect attempt %d failed: %s", attempt, e)
                continue

    # -- reconciliation -----------------------------------------------------------------------

    async def reconcile(self, why: str) -> dict[str, Any]:
        """Backfill executions, then open orders, then positions; journal every finding."""
        summary: dict[str, Any] = {"why": why}
        fills = await self.ib.reqExecutionsAsync(ExecutionFilter())
        new = 0
        for f in fills:
            if self._record_fill(f, "backfill"):
                new += 1
        summary["backfilled_fills"] = new

        trades = await self.ib.reqAllOpenOrdersAsync()
        open_cids: set[int] = set()
        adopted, foreign = 0, 0
        for t in trades:
            cid = self._cid_of(t.order.orderRef, t.order.orderId)
            if cid is None:
                foreign += 1
                self.journal.append(
                    "foreign_order",
                    {
                        "venue_order_id": t.order.orderId,
                        "client_id": t.order.clientId,
                        "order_ref": t.order.orderRef,
                        "side": t.order.action,
                        "qty": int(t.order.totalQuantity),
                        "type": t.order.orderType,
                        "status": t.orderStatus.status,
                        "note": "not ours: reported, left alone",
                    },
                )
                continue
            open_cids.add(cid)
            self.trades[cid] = t
            self._know(t.contract)
            row = self.journal.order(cid)
            if row is None:
                adopted += 1
                iid, leg = intent_of(cid)
                self.journal.record_order(
                    cid,
                    intent_id=iid,
                    leg=int(leg) if leg is not None else None,
                    symbol=t.contract.localSymbol,
                    side=t.order.action,
                    qty=int(t.order.totalQuantity),
                    order_type=t.order.orderType,
                    price=_px(t.order.lmtPrice),
                    stop_price=_px(t.order.auxPrice),
                    parent_client_order_id=None,
                    venue_order_id=t.order.orderId,
                    status="submitted",
                    adopted=True,
                    filled=int(t.orderStatus.filled),
                )
                self._report("ack", cid, t, reason="adopted")
            elif row.status in ("pending_submit", "held"):
                self.journal.update_order(
                    cid, "ack", status="submitted", payload={"via": "reconcile"}
                )
                self._report("ack", cid, t)
        # Journaled working orders the gateway no longer has: filled (the backfill saw it),
        # never sent (we crashed between journal and send: never resend), or gone at the venue.
        for row in self.journal.orders(working_only=True):
            if row.client_order_id in open_cids:
                continue
            never_sent = row.status == "pending_submit" and row.filled == 0
            close_missing(self.journal, row, never_sent, self.on_report)
            if never_sent and row.venue_order_id is not None:
                # A crash in the middle of a bracket can leave its first legs at the gateway
                # untransmitted (transmit=False: not working, not listed as open). Cancel by
                # id so a half bracket can never be transmitted later; a cancel of an id the
                # gateway never saw is answered with a harmless error.
                self.ib.client.cancelOrder(row.venue_order_id, "")  # type: ignore[no-untyped-call]
        summary["adopted_orders"] = adopted
        summary["foreign_orders"] = foreign

        positions = await self.ib.reqPositionsAsync()
        broker: dict[str, tuple[int, float]] = {}
        for p in positions:
            if self.account and p.account != self.account:
                continue
            sym = p.contract.localSymbol
            if p.position:
                self._know(p.contract)
            mult = float(p.contract.multiplier or 1)
            broker[sym] = (int(p.position), p.avgCost / mult if mult else p.avgCost)
        mismatches = settle_positions(self.journal, broker, why)
        summary["position_mismatches"] = mismatches
        summary["positions"] = {s: q for s, (q, _) in broker.items()}
        self.journal.append("reconcile", summary)
        self.on_event("reconcile", summary)
        return summary

    def _cid_of(self, order_ref: str, venue_order_id: int) -> int | None:
        cid = parse_order_ref(order_ref or "")
        if cid is not None:
            return cid
        row = self.journal.order_by_venue_id(venue_order_id) if venue_order_id > 0 else None
        return row.client_order_id if row is not None and order_ref == "" else None

    # -- orders ----------------------------------------------------------------------------

    def in_restart_window(self) -> bool:
        return self.cfg.ib.restart_window.contains(self.clock())

    async def submit(self, intent: OrderIntent) -> None:
        """Sends an already-journaled intent, or holds/denies it (window, disconnected)."""
        if self.in_restart_window():
            if self.cfg.ib.restart_window.policy == "deny":
                self.on_deny(
                    intent, "GATEWAY_RESTART_WINDOW", "inside the daily gateway restart window"
                )
                return
            self._hold(intent, "GATEWAY_RESTART_WINDOW")
            return
        if not self.ready or not self.ib.isConnected():
            self._hold(intent, "DISCONNECTED")
            return
        self._send(intent)

    def _hold(self, intent: OrderIntent, reason: str) -> None:
        hold(self.held, self.journal, self.sinks, intent, reason)

    async def _release_held(self) -> None:
        if not self.held or self.in_restart_window() or not self.ready:
            return
        for intent in release(self.held, self.journal, self.sinks):
            self._send(intent)

    async def _window_watch(self) -> None:
        while not self._stopping:
            await asyncio.sleep(1.0)
            await self._release_held()

    def _send(self, intent: OrderIntent) -> None:
        if intent.action == "CANCEL":
            self._cancel(intent)
            return
        if intent.action == "MODIFY":
            self._modify(intent)
            return
        contract = self.by_local.get(intent.symbol)
        if contract is None:
            # the engine names the contract it decided on; one the venue does not trade now
            # (an old month after a roll) is refused, never guessed
            self.on_deny(
                intent,
                "UNKNOWN_CONTRACT",
                f"{intent.symbol!r} is not a contract this venue trades now "
                f"({', '.join(sorted(self.by_local)) or 'none resolved'})",
            )
            return
        first = self.ib.client.getReqId()
        planned = build_orders(intent, first, self.account)
        for _ in planned[1:]:
            self.ib.client.getReqId()
        sendable = []
        for p in planned:
            o = p.order
            fresh = self.journal.record_order(
                p.client_order_id,
                intent_id=intent.intent_id,
                leg=int(p.leg),
                symbol=contract.localSymbol,
                side=o.action,
                qty=int(o.totalQuantity),
                order_type=o.orderType,
                price=_px(o.lmtPrice),
                stop_price=_px(o.auxPrice),
                parent_client_order_id=p.parent_client_order_id,
                venue_order_id=o.orderId,
            )
            if not fresh:
                # Already journaled: sent before (or lost before sending); never again.
                self.journal.append(
                    "duplicate_suppressed",
                    {"venue_order_id": o.orderId},
                    intent_id=intent.intent_id,
                    client_order_id=p.client_order_id,
                )
                return
            sendable.append(p)
        failpoints.hit("ib.journaled_not_sent")
        for k, p in enumerate(sendable):
            if k:
                failpoints.hit("ib.between_bracket_legs")
            self.trades[p.client_order_id] = self.ib.placeOrder(contract, p.order)
            self.on_event(
                "order",
                {
                    "client_order_id": p.client_order_id,
                    "venue_order_id": p.order.orderId,
                    "side": p.order.action,
                    "qty": int(p.order.totalQuantity),
                    "type": p.order.orderType,
                    "leg": p.leg.name,
                },
            )

    def _cancel(self, intent: OrderIntent) -> None:
        cid = intent.target_client_order_id
        trade = self.trades.get(cid) if cid is not None else None
        if cid is None or trade is None or trade.isDone():
            self.journal.append(
                "cancel_skipped",
                {"target": cid, "note": "not working"},
                intent_id=intent.intent_id,
                client_order_id=cid,
            )
            return
        self.journal.update_order(cid, "cancel_request", payload={"intent_id": intent.intent_id})
        self.ib.cancelOrder(trade.order)

    def _modify(self, intent: OrderIntent) -> None:
        cid = intent.target_client_order_id
        trade = self.trades.get(cid) if cid is not None else None
        if cid is None or trade is None or trade.isDone():
            self.on_deny(intent, "NOT_WORKING", f"order {cid} is not working")
            return
        o = trade.order
        qty = intent.qty or int(o.totalQuantity)
        self.journal.update_order(
            cid,
            "modify",
            qty=qty,
            price=intent.price,
            stop_price=intent.stop_price,
            payload={"intent_id": intent.intent_id},
        )
        o.totalQuantity = qty
        if intent.price is not None:
            o.lmtPrice = intent.price
        if intent.stop_price is not None:
            o.auxPrice = intent.stop_price
        self.ib.placeOrder(trade.contract, o)

    # -- events from ib_async ------------------------------------------------------------

    def _report(self, kind: str, cid: int, t: Trade, reason: str = "") -> None:
        self.on_report(
            ExecutionReport(
                kind,
                cid,
                t.contract.localSymbol,
                IB_SIDE.get(t.order.action, "BUY"),
                int(t.order.totalQuantity),
                reason=reason,
                ts=_mkt(),
            ),
            "live",
        )

    def _on_status(self, t: Trade) -> None:
        cid = self._cid_of(t.order.orderRef, t.order.orderId)
        if cid is None:
            return
        row = self.journal.order(cid)
        if row is None or row.status not in WORKING:
            return
        st = t.orderStatus.status
        if st in ("Submitted", "PreSubmitted") and row.status != "submitted":
            self.journal.update_order(
                cid,
                "ack",
                status="submitted",
                payload={"venue_status": st, "perm_id": t.orderStatus.permId},
            )
            self._report("ack", cid, t)
        elif st in ("Cancelled", "ApiCancelled"):
            # ib_async turns an order error (201 rejected, ...) into a Cancelled status before
            # the error event: the log entry's code says which it was.
            code = t.log[-1].errorCode if t.log else 0
            if code in REJECT_CODES:
                msg = t.log[-1].message
                self.journal.update_order(
                    cid, "reject", status="rejected", payload={"code": code, "message": msg}
                )
                self._report("reject", cid, t, reason=f"{code}: {msg}")
                return
            self.journal.update_order(
                cid, "cancelled", status="cancelled", payload={"venue_status": st}
            )
            self._report("cancelled", cid, t)
        elif st == "Inactive":
            self.journal.update_order(
                cid, "reject", status="rejected", payload={"venue_status": st}
            )
            self._report("reject", cid, t, reason="inactive")

    def _on_exec(self, t: Trade, fill: Any) -> None:
        self._record_fill(fill, "live")

    def _record_fill(self, fill: Any, source: str) -> bool:
        ex = fill.execution
        cid = self._cid_of(ex.orderRef, ex.orderId)
        if cid is None:
            self.journal.append(
                "foreign_fill",
                {
                    "exec_id": ex.execId,
                    "order_ref": ex.orderRef,
                    "note": "not ours: position via reqPositions",
                },
            )
            return False
        side = IB_SIDE.get(ex.side, ex.side)
        sym = fill.contract.localSymbol
        new = self.journal.record_fill(
            ex.execId,
            client_order_id=cid,
            symbol=sym,
            side=side,
            qty=int(ex.shares),
            price=float(ex.price),
            ts_ns=_mkt(ex.time),
            source=source,
        )
        if new:
            self.on_report(
                ExecutionReport(
                    "fill",
                    cid,
                    sym,
                    side,
                    int(ex.shares),
                    float(ex.price),
                    ex.execId,
                    _mkt(ex.time),
                ),
                source,
            )
        return new

    def _on_commission(self, t: Trade, fill: Any, report: Any) -> None:
        self.journal.append(
            "commission",
            {
                "exec_id": report.execId,
                "commission": report.commission,
                "currency": report.currency,
            },
        )
        ex = fill.execution
        cid = self._cid_of(ex.orderRef, ex.orderId)
        if self.on_commission is not None and cid is not None:
            self.on_commission(cid, report.execId, float(report.commission))

    def _on_error(self, req_id: int, code: int, msg: str, contract: Any) -> None:
        if code == CONNECTION_LOST:
            self.ready = False
            self.journal.append("connectivity", {"code": code, "message": msg})
            self.on_event("connectivity", {"code": code})
        elif code in (RESTORED_LOST_DATA, RESTORED):
            self.journal.append("connectivity", {"code": code, "message": msg})
            self.on_event("connectivity", {"code": code})
            self._spawn(self._restored(code))
        elif code in REJECT_CODES and req_id > 0:
            row = self.journal.order_by_venue_id(req_id)
            if row is not None and row.status in WORKING:
                self.journal.update_order(
                    row.client_order_id,
                    "reject",
                    status="rejected",
                    payload={"code": code, "message": msg},
                )
                self.on_report(
                    ExecutionReport(
                        "reject",
                        row.client_order_id,
                        row.symbol,
                        row.side,
                        row.qty,
                        reason=f"{code}: {msg}",
                    ),
                    "live",
                )

    async def _restored(self, code: int) -> None:
        try:
            await asyncio.wait_for(
                self.reconcile(f"restored {code}"), self.cfg.ib.connect_timeout * 4
            )
        except (TimeoutError, ConnectionError) as e:
            # the disconnect handler reconnects and reconciles again from the start
            log.warning("reconcile after %d failed: %s", code, e)
            return
        if code == RESTORED_LOST_DATA:
            self._subscribe()  # 1101: market data subscriptions were lost
        self.ready = True
        await self._release_held()

    def status(self) -> dict[str, Any]:
        return {
            "venue": "ib",
            "connected": self.ib.isConnected(),
            "ready": self.ready,
            "client_id": self.connected.client_id if self.connected else None,
            "port": self.connected.port if self.connected else None,
            "symbols": self.symbols(),
            "held": len(self.held),
            "reconnects": self.reconnects,
            "in_restart_window": self.in_restart_window(),
        }


def _px(v: Any) -> float | None:
    """A price from ib_async, None when unset (IB's UNSET_DOUBLE, NaN or missing)."""
    return None if v is None or v != v or float(v) >= 1e300 else float(v)


def _size(v: Any) -> int:
    return int(v) if v == v else 0  # NaN: not known yet
