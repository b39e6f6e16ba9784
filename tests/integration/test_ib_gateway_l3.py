"""The test gateway with the L3 venue: the real ib_async client places orders over TCP and
the simulated exchange (tradecore::sim::SimExchange) replaying the real ES MBO file decides
the fills: queue position, walking the book, stops, commission = the venue's fee.

Each test binds the file to the front month and replays 12,000 records in one go, into the
reopen (2023-12-25 23:00:16 UTC): bid 4802.00 x 6 (5 orders), ask 4802.50 x 15, then a
rally to 4807 over the next few thousand records. Replays are bounded by record counts."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from ib_async import IB, Contract, ExecutionFilter, Future, LimitOrder, MarketOrder, StopOrder
from ibkit import connected, run, until

from pycontrol.testing.ib_gateway import BboVenue, L3Venue, TestGateway, serve

START = 12_000


@pytest.fixture
def gw(esh4_mbo: Path) -> Iterator[TestGateway]:
    g = TestGateway(today=dt.date(2026, 11, 20), venue=L3Venue()).start()
    con_id = g.front("ES").con_id
    g.load_dbn(esh4_mbo, con_id)
    assert g.advance(con_id, START) >= START
    yield g
    g.stop()


async def es(ib: IB, gw: TestGateway) -> Contract:
    local = gw.front("ES").local_symbol
    return (await ib.reqContractDetailsAsync(Future(symbol="ES", localSymbol=local)))[0].contract


def advance_until(
    gw: TestGateway, con_id: int, done: Callable[[], bool], limit: int, chunk: int = 20
) -> int:
    """Replays ``chunk`` records at a time until ``done()`` or ``limit`` records; returns how
    many were replayed."""
    n = 0
    while n < limit and not done():
        fed = gw.advance(con_id, chunk)
        if fed == 0:
            break
        n += fed
    return n


def test_market_and_marketable_limit_fill_at_book_prices(gw: TestGateway) -> None:
    async def go() -> None:
        ib = await connected(gw)
        c = await es(ib, gw)
        t = ib.reqMktData(c)
        await until(lambda: t.bid == 4802.0 and t.ask == 4802.5)
        assert (t.bidSize, t.askSize) == (6, 15)
        mkt = ib.placeOrder(c, MarketOrder("BUY", 2, orderRef="tc:8"))
        await until(lambda: mkt.orderStatus.status == "Filled")
        assert [(f.execution.price, f.execution.shares) for f in mkt.fills] == [(4802.5, 2)]
        await until(lambda: mkt.fills[0].commissionReport.commission == 4.5)
        # sells 8 with a limit two points down: 6 at the best bid, 2 at the next level
        lmt = ib.placeOrder(c, LimitOrder("SELL", 8, 4801.0))
        await until(lambda: lmt.orderStatus.status == "Filled")
        await until(lambda: len(lmt.fills) == 2 and lmt.fills[-1].commissionReport.commission > 0)
        got = [(f.execution.price, f.execution.shares) for f in lmt.fills]
        assert got == [(4802.0, 6), (4801.75, 2)]
        assert [f.commissionReport.commission for f in lmt.fills] == [13.5, 4.5]
        assert lmt.orderStatus.avgFillPrice == pytest.approx((6 * 4802.0 + 2 * 4801.75) / 8)
        positions = await ib.reqPositionsAsync()
        assert [p.position for p in positions] == [-6.0]
        fills = await ib.reqExecutionsAsync(ExecutionFilter())
        assert sorted(f.execution.price for f in fills) == [4801.75, 4802.0, 4802.5]
        ib.disconnect()

    run(go)


def test_passive_limit_waits_for_the_queue_ahead(gw: TestGateway) -> None:
    con_id = gw.front("ES").con_id

    async def go() -> None:
        ib = await connected(gw)
        c = await es(ib, gw)
        tr = ib.placeOrder(c, LimitOrder("BUY", 1, 4802.0))
        await until(lambda: tr.orderStatus.status == "Submitted")
        await asyncio.sleep(0.1)
        # joined the bid behind 5 orders (6 contracts); BboVenue would only ever fill it once
        # the ask came down to 4802.00, whatever the queue
        assert tr.fills == [] and gw.execution_list() == []
        st = gw.sim_order(tr.order.orderId)
        assert st is not None and st["status"] == "WORKING" and st["queue_ahead"] == (5, 6)
        n = advance_until(gw, con_id, lambda: bool(gw.execution_list()), 3000, chunk=5)
        assert 0 < n < 3000
        await until(lambda: tr.orderStatus.status == "Filled")
        (f,) = tr.fills
        assert (f.execution.price, f.execution.shares) == (4802.0, 1)
        await until(lambda: f.commissionReport.commission == 2.25)
        ib.disconnect()

    run(go)


def test_cancel_and_modify_reach_the_simulated_exchange(gw: TestGateway) -> None:
    con_id = gw.front("ES").con_id

    async def go() -> None:
        ib = await connected(gw)
        c = await es(ib, gw)
        gone = ib.placeOrder(c, LimitOrder("BUY", 1, 4802.0))
        await until(lambda: gone.orderStatus.status == "Submitted")
        ib.cancelOrder(gone.order)
        await until(lambda: gone.orderStatus.status == "Cancelled")
        assert gw.sim_order(gone.order.orderId)["status"] == "CANCELLED"  # type: ignore[index]
        # a deep bid, then moved up to the touch: a new order at the back of the queue
        tr = ib.placeOrder(c, LimitOrder("BUY", 1, 4790.0))
        await until(lambda: tr.orderStatus.status == "Submitted")
        first = gw.sim_order(tr.order.orderId)
        assert first is not None and first["queue_ahead"][0] > 0  # type: ignore[index]
        tr.order.lmtPrice = 4802.0
        ib.placeOrder(c, tr.order)
        await until(lambda: (gw.sim_order(tr.order.orderId) or {}).get("queue_ahead") == (5, 6))
        advance_until(gw, con_id, lambda: bool(gw.execution_list()), 3000, chunk=5)
        await until(lambda: tr.orderStatus.status == "Filled")
        # the cancelled order never filled, though the same price traded
        assert [e.order.order_id for e in gw.execution_list()] == [tr.order.orderId]
        assert gone.fills == [] and [f.execution.price for f in tr.fills] == [4802.0]
        ib.disconnect()

    run(go)


def test_stop_and_bracket_exits_in_the_simulated_exchange(gw: TestGateway) -> None:
    con_id = gw.front("ES").con_id

    async def go() -> None:
        ib = await connected(gw)
        c = await es(ib, gw)
        stp = ib.placeOrder(c, StopOrder("BUY", 1, 4803.5))
        # a bracket: the entry takes the ask, the target rests at 4803.00, the stop is far
        parent, tp, sl = ib.bracketOrder("BUY", 1, 4802.5, 4803.0, 4795.0)
        trs = [ib.placeOrder(c, o) for o in (parent, tp, sl)]
        await until(lambda: trs[0].orderStatus.status == "Filled")
        await until(lambda: trs[1].orderStatus.status == "Submitted")
        assert [f.execution.price for f in trs[0].fills] == [4802.5]
        assert stp.orderStatus.status == "Submitted" and stp.fills == []
        # the rally: the target fills, its stop-loss sibling is cancelled (OCA), the buy stop
        # triggers on a print at 4803.50 and takes the ask
        advance_until(gw, con_id, lambda: len(gw.execution_list()) >= 3, 3000)
        await until(lambda: trs[1].orderStatus.status == "Filled")
        await until(lambda: trs[2].orderStatus.status == "Cancelled")
        await until(lambda: stp.orderStatus.status == "Filled")
        assert [f.execution.price for f in trs[1].fills] == [4803.0]
        assert [f.execution.price for f in stp.fills] == [4803.75]
        assert gw.sim_order(sl.orderId)["status"] == "CANCELLED"  # type: ignore[index]
        assert gw.position_map() == {gw.front("ES").local_symbol: 1}
        ib.disconnect()

    run(go)


def test_manual_fill_and_unfed_contracts_still_work(gw: TestGateway) -> None:
    async def go() -> None:
        ib = await connected(gw)
        c = await es(ib, gw)
        tr = ib.placeOrder(c, LimitOrder("SELL", 2, 4820.0))
        await until(lambda: tr.orderStatus.status == "Submitted")
        gw.fill(tr.order.orderId)  # the test decides: the sim's incarnation is withdrawn
        await until(lambda: tr.orderStatus.status == "Filled")
        gw.advance(gw.front("ES").con_id, 10)
        assert gw.sim_order(tr.order.orderId)["status"] == "CANCELLED"  # type: ignore[index]
        # a contract without a fed file: orders rest, nothing fills them
        later = (await ib.reqContractDetailsAsync(Future(symbol="ES", localSymbol="ESU7")))[0]
        mkt = ib.placeOrder(later.contract, MarketOrder("BUY", 1))
        await until(lambda: mkt.orderStatus.status == "Submitted")
        await asyncio.sleep(0.1)
        assert mkt.fills == [] and gw.sim_order(mkt.order.orderId) is None
        ib.disconnect()

    run(go)


def test_latency_and_venue_rejects(esh4_mbo: Path) -> None:
    venue = L3Venue(order_latency_ns=5_000_000_000)  # 5 s of market time to the venue
    with TestGateway(today=dt.date(2026, 11, 20), venue=venue) as g:
        con_id = g.front("ES").con_id
        g.load_dbn(esh4_mbo, con_id)
        g.advance(con_id, START)

        async def go() -> None:
            ib = await connected(g)
            c = await es(ib, g)
            mkt = ib.placeOrder(c, MarketOrder("BUY", 1))
            await until(lambda: mkt.orderStatus.status == "Submitted")
            assert g.sim_order(mkt.order.orderId)["status"] == "WORKING"  # type: ignore[index]
            assert mkt.fills == []  # still on its way to the venue
            advance_until(g, con_id, lambda: bool(g.execution_list()), 5000)
            await until(lambda: mkt.orderStatus.status == "Filled")
            # off the tick grid: the venue rejects it, the gateway cancels it with the reason
            bad = ib.placeOrder(c, LimitOrder("BUY", 1, 4790.1))
            await until(lambda: bad.orderStatus.status == "Submitted")

            def rejected() -> bool:
                return any("off the tick grid" in e[2] for e in g.errors_sent)

            assert advance_until(g, con_id, rejected, 5000) < 5000
            await until(lambda: bad.orderStatus.status == "Cancelled")
            ib.disconnect()

        run(go)


def test_feed_streams_quotes_and_the_sim_fills(esh4_mbo: Path) -> None:
    with TestGateway(today=dt.date(2026, 11, 20), venue=L3Venue(fee_per_contract=1.1)) as g:
        front = g.front("ES")

        async def go() -> None:
            ib = await connected(g)
            c = await es(ib, g)
            t = ib.reqMktData(c)
            g.feed_dbn(esh4_mbo, front.con_id, rate_hz=2000, max_updates=400)
            await until(lambda: t.bid == t.bid and t.ask == t.ask and 4790 < t.bid < t.ask)
            mkt = ib.placeOrder(c, MarketOrder("SELL", 1))
            await until(lambda: mkt.orderStatus.status == "Filled")
            (f,) = mkt.fills
            assert 4790 < f.execution.price < 4815 and (f.execution.price * 4) % 1 == 0
            await until(lambda: f.commissionReport.commission == 1.1)
            # the file's own prints reach the client as last-trade ticks, with their size
            await until(lambda: t.last == t.last and 4790 < t.last < 4815 and t.lastSize > 0)
            ib.disconnect()

        run(go)


def test_serve_picks_the_venue_and_refuses_bad_combinations() -> None:
    with pytest.raises(ValueError, match="--data"):
        serve(0, {}, "ES", "DU1", 10.0, True, "l3")
    with pytest.raises(ValueError, match="--venue bbo"):
        serve(0, {"ES": "x.dbn.zst"}, "ES", "DU1", 10.0, False, "l3")
    with pytest.raises(ValueError, match="venue must be"):
        serve(0, {}, "ES", "DU1", 10.0, True, "nasdaq")
    with pytest.raises(TypeError, match="L3Venue"):
        TestGateway(venue=BboVenue()).load_dbn("x.dbn.zst", 1)
