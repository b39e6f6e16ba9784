"""A test gateway that speaks the TWS API wire protocol (server version 178) on loopback.

The real ``ib_async`` client connects to it over TCP exactly as to TWS / IB Gateway: the
``API\\0`` handshake, startApi, nextValidId and managedAccounts, contract details for CME
futures, market data ticks (static quotes or replayed from a DBN file's BBO), orders (market,
limit, stop, brackets with transmit flags and parent ids, OCA groups, modify, cancel) answered
with openOrder / orderStatus / execDetails / commissionReport, and positions, open orders and
executions on request. Fills are decided by a pluggable :class:`VenueModel`:
:class:`BboVenue` fills against the current quote; :class:`L3Venue` hands every working order
to the L3 simulated exchange (``tradecore::sim::SimExchange`` via ``pycontrol._core.SimMarket``)
replaying an MBO file (:meth:`TestGateway.feed_dbn` streams it, :meth:`TestGateway.load_dbn` +
:meth:`TestGateway.advance` step it under a test's control), which decides fills by queue
position, walks the book, triggers stops and charges its fee; modify = cancel + new order for
what remains, and its fills go through the same execution path (execDetails,
commissionReport, positions, OCA and bracket children) as every other fill.

Fault injection for tests and dry runs: drop every connection, go down for a while (a gateway
restart), send 1100/1101/1102, hold client ids in use (326), reject orders, fill partially,
fill orders while their client is away, limit the lookback of reqExecutions, pre-existing
positions and working orders placed by someone else.

Field orders follow ib_async 2.1.0's ``client.py`` (what we parse) and ``decoder.py`` (what we
encode) for server version :data:`~pycontrol.ib.wire.SERVER_VERSION`.

Threading: the gateway runs an asyncio loop in its own thread; every public method is
thread-safe (it runs on that loop and waits, with a timeout, for the result).
"""

from __future__ import annotations

import asyncio
import calendar
import datetime as dt
import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

from pycontrol.ib.wire import (
    MIN_CLIENT_VERSION,
    SERVER_VERSION,
    WireError,
    frame,
    split_frames,
    to_float,
    to_int,
    to_str,
)

if TYPE_CHECKING:
    from pycontrol._core import SimMarket

log = logging.getLogger("pycontrol.testing.ib_gateway")
T = TypeVar("T")

# Root -> (exchange, multiplier, min tick, contract months). Expiry: third Friday of the month
# (exact for the equity index futures; the gateway uses it for every root for simplicity).
ROOTS: dict[str, tuple[str, str, float, str]] = {
    "ES": ("CME", "50", 0.25, "HMUZ"),
    "NQ": ("CME", "20", 0.25, "HMUZ"),
    "RTY": ("CME", "50", 0.1, "HMUZ"),
    "CL": ("NYMEX", "1000", 0.01, "FGHJKMNQUVXZ"),
    "GC": ("COMEX", "100", 0.1, "GJMQVZ"),
}
MONTH_CODES = "FGHJKMNQUVXZ"


def third_friday(year: int, month: int) -> dt.date:
    first = dt.date(year, month, 1)
    offset = (calendar.FRIDAY - first.weekday()) % 7
    return first + dt.timedelta(days=offset + 14)


@dataclass
class GwContract:
    con_id: int
    symbol: str
    local_symbol: str
    expiry: str  # YYYYMMDD
    exchange: str
    multiplier: str
    min_tick: float
    currency: str = "USD"
    sec_type: str = "FUT"

    def fields(self) -> list[object]:
        """conId, symbol, secType, lastTrade, strike, right, multiplier, exchange, currency,
        localSymbol, tradingClass: the block openOrder, execDetails and position share."""
        return [
            self.con_id,
            self.symbol,
            self.sec_type,
            self.expiry,
            0.0,
            "",
            self.multiplier,
            self.exchange,
            self.currency,
            self.local_symbol,
            self.symbol,
        ]


def default_contracts(today: dt.date, roots: tuple[str, ...] = tuple(ROOTS)) -> list[GwContract]:
    """The next four expiries of each root, from ``today`` on (expired ones are not listed)."""
    out: list[GwContract] = []
    for r_i, root in enumerate(roots):
        exch, mult, tick, months = ROOTS[root]
        n, year = 0, today.year
        while n < 4:
            for m_code in months:
                month = MONTH_CODES.index(m_code) + 1
                exp = third_friday(year, month)
                if exp < today or n >= 4:
                    continue
                out.append(
                    GwContract(
                        con_id=500_000 + r_i * 1000 + (year % 100) * 12 + month,
                        symbol=root,
                        local_symbol=f"{root}{m_code}{year % 10}",
                        expiry=exp.strftime("%Y%m%d"),
                        exchange=exch,
                        multiplier=mult,
                        min_tick=tick,
                    )
                )
                n += 1
            year += 1
    return out


@dataclass
class Quote:
    bid: float | None = None
    ask: float | None = None
    bid_size: int = 0
    ask_size: int = 0
    last: float | None = None


@dataclass
class GwOrder:
    order_id: int
    client_id: int
    perm_id: int
    contract: GwContract
    action: str
    qty: int
    order_type: str
    lmt_price: float | None
    aux_price: float | None
    tif: str
    oca_group: str
    oca_type: int
    order_ref: str
    account: str
    transmit: bool
    parent_id: int
    status: str = "PendingSubmit"
    filled: int = 0
    avg_fill_price: float = 0.0
    last_fill_price: float = 0.0
    # L3 venue: the simulated exchange's reference of the order's working incarnation (None
    # when there is none) and of the last one sent
    sim_ref: int | None = None
    sim_last: int | None = None

    @property
    def remaining(self) -> int:
        return self.qty - self.filled

    @property
    def working(self) -> bool:
        return self.status in ("PreSubmitted", "Submitted", "PendingSubmit", "Held")


@dataclass
class GwExecution:
    exec_id: str
    order: GwOrder
    side: str  # BOT / SLD
    shares: int
    price: float
    time: dt.datetime
    cum_qty: int
    avg_price: float
    commission: float


# -- outgoing messages ------------------------------------------------------------------------
# One encoder per message kind (and one for the contract block several of them share), each
# the only place its wire layout is spelled out. Field orders follow ib_async 2.1.0's
# decoder.py at server version 178; the comments name the decoder fields the values feed.

NO_SECURITY = "No security definition has been found for the request"


def tick_price_msg(req_id: int, tick_type: int, price: float, size: int) -> list[object]:
    """tickPrice (1, version 6): reqId, tickType (1 bid, 2 ask, 4 last), price, size, attribs."""
    return [1, 6, req_id, tick_type, price, size, 0]


