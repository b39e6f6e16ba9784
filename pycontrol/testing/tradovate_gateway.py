"""A test double of Tradovate's API on loopback: REST (JSON over HTTP) and the two
WebSockets (user and market data) with Tradovate's SockJS-style frames, served by aiohttp.

What it speaks, in the shapes of the real API: ``auth/accesstokenrequest`` (credentials
checked, an ``errorText`` answer when wrong) and ``auth/renewaccesstoken`` with tokens that
expire; ``account/list``, ``contract/find`` / ``contract/item`` (the front months of the CME
roots from the core's roll rule), ``order/placeorder``, ``order/placeOSO`` (entry with
``bracket1`` / ``bracket2``, the brackets ``Suspended`` until the entry fills, then
one-cancels-other), ``order/modifyorder``, ``order/cancelorder``, ``order/list``,
``orderVersion/deps``, ``fill/list``, ``position/list``; on the user socket ``authorize``
and ``user/syncrequest`` followed by ``props`` events (order, orderVersion, executionReport,
fill, fillFee, position; Created / Updated), on the market data socket ``authorize`` and
``md/subscribeQuote`` followed by ``md`` quote events (Bid, Offer, Trade,
TotalTradeVolume). It sends ``o`` on open and ``h`` every 2.5 s, and closes (``c[...]``) a
client silent for ``client_silence_s``.

Fills: ``fill="quote"`` matches working orders against the quote set by the test
(:meth:`set_quote`; ``max_fill`` for partial fills, ``auto_fill=False`` to leave them to
:meth:`fill`); ``fill="l3"`` hands every working order to the L3 simulated exchange
(``pycontrol._core.SimMarket``) replaying an MBO file bound to a contract
(:meth:`load_dbn` + :meth:`advance`, or :meth:`feed_dbn`), which decides fills by queue
position and charges its fee.

Fault injection: :meth:`expire_tokens` (REST answers 401, sockets authorized with them are
closed), :meth:`disconnect_all`, :meth:`go_down` (sockets dropped, everything refused with
503 for a while), ``reject_next_orders`` (a ``failureReason`` answer, or with
``reject_async`` an accepted order rejected by an executionReport), ``max_fill``,
``answer_delay_s`` (a place answer arriving after the order's events), and
:meth:`fill` of an order whether or not its client is connected.

What it cannot fake: Tradovate's risk engine, margin, rate limits (p-ticket), order
strategies other than OSO brackets, and market data other than quotes.

Threading: the server runs its own asyncio loop in a background thread; every public method
is thread-safe (it runs on that loop and waits for the result).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import secrets
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from aiohttp import WSMsgType, web

from pycontrol.tradovate.frames import (
    FrameError,
    encode_close,
    encode_frame,
    parse_request,
)

if TYPE_CHECKING:
    from pycontrol._core import SimMarket

T = TypeVar("T")
ROOTS = ("ES", "NQ", "RTY", "CL", "GC")
WORKING = ("Working", "Suspended", "PendingNew")


def _iso(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class TvK:
    id: int
    name: str
    root: str
    tick: float
    multiplier: float


def default_contracts(today: dt.date, roots: tuple[str, ...] = ROOTS) -> list[TvK]:
    """The next four contract months of each root listed on ``today`` (the core's roll rule
    with no roll days names them, so a session's front month is always among them)."""
    from pycontrol import _core

    out: list[TvK] = []
    for r_i, root in enumerate(roots):
        spec = _core.instrument_spec(root)
        names: list[str] = []
        d = today
        for _ in range(48):  # bounded: months ahead
            s = str(_core.front_month(root, d.isoformat(), 0)["symbol"])
            if s not in names:
                names.append(s)
            if len(names) == 4:
                break
            d += dt.timedelta(days=10)
        for n_i, name in enumerate(names):
            out.append(
                TvK(
                    2_000_000 + 1000 * r_i + n_i,
                    name,
                    root,
                    float(spec["tick_size"]),
                    float(spec["multiplier"]),
                )
            )
    return out


@dataclass
class TvOrder:
    id: int
    account_id: int
    contract: TvK
    action: str  # Buy / Sell
    qty: int
    order_type: str  # Market / Limit / Stop
    price: float | None
    stop_price: float | None
    tif: str
    text: str
    cl_ord_id: str
    status: str = "Working"
    filled: int = 0
    avg_price: float = 0.0
    parent_id: int | None = None
    linked_id: int | None = None
    version_id: int = 0
    timestamp: str = ""
    sim_ref: int | None = None

    @property
    def remaining(self) -> int:
        return self.qty - self.filled

    def entity(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "id": self.id,
            "accountId": self.account_id,
            "contractId": self.contract.id,
            "timestamp": self.timestamp,
            "action": self.action,
            "ordStatus": self.status,
            "admin": False,
        }
        if self.parent_id is not None:
            d["parentId"] = self.parent_id
        if self.linked_id is not None:
            d["linkedId"] = self.linked_id
        return d

    def version(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "id": self.version_id,
            "orderId": self.id,
            "orderQty": self.qty,
            "orderType": self.order_type,
            "timeInForce": self.tif,
            "text": self.text,
        }
        if self.price is not None:
            d["price"] = self.price
        if self.stop_price is not None:
            d["stopPrice"] = self.stop_price
        return d


@dataclass
class _Sock:
    ws: web.WebSocketResponse
    kind: str  # user / md
    token: str = ""
    synced: bool = False
    subs: set[int] = field(default_factory=set)
    last_seen: float = 0.0


@dataclass
class _Sim:
    market: SimMarket
    contract_id: int
    instrument_id: int
    last_bbo: tuple[float, float, int, int] | None = None


class TradovateGateway:
    """The double. ``start()`` binds 127.0.0.1 (port 0: ephemeral) in a background thread."""

    __test__ = False

    def __init__(
        self,
        today: dt.date | None = None,
        fill: str = "quote",
        auto_fill: bool = True,
        max_fill: int | None = None,
        token_ttl_s: float = 90 * 60,
        fee_per_contract: float = 1.29,
        credentials: dict[str, str] | None = None,
        account_name: str = "DEMO4242",
        client_silence_s: float = 10.0,
        heartbeat_s: float = 2.5,
        seed: int = 0,
        port: int = 0,
    ) -> None:
        if fill not in ("quote", "l3"):
            raise ValueError(f"fill must be 'quote' or 'l3', got {fill!r}")
        self.today = today or dt.datetime.now(dt.UTC).date()
        self.fill_mode = fill
        self.auto_fill = auto_fill
        self.max_fill = max_fill
        self.token_ttl_s = token_ttl_s
        self.fee = fee_per_contract
        self.credentials = credentials or dict(DEFAULT_CREDENTIALS)
        self.account: dict[str, Any] = {
            "id": 7001,
            "name": account_name,
            "userId": 501,
            "accountType": "Customer",
            "active": True,
            "legalStatus": "Individual",
            "archived": False,
        }
        self.user_id = 501
        self.client_silence_s = client_silence_s
        self.heartbeat_s = heartbeat_s
        self.seed = seed
        self.contracts = default_contracts(self.today)
        self.by_id = {k.id: k for k in self.contracts}
        self.by_name = {k.name: k for k in self.contracts}
        self.tokens: dict[str, float] = {}  # token -> expiry (loop time)
        self.orders: dict[int, TvOrder] = {}
        self.fills: list[dict[str, Any]] = []
        self.fees: list[dict[str, Any]] = []
        self.positions: dict[int, dict[str, Any]] = {}
        self.quotes: dict[int, dict[str, Any]] = {}
        self.socks: list[_Sock] = []
        self.place_commands = 0  # placeorder + placeOSO answered with order ids
        self.requests: deque[str] = deque(maxlen=100_000)  # "METHOD endpoint", socket requests
        self.reject_next_orders = 0
        self.reject_async = False
        self.answer_delay_s = 0.0  # > 0: a place answer comes after its events, this late
        self.reject_reason = "Rejected by the test double"
        self._seq = 100_000
        self._down_until = 0.0
        self._sims: dict[int, _Sim] = {}
        self._sim_refs: dict[int, TvOrder] = {}
        self._feeds: list[asyncio.Task[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self.port = port

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v1/websocket"

    @property
    def md_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/md/v1/websocket"

    def config(self) -> dict[str, Any]:
        """The ``[tradovate]`` table of a session trading at this double."""
        return {
            "environment": "demo",
            "rest_url": self.rest_url,
            "ws_url": self.ws_url,
            "md_url": self.md_url,
        }

    def start(self, timeout: float = 10.0) -> TradovateGateway:
        started = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self._listen())
            except BaseException as e:
                failure.append(e)
                started.set()
                return
            started.set()
            loop.run_forever()
            loop.run_until_complete(self._shutdown())
            loop.close()

        self._thread = threading.Thread(target=run, name="tradovate-double", daemon=True)
        self._thread.start()
        if not started.wait(timeout):
            raise TimeoutError("tradovate double did not start")
        if failure:
            raise failure[0]
        return self

    async def _listen(self) -> None:
        app = web.Application()

        async def user(r: web.Request) -> web.StreamResponse:
            return await self._ws(r, "user")

        async def md(r: web.Request) -> web.StreamResponse:
            return await self._ws(r, "md")

        app.router.add_get("/v1/websocket", user)
        app.router.add_get("/md/v1/websocket", md)
        app.router.add_route("*", "/v1/{a}/{b}", self._rest)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        server: Any = site._server
        self.port = int(server.sockets[0].getsockname()[1])

    async def _shutdown(self) -> None:
        for t in self._feeds:
            t.cancel()
        await asyncio.gather(*self._feeds, return_exceptions=True)
        self._sims.clear()
        for s in list(self.socks):
            await s.ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def stop(self, timeout: float = 10.0) -> None:
        if self._loop is None or self._thread is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)
        self._loop = None

    def __enter__(self) -> TradovateGateway:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def call(self, fn: Callable[[], T], timeout: float = 10.0) -> T:
        """Runs ``fn`` on the double's loop (all state lives there) and returns its result."""
        if self._loop is None:
            return fn()

        async def wrap() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(wrap(), self._loop).result(timeout)

    def _now(self) -> float:
        assert self._loop is not None
        return self._loop.time()

    def _id(self) -> int:
        self._seq += 1
        return self._seq

    # -- public controls (thread-safe) -------------------------------------------------------

    def front(self, root: str, roll_days: int = 8) -> TvK:
        """The contract a session rolling ``roll_days`` before expiry trades today."""
        from pycontrol import _core

        return self.by_name[
            str(_core.front_month(root, self.today.isoformat(), roll_days)["symbol"])
        ]

    def set_quote(
        self, name: str, bid: float, ask: float, bid_size: int = 10, ask_size: int = 10
    ) -> None:
        k = self.by_name[name]
        self.call(lambda: self._set_quote(k.id, bid, ask, bid_size, ask_size))

    def trade(self, name: str, price: float, size: int) -> None:
        k = self.by_name[name]
        self.call(lambda: self._trade(k.id, price, size))

    def fill(self, order_id: int, qty: int | None = None, price: float | None = None) -> int:
        """Fills a working order now (whether or not its client is connected); returns the
        fill id."""

        def do() -> int:
            o = self.orders[order_id]
            if o.status != "Working":
                raise ValueError(f"order {order_id} is {o.status}, not working")
            q = self.quotes.get(o.contract.id, {})
            px = (
                price
                if price is not None
                else (
                    o.price if o.price is not None else q.get("ask" if o.action == "Buy" else "bid")
                )
            )
            if px is None:
                raise ValueError(f"order {order_id}: no price to fill at")
            return self._execute(o, qty if qty is not None else o.remaining, float(px))

        return self.call(do)

    def add_position(self, name: str, net_pos: int, net_price: float) -> None:
        k = self.by_name[name]
        self.call(lambda: self._apply_position(k, net_pos, net_price))

    def add_external_order(
        self, name: str, action: str, qty: int, price: float, text: str = ""
    ) -> int:
        """A working limit order placed by someone else (by hand, another app), or with
        ``text="tc:<id>"`` one a client placed and never heard back about (a crash)."""
        k = self.by_name[name]

        def do() -> int:
            o = self._new_order(k, action, qty, "Limit", price, None, "Day", text, text)
            self._emit_new(o)
            return o.id

        return self.call(do)

    def expire_tokens(self, close_sockets: bool = True) -> None:
        """Every token issued so far expires now; sockets authorized with one are closed."""

        def do() -> None:
            for t in self.tokens:
                self.tokens[t] = 0.0
            if close_sockets:
                for s in list(self.socks):
                    self._spawn(self._close(s, 4001, "Access token expired"))

        self.call(do)

    def disconnect_all(self) -> None:
        def do() -> None:
            for s in list(self.socks):
                self._spawn(self._close(s, 1000, "bye"))

        self.call(do)

    def go_down(self, seconds: float) -> None:
        """A server outage: sockets dropped, everything refused with 503 for ``seconds``."""

        def do() -> None:
            self._down_until = self._now() + seconds
            for s in list(self.socks):
                self._spawn(self._close(s, 1001, "server going down"))

        self.call(do)

    def order_list(self) -> list[TvOrder]:
        return self.call(lambda: [TvOrder(**o.__dict__) for o in self.orders.values()])

    def fill_list(self) -> list[dict[str, Any]]:
        return self.call(lambda: [dict(f) for f in self.fills])

    def position_map(self) -> dict[str, int]:
        return self.call(
            lambda: {
                self.by_id[c].name: p["netPos"] for c, p in self.positions.items() if p["netPos"]
            }
        )

    def connected(self, kind: str = "user") -> int:
        return self.call(lambda: sum(1 for s in self.socks if s.kind == kind and s.token))

    def load_dbn(self, path: str | Path, name: str) -> None:
        """L3: binds an MBO file's simulated market (first instrument) to contract ``name``;
        :meth:`advance` steps it."""
        k = self.by_name[name]
        self.call(lambda: self._bind_sim(Path(path), k.id) and None)

    def advance(self, name: str, records: int) -> int:
        """L3: replays at least ``records`` records now (quotes and fills as they happen);
        returns how many were fed (0 at the end of the file)."""
        k = self.by_name[name]

        def do() -> int:
            fed = 0
            while fed < records:
                n, _ = self._sim_step(k.id)
                if n == 0:
                    break
                fed += n
            return fed

        return self.call(do, timeout=120.0)

    def feed_dbn(
        self, path: str | Path, name: str, rate_hz: float = 200.0, max_updates: int | None = None
    ) -> None:
        """L3: streams the file through the simulated market, at most ``rate_hz`` quote
        changes a second."""
        k = self.by_name[name]

        def do() -> None:
            if k.id not in self._sims:
                self._bind_sim(Path(path), k.id)
            self._feeds.append(asyncio.ensure_future(self._sim_feed(k.id, rate_hz, max_updates)))

        self.call(do)

    # -- sockets -----------------------------------------------------------------------------

    def _spawn(self, coro: Any) -> None:
        t = asyncio.ensure_future(coro)
        self._feeds.append(t)
        t.add_done_callback(lambda x: self._feeds.remove(x) if x in self._feeds else None)

    async def _close(self, s: _Sock, code: int, reason: str) -> None:
        if s in self.socks:
            self.socks.remove(s)
        with contextlib.suppress(ConnectionError, RuntimeError):
            await s.ws.send_str(encode_close(code, reason))
        await s.ws.close()

    def _send(self, s: _Sock, messages: list[dict[str, Any]]) -> None:
        if s.ws.closed:
            return
        self._spawn(self._send_now(s, encode_frame(messages)))

    async def _send_now(self, s: _Sock, text: str) -> None:
        # a client that went away mid-send (kill -9) is dropped by its reader
        with contextlib.suppress(ConnectionError, RuntimeError):
            await s.ws.send_str(text)

    async def _ws(self, request: web.Request, kind: str) -> web.StreamResponse:
        if self._now() < self._down_until:
            return web.Response(status=503, text="Service Unavailable")
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        s = _Sock(ws, kind, last_seen=self._now())
        self.socks.append(s)
        await ws.send_str("o")
        beat = asyncio.ensure_future(self._beat(s))
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    break
                s.last_seen = self._now()
                if msg.data == "[]":
                    continue
                try:
                    req = parse_request(str(msg.data))
                except FrameError:
                    continue
                self.requests.append(f"WS {kind} {req.endpoint}")
                self._ws_request(s, req.endpoint, req.request_id, req.body)
        finally:
            beat.cancel()
            if s in self.socks:
                self.socks.remove(s)
        return ws

    async def _beat(self, s: _Sock) -> None:
        while not s.ws.closed:
            await asyncio.sleep(self.heartbeat_s)
            if self._now() - s.last_seen > self.client_silence_s:
                await self._close(s, 1000, "no heartbeat")
                return
            try:
                await s.ws.send_str("h")
            except (ConnectionError, RuntimeError):
                return

    def _ws_request(self, s: _Sock, endpoint: str, rid: int, body: str) -> None:
        if endpoint == "authorize":
            if self._token_ok(body):
                s.token = body
                self._send(s, [{"s": 200, "i": rid}])
            else:
                self._send(s, [{"s": 401, "i": rid, "d": "Access is denied"}])
            return
        if not s.token or not self._token_ok(s.token):
            self._send(s, [{"s": 401, "i": rid, "d": "Access is denied"}])
            return
        try:
            data = json.loads(body) if body else {}
        except json.JSONDecodeError:
            self._send(s, [{"s": 400, "i": rid, "d": "Bad JSON"}])
            return
        if s.kind == "user" and endpoint == "user/syncrequest":
            s.synced = True
            self._send(s, [{"s": 200, "i": rid, "d": self._sync()}])
        elif s.kind == "md" and endpoint == "md/subscribeQuote":
            sym = data.get("symbol")
            k = self.by_name.get(str(sym)) or self.by_id.get(sym if isinstance(sym, int) else -1)
            if k is None:
                self._send(s, [{"s": 404, "i": rid, "d": f"Unknown symbol {sym!r}"}])
                return
            s.subs.add(k.id)
            self._send(s, [{"s": 200, "i": rid, "d": {"mode": "quote"}}])
            if k.id in self.quotes:
                self._send(s, [{"e": "md", "d": {"quotes": [self._quote_entity(k.id)]}}])
        else:
            self._send(s, [{"s": 404, "i": rid, "d": f"Unknown operation {endpoint}"}])

    def _sync(self) -> dict[str, Any]:
        return {
            "users": [{"id": self.user_id, "name": "demo-user", "status": "Active"}],
            "accounts": [self.account],
            "positions": [self._position_entity(c) for c in self.positions],
            "orders": [o.entity() for o in self.orders.values()],
            "orderVersions": [o.version() for o in self.orders.values()],
            "fills": list(self.fills),
            "contracts": [{"id": k.id, "name": k.name} for k in self.contracts],
        }

    def _emit(self, entity_type: str, event_type: str, entity: dict[str, Any]) -> None:
        msg = {
            "e": "props",
            "d": {"entityType": entity_type, "eventType": event_type, "entity": entity},
        }
        for s in self.socks:
            if s.kind == "user" and s.synced:
                self._send(s, [msg])

    # -- REST --------------------------------------------------------------------------------

    def _token_ok(self, token: str) -> bool:
        exp = self.tokens.get(token)
        return exp is not None and exp > self._now()

    def _issue(self) -> dict[str, Any]:
        tok, md = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        exp = self._now() + self.token_ttl_s
        self.tokens[tok] = self.tokens[md] = exp
        when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=self.token_ttl_s)
        return {
            "accessToken": tok,
            "mdAccessToken": md,
            "expirationTime": _iso(when),
            "userStatus": "Active",
            "userId": self.user_id,
            "name": "demo-user",
            "hasLive": False,
        }

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        ep = f"{request.match_info['a']}/{request.match_info['b']}"
        self.requests.append(f"{request.method} {ep}")
        if self._now() < self._down_until:
            return web.Response(status=503, text="Service Unavailable")
        body: dict[str, Any] = {}
        if request.method == "POST":
            try:
                raw = await request.json()
            except (json.JSONDecodeError, ValueError):
                return web.Response(status=400, text="Bad JSON")
            body = raw if isinstance(raw, dict) else {}
        if ep == "auth/accesstokenrequest":
            c = self.credentials
            ok = all(str(body.get(k)) == v for k, v in c.items())
            if not ok:
                return web.json_response(
                    {"errorText": "Incorrect username or password. Please try again."}
                )
            return web.json_response(self._issue())
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or not self._token_ok(auth[7:]):
            return web.Response(status=401, text="Expired Access Token")
        if ep == "auth/renewaccesstoken":
            return web.json_response(self._issue())
        q = request.query
        handler = self._routes().get(ep)
        if handler is None:
            return web.Response(status=404, text=f"Unknown operation {ep}")
        status, out = handler(body, q)
        if ep.startswith("order/place") and self.answer_delay_s > 0:
            await asyncio.sleep(self.answer_delay_s)
        if status != 200:
            return web.Response(status=status, text=str(out))
        return web.json_response(out)

    def _routes(self) -> dict[str, Callable[[dict[str, Any], Any], tuple[int, Any]]]:
        return {
            "account/list": lambda b, q: (200, [self.account]),
            "contract/find": self._contract_find,
            "contract/item": self._contract_item,
            "order/list": lambda b, q: (200, [o.entity() for o in self.orders.values()]),
            "orderVersion/deps": self._version_deps,
            "fill/list": lambda b, q: (200, list(self.fills)),
            "fillFee/list": lambda b, q: (200, list(self.fees)),
            "position/list": lambda b, q: (200, [self._position_entity(c) for c in self.positions]),
            "order/placeorder": lambda b, q: self._place(b, oso=False),
            "order/placeOSO": lambda b, q: self._place(b, oso=True),
            "order/modifyorder": self._modify,
            "order/cancelorder": self._cancel_cmd,
        }

    def _contract_find(self, b: dict[str, Any], q: Any) -> tuple[int, Any]:
        k = self.by_name.get(q.get("name", ""))
        if k is None:
            return 404, f"Contract {q.get('name')!r} not found"
        return 200, {"id": k.id, "name": k.name, "contractMaturityId": k.id + 50_000}

    def _contract_item(self, b: dict[str, Any], q: Any) -> tuple[int, Any]:
        k = self.by_id.get(int(q.get("id", "0")) if str(q.get("id", "")).isdigit() else -1)
        if k is None:
            return 404, f"Contract {q.get('id')!r} not found"
        return 200, {"id": k.id, "name": k.name, "contractMaturityId": k.id + 50_000}

    def _version_deps(self, b: dict[str, Any], q: Any) -> tuple[int, Any]:
        mid = str(q.get("masterid", ""))
        o = self.orders.get(int(mid)) if mid.isdigit() else None
        return 200, [o.version()] if o is not None else []

    # -- orders ------------------------------------------------------------------------------

    def _new_order(
        self,
        k: TvK,
        action: str,
        qty: int,
        otype: str,
        price: float | None,
        stop: float | None,
        tif: str,
        text: str,
        cl: str,
        status: str = "Working",
    ) -> TvOrder:
        o = TvOrder(
            self._id(),
            int(self.account["id"]),
            k,
            action,
            qty,
            otype,
            price,
            stop,
            tif,
            text,
            cl,
            status=status,
            version_id=self._id(),
            timestamp=_iso(dt.datetime.now(dt.UTC)),
        )
        self.orders[o.id] = o
        return o

    def _exec_report(self, o: TvOrder, exec_type: str, **extra: Any) -> None:
        self._emit(
            "executionReport",
            "Created",
            {
                "id": self._id(),
                "orderId": o.id,
                "accountId": o.account_id,
                "contractId": o.contract.id,
                "timestamp": _iso(dt.datetime.now(dt.UTC)),
                "execType": exec_type,
                "ordStatus": o.status,
                "action": o.action,
                "cumQty": o.filled,
                "avgPx": o.avg_price,
                **extra,
            },
        )

    def _emit_new(self, o: TvOrder) -> None:
        self._emit("order", "Created", o.entity())
        self._emit("orderVersion", "Created", o.version())
        self._exec_report(o, "New")
        self._try_match(o)

    def _leg(self, d: dict[str, Any], where: str) -> tuple[str, str, float | None, float | None]:
        action, otype = d.get("action"), d.get("orderType")
        if action not in ("Buy", "Sell"):
            raise ValueError(f"{where}action must be Buy or Sell")
        if otype not in ("Market", "Limit", "Stop"):
            raise ValueError(f"{where}orderType {otype!r} not supported by the double")
        price, stop = d.get("price"), d.get("stopPrice")
        if otype == "Limit" and not isinstance(price, int | float):
            raise ValueError(f"{where}Limit needs price")
        if otype == "Stop" and not isinstance(stop, int | float):
            raise ValueError(f"{where}Stop needs stopPrice")
        return (
            str(action),
            str(otype),
            float(price) if isinstance(price, int | float) and otype == "Limit" else None,
            float(stop) if isinstance(stop, int | float) and otype == "Stop" else None,
        )

    def _place(self, b: dict[str, Any], oso: bool) -> tuple[int, Any]:
        k = self.by_name.get(str(b.get("symbol")))
        qty = b.get("orderQty")
        try:
            if k is None:
                raise ValueError(f"Unknown symbol {b.get('symbol')!r}")
            if (
                b.get("accountId") != self.account["id"]
                or b.get("accountSpec") != self.account["name"]
            ):
                raise ValueError("Unknown account")
            if not isinstance(qty, int) or qty <= 0:
                raise ValueError("orderQty must be a positive integer")
            if b.get("isAutomated") is not True:
                raise ValueError("isAutomated must be true for automated orders")
            entry = self._leg(b, "")
            legs = [self._leg(b[n], f"{n}.") for n in ("bracket1", "bracket2")] if oso else []
        except (ValueError, KeyError, TypeError) as e:
            return 200, {"failureReason": "UnknownReason", "failureText": str(e)}
        assert k is not None and isinstance(qty, int)
        if self.reject_next_orders > 0 and not self.reject_async:
            self.reject_next_orders -= 1
            return 200, {"failureReason": "RiskCheck", "failureText": self.reject_reason}
        self.place_commands += 1
        tif = str(b.get("timeInForce", "Day"))
        action, otype, price, stop = entry
        o = self._new_order(
            k,
            action,
            qty,
            otype,
            price,
            stop,
            tif,
            str(b.get("text", "")),
            str(b.get("clOrdId", "")),
        )
        kids = []
        for n, (action, otype, price, stop) in zip(("bracket1", "bracket2"), legs, strict=False):
            d = b[n]
            kid = self._new_order(
                k,
                action,
                qty,
                otype,
                price,
                stop,
                str(d.get("timeInForce", "GTC")),
                str(d.get("text", "")),
                str(d.get("clOrdId", "")),
                status="Suspended",
            )
            kid.parent_id = o.id
            kids.append(kid)
        if len(kids) == 2:
            kids[0].linked_id, kids[1].linked_id = kids[1].id, kids[0].id
        answer: dict[str, Any] = {"orderId": o.id}
        for i, kid in enumerate(kids, 1):
            answer[f"oso{i}Id"] = kid.id
        # the answer first, then the events (as at Tradovate, the socket may still win; with
        # answer_delay_s it does: the events go out before the answer)
        assert self._loop is not None
        if self.answer_delay_s > 0:
            self._after_place(o, kids)
        else:
            self._loop.call_soon(self._after_place, o, kids)
        return 200, answer

    def _after_place(self, o: TvOrder, kids: list[TvOrder]) -> None:
        if self.reject_next_orders > 0 and self.reject_async:
            self.reject_next_orders -= 1
            for x in [o, *kids]:
                x.status = "Rejected"
                self._emit("order", "Created", x.entity())
                self._emit("orderVersion", "Created", x.version())
                self._exec_report(x, "Rejected", rejectReason=self.reject_reason)
            return
        for kid in kids:
            self._emit("order", "Created", kid.entity())
            self._emit("orderVersion", "Created", kid.version())
            self._exec_report(kid, "New")
        self._emit_new(o)

    def _modify(self, b: dict[str, Any], q: Any) -> tuple[int, Any]:
        o = self.orders.get(b.get("orderId", -1))
        if o is None or o.status not in ("Working", "Suspended"):
            return 200, {"failureReason": "UnknownReason", "failureText": "Order is not working"}
        qty = b.get("orderQty", o.qty)
        if not isinstance(qty, int) or qty <= o.filled:
            return 200, {"failureReason": "UnknownReason", "failureText": "Bad orderQty"}
        o.qty = qty
        if "price" in b:
            o.price = float(b["price"])
        if "stopPrice" in b:
            o.stop_price = float(b["stopPrice"])
        o.version_id = self._id()
        self._sim_retire(o)
        self._emit("orderVersion", "Created", o.version())
        self._exec_report(o, "Replaced")
        self._try_match(o)
        return 200, {"commandId": self._id()}

    def _cancel_cmd(self, b: dict[str, Any], q: Any) -> tuple[int, Any]:
        o = self.orders.get(b.get("orderId", -1))
        if o is None or o.status not in ("Working", "Suspended"):
            return 200, {"failureReason": "UnknownReason", "failureText": "Order is not working"}
        self._cancel(o, "")
        return 200, {"commandId": self._id()}

    def _cancel(self, o: TvOrder, why: str) -> None:
        if o.status not in WORKING:
            return
        o.status = "Canceled"
        self._sim_retire(o)
        self._emit("order", "Updated", o.entity())
        self._exec_report(o, "Canceled", text=why)
        for x in self.orders.values():
            if x.parent_id == o.id and x.status == "Suspended":
                self._cancel(x, "parent cancelled")

    # -- fills -------------------------------------------------------------------------------

    def _try_match(self, o: TvOrder) -> None:
        if o.status != "Working":
            return
        sim = self._sims.get(o.contract.id)
        if sim is not None:
            if o.sim_ref is None:
                self._sim_submit(sim, o)
            return
        q = self.quotes.get(o.contract.id)
        if not self.auto_fill or q is None:
            return
        buy = o.action == "Buy"
        touch = q["ask"] if buy else q["bid"]
        if o.order_type == "Market":
            ok = True
        elif o.order_type == "Limit":
            assert o.price is not None
            ok = touch <= o.price if buy else touch >= o.price
        else:
            assert o.stop_price is not None
            ok = touch >= o.stop_price if buy else touch <= o.stop_price
        if ok:
            n = o.remaining if self.max_fill is None else min(o.remaining, self.max_fill)
            self._execute(o, n, float(touch))

    def _execute(self, o: TvOrder, qty: int, price: float, fee: float | None = None) -> int:
        fid = self._id()
        now = dt.datetime.now(dt.UTC)
        total = o.avg_price * o.filled + price * qty
        o.filled += qty
        o.avg_price = total / o.filled
        if o.filled >= o.qty:
            o.status = "Filled"
            self._sim_retire(o)
        f = {
            "id": fid,
            "orderId": o.id,
            "contractId": o.contract.id,
            "timestamp": _iso(now),
            "tradeDate": {"year": now.year, "month": now.month, "day": now.day},
            "action": o.action,
            "qty": qty,
            "price": price,
            "active": True,
            "finallyPaired": 0,
        }
        self.fills.append(f)
        self._apply_position(o.contract, qty if o.action == "Buy" else -qty, price)
        self._exec_report(o, "Trade", lastQty=qty, lastPx=price)
        self._emit("fill", "Created", f)
        self._emit("order", "Updated", o.entity())
        self._emit("position", "Updated", self._position_entity(o.contract.id))
        fee_total = round(self.fee * qty if fee is None else fee, 2)
        fee_entity = {
            "id": fid,
            "commission": fee_total,
            "clearingFee": 0.0,
            "exchangeFee": 0.0,
            "nfaFee": 0.0,
            "brokerageFee": 0.0,
            "ipFee": 0.0,
            "orderRoutingFee": 0.0,
        }
        self.fees.append(fee_entity)
        self._emit("fillFee", "Created", fee_entity)
        if o.status == "Filled":
            if o.linked_id is not None:  # one-cancels-other
                sib = self.orders.get(o.linked_id)
                if sib is not None:
                    self._cancel(sib, "OCO")
            for x in list(self.orders.values()):
                if x.parent_id == o.id and x.status == "Suspended":
                    x.status = "Working"
                    self._emit("order", "Updated", x.entity())
                    self._try_match(x)
        return fid

    def _apply_position(self, k: TvK, delta: int, price: float) -> None:
        p = self.positions.setdefault(
            k.id,
            {
                "netPos": 0,
                "netPrice": 0.0,
                "bought": 0,
                "boughtValue": 0.0,
                "sold": 0,
                "soldValue": 0.0,
            },
        )
        qty, avg = int(p["netPos"]), float(p["netPrice"])
        new = qty + delta
        if new == 0:
            avg = 0.0
        elif qty == 0 or (qty > 0) == (delta > 0):
            avg = (avg * abs(qty) + price * abs(delta)) / abs(new)
        elif (qty > 0) != (new > 0):
            avg = price
        p["netPos"], p["netPrice"] = new, avg
        side = "bought" if delta > 0 else "sold"
        p[side] += abs(delta)
        p[side + "Value"] += abs(delta) * price

    def _position_entity(self, cid: int) -> dict[str, Any]:
        p = self.positions[cid]
        now = dt.datetime.now(dt.UTC)
        return {
            "id": cid + 900_000,
            "accountId": self.account["id"],
            "contractId": cid,
            "timestamp": _iso(now),
            "tradeDate": {"year": now.year, "month": now.month, "day": now.day},
            **p,
        }

    # -- market data -------------------------------------------------------------------------

    def _quote_entity(self, cid: int) -> dict[str, Any]:
        q = self.quotes[cid]
        ent: dict[str, Any] = {
            "Bid": {"price": q["bid"], "size": q["bid_size"]},
            "Offer": {"price": q["ask"], "size": q["ask_size"]},
            "TotalTradeVolume": {"size": q.get("volume", 0)},
        }
        if "last" in q:
            ent["Trade"] = {"price": q["last"], "size": q.get("last_size", 0)}
        return {"timestamp": _iso(dt.datetime.now(dt.UTC)), "contractId": cid, "entries": ent}

    def _publish(self, cid: int) -> None:
        msg = {"e": "md", "d": {"quotes": [self._quote_entity(cid)]}}
        for s in self.socks:
            if s.kind == "md" and cid in s.subs:
                self._send(s, [msg])

    def _set_quote(self, cid: int, bid: float, ask: float, bs: int, az: int) -> None:
        q = self.quotes.setdefault(cid, {"volume": 0})
        q.update(bid=bid, ask=ask, bid_size=bs, ask_size=az)
        self._publish(cid)
        for o in list(self.orders.values()):
            if o.contract.id == cid and o.status == "Working":
                self._try_match(o)

    def _trade(self, cid: int, price: float, size: int) -> None:
        q = self.quotes.setdefault(
            cid, {"volume": 0, "bid": price, "ask": price, "bid_size": 0, "ask_size": 0}
        )
        q["volume"] = int(q.get("volume", 0)) + size
        q["last"], q["last_size"] = price, size
        self._publish(cid)

    # -- the L3 venue ------------------------------------------------------------------------

    def _bind_sim(self, path: Path, cid: int) -> _Sim:
        from pycontrol._core import SimMarket

        if self.fill_mode != "l3":
            raise ValueError("a simulated market needs TradovateGateway(fill='l3')")
        if cid in self._sims:
            raise ValueError(f"contract {cid} already has a simulated market")
        m = SimMarket(path, fee_per_contract=self.fee, seed=self.seed)
        ids = m.instruments()
        if not ids:
            raise ValueError(f"{path}: no instruments")
        sim = _Sim(m, cid, ids[0])
        self._sims[cid] = sim
        return sim

    def _sim_step(self, cid: int) -> tuple[int, bool]:
        b = self._sims.get(cid)
        if b is None:
            return 0, False
        n = b.market.step(1)
        if n == 0:
            return 0, False
        self._sim_settle(b)
        for inst, _, price, size, _ in b.market.drain_trades():
            if inst == b.instrument_id:
                self._trade(cid, price, size)
        bid, ask = b.market.bbo(b.instrument_id)
        if bid is None or ask is None or bid[0] >= ask[0]:
            return n, False
        top = (bid[0], ask[0], bid[1], ask[1])
        if top == b.last_bbo:
            return n, False
        b.last_bbo = top
        self._set_quote(cid, *top)
        return n, True

    async def _sim_feed(self, cid: int, rate_hz: float, max_updates: int | None) -> None:
        sent = quiet = 0
        while max_updates is None or sent < max_updates:
            n, quoted = self._sim_step(cid)
            if n == 0:
                return
            if quoted:
                sent += 1
                quiet = 0
                await asyncio.sleep(1.0 / rate_hz)
            else:
                quiet += 1
                if quiet % 256 == 0:
                    await asyncio.sleep(0)

    def _sim_submit(self, b: _Sim, o: TvOrder) -> None:
        from pycontrol._core import CoreError

        if o.remaining <= 0:
            return
        ref = self._id()
        side = "BUY" if o.action == "Buy" else "SELL"
        kind = {"Market": "MKT", "Limit": "LMT", "Stop": "STP"}[o.order_type]
        try:
            b.market.submit(ref, b.instrument_id, side, o.remaining, kind, o.price, o.stop_price)
        except (ValueError, CoreError) as e:
            self._cancel(o, f"simulated exchange refused it: {e}")
            return
        o.sim_ref = ref
        self._sim_refs[ref] = o
        self._sim_settle(b)

    def _sim_retire(self, o: TvOrder) -> None:
        ref, o.sim_ref = o.sim_ref, None
        b = self._sims.get(o.contract.id)
        if ref is not None and b is not None:
            b.market.cancel(ref)

    def _sim_settle(self, b: _Sim) -> None:
        for f in b.market.drain_fills():
            o = self._sim_refs.get(f["order_ref"])
            if o is None or o.status != "Working":
                continue
            qty = min(int(f["qty"]), o.remaining)
            if qty > 0:
                self._execute(o, qty, float(f["price"]), f["fee"] * qty / f["qty"])
        for ref, o in list(self._sim_refs.items()):
            if o.contract.id != b.contract_id:
                continue
            st = b.market.order_status(ref)
            if st is None or st["status"] not in ("FILLED", "CANCELLED", "REJECTED"):
                continue
            self._sim_refs.pop(ref, None)
            if o.sim_ref == ref and o.status == "Working" and st["status"] != "FILLED":
                o.sim_ref = None
                self._cancel(o, st["reject_reason"] or "not filled by the simulated exchange")


