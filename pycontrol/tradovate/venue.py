"""The Tradovate venue of a paper (demo environment) or live (live environment) session.

- Logs in (``auth/accesstokenrequest``), picks the account, resolves the front month of
  every instrument of the session (``contract/find``), opens the user WebSocket (authorize,
  ``user/syncrequest``) and the market data WebSocket (``md/subscribeQuote`` per contract),
  reconciles, then trades. The token is renewed ``renew_before_s`` before it expires; a token
  the server refuses is replaced by a fresh login.
- Sends orders journaled first: every leg is committed to the journal (status
  pending_submit, ``text = tc:<client order id>``) before ``placeorder`` / ``placeOSO``, so a
  crash can never lead to sending it again; an order the journal knows is never resent.
- Reconnects after a lost socket with exponential backoff and jitter; on every (re)connect
  it reconciles: orders (``order/list``, ours found by the text of their ``orderVersion``,
  adopted, anyone else's reported and left alone), fills while away (``fill/list``, keyed by
  fill id so nothing counts twice) and positions (``position/list``: the broker wins, the
  disagreement is journaled, no fill is invented).
- No order goes out while disconnected: such intents are held and re-gated through
  ``sinks.regate`` when released.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
from collections.abc import Callable
from typing import Any

from pycontrol._core import CoreError
from pycontrol.session import failpoints
from pycontrol.session.backoff import backoff_delays
from pycontrol.session.config import SessionConfig
from pycontrol.session.engine import MarketData, TradePrint, aggressor_of
from pycontrol.session.journal import WORKING, Journal
from pycontrol.session.orders import ExecutionReport, OrderIntent, intent_of
from pycontrol.session.reconcile import close_missing, settle_positions
from pycontrol.session.venue import VenueSinks, hold, release
from pycontrol.tradovate.contracts import TvContract, resolve_front
from pycontrol.tradovate.errors import (
    TradovateAuthError,
    TradovateConfigError,
    TradovateConnectError,
    TradovateError,
    TradovateOrderError,
    TradovateRequestError,
)
from pycontrol.tradovate.orders import (
    ORDER_TYPE,
    SIDE_OF,
    TYPE_OF,
    WORKING_STATUS,
    command,
    order_ids,
    parse_tag,
    plan,
)
from pycontrol.tradovate.rest import Credentials, RestClient
from pycontrol.tradovate.ws import WsClient

log = logging.getLogger("pycontrol.tradovate.venue")

ENV_OF_MODE = {"paper": "demo", "live": "live"}
MAX_ORPHANS = 10_000  # events of order ids not known yet (a place answer still on its way)
MAX_EVENTS_PER_ORPHAN = 64
MONTH_CODES = "FGHJKMNQUVXZ"


def _ns(ts: object) -> int:
    if isinstance(ts, str):
        try:
            return int(dt.datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp() * 1e9)
        except ValueError:
            pass
    return int(dt.datetime.now(dt.UTC).timestamp() * 1e9)


def journal_fills_without_fee(journal: Journal, done: set[str]) -> list[tuple[str, int]]:
    """(exec id, client order id) of the journal's Tradovate fills without a commission."""
    return [
        (str(f["exec_id"]), int(f["client_order_id"]))
        for f in journal.fills()
        if str(f["exec_id"]).startswith("tv:")
        and f["client_order_id"] is not None
        and f["exec_id"] not in done
    ]


def check_environment(mode: str, environment: str) -> None:
    """A live environment only in a live session, a demo one never in it."""
    want = ENV_OF_MODE.get(mode)
    if want is None:
        raise TradovateConfigError(f"the Tradovate venue trades paper or live, not {mode!r}")
    if environment != want:
        raise TradovateConfigError(
            f"[tradovate] environment {environment!r} refused in a {mode} session "
            f"(a {mode} session trades the {want} environment)"
        )