def error_msg(req_id: int, code: int, msg: str) -> list[object]:
    """error (4, version 2): reqId, errorCode, errorString, advancedOrderRejectJson."""
    return [4, 2, req_id, code, msg, ""]


def contract_details_msg(req_id: int, c: GwContract) -> list[object]:
    """contractDetails (10) of a future: last trade at 16:00 Chicago, one exchange."""
    orders = "ACTIVETIM,ADJUST,ALERT,LMT,MKT,STP,OCA,BRACKET"
    # fmt: off
    return [
        10, req_id,
        c.symbol, c.sec_type, f"{c.expiry} 16:00:00 US/Central",  # symbol, secType, lastTimes
        0.0, "", c.exchange, c.currency, c.local_symbol,  # strike, right, exchange .. localSymbol
        c.symbol, c.symbol, c.con_id, c.min_tick,  # marketName, tradingClass, conId, minTick
        c.multiplier, orders, c.exchange,  # multiplier, orderTypes, validExchanges
        1, 0, f"{c.symbol} futures", "",  # priceMagnifier, underConId, longName, primaryExch.
        c.expiry[:6], "", "", "",  # contractMonth, industry, category, subcategory
        "US/Central", "", "", "", "",  # timeZoneId, tradingHours, liquidHours, evRule, evMult.
        0,  # numSecIds
        1, "", "", "",  # aggGroup, underSymbol, underSecType, marketRuleIds
        c.expiry, "",  # realExpirationDate, stockType
        1, 1, 1,  # minSize, sizeIncrement, suggestedSizeIncrement
    ]
    # fmt: on


def position_msg(account: str, c: GwContract, qty: int, avg_cost: float) -> list[object]:
    """position (61, version 3): account, the contract block, position, avgCost."""
    return [61, 3, account, *c.fields(), qty, avg_cost]


def order_status_msg(o: GwOrder) -> list[object]:
    """orderStatus (3): orderId, status, filled, remaining, avgFillPrice, permId, parentId,
    lastFillPrice, clientId, whyHeld, mktCapPrice."""
    # fmt: off
    return [
        3, o.order_id, o.status, o.filled, o.remaining, o.avg_fill_price, o.perm_id,
        o.parent_id, o.last_fill_price, o.client_id, "", 0.0,
    ]
    # fmt: on


def open_order_msg(o: GwOrder) -> list[object]:
    """openOrder (5) for server version 178: no faProfile, with duration, postToAts,
    autoCancelParent and the five 170+ fields at the end."""
    u = ""  # a number left unset (the other empty fields are strings)
    # fmt: off
    return [
        5, o.order_id, *o.contract.fields(),  # orderId, conId .. tradingClass
        o.action, o.qty, o.order_type,  # action, totalQuantity, orderType
        o.lmt_price, o.aux_price, o.tif, o.oca_group, o.account,  # lmtPrice .. account
        "", 0, o.order_ref, o.client_id, o.perm_id,  # openClose, origin, orderRef, clientId, permId
        0, 0, 0.0, "", "",  # outsideRth, hidden, discretionaryAmt, goodAfterTime, (shares alloc.)
        "", "", "",  # faGroup, faMethod, faPercentage
        "", "", "", u, "",  # modelCode, goodTillDate, rule80A, percentOffset, settlingFirm
        0, "", -1,  # shortSaleSlot, designatedLocation, exemptCode
        u, u, u, u, u, u,  # auctionStrategy, startingPrice, stockRefPrice, delta, stockRange*2
        0, 0, 0, 0, u,  # displaySize, blockOrder, sweepToFill, allOrNone, minQty
        o.oca_type, 0, 0, u,  # ocaType, eTradeOnly, firmQuoteOnly, nbboPriceCap
        o.parent_id, 0, u, u,  # parentId, triggerMethod, volatility, volatilityType
        "", u,  # deltaNeutralOrderType (empty: no deltaNeutral block), deltaNeutralAuxPrice
        0, u, u, u, u, u,  # continuousUpdate, referencePriceType, trailStopPrice ..
        "",  # comboLegsDescrip
        0, 0, 0,  # numLegs, numOrderLegs, numParams (smartComboRoutingParams)
        u, u, "",  # scaleInitLevelSize, scaleSubsLevelSize, scalePriceIncrement (none: no more)
        "",  # hedgeType (empty: no hedgeParam)
        0, "", "", 0, 0,  # optOutSmartRouting, clearingAccount, clearingIntent, notHeld, dnc
        "",  # algoStrategy (empty: no algoParams)
        0, 0, o.status,  # solicited, whatIf, orderState.status
        "", "", "", "", "", "", "", "", "",  # orderState margins: init/maint/equity x3
        u, u, u, "", "",  # commission, min/maxCommission, commissionCurrency, warningText
        0, 0,  # randomizeSize, randomizePrice
        0,  # numConditions
        "", u, u, u, u, u, u, 0,  # adjustedOrderType, triggerPrice .. adjustableTrailingUnit
        "", "", "",  # softDollarTier name, val, displayName
        u, 0, 0, u, 0,  # cashQty, dontUseAutoPriceForHedge, isOmsContainer, discretionaryUpTo..
        "", 0, 0,  # duration, postToAts, autoCancelParent
        u, u, u, u, u,  # minTradeQty, minCompeteSize, competeAgainstBestOffset, midOffset*2
    ]
    # fmt: on


def exec_details_msg(req_id: int, e: GwExecution) -> list[object]:
    """execDetails (11): reqId (-1 for a live fill), orderId, the contract block, then the
    execution."""
    o = e.order
    time = e.time.strftime("%Y%m%d %H:%M:%S UTC")
    liquidity = 2 if o.order_type == "LMT" else 1  # lastLiquidity
    # fmt: off
    return [
        11, req_id, o.order_id, *o.contract.fields(),  # reqId, orderId, conId .. tradingClass
        e.exec_id, time, o.account, o.contract.exchange,  # execId, time, acctNumber, exchange
        e.side, e.shares, e.price, o.perm_id, o.client_id,  # side, shares, price, permId, clientId
        0, e.cum_qty, e.avg_price, o.order_ref,  # liquidation, cumQty, avgPrice, orderRef
        "", "", "", liquidity, 0,  # evRule, evMultiplier, modelCode, lastLiquidity, pendingPrice..
    ]
    # fmt: on


def commission_report_msg(e: GwExecution) -> list[object]:
    """commissionReport (59, version 1): execId, commission, currency, realizedPNL, yield,
    yieldRedemptionDate."""
    return [59, 1, e.exec_id, e.commission, "USD", "", "", ""]