DEFAULT_CREDENTIALS = {
    "name": "demo-user",
    "password": "demo-pass",
    "appId": "pycontrol",
    "appVersion": "1.0",
    "cid": "8",
    "sec": "demo-sec",
    "deviceId": "test-device",
}


def credential_env(prefix: str = "TRADOVATE_") -> dict[str, str]:
    """Environment variables carrying the double's default credentials (the names the
    ``[tradovate]`` config uses by default)."""
    c = DEFAULT_CREDENTIALS
    return {
        f"{prefix}USERNAME": c["name"],
        f"{prefix}PASSWORD": c["password"],
        f"{prefix}CID": c["cid"],
        f"{prefix}SEC": c["sec"],
        f"{prefix}DEVICE_ID": c["deviceId"],
    }


def serve(port: int, data: str | None, root: str, rate_hz: float) -> None:
    """Runs a double in the foreground until interrupted: with ``data`` the L3 simulated
    exchange streams that MBO file as ``root``'s front month, else a static quote fills at
    the touch. Prints the ``[tradovate]`` table and the credential variables to use."""
    gw = TradovateGateway(port=port, fill="l3" if data else "quote")
    gw.start()
    front = gw.front(root)
    print(
        f"tradovate test double on 127.0.0.1:{gw.port}, front {front.name} id {front.id}, "
        f"fills: {'L3 simulated exchange' if data else 'at the quote'}"
    )
    print("[tradovate]")
    for k, v in gw.config().items():
        print(f"{k} = {json.dumps(v)}")
    print("environment: " + " ".join(f"{k}={v}" for k, v in credential_env().items()), flush=True)
    try:
        if data:
            gw.feed_dbn(data, front.name, rate_hz)
        else:
            gw.set_quote(front.name, 5000.0, 5000.25)
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        gw.stop()


if __name__ == "__main__":
    import argparse

    p = argparse.ArgumentParser(
        prog="python -m pycontrol.testing.tradovate_gateway",
        description="A Tradovate API test double on 127.0.0.1.",
    )
    p.add_argument("--port", type=int, default=0, help="0: an ephemeral port")
    p.add_argument("--data", help="an MBO .dbn(.zst) file for the L3 simulated exchange")
    p.add_argument("--root", default="ES")
    p.add_argument("--rate-hz", type=float, default=50.0)
    a = p.parse_args()
    serve(a.port, a.data, a.root, a.rate_hz)