class TradovateVenue:
    def __init__(
        self,
        cfg: SessionConfig,
        mode: str,
        journal: Journal,
        sinks: VenueSinks,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        env: dict[str, str] | None = None,
    ) -> None:
        c = cfg.tradovate
        check_environment(mode, c.environment)
        self.cfg = cfg
        self.mode = mode
        self.journal = journal
        self.sinks = sinks
        self.clock = clock
        self.creds = Credentials.from_env(c, env)
        self.account_name = (os.environ if env is None else env).get(c.account_env, "")
        rest_url, ws_url, md_url = c.urls()
        self.rest = RestClient(rest_url, c.request_timeout)
        self.ws = WsClient(
            ws_url,
            c.heartbeat_s,
            c.connect_timeout,
            self._on_user,
            self._lost,
            "user",
            c.server_timeout_s,
        )
        self.md = WsClient(
            md_url,
            c.heartbeat_s,
            c.connect_timeout,
            self._on_md,
            self._lost,
            "md",
            c.server_timeout_s,
        )
        self.account_id = 0
        self.account_spec = ""
        self.contracts: dict[str, TvContract] = {}  # root -> contract
        self.by_id: dict[int, TvContract] = {}
        self.by_symbol: dict[str, TvContract] = {}
        self.cid_of: dict[int, int] = {}  # venue order id -> client order id
        self.vid_of: dict[int, int] = {}  # client order id -> venue order id
        self.status_of: dict[int, str] = {}  # venue order id -> last ordStatus seen
        self.held: list[OrderIntent] = []
        self.ready = False
        self.reconnects = 0
        self.renewals = 0
        self.relogins = 0
        self.early_events = 0  # events that came before the answer naming their order
        self._orphans: dict[int, list[tuple[str, dict[str, Any]]]] = {}
        self._foreign_fills: set[int] = set()
        self._foreign_orders: set[int] = set()  # venue ids of orders not ours (by their text)
        self._fill_cid: dict[str, int] = {}  # exec id -> client order id, fills of ours
        self._fees_done: set[str] = {
            str(e["payload"]["exec_id"]) for e in journal.events("commission")
        }
        self._fees_waiting: dict[str, dict[str, Any]] = {}
        # False until start() returns: the session restores its engine from the journal
        # after start (fees journaled before then are in it, so not handed over again)
        self._started = False
        self._quotes: dict[int, tuple[float, float]] = {}
        self._volume: dict[int, int] = {}
        self._stopping = False
        self._reconnect_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        for e in journal.events("venue_order"):
            self._map(int(e["payload"]["venue_order_id"]), int(e["client_order_id"]), False)
        for row in journal.orders():
            if row.venue_order_id is not None:
                self._map(row.venue_order_id, row.client_order_id, False)

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        try:
            await self._login()
            await self._pick_account()
            today = self.clock().date()
            for inst in self.cfg.instruments:
                k = await resolve_front(self.rest, inst.root, inst.roll_days, today)
                self.contracts[inst.root] = k
                self.by_id[k.id] = k
                self.by_symbol[k.name] = k
                self.sinks.on_event("contract", {"root": k.root, "symbol": k.name, "id": k.id})
            await self._after_connect("connect")
        except BaseException:
            await self._close_all()
            raise
        self._started = True
        self._spawn(self._renew_loop())
        self._spawn(self._release_loop())
        if not (self.ws.connected and self.md.connected):
            self._lost("a socket closed while starting")

    async def stop(self) -> None:
        self._stopping = True
        for t in list(self._tasks):
            t.cancel()
        if self._reconnect_task is not None:
            self._reconnect_task.cancel()
        await self._close_all()

    async def _close_all(self) -> None:
        await self.ws.close()
        await self.md.close()
        await self.rest.close()

    def _spawn(self, coro: Any) -> None:
        t = asyncio.ensure_future(coro)
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)

    async def _login(self) -> None:
        tok = await self.rest.login(self.creds)
        self.sinks.on_event("login", {"expires": tok.expires.isoformat()})

    async def _pick_account(self) -> None:
        accounts = await self.rest.get("account/list")
        live = [a for a in accounts or [] if isinstance(a, dict) and a.get("active", True)]
        if self.account_name:
            live = [a for a in live if a.get("name") == self.account_name]
        if len(live) != 1:
            raise TradovateConfigError(
                f"account/list: {len(live)} matching active accounts; set "
                f"${self.cfg.tradovate.account_env} to the account name to trade"
                if len(live) > 1 or self.account_name
                else "account/list: no active account"
            )
        self.account_id = int(live[0]["id"])
        self.account_spec = str(live[0]["name"])

    async def _after_connect(self, why: str) -> None:
        tok = self.rest.token
        assert tok is not None
        self.ready = False
        await self.ws.connect(tok.access)
        await self.md.connect(tok.md_access)
        # sync first, reconcile after: an event between the two is seen by both, and both
        # paths are idempotent (fills by id, order states guarded by the journal's status)
        await self.ws.request("user/syncrequest", {"users": [tok.user_id], "splitResponses": True})
        await asyncio.wait_for(self.reconcile(why), self.cfg.tradovate.connect_timeout * 4)
        for k in self.contracts.values():
            await self.md.request("md/subscribeQuote", {"symbol": k.name})
        self.ready = True
        self.sinks.on_event("connected", {"why": why, "account": "..."})
        await self._release_held()

    # -- token renewal -----------------------------------------------------------------------

    async def _renew_loop(self) -> None:
        c = self.cfg.tradovate
        while not self._stopping:
            tok = self.rest.token
            assert tok is not None
            left = (tok.expires - dt.datetime.now(dt.UTC)).total_seconds() - c.renew_before_s
            await asyncio.sleep(max(1.0, left))
            try:
                await self.rest.renew()
                self.renewals += 1
                self.journal.append("token_renewed", {"n": self.renewals})
            except TradovateAuthError as e:
                # renewal needs a live token: one that was refused (expired early, revoked)
                # is replaced by a new login
                log.warning("token renewal refused (%s): logging in again", e)
                try:
                    await self._login()
                    self.relogins += 1
                except TradovateError as e2:
                    log.warning("login after a refused renewal failed: %s", e2)
            except TradovateError as e:
                log.warning("token renewal failed: %s", e)

    async def _rest(self, method: str, endpoint: str, body: Any = None, **params: Any) -> Any:
        """A REST call that survives one refused token (a fresh login, then once more)."""
        for attempt in (1, 2):
            try:
                if method == "POST":
                    return await self.rest.post(endpoint, body)
                return await self.rest.get(endpoint, **params)
            except TradovateAuthError:
                if attempt == 2:
                    raise
                await self._login()
                self.relogins += 1
                self.journal.append("relogin", {"endpoint": endpoint})
        raise AssertionError("unreachable")

    # -- reconnect ---------------------------------------------------------------------------

    def _lost(self, why: str) -> None:
        if self._stopping or not self._started:
            return  # stopping, or start() itself failed (it raises; nothing to resume)
        if self.ready:
            self.journal.append("connectivity", {"lost": why})
        self.ready = False
        self.sinks.on_event("disconnected", {"why": why})
        if self._reconnect_task is None or self._reconnect_task.done():
            self._reconnect_task = asyncio.ensure_future(self._reconnect_loop())

    async def _reconnect_loop(self) -> None:
        c = self.cfg.tradovate
        for attempt, delay in enumerate(backoff_delays(c.reconnect_initial, c.reconnect_max), 1):
            if self._stopping:
                return
            await asyncio.sleep(delay)
            try:
                await self.ws.close()
                await self.md.close()
                tok = self.rest.token
                if tok is None or tok.expires <= dt.datetime.now(dt.UTC):
                    await self._login()
                try:
                    await self._after_connect("reconnect")
                except TradovateAuthError:
                    await self._login()
                    await self._after_connect("reconnect")
                if not (self.ws.connected and self.md.connected):
                    self.ready = False
                    continue  # lost again while reconciling: once more, from the start
                self.reconnects += 1
                self.sinks.on_event("reconnected", {"attempt": attempt})
                return
            except (TradovateError, OSError, TimeoutError) as e:
                log.warning("reconnect attempt %d failed: %s", attempt, e)
                continue

    # -- reconciliation ----------------------------------------------------------------------

    async def _tag_of(self, venue_id: int) -> int | None:
        """Our client order id of a venue order, from the text of its latest version."""
        versions = await self._rest("GET", "orderVersion/deps", masterid=venue_id)
        best = max(
            (v for v in versions or [] if isinstance(v, dict)),
            key=lambda v: v.get("id", 0),
            default=None,
        )
        return parse_tag(best.get("text")) if best else None

    async def reconcile(self, why: str) -> dict[str, Any]:
        """Orders, then fills while away, then positions; journal every finding."""
        summary: dict[str, Any] = {"why": why}
        orders = [o for o in await self._rest("GET", "order/list") or [] if isinstance(o, dict)]
        adopted, foreign = 0, 0
        open_cids: set[int] = set()
        for o in orders:
            vid = int(o["id"])
            st = str(o.get("ordStatus", ""))
            self.status_of[vid] = st
            if o.get("accountId") not in (None, self.account_id):
                continue
            cid = self.cid_of.get(vid)
            if cid is None:
                cid = None if vid in self._foreign_orders else await self._tag_of(vid)
                if cid is None:
                    self._foreign_orders.add(vid)
                    self._orphans.pop(vid, None)
                    if st in WORKING_STATUS:
                        foreign += 1
                        self.journal.append(
                            "foreign_order",
                            {
                                "venue_order_id": vid,
                                "status": st,
                                "action": o.get("action"),
                                "note": "not ours: reported, left alone",
                            },
                        )
                    continue
                self._map(vid, cid, self.journal.order(cid) is not None)
            if st not in WORKING_STATUS:
                continue
            open_cids.add(cid)
            row = self.journal.order(cid)
            if row is None:
                vs = await self._rest("GET", "orderVersion/deps", masterid=vid)
                v = max(vs or [{}], key=lambda x: x.get("id", 0))
                iid, leg = intent_of(cid)
                sym = await self._know(int(o.get("contractId", 0)))
                self.journal.record_order(
                    cid,
                    intent_id=iid,
                    leg=int(leg) if leg is not None else None,
                    symbol=sym,
                    side=SIDE_OF.get(str(o.get("action")), "BUY"),
                    qty=int(v.get("orderQty", 0)),
                    order_type=TYPE_OF.get(str(v.get("orderType")), "MKT"),
                    price=v.get("price"),
                    stop_price=v.get("stopPrice"),
                    parent_client_order_id=None,
                    venue_order_id=vid,
                    status="submitted",
                    adopted=True,
                )
                adopted += 1
                self._report_row("ack", cid, "live", reason="adopted")
            elif row.status in ("pending_submit", "held"):
                self.journal.update_order(
                    cid,
                    "ack",
                    status="submitted",
                    payload={"via": "reconcile", "venue_order_id": vid},
                )
                self._report_row("ack", cid, "reconcile")
        new = 0
        for f in await self._rest("GET", "fill/list") or []:
            if isinstance(f, dict) and self._record_fill(f, "backfill"):
                new += 1
        summary["backfilled_fills"] = new
        for x in journal_fills_without_fee(self.journal, self._fees_done):
            self._fill_cid.setdefault(x[0], x[1])
        if any(x not in self._fees_done for x in self._fill_cid):
            # fees of fills made while we were away (or whose fee event we missed)
            for fee in await self._rest("GET", "fillFee/list") or []:
                if isinstance(fee, dict):
                    self._on_fee(fee)
        # our orders that ended at Tradovate while we were away (cancelled, rejected, expired)
        for vid, cid in list(self.cid_of.items()):
            st = self.status_of.get(vid, "")
            if st in ("Canceled", "Rejected", "Expired"):
                self._end(cid, st, "reconcile", reason=f"{st} at the venue")
        # journaled working orders Tradovate does not know: never sent (a crash between the
        # journal and the send: never resend) or gone at the venue
        mine = set(self.by_symbol)
        for row in self.journal.orders(working_only=True):
            if row.client_order_id in open_cids or row.symbol not in mine:
                continue
            known = row.client_order_id in self.vid_of
            never_sent = not known and row.status == "pending_submit" and row.filled == 0
            close_missing(self.journal, row, never_sent, self.sinks.on_report)
        summary["adopted_orders"] = adopted
        summary["foreign_orders"] = foreign
        broker: dict[str, tuple[int, float]] = {}
        for p in await self._rest("GET", "position/list") or []:
            if not isinstance(p, dict) or p.get("accountId") not in (None, self.account_id):
                continue
            q = int(p.get("netPos", 0))
            k = self.by_id.get(int(p.get("contractId", 0)))
            if k is None and not q:
                continue
            sym = k.name if k else await self._know(int(p.get("contractId", 0)))
            if q or sym not in broker:
                broker[sym] = (q, float(p.get("netPrice") or 0.0))
        mismatches = settle_positions(self.journal, broker, why)
        summary["position_mismatches"] = mismatches
        summary["positions"] = {s: q for s, (q, _) in broker.items()}
        self.journal.append("reconcile", summary)
        self.sinks.on_event("reconcile", summary)
        return summary

    async def _know(self, contract_id: int) -> str:
        """The name of a contract by id (``contract/item``). A month of one of our roots that
        we hold a position or a working order in (an old month before its roll) becomes
        tradable, so the engine's exit of it can be sent: only the engine decides what is
        traded, the venue refuses only contracts it cannot name."""
        k = self.by_id.get(contract_id)
        if k is not None:
            return k.name
        d = await self._rest("GET", "contract/item", id=contract_id)
        name = str(d.get("name")) if isinstance(d, dict) and d.get("name") else ""
        if not name:
            return f"#{contract_id}"
        root = name[:-2]
        if root in self.contracts and name[-2] in MONTH_CODES and name[-1].isdigit():
            k = TvContract(contract_id, name, root)
            self.by_id[contract_id] = k
            self.by_symbol[name] = k
            self.sinks.on_event(
                "contract",
                {
                    "root": root,
                    "symbol": name,
                    "id": contract_id,
                    "note": "held: not the front month",
                },
            )
        return name

    def _map(self, vid: int, cid: int, journal_it: bool) -> None:
        if self.cid_of.get(vid) == cid:
            return
        self.cid_of[vid] = cid
        self.vid_of[cid] = vid
        if journal_it:
            self.journal.append("venue_order", {"venue_order_id": vid}, client_order_id=cid)
        for kind, entity in self._orphans.pop(vid, []):
            self._dispatch(kind, entity)

    # -- orders ------------------------------------------------------------------------------

    async def submit(self, intent: OrderIntent) -> None:
        """Sends an already-journaled intent, or holds it while disconnected."""
        if not self.ready or not self.ws.connected:
            self._hold(intent, "DISCONNECTED")
            return
        await self._send(intent)

    def _hold(self, intent: OrderIntent, reason: str) -> None:
        hold(self.held, self.journal, self.sinks, intent, reason)

    async def _release_loop(self) -> None:
        while not self._stopping:
            await asyncio.sleep(1.0)
            try:
                await self._release_held()
            except TradovateError as e:  # a send failed: held again at the next reconnect
                log.warning("releasing held intents: %s", e)

    async def _release_held(self) -> None:
        if not self.held or not self.ready:
            return
        for intent in release(self.held, self.journal, self.sinks):
            await self._send(intent)

    async def _send(self, intent: OrderIntent) -> None:
        if intent.action == "CANCEL":
            await self._cancel(intent)
            return
        if intent.action == "MODIFY":
            await self._modify(intent)
            return
        k = self.by_symbol.get(intent.symbol)
        if k is None:
            self.sinks.on_deny(
                intent, "UNKNOWN_SYMBOL", f"{intent.symbol!r} is not a contract of this session"
            )
            return
        try:
            legs = plan(intent)
            endpoint, body = command(intent, legs, k.name, self.account_spec, self.account_id)
        except TradovateOrderError as e:
            self.sinks.on_deny(intent, "BAD_ORDER", str(e))
            return
        for p in legs:
            fresh = self.journal.record_order(
                p.client_order_id,
                intent_id=intent.intent_id,
                leg=int(p.leg),
                symbol=k.name,
                side=p.side,
                qty=p.qty,
                order_type=p.order_type,
                price=p.price,
                stop_price=p.stop_price,
                parent_client_order_id=p.parent_client_order_id,
                venue_order_id=None,
            )
            if not fresh:
                # already journaled: sent before (or lost before sending); never again
                self.journal.append(
                    "duplicate_suppressed",
                    {"endpoint": endpoint},
                    intent_id=intent.intent_id,
                    client_order_id=p.client_order_id,
                )
                return
        failpoints.hit("tradovate.journaled_not_sent")
        try:
            answer = await self._rest("POST", endpoint, body=body)
            ids = order_ids(endpoint, answer, len(legs))
        except TradovateOrderError as e:
            for p in legs:
                self._reject(p.client_order_id, str(e))
            return
        except (TradovateConnectError, TradovateRequestError, TradovateAuthError) as e:
            # Unknown whether Tradovate took it: the orders stay pending_submit and the
            # reconcile after the reconnect finds them by their text (or marks them not_sent).
            log.warning("%s for intent %d: %s", endpoint, intent.intent_id, e)
            self.journal.append(
                "send_unknown", {"endpoint": endpoint, "error": str(e)}, intent_id=intent.intent_id
            )
            self._lost(f"{endpoint}: {e}")
            return
        failpoints.hit("tradovate.sent_not_mapped")
        for p, vid in zip(legs, ids, strict=True):
            self._map(vid, p.client_order_id, True)
            self.sinks.on_event(
                "order",
                {
                    "client_order_id": p.client_order_id,
                    "venue_order_id": vid,
                    "side": p.side,
                    "qty": p.qty,
                    "type": p.order_type,
                    "leg": p.leg.name,
                },
            )

    async def _cancel(self, intent: OrderIntent) -> None:
        cid = intent.target_client_order_id
        row = self.journal.order(cid) if cid is not None else None
        vid = self.vid_of.get(cid) if cid is not None else None
        if cid is None or row is None or vid is None or row.status not in WORKING:
            self.journal.append(
                "cancel_skipped",
                {"target": cid, "note": "not working"},
                intent_id=intent.intent_id,
                client_order_id=cid,
            )
            return
        self.journal.update_order(cid, "cancel_request", payload={"intent_id": intent.intent_id})
        try:
            answer = await self._rest(
                "POST", "order/cancelorder", body={"orderId": vid, "isAutomated": True}
            )
        except TradovateError as e:
            self.journal.append("cancel_failed", {"error": str(e)}, client_order_id=cid)
            return
        if isinstance(answer, dict) and (answer.get("failureReason") or answer.get("failureText")):
            # e.g. it filled first: the fill's events settle the order
            self.journal.append("cancel_refused", dict(answer), client_order_id=cid)

    async def _modify(self, intent: OrderIntent) -> None:
        cid = intent.target_client_order_id
        row = self.journal.order(cid) if cid is not None else None
        vid = self.vid_of.get(cid) if cid is not None else None
        if cid is None or row is None or vid is None or row.status not in WORKING:
            self.sinks.on_deny(intent, "NOT_WORKING", f"order {cid} is not working")
            return
        qty = intent.qty or row.qty
        price = intent.price if intent.price is not None else row.price
        stop = intent.stop_price if intent.stop_price is not None else row.stop_price
        self.journal.update_order(
            cid,
            "modify",
            qty=qty,
            price=intent.price,
            stop_price=intent.stop_price,
            payload={"intent_id": intent.intent_id},
        )
        body: dict[str, Any] = {
            "orderId": vid,
            "orderQty": qty,
            "orderType": ORDER_TYPE[row.order_type],
            "isAutomated": True,
        }
        if row.order_type == "LMT":
            body["price"] = price
        if row.order_type == "STP":
            body["stopPrice"] = stop
        try:
            answer = await self._rest("POST", "order/modifyorder", body=body)
        except TradovateError as e:
            self.journal.append("modify_failed", {"error": str(e)}, client_order_id=cid)
            return
        if isinstance(answer, dict) and (answer.get("failureReason") or answer.get("failureText")):
            self.journal.append("modify_refused", dict(answer), client_order_id=cid)

    # -- user sync events --------------------------------------------------------------------

    def _on_user(self, kind: str, d: Any) -> None:
        if kind != "props" or not isinstance(d, dict):
            return
        entity = d.get("entity")
        if isinstance(entity, dict) and d.get("eventType") in ("Created", "Updated"):
            self._dispatch(str(d.get("entityType")), entity)

    def _dispatch(self, kind: str, e: dict[str, Any]) -> None:
        vid = e.get("orderId") if kind in ("executionReport", "fill") else None
        if kind == "fillFee":
            self._on_fee(e)
            return
        if kind == "order":
            self.status_of[int(e["id"])] = str(e.get("ordStatus", ""))
            return
        if not isinstance(vid, int):
            return
        if vid in self._foreign_orders:
            return  # someone else's: its fills reach us through position/list
        if vid not in self.cid_of:
            # our place answer may still be on its way: kept until the id is mapped (or the
            # next reconcile, which finds the order by its text or drops it as foreign);
            # bounded, oldest order ids first out
            if vid not in self._orphans and len(self._orphans) >= MAX_ORPHANS:
                self._orphans.pop(next(iter(self._orphans)))
            held = self._orphans.setdefault(vid, [])
            if len(held) < MAX_EVENTS_PER_ORPHAN:
                held.append((kind, e))
                self.early_events += 1
            return
        if kind == "fill":
            self._record_fill(e, "live")
        elif kind == "executionReport":
            self._on_exec_report(e)

    def _on_exec_report(self, e: dict[str, Any]) -> None:
        cid = self.cid_of[int(e["orderId"])]
        et = str(e.get("execType", ""))
        self.status_of[int(e["orderId"])] = str(e.get("ordStatus", ""))
        row = self.journal.order(cid)
        if row is None or row.status not in WORKING:
            return
        if et == "New" and row.status != "submitted":
            self.journal.update_order(
                cid, "ack", status="submitted", payload={"venue_order_id": e["orderId"]}
            )
            self._report_row("ack", cid, "live")
        elif et == "Rejected":
            self._reject(cid, str(e.get("rejectReason") or e.get("text") or "rejected"))
        elif et in ("Canceled", "Expired"):
            self._end(cid, et, "live")

    def _end(self, cid: int, st: str, source: str, reason: str = "") -> None:
        row = self.journal.order(cid)
        if row is None or row.status not in WORKING:
            return
        if st == "Rejected":
            self._reject(cid, reason or "rejected")
            return
        self.journal.update_order(
            cid, "cancelled", status="cancelled", payload={"venue_status": st, "via": source}
        )
        self._report_row("cancelled", cid, source, reason=reason)

    def _reject(self, cid: int, why: str) -> None:
        row = self.journal.order(cid)
        if row is None or row.status not in WORKING:
            return
        self.journal.update_order(cid, "reject", status="rejected", payload={"message": why})
        self._report_row("reject", cid, "live", reason=why)

    def _report_row(self, kind: str, cid: int, source: str, reason: str = "") -> None:
        row = self.journal.order(cid)
        if row is None:
            return
        self.sinks.on_report(
            ExecutionReport(
                kind, cid, row.symbol, row.side, row.qty - row.filled, reason=reason, ts=_ns(None)
            ),
            source,
        )

    def _record_fill(self, f: dict[str, Any], source: str) -> bool:
        vid = int(f.get("orderId", 0))
        cid = self.cid_of.get(vid)
        fid = int(f["id"])
        if cid is None:
            if fid not in self._foreign_fills:
                self._foreign_fills.add(fid)
                self.journal.append(
                    "foreign_fill",
                    {
                        "fill_id": fid,
                        "venue_order_id": vid,
                        "note": "not ours: position via position/list",
                    },
                )
            return False
        k = self.by_id.get(int(f.get("contractId", 0)))
        row = self.journal.order(cid)
        sym = k.name if k else (row.symbol if row else "")
        side = SIDE_OF.get(str(f.get("action")), "BUY")
        qty, px, ts = int(f["qty"]), float(f["price"]), _ns(f.get("timestamp"))
        xid = f"tv:{fid}"
        self._fill_cid[xid] = cid
        new = self.journal.record_fill(
            xid,
            client_order_id=cid,
            symbol=sym,
            side=side,
            qty=qty,
            price=px,
            ts_ns=ts,
            source=source,
        )
        if new:
            self.sinks.on_report(ExecutionReport("fill", cid, sym, side, qty, px, xid, ts), source)
        waiting = self._fees_waiting.pop(xid, None)
        if waiting is not None:
            self._on_fee(waiting)
        return new

    def _on_fee(self, e: dict[str, Any]) -> None:
        """A fill's fees (``fillFee``, id = the fill's id): journaled and handed to the
        engine once per fill (live, or from ``fillFee/list`` for a backfilled fill); a fee
        of a fill not recorded yet waits for it."""
        xid = f"tv:{int(e.get('id', 0))}"
        if xid in self._fees_done:
            return
        cid = self._fill_cid.get(xid)
        if cid is None:
            if len(self._fees_waiting) < MAX_ORPHANS:
                self._fees_waiting[xid] = e
            return
        parts = (
            "commission",
            "clearingFee",
            "exchangeFee",
            "nfaFee",
            "brokerageFee",
            "ipFee",
            "orderRoutingFee",
        )
        total = round(sum(float(e.get(p) or 0.0) for p in parts), 6)
        self._fees_done.add(xid)
        self.journal.append(
            "commission",
            {"exec_id": xid, "commission": total, "currency": "USD"},
            client_order_id=cid,
        )
        if self.sinks.on_commission is not None and self._started:
            try:
                self.sinks.on_commission(cid, xid, total)
            except CoreError as e:
                # the engine refused it (no such fill booked): journaled above, kept there
                log.warning("commission of %s not taken by the engine: %s", xid, e)
                self.journal.append("commission_refused", {"exec_id": xid, "error": str(e)})

    # -- market data -------------------------------------------------------------------------

    def _on_md(self, kind: str, d: Any) -> None:
        if kind != "md" or not isinstance(d, dict):
            return
        for q in d.get("quotes") or []:
            k = self.by_id.get(int(q.get("contractId", 0)))
            if k is None:
                continue
            ent = q.get("entries") or {}
            ts = _ns(q.get("timestamp"))
            bid, ask = ent.get("Bid") or {}, ent.get("Offer") or {}
            bp, ap = bid.get("price"), ask.get("price")
            vol = (ent.get("TotalTradeVolume") or {}).get("size")
            trade = ent.get("Trade") or {}
            if isinstance(vol, int | float) and self.sinks.on_trade is not None:
                last = self._volume.get(k.id)
                self._volume[k.id] = int(vol)
                if last is not None and vol > last and trade.get("price"):
                    px = float(trade["price"])
                    b, a = self._quotes.get(k.id, (None, None))
                    self.sinks.on_trade(
                        TradePrint(k.name, ts, px, int(vol - last), aggressor_of(px, b, a))
                    )
            if not bp or not ap or bp >= ap:
                continue
            if self._quotes.get(k.id) == (bp, ap):
                continue
            self._quotes[k.id] = (float(bp), float(ap))
            self.sinks.on_market(
                MarketData(
                    k.name,
                    ts,
                    float(bp),
                    float(ap),
                    int(bid.get("size") or 0),
                    int(ask.get("size") or 0),
                )
            )

    # -- reading -----------------------------------------------------------------------------

    def symbols(self) -> dict[str, str]:
        return {root: k.name for root, k in self.contracts.items()}

    def status(self) -> dict[str, Any]:
        tok = self.rest.token
        return {
            "venue": "tradovate",
            "environment": self.cfg.tradovate.environment,
            "connected": self.ws.connected and self.md.connected,
            "ready": self.ready,
            "symbols": self.symbols(),
            "held": len(self.held),
            "reconnects": self.reconnects,
            "renewals": self.renewals,
            "relogins": self.relogins,
            "early_events": self.early_events,
            "token_expires": tok.expires.isoformat() if tok else None,
        }