class Matchable(Protocol):
    """What a fill rule sees of an order (the gateway's and the replay venue's orders)."""

    @property
    def action(self) -> str: ...
    @property
    def order_type(self) -> str: ...
    @property
    def lmt_price(self) -> float | None: ...
    @property
    def aux_price(self) -> float | None: ...
    @property
    def remaining(self) -> int: ...


class VenueModel(Protocol):
    """Decides fills: given a working, active order and the current quote, returns the fills
    (quantity, price) that happen now. Called on every new order, modify and quote change."""

    def match(self, order: Matchable, quote: Quote) -> list[tuple[int, float]]: ...


class BboVenue:
    """Fills against the top of book: market orders at the far touch, limits when marketable
    (at the far touch), stops when the far touch reaches the trigger. ``max_fill`` caps each
    fill (partial fills); ``enabled=False`` leaves every order resting until :meth:`fill`."""

    def __init__(self, max_fill: int | None = None, enabled: bool = True) -> None:
        self.max_fill = max_fill
        self.enabled = enabled

    def match(self, order: Matchable, quote: Quote) -> list[tuple[int, float]]:
        if not self.enabled or quote.bid is None or quote.ask is None:
            return []
        buy = order.action == "BUY"
        touch = quote.ask if buy else quote.bid
        ok = False
        if order.order_type == "MKT":
            ok = True
        elif order.order_type == "LMT" and order.lmt_price is not None:
            ok = touch <= order.lmt_price if buy else touch >= order.lmt_price
        elif order.order_type == "STP" and order.aux_price is not None:
            ok = touch >= order.aux_price if buy else touch <= order.aux_price
        if not ok:
            return []
        qty = order.remaining if self.max_fill is None else min(order.remaining, self.max_fill)
        return [(qty, touch)]


class L3Venue:
    """Fills decided by the L3 simulated exchange (``tradecore::sim::SimExchange`` through
    :class:`pycontrol._core.SimMarket`) over the MBO file that :meth:`TestGateway.feed_dbn` or
    :meth:`TestGateway.load_dbn` binds to a contract: queue position by MBO order id, market
    orders walking the visible depth, partial fills, stops triggered by prints, order latency
    and the per-contract fee as the commission. Every working order of a bound contract is
    sent to the market once (a modify is a cancel and a new order for what remains), cancels
    go to it, and its fills become the gateway's executions. Orders on a contract without a
    bound file never fill (``match`` finds nothing); ``TestGateway.fill`` still works.

    ``fee_per_contract=None`` charges the gateway's ``commission_per_contract``;
    ``order_latency_ns`` delays every order and cancel at the venue by that much market time
    (0: an order acts on the book as it stands when it is placed)."""

    def __init__(
        self,
        fee_per_contract: float | None = None,
        order_latency_ns: float = 0.0,
        seed: int = 0,
        definitions: str | Path | None = None,
    ) -> None:
        self.fee_per_contract = fee_per_contract
        self.order_latency_ns = order_latency_ns
        self.seed = seed
        self.definitions = definitions

    def match(self, order: Matchable, quote: Quote) -> list[tuple[int, float]]:
        return []


@dataclass
class _SimBinding:
    """A SimMarket replaying one file for one contract (made, used and dropped on the
    gateway's loop thread: the market is not thread-safe)."""

    market: SimMarket
    con_id: int
    instrument_id: int
    last_bbo: tuple[float, float, int, int] | None = None


@dataclass
class _Conn:
    writer: asyncio.StreamWriter
    client_id: int = -1
    ready: bool = False
    subs: dict[int, int] = field(default_factory=dict)  # reqId -> conId


class TestGateway:
    """The gateway. ``start()`` binds 127.0.0.1 (port 0: ephemeral) in a background thread;
    ``stop()`` closes everything. See the module docstring for what it speaks."""

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        port: int = 0,
        account: str = "DU1234567",
        venue: VenueModel | None = None,
        contracts: list[GwContract] | None = None,
        today: dt.date | None = None,
        commission_per_contract: float = 2.25,
        next_order_id: int = 1,
    ) -> None:
        self.host = "127.0.0.1"
        self.port = port
        self.account = account
        self.venue: VenueModel = venue or BboVenue()
        self.today = today or dt.datetime.now(dt.UTC).date()
        self.contracts = contracts or default_contracts(self.today)
        self.by_con = {c.con_id: c for c in self.contracts}
        self.commission = commission_per_contract
        self.quotes: dict[int, Quote] = {}
        self.orders: dict[tuple[int, int], GwOrder] = {}  # (clientId, orderId) -> order
        self.executions: list[GwExecution] = []
        self.positions: dict[int, tuple[int, float]] = {}  # conId -> (qty, avg cost)
        self.conns: list[_Conn] = []
        self._next_id = next_order_id
        self._perm = 9_000_000
        self._exec_seq = 0
        # fault injection
        self.occupied_client_ids: set[int] = set()
        self.reject_next_orders = 0
        self.reject_reason = "Order rejected by test gateway"
        self.execution_lookback: dt.timedelta | None = None
        self._down_until = 0.0
        # the last decoded client messages and errors sent, for assertions (bounded: a dry-run
        # gateway may serve for days)
        self.requests: deque[list[str]] = deque(maxlen=100_000)
        self.errors_sent: deque[tuple[int, int, str]] = deque(maxlen=100_000)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._feeds: list[asyncio.Task[None]] = []
        # L3 venue: simulated markets by conId, and every order reference the markets may still
        # fill (a modified order's earlier incarnation included) -> the gateway's order
        self._sims: dict[int, _SimBinding] = {}
        self._sim_refs: dict[int, GwOrder] = {}
        self._sim_seq = 0

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> TestGateway:
        started = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self._listen())
            except BaseException as e:  # bind failure: report to start()
                failure.append(e)
                started.set()
                return
            started.set()
            loop.run_forever()
            loop.run_until_complete(self._shutdown())
            loop.close()

        self._thread = threading.Thread(target=run, name="tws-test-gateway", daemon=True)
        self._thread.start()
        if not started.wait(timeout):
            raise TimeoutError("test gateway did not start")
        if failure:
            raise failure[0]
        return self

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _shutdown(self) -> None:
        for t in self._feeds:
            t.cancel()
        await asyncio.gather(*self._feeds, return_exceptions=True)
        self._feeds.clear()
        self._sims.clear()  # dropped on the thread that made them
        for c in list(self.conns):
            c.writer.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def stop(self, timeout: float = 10.0) -> None:
        if self._loop is None or self._thread is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)
        self._loop = None

    def __enter__(self) -> TestGateway:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def call(self, fn: Callable[[], T], timeout: float = 10.0) -> T:
        """Runs ``fn`` on the gateway's loop (all state lives there) and returns its result."""
        if self._loop is None:
            return fn()

        async def wrap() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(wrap(), self._loop).result(timeout)

    # -- public controls (thread-safe) --------------------------------------------------------

    def contract(self, local_symbol: str) -> GwContract:
        for c in self.contracts:
            if c.local_symbol == local_symbol:
                return c
        raise KeyError(local_symbol)

    def front(self, root: str, roll_days: int = 8) -> GwContract:
        """The contract a session rolling ``roll_days`` before expiry trades today (8: the
        session config's default), so tests and dry runs quote the contract it resolves."""
        live = [
            c
            for c in self.contracts
            if c.symbol == root
            and (dt.datetime.strptime(c.expiry, "%Y%m%d").date() - self.today).days > roll_days
        ]
        return min(live, key=lambda c: c.expiry)

    def set_quote(
        self, con_id: int, bid: float, ask: float, bid_size: int = 10, ask_size: int = 10
    ) -> None:
        self.call(lambda: self._set_quote(con_id, Quote(bid, ask, bid_size, ask_size)))

    def trade(self, con_id: int, price: float, size: int) -> None:
        """A trade print: a last-price tick (type 4, with its size) to every subscriber."""
        self.call(lambda: self._send_trade(con_id, price, size))

    def _send_trade(self, con_id: int, price: float, size: int) -> None:
        q = self.quotes.setdefault(con_id, Quote())
        q.last = price
        for c in self.conns:
            for req_id, sub_con in c.subs.items():
                if sub_con == con_id and c.ready:
                    self._send(c, tick_price_msg(req_id, 4, price, size))

    def fill(
        self,
        order_id: int,
        qty: int | None = None,
        price: float | None = None,
        client_id: int | None = None,
    ) -> str:
        """Fills a working order now (whether or not its client is connected); returns the
        execution id."""
        return self.call(lambda: self._manual_fill(order_id, qty, price, client_id))

    def add_position(self, con_id: int, qty: int, avg_cost: float) -> None:
        self.call(lambda: self.positions.__setitem__(con_id, (qty, avg_cost)))

    def add_external_order(
        self,
        con_id: int,
        action: str,
        qty: int,
        lmt: float,
        client_id: int = 99,
        order_ref: str = "manual",
    ) -> int:
        """A working limit order placed by someone else (another client id or by hand)."""

        def do() -> int:
            oid = self._take_id()
            o = GwOrder(
                oid,
                client_id,
                self._perm_id(),
                self.by_con[con_id],
                action,
                qty,
                "LMT",
                lmt,
                None,
                "GTC",
                "",
                0,
                order_ref,
                self.account,
                True,
                0,
                status="Submitted",
            )
            self.orders[(client_id, oid)] = o
            return oid

        return self.call(do)

    def disconnect_all(self) -> None:
        self.call(self._drop_all)

    def go_down(self, seconds: float) -> None:
        """A gateway restart: drop every client and refuse API sessions for ``seconds``."""

        def do() -> None:
            assert self._loop is not None
            self._down_until = self._loop.time() + seconds
            self._drop_all()

        self.call(do)

    def send_error(self, code: int, message: str, req_id: int = -1) -> None:
        """Sends an error/notice (1100 lost, 1101/1102 restored, 2110 ...) to every client."""

        def do() -> None:
            for c in self.conns:
                if c.ready:
                    self._error(c, req_id, code, message)

        self.call(do)

    def order_list(self) -> list[GwOrder]:
        return self.call(lambda: list(self.orders.values()))

    def execution_list(self) -> list[GwExecution]:
        return self.call(lambda: list(self.executions))

    def position_map(self) -> dict[str, int]:
        return self.call(
            lambda: {self.by_con[k].local_symbol: q for k, (q, _) in self.positions.items() if q}
        )

    def connected_client_ids(self) -> list[int]:
        return self.call(lambda: [c.client_id for c in self.conns if c.ready])

    def market_data_subscribers(self, con_id: int) -> list[int]:
        """Client ids with a live market-data subscription to ``con_id``: a quote set before
        a client subscribes reaches it only as the one snapshot sent on subscription."""
        return self.call(
            lambda: [c.client_id for c in self.conns if c.ready and con_id in c.subs.values()]
        )

    def feed_dbn(
        self, path: str | Path, con_id: int, rate_hz: float = 200.0, max_updates: int | None = None
    ) -> None:
        """Streams the file's top of book (first instrument) as quotes for ``con_id``, at most
        ``rate_hz`` changes a second. With an :class:`L3Venue` the file is replayed through the
        simulated exchange (bound by :meth:`load_dbn` first, or here), which fills the orders."""

        def start() -> None:
            if isinstance(self.venue, L3Venue):
                if con_id not in self._sims:
                    self._bind_sim(Path(path), con_id)
                coro = self._sim_feed(con_id, rate_hz, max_updates)
            else:
                coro = self._dbn_feed(Path(path), con_id, rate_hz, max_updates)
            self._feeds.append(asyncio.ensure_future(coro))

        self.call(start)

    def load_dbn(self, path: str | Path, con_id: int) -> None:
        """L3 venue: binds an MBO file's simulated market (first instrument) to ``con_id``
        without streaming it; :meth:`advance` then steps it under the caller's control."""

        def do() -> None:  # the market stays on the loop's thread, never returned from it
            self._bind_sim(Path(path), con_id)

        self.call(do)

    def advance(self, con_id: int, records: int) -> int:
        """L3 venue: replays at least ``records`` records of ``con_id``'s market (whole events)
        now, publishing quote changes and fills as they happen; returns how many were fed (0
        at the end of the file)."""

        def do() -> int:
            if con_id not in self._sims:
                raise KeyError(f"conId {con_id}: no simulated market (load_dbn or feed_dbn first)")
            fed = 0
            while fed < records:
                n, _ = self._sim_step(con_id)
                if n == 0:
                    break
                fed += n
            return fed

        return self.call(do, timeout=120.0)

    def sim_order(self, order_id: int, client_id: int | None = None) -> dict[str, object] | None:
        """L3 venue: the simulated exchange's view of the last incarnation of a gateway order
        sent there (status, qty, filled, reject_reason, queue_ahead); None if none was."""

        def do() -> dict[str, object] | None:
            for (cid, oid), o in self.orders.items():
                if oid == order_id and (client_id is None or cid == client_id):
                    b = self._sims.get(o.contract.con_id)
                    if b is None or o.sim_last is None:
                        return None
                    return b.market.order_status(o.sim_last)
            raise KeyError(f"order {order_id}")

        return self.call(do)

    # -- connection handling ------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = _Conn(writer)
        assert self._loop is not None
        try:
            if self._loop.time() < self._down_until:
                return
            magic = await asyncio.wait_for(reader.readexactly(4), 10)
            if magic != b"API\0":
                log.warning("handshake: expected b'API\\0', got %r", magic)
                return
            buf = bytearray()
            while True:
                frames = split_frames(buf)
                if frames:
                    break
                chunk = await asyncio.wait_for(reader.read(4096), 10)
                if not chunk:
                    return
                buf += chunk
            versions = frames[0][0] if frames[0] else ""
            if not self._version_ok(versions):
                log.warning("handshake: unsupported client versions %r", versions)
                return
            now = dt.datetime.now(dt.UTC).strftime("%Y%m%d %H:%M:%S UTC")
            writer.write(frame([SERVER_VERSION, now]))
            self.conns.append(conn)
            pending = frames[1:]
            while True:
                for fields in pending:
                    self._dispatch(conn, fields)
                if writer.is_closing():
                    return
                chunk = await reader.read(65536)
                if not chunk:
                    return
                buf += chunk
                pending = split_frames(buf)
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError, WireError) as e:
            log.info("client connection ended: %s", e)
        finally:
            if conn in self.conns:
                self.conns.remove(conn)
            writer.close()

    @staticmethod
    def _version_ok(spec: str) -> bool:
        if not spec.startswith("v") or ".." not in spec:
            return False
        try:
            lo, hi = spec[1:].split(" ")[0].split("..")
            return int(lo) <= SERVER_VERSION <= int(hi) and int(hi) >= MIN_CLIENT_VERSION
        except ValueError:
            return False

    def _send(self, conn: _Conn, fields: list[object]) -> None:
        if not conn.writer.is_closing():
            conn.writer.write(frame(fields))

    def _error(self, conn: _Conn, req_id: int, code: int, msg: str) -> None:
        self.errors_sent.append((req_id, code, msg))
        self._send(conn, error_msg(req_id, code, msg))

    def _reject(self, conn: _Conn, order_id: int, why: str) -> None:
        self._error(conn, order_id, 201, f"Order rejected - reason: {why}")

    def _drop_all(self) -> None:
        for c in list(self.conns):
            c.writer.close()
        self.conns.clear()

    def _conn_of(self, client_id: int) -> _Conn | None:
        for c in self.conns:
            if c.ready and c.client_id == client_id:
                return c
        return None

    def _dispatch(self, conn: _Conn, fields: list[str]) -> None:
        self.requests.append(fields)
        try:
            msg_id = to_int(fields, 0, "message id")
            if not conn.ready and msg_id != 71:
                raise WireError(f"message {msg_id} before startApi")
            handler = self._handlers().get(msg_id)
            if handler is None:
                self._error(conn, -1, 504, f"Unsupported request: message id {msg_id}")
                return
            handler(conn, fields)
        except WireError as e:
            # 320: "Server error when reading an API client request": the request is refused,
            # the connection and the gateway live on.
            req = fields[0] if fields else "?"
            self._error(conn, -1, 320, f"Error reading request {req}: {e}")

    def _handlers(self) -> dict[int, Callable[[_Conn, list[str]], None]]:
        return {
            71: self._start_api,
            61: lambda c, f: self._positions(c),
            64: lambda c, f: None,
            5: lambda c, f: self._open_orders(c, all_clients=False),
            16: lambda c, f: self._open_orders(c, all_clients=True),
            15: lambda c, f: None,
            99: lambda c, f: self._send(c, [102]),
            6: lambda c, f: self._send(c, [54, 1, self.account]),
            76: lambda c, f: self._send(c, [74, 1, to_int(f, 2, "reqAccountUpdatesMulti")]),
            62: self._account_summary,
            63: lambda c, f: None,
            7: self._executions,
            8: lambda c, f: self._send(c, [9, 1, self._next_id]),
            9: self._contract_details,
            1: self._mkt_data,
            2: lambda c, f: c.subs.pop(to_int(f, 2, "cancelMktData"), None),
            59: lambda c, f: None,
            3: self._place_order,
            4: self._cancel_order,
            58: self._global_cancel,
            49: lambda c, f: self._send(c, [49, 1, int(dt.datetime.now(dt.UTC).timestamp())]),
            17: lambda c, f: self._send(c, [15, 1, self.account]),
        }

    def _start_api(self, conn: _Conn, fields: list[str]) -> None:
        client_id = to_int(fields, 2, "startApi clientId")
        taken = self.occupied_client_ids | {c.client_id for c in self.conns if c.ready}
        if client_id in taken:
            self._error(
                conn,
                -1,
                326,
                "Unable to connect as the client id is already in use. "
                "Retry with a unique client id.",
            )
            conn.writer.close()
            return
        conn.client_id = client_id
        conn.ready = True
        mine = [oid for (cid, oid) in self.orders if cid == client_id]
        self._next_id = max([self._next_id, *(o + 1 for o in mine)])
        self._send(conn, [9, 1, self._next_id])
        self._send(conn, [15, 1, self.account])
        self._error(conn, -1, 2104, "Market data farm connection is OK:usfarm")

    def _take_id(self) -> int:
        oid = self._next_id
        self._next_id += 1
        return oid

    def _perm_id(self) -> int:
        self._perm += 1
        return self._perm

    # -- account, positions, executions -------------------------------------------------------

    def _account_summary(self, conn: _Conn, fields: list[str]) -> None:
        req_id = to_int(fields, 2, "reqAccountSummary reqId")
        self._send(conn, [63, 1, req_id, self.account, "AccountType", "INDIVIDUAL", ""])
        self._send(conn, [64, 1, req_id])

    def _positions(self, conn: _Conn) -> None:
        for con_id, (qty, avg) in self.positions.items():
            self._send(conn, position_msg(self.account, self.by_con[con_id], qty, avg))
        self._send(conn, [62, 1])

    def _executions(self, conn: _Conn, fields: list[str]) -> None:
        req_id = to_int(fields, 2, "reqExecutions reqId")
        filter_client = to_int(fields, 3, "reqExecutions clientId", default=0)
        cutoff = None
        if self.execution_lookback is not None:
            cutoff = dt.datetime.now(dt.UTC) - self.execution_lookback
        for e in self.executions:
            if filter_client and e.order.client_id != filter_client:
                continue
            if cutoff is not None and e.time < cutoff:
                continue
            self._send(conn, exec_details_msg(req_id, e))
            self._send(conn, commission_report_msg(e))
        self._send(conn, [55, 1, req_id])

    # -- contracts and market data ------------------------------------------------------------

    def _match_contracts(self, f: list[str], at: int, what: str) -> list[GwContract]:
        con_id = to_int(f, at, what + " conId", default=0)
        symbol, sec_type, expiry = f[at + 1 : at + 4]
        exchange = to_str(f, at + 7, what + " exchange")
        local = to_str(f, at + 10, what + " localSymbol")
        out = []
        for c in self.contracts:
            if con_id and c.con_id != con_id:
                continue
            if symbol and c.symbol != symbol:
                continue
            if sec_type and c.sec_type != sec_type:
                continue
            if expiry and not c.expiry.startswith(expiry):
                continue
            if exchange and exchange != "SMART" and c.exchange != exchange:
                continue
            if local and c.local_symbol != local:
                continue
            out.append(c)
        return out

    def _contract_details(self, conn: _Conn, fields: list[str]) -> None:
        req_id = to_int(fields, 2, "reqContractDetails reqId")
        found = self._match_contracts(fields, 3, "reqContractDetails")
        if not found:
            self._error(conn, req_id, 200, NO_SECURITY)
            return
        for c in found:
            self._send(conn, contract_details_msg(req_id, c))
        self._send(conn, [52, 1, req_id])

    def _mkt_data(self, conn: _Conn, fields: list[str]) -> None:
        req_id = to_int(fields, 2, "reqMktData reqId")
        found = self._match_contracts(fields, 3, "reqMktData")
        if len(found) != 1:
            self._error(conn, req_id, 200, NO_SECURITY)
            return
        con_id = found[0].con_id
        conn.subs[req_id] = con_id
        q = self.quotes.get(con_id)
        if q is not None:
            self._send_quote(conn, req_id, q)

    def _send_quote(self, conn: _Conn, req_id: int, q: Quote) -> None:
        if q.bid is not None:
            self._send(conn, tick_price_msg(req_id, 1, q.bid, q.bid_size))
        if q.ask is not None:
            self._send(conn, tick_price_msg(req_id, 2, q.ask, q.ask_size))

    def _set_quote(self, con_id: int, q: Quote) -> None:
        self.quotes[con_id] = q
        for c in self.conns:
            for req_id, sub_con in c.subs.items():
                if sub_con == con_id and c.ready:
                    self._send_quote(c, req_id, q)
        for o in list(self.orders.values()):
            if o.contract.con_id == con_id and o.status == "Submitted":
                self._try_match(o)

    async def _dbn_feed(
        self, path: Path, con_id: int, rate_hz: float, max_updates: int | None
    ) -> None:
        from pycontrol import BookReplay

        # BookReplay may only be dropped on the thread that made it: this loop's thread, so
        # it is released in the finally below, never left to the garbage collector.
        replay = BookReplay(path)
        try:
            last: tuple[float, float] | None = None
            n = 0
            while max_updates is None or n < max_updates:
                step = replay.step()
                if step is None:
                    return
                bid, ask = replay.bbo(step[2])
                if bid is None or ask is None or step[3]:
                    continue
                if last == (bid[0], ask[0]):
                    continue
                last = (bid[0], ask[0])
                self._set_quote(con_id, Quote(bid[0], ask[0], bid[1], ask[1]))
                n += 1
                await asyncio.sleep(1.0 / rate_hz)
        finally:
            del replay

    # -- the L3 venue: a simulated exchange over an MBO file ------------------------------------

    def _bind_sim(self, path: Path, con_id: int) -> _SimBinding:
        from pycontrol._core import SimMarket

        v = self.venue
        if not isinstance(v, L3Venue):
            raise TypeError(f"a simulated market needs venue=L3Venue(), this gateway has {v!r}")
        if con_id not in self.by_con:
            raise KeyError(f"conId {con_id}: not a contract of this gateway")
        if con_id in self._sims:
            raise ValueError(f"conId {con_id} already has a simulated market")
        market = SimMarket(
            path,
            definitions=v.definitions,
            fee_per_contract=self.commission if v.fee_per_contract is None else v.fee_per_contract,
            seed=v.seed,
            order_latency=("constant", [float(v.order_latency_ns)]),
        )
        ids = market.instruments()
        if not ids:
            raise ValueError(f"{path}: no instruments")
        b = _SimBinding(market, con_id, ids[0])
        self._sims[con_id] = b
        return b

    def _sim_step(self, con_id: int) -> tuple[int, bool]:
        """One event of the market: fills become executions, a changed (uncrossed) top of
        book becomes a quote. Returns (records fed, whether a quote was sent). Callers hold
        the conId, not the market: a suspended feed's frame must not keep it alive past
        shutdown (it may only be dropped on the loop's thread)."""
        b = self._sims.get(con_id)
        if b is None:
            return 0, False
        n = b.market.step(1)
        if n == 0:
            return 0, False
        self._sim_settle(b)
        for inst, _, price, size, _ in b.market.drain_trades():
            if inst == b.instrument_id:  # the file's prints as last-trade ticks
                self._send_trade(b.con_id, price, size)
        bid, ask = b.market.bbo(b.instrument_id)
        if bid is None or ask is None or bid[0] >= ask[0]:
            return n, False
        top = (bid[0], ask[0], bid[1], ask[1])
        if top == b.last_bbo:
            return n, False
        b.last_bbo = top
        self._set_quote(b.con_id, Quote(bid[0], ask[0], bid[1], ask[1]))
        return n, True

    async def _sim_feed(self, con_id: int, rate_hz: float, max_updates: int | None) -> None:
        sent = 0
        quiet = 0
        while max_updates is None or sent < max_updates:
            n, quoted = self._sim_step(con_id)
            if n == 0:
                return
            if quoted:
                sent += 1
                quiet = 0
                await asyncio.sleep(1.0 / rate_hz)
            else:
                quiet += 1
                if quiet % 256 == 0:  # a long stretch without quotes (a snapshot, a crossed
                    await asyncio.sleep(0)  # pre-open) still lets clients in

    def _sim_submit(self, b: _SimBinding, o: GwOrder) -> None:
        from pycontrol._core import CoreError

        if o.remaining <= 0:
            return
        self._sim_seq += 1
        ref = self._sim_seq
        try:
            b.market.submit(
                ref, b.instrument_id, o.action, o.remaining, o.order_type, o.lmt_price, o.aux_price
            )
        except (ValueError, CoreError) as e:
            self._cancel(o, f"Order Canceled - reason:simulated exchange refused it: {e}")
            return
        o.sim_ref = o.sim_last = ref
        self._sim_refs[ref] = o
        self._sim_settle(b)

    def _sim_retire(self, o: GwOrder) -> None:
        """Cancels the order's current incarnation at its market (a cancel, a modify, an OCA
        sibling's fill). A fill of it that the market reports later is still booked while the
        gateway order works."""
        ref, o.sim_ref = o.sim_ref, None
        b = self._sims.get(o.contract.con_id)
        if ref is not None and b is not None:
            b.market.cancel(ref)

    def _sim_settle(self, b: _SimBinding) -> None:
        """Books the market's new fills and follows what it ended on its own (a market order
        it could not fill, a reject, a fill that completed the order)."""
        for f in b.market.drain_fills():
            o = self._sim_refs.get(f["order_ref"])
            if o is None or not o.working or o.status == "Held":
                continue
            qty = min(int(f["qty"]), o.remaining)
            if qty > 0:
                self._execute(o, qty, float(f["price"]), f["fee"] * qty / f["qty"])
        for ref, o in list(self._sim_refs.items()):
            if ref not in self._sim_refs or o.contract.con_id != b.con_id:
                continue  # gone in a nested settle (a fill placing bracket children)
            st = b.market.order_status(ref)
            current = o.sim_ref == ref
            if current and not o.working:
                # filled by hand (TestGateway.fill) or ended at the gateway: leave the market
                self._sim_retire(o)
                st = b.market.order_status(ref)
            if st is None or st["status"] not in ("FILLED", "CANCELLED", "REJECTED"):
                continue
            self._sim_refs.pop(ref, None)
            if current and o.working and st["status"] != "FILLED":
                o.sim_ref = None
                why = st["reject_reason"] or "not filled by the simulated exchange"
                self._cancel(o, f"Order Canceled - reason:{why}")

    # -- orders -------------------------------------------------------------------------------

    def _place_order(self, conn: _Conn, f: list[str]) -> None:
        what = "placeOrder"
        oid = to_int(f, 1, what + " orderId")
        found = self._match_contracts(f, 2, what)
        if len(found) != 1:
            self._error(conn, oid, 200, NO_SECURITY)
            return
        contract = found[0]
        # Positions after the 12 contract fields (client.py placeOrder, non-BAG):
        action = to_str(f, 16, what + " action")
        qty_f = to_float(f, 17, what + " totalQuantity")
        order_type = to_str(f, 18, what + " orderType")
        lmt = to_float(f, 19, what + " lmtPrice", default=float("nan"))
        aux = to_float(f, 20, what + " auxPrice", default=float("nan"))
        tif = to_str(f, 21, what + " tif")
        oca_group = to_str(f, 22, what + " ocaGroup")
        account = to_str(f, 23, what + " account")
        order_ref = to_str(f, 26, what + " orderRef")
        transmit = to_int(f, 27, what + " transmit", default=1) == 1
        parent_id = to_int(f, 28, what + " parentId", default=0)
        # 29..34 blockOrder..hidden, 35 "" (shares allocation), 36..41 discretionaryAmt..
        # faPercentage, 42..45 modelCode..exemptCode, 46 ocaType (no faProfile at >= 177)
        oca_type = to_int(f, 46, what + " ocaType", default=0)
        if action not in ("BUY", "SELL"):
            self._reject(conn, oid, f"bad action {action!r}")
            return
        if order_type not in ("MKT", "LMT", "STP"):
            self._reject(conn, oid, f"order type {order_type!r} not supported by the test gateway")
            return
        if not qty_f.is_integer() or qty_f <= 0:
            self._reject(
                conn, oid, f"quantity {qty_f} must be a positive whole number of contracts"
            )
            return
        key = (conn.client_id, oid)
        existing = self.orders.get(key)
        if existing is not None and existing.status == "Cancelled":
            self._error(conn, oid, 103, "Duplicate order id")
            return
        if existing is not None:
            self._modify(conn, existing, int(qty_f), lmt, aux)
            return
        # TWS refuses a new order whose id is not above every id this client used before
        used = [o for (c, o) in self.orders if c == conn.client_id]
        if used and oid <= max(used):
            self._error(conn, oid, 103, "Duplicate order id")
            return
        if self.reject_next_orders > 0:
            self.reject_next_orders -= 1
            self._reject(conn, oid, self.reject_reason)
            return
        o = GwOrder(
            oid,
            conn.client_id,
            self._perm_id(),
            contract,
            action,
            int(qty_f),
            order_type,
            None if lmt != lmt else lmt,
            None if aux != aux else aux,
            tif,
            oca_group,
            oca_type,
            order_ref,
            account or self.account,
            transmit,
            parent_id,
        )
        self.orders[key] = o
        self._next_id = max(self._next_id, oid + 1)
        if not transmit:
            o.status = "Held"  # not transmitted: waits for the last order of its group
            return
        family = [o]
        if parent_id:
            family = [
                x
                for x in self.orders.values()
                if x.client_id == o.client_id
                and (x.order_id == parent_id or x.parent_id == parent_id)
                and x.status == "Held"
            ]
            if o not in family:
                family.append(o)
        for x in sorted(family, key=lambda x: x.order_id):
            parent = self.orders.get((x.client_id, x.parent_id)) if x.parent_id else None
            x.status = (
                "PreSubmitted" if parent is not None and parent.filled < parent.qty else "Submitted"
            )
            self._report_order(x)
        for x in sorted(family, key=lambda x: x.order_id):
            if x.status == "Submitted":
                self._try_match(x)

    def _modify(self, conn: _Conn, o: GwOrder, qty: int, lmt: float, aux: float) -> None:
        if not o.working:
            self._error(conn, o.order_id, 104, "Cannot modify a filled order")
            return
        if qty < o.filled:
            self._reject(conn, o.order_id, "quantity below filled")
            return
        o.qty = qty
        o.lmt_price = None if lmt != lmt else lmt
        o.aux_price = None if aux != aux else aux
        self._sim_retire(o)  # L3 venue: cancelled there; _try_match sends what remains anew
        if o.status == "Held":
            return
        self._report_order(o)
        if o.status == "Submitted":
            self._try_match(o)

    def _cancel_order(self, conn: _Conn, f: list[str]) -> None:
        oid = to_int(f, 2, "cancelOrder orderId")
        o = self.orders.get((conn.client_id, oid))
        if o is None:
            self._error(conn, oid, 135, f"Can't find order with id = {oid}")
            return
        if not o.working:
            self._error(
                conn,
                oid,
                161,
                "Cancel attempted when order is not in a cancellable "
                f"state. Order permId = {o.perm_id}",
            )
            return
        self._cancel(o, "Order Canceled - reason:")

    def _global_cancel(self, conn: _Conn, f: list[str]) -> None:
        for o in list(self.orders.values()):
            if o.working:
                self._cancel(o, "Order Canceled - reason:global cancel")

    def _cancel(self, o: GwOrder, reason: str) -> None:
        o.status = "Cancelled"
        self._sim_retire(o)
        c = self._conn_of(o.client_id)
        if c is not None:
            self._error(c, o.order_id, 202, reason)
        self._report_status(o)
        for child in self.orders.values():
            if child.client_id == o.client_id and child.parent_id == o.order_id and child.working:
                self._cancel(child, reason + " parent cancelled")

    def _send_order(self, conn: _Conn, o: GwOrder) -> None:
        self._send(conn, open_order_msg(o))
        self._send(conn, order_status_msg(o))

    def _report_order(self, o: GwOrder) -> None:
        c = self._conn_of(o.client_id)
        if c is not None:
            self._send_order(c, o)

    def _report_status(self, o: GwOrder) -> None:
        c = self._conn_of(o.client_id)
        if c is not None:
            self._send(c, order_status_msg(o))

    def _open_orders(self, conn: _Conn, all_clients: bool) -> None:
        for o in self.orders.values():
            if o.working and o.status != "Held" and (all_clients or o.client_id == conn.client_id):
                self._send_order(conn, o)
        self._send(conn, [53, 1])

    def _try_match(self, o: GwOrder) -> None:
        if o.status != "Submitted":
            return
        b = self._sims.get(o.contract.con_id)
        if b is not None:
            if o.sim_ref is None:
                self._sim_submit(b, o)
            return
        q = self.quotes.get(o.contract.con_id)
        if q is None:
            return
        for qty, price in self.venue.match(o, q):
            if qty > 0 and o.remaining > 0:
                self._execute(o, min(qty, o.remaining), price)

    def _manual_fill(
        self, order_id: int, qty: int | None, price: float | None, client_id: int | None
    ) -> str:
        cands = [
            o
            for (cid, oid), o in self.orders.items()
            if oid == order_id and (client_id is None or cid == client_id)
        ]
        if len(cands) != 1:
            raise KeyError(f"order {order_id}: {len(cands)} matches")
        o = cands[0]
        if not o.working or o.status == "Held":
            raise ValueError(f"order {order_id} is {o.status}, not working")
        q = self.quotes.get(o.contract.con_id)
        px = (
            price
            if price is not None
            else (
                o.lmt_price
                if o.lmt_price is not None
                else (q.ask if o.action == "BUY" else q.bid)
                if q is not None
                else None
            )
        )
        if px is None:
            raise ValueError(f"order {order_id}: no price to fill at")
        return self._execute(o, qty if qty is not None else o.remaining, px)

    def _execute(self, o: GwOrder, qty: int, price: float, commission: float | None = None) -> str:
        self._exec_seq += 1
        exec_id = f"0000e{o.perm_id:07x}.{self._exec_seq:08d}.01.01"
        total = o.avg_fill_price * o.filled + price * qty
        o.filled += qty
        o.avg_fill_price = total / o.filled
        o.last_fill_price = price
        if o.filled >= o.qty:
            o.status = "Filled"
        e = GwExecution(
            exec_id,
            o,
            "BOT" if o.action == "BUY" else "SLD",
            qty,
            price,
            dt.datetime.now(dt.UTC),
            o.filled,
            o.avg_fill_price,
            round(self.commission * qty if commission is None else commission, 2),
        )
        self.executions.append(e)
        self._apply_position(o.contract, qty if o.action == "BUY" else -qty, price)
        c = self._conn_of(o.client_id)
        if c is not None:
            self._send(c, exec_details_msg(-1, e))
            self._report_status(o)
            self._send(c, commission_report_msg(e))
        # OCA: a fill in the group cancels the rest of it. The children of one parent are an
        # implicit OCA group at IB (a bracket without ocaGroup still exits only once).
        for x in list(self.orders.values()):
            if x is o or not x.working or x.client_id != o.client_id:
                continue
            same_oca = bool(o.oca_group) and x.oca_group == o.oca_group
            siblings = bool(o.parent_id) and x.parent_id == o.parent_id
            if same_oca or siblings:
                self._cancel(x, "Order Canceled - reason:OCA group")
        if o.status == "Filled":
            for x in list(self.orders.values()):
                if (
                    x.client_id == o.client_id
                    and x.parent_id == o.order_id
                    and x.status == "PreSubmitted"
                ):
                    x.status = "Submitted"
                    self._report_order(x)
                    self._try_match(x)
        return exec_id

    def _apply_position(self, c: GwContract, delta: int, price: float) -> None:
        mult = float(c.multiplier)
        qty, avg_cost = self.positions.get(c.con_id, (0, 0.0))
        avg = avg_cost / mult if qty else 0.0
        new = qty + delta
        if new == 0:
            avg = 0.0
        elif qty == 0 or (qty > 0) == (delta > 0):
            avg = (avg * abs(qty) + price * abs(delta)) / abs(new)
        elif (qty > 0) != (new > 0):
            avg = price
        self.positions[c.con_id] = (new, avg * mult)


def serve(
    port: int,
    data: dict[str, str],
    root: str,
    account: str,
    rate_hz: float,
    auto_fill: bool,
    venue: str | None = None,
) -> None:
    """Runs a gateway in the foreground until interrupted (``pycontrol ib test-gateway``).
    ``data``: root -> MBO file streamed as that root's front month (empty: a fixed quote for
    ``root``). ``venue``: "l3" (the simulated exchange over each file; the default when files
    are given and orders fill automatically) or "bbo" (fills at the quote)."""
    if venue is None:
        venue = "l3" if data and auto_fill else "bbo"
    if venue not in ("l3", "bbo"):
        raise ValueError(f"venue must be 'l3' or 'bbo', got {venue!r}")
    if venue == "l3" and not data:
        raise ValueError("the l3 venue replays an MBO file: give one with --data")
    if venue == "l3" and not auto_fill:
        raise ValueError("--no-auto-fill leaves fills to the test: use it with --venue bbo")
    unknown = sorted(set(data) - set(ROOTS))
    if unknown:
        raise ValueError(f"no contracts for {unknown} (this gateway lists {', '.join(ROOTS)})")
    model: VenueModel = L3Venue() if venue == "l3" else BboVenue(enabled=auto_fill)
    gw = TestGateway(port=port, account=account, venue=model)
    gw.start()
    fronts = {r: gw.front(r) for r in (data or {root: ""})}
    listed = ", ".join(f"{f.local_symbol} conId {f.con_id}" for f in fronts.values())
    print(
        f"test gateway on {gw.host}:{gw.port} (server version {SERVER_VERSION}), "
        f"account {account[:2]}..., front {listed}, "
        f"fills: {'L3 simulated exchange' if venue == 'l3' else 'at the quote'}",
        flush=True,
    )
    try:
        if data:
            for r, path in data.items():
                gw.feed_dbn(path, fronts[r].con_id, rate_hz)
        else:
            gw.set_quote(fronts[root].con_id, 5000.0, 5000.25)
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        gw.stop()
