"""The TWS-protocol test gateway, driven by the real ib_async client over TCP on loopback:
handshake, accounts, contract details and the front-month roll, market data, every order
kind, reports, positions, open orders, executions, and fault injection."""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import struct
from collections.abc import Iterator
from typing import Any

import pytest
from ib_async import IB, ExecutionFilter, Future, LimitOrder, MarketOrder, StopOrder
from ibkit import connected, run, until

from pycontrol.ib.connect import IBConnectError, NotPaperAccountError, candidate_ports, connect
from pycontrol.ib.contracts import ContractError, choose_front, resolve_front
from pycontrol.ib.wire import SERVER_VERSION, frame
from pycontrol.testing.ib_gateway import BboVenue, TestGateway


@pytest.fixture
def gw() -> Iterator[TestGateway]:
    g = TestGateway(today=dt.date(2026, 11, 20)).start()
    g.set_quote(g.front("ES").con_id, 5000.0, 5000.25)
    yield g
    g.stop()


def test_handshake_accounts_and_server_version(gw: TestGateway) -> None:
    async def go() -> None:
        ib = await connected(gw)
        assert ib.client.serverVersion() == SERVER_VERSION
        assert ib.managedAccounts() == ["DU1234567"]
        assert ib.client.getReqId() >= 1
        ib.disconnect()

    run(go)


def test_contract_details_and_front_month_roll(gw: TestGateway) -> None:
    async def go() -> None:
        ib = await connected(gw)
        details = await ib.reqContractDetailsAsync(Future(symbol="ES", exchange="CME"))
        syms = [d.contract.localSymbol for d in details]
        assert syms == ["ESZ6", "ESH7", "ESM7", "ESU7"]
        assert details[0].contract.multiplier == "50" and details[0].minTick == 0.25
        # ESZ6 expires 2026-12-18: 28 days out; rolling 30 days before picks ESH7
        c = await resolve_front(ib, "ES", "CME", roll_days=8, today=dt.date(2026, 11, 20))
        assert c.localSymbol == "ESZ6"
        assert choose_front(details, dt.date(2026, 11, 20), 30).contract.localSymbol == "ESH7"
        with pytest.raises(ContractError):
            await resolve_front(ib, "ZZ", "CME", 8)
        ib.disconnect()

    run(go)


def test_orders_fills_reports_positions(gw: TestGateway) -> None:
    async def go() -> None:
        ib = await connected(gw)
        c = (await ib.reqContractDetailsAsync(Future(symbol="ES", localSymbol="ESZ6")))[0].contract
        t = ib.reqMktData(c)
        await until(lambda: t.bid == 5000.0 and t.ask == 5000.25)
        mkt = ib.placeOrder(c, MarketOrder("BUY", 2, orderRef="tc:4"))
        await until(lambda: mkt.orderStatus.status == "Filled")
        assert [f.execution.price for f in mkt.fills] == [5000.25]
        await until(lambda: mkt.fills[0].commissionReport.commission == 4.5)
        lmt = ib.placeOrder(c, LimitOrder("SELL", 1, 5003.0))
        stp = ib.placeOrder(c, StopOrder("SELL", 1, 4995.0))
        await until(
            lambda: lmt.orderStatus.status == "Submitted" and stp.orderStatus.status == "Submitted"
        )
        # modify: the limit comes down to the bid and fills
        lmt.order.lmtPrice = 5000.0
        ib.placeOrder(c, lmt.order)
        await until(lambda: lmt.orderStatus.status == "Filled")
        ib.cancelOrder(stp.order)
        await until(lambda: stp.orderStatus.status == "Cancelled")
        positions = await ib.reqPositionsAsync()
        assert [(p.contract.localSymbol, p.position) for p in positions] == [("ESZ6", 1.0)]
        fills = await ib.reqExecutionsAsync(ExecutionFilter())
        assert sorted(f.execution.side for f in fills) == ["BOT", "SLD"]
        assert {f.execution.orderRef for f in fills} >= {"tc:4"}
        ib.disconnect()

    run(go)


def test_bracket_transmit_and_oca(gw: TestGateway) -> None:
    async def go() -> None:
        ib = await connected(gw)
        c = (await ib.reqContractDetailsAsync(Future(symbol="ES", localSymbol="ESZ6")))[0].contract
        parent, tp, sl = ib.bracketOrder("BUY", 1, 4999.0, 5010.0, 4990.0)
        tr_parent = ib.placeOrder(c, parent)
        await asyncio.sleep(0.2)
        # transmit=False: nothing is live at the venue until the last leg arrives
        assert [o.status for o in gw.order_list()] == ["Held"]
        tr_tp, tr_sl = ib.placeOrder(c, tp), ib.placeOrder(c, sl)
        await until(lambda: tr_sl.orderStatus.status == "PreSubmitted")
        assert tr_parent.orderStatus.status == "Submitted"
        gw.fill(parent.orderId)
        await until(lambda: tr_tp.orderStatus.status == "Submitted")
        gw.set_quote(c.conId, 4989.0, 4989.25)  # the stop triggers; the target is cancelled
        await until(lambda: tr_sl.orderStatus.status == "Filled")
        await until(lambda: tr_tp.orderStatus.status == "Cancelled")
        assert gw.position_map() == {}
        ib.disconnect()

    run(go)


def test_reject_and_partial_fills(gw: TestGateway) -> None:
    gw.reject_next_orders = 1
    gw.venue = BboVenue(max_fill=1)

    async def go() -> None:
        ib = await connected(gw)
        c = (await ib.reqContractDetailsAsync(Future(symbol="ES", localSymbol="ESZ6")))[0].contract
        rej = ib.placeOrder(c, MarketOrder("BUY", 1))
        await until(lambda: rej.orderStatus.status == "Cancelled")
        assert rej.log[-1].errorCode == 201
        part = ib.placeOrder(c, MarketOrder("BUY", 3))
        await until(lambda: len(part.fills) >= 1)
        assert part.orderStatus.status == "Submitted" and part.orderStatus.filled == 1
        gw.set_quote(c.conId, 5000.0, 5000.5)
        gw.set_quote(c.conId, 5000.0, 5000.25)
        await until(lambda: part.orderStatus.status == "Filled")
        assert [f.execution.shares for f in part.fills] == [1.0, 1.0, 1.0]
        ib.disconnect()

    run(go)


def test_fill_while_away_and_execution_lookback(gw: TestGateway) -> None:
    gw.venue = BboVenue(enabled=False)

    async def go() -> None:
        ib = await connected(gw, client_id=5)
        c = (await ib.reqContractDetailsAsync(Future(symbol="ES", localSymbol="ESZ6")))[0].contract
        tr = ib.placeOrder(c, LimitOrder("BUY", 2, 4999.0, orderRef="tc:40"))
        await until(lambda: tr.orderStatus.status == "Submitted")
        ib.disconnect()
        await asyncio.sleep(0.1)
        exec_id = gw.fill(tr.order.orderId)
        ib2 = await connected(gw, client_id=5)
        fills = await ib2.reqExecutionsAsync(ExecutionFilter())
        assert [(f.execution.execId, f.execution.orderRef) for f in fills] == [(exec_id, "tc:40")]
        # a lookback that excludes it: the execution is gone, the position is not
        gw.execution_lookback = dt.timedelta(seconds=0)
        assert await ib2.reqExecutionsAsync(ExecutionFilter()) == []
        positions = await ib2.reqPositionsAsync()
        assert [p.position for p in positions] == [2.0]
        ib2.disconnect()

    run(go)


def test_client_id_conflict_retries_next_id(gw: TestGateway) -> None:
    gw.occupied_client_ids = {7, 8}

    async def go() -> None:
        ib = IB()
        res = await connect(ib, "paper", port=gw.port, client_id=7, timeout=3)
        assert res.client_id == 9 and gw.connected_client_ids() == [9]
        assert [e[1] for e in gw.errors_sent].count(326) == 2
        ib.disconnect()
        with pytest.raises(IBConnectError, match="in use"):
            await connect(IB(), "paper", port=gw.port, client_id=7, max_client_ids=2, timeout=3)

    run(go)


def test_paper_session_refuses_a_live_account() -> None:
    with TestGateway(account="U7654321") as g:

        async def go() -> None:
            ib = IB()
            with pytest.raises(NotPaperAccountError, match="DU") as e:
                await connect(ib, "paper", port=g.port, client_id=1, timeout=3)
            assert "U7654321" not in str(e.value)  # account ids are secrets
            assert not ib.isConnected()

        run(go)


def test_port_probing_order() -> None:
    assert candidate_ports("paper") == (4002, 7497)
    assert candidate_ports("live") == (4001, 7496)
    assert candidate_ports("live", 5555) == (5555,)


def test_probing_falls_through_to_the_next_port(gw: TestGateway) -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    dead = s.getsockname()[1]
    s.close()

    async def go() -> None:
        ib = IB()
        res = await connect(ib, "paper", ports=(dead, gw.port), client_id=2, timeout=2)
        assert res.port == gw.port and ib.isConnected()
        ib.disconnect()

    run(go)


def test_connect_nowhere_names_every_attempt() -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now

    async def go() -> None:
        with pytest.raises(IBConnectError, match=str(port)):
            await connect(IB(), "paper", port=port, timeout=1)

    run(go)


def _raw_session(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    hello = b"v157..178"
    s.sendall(b"API\0" + struct.pack(">I", len(hello)) + hello)
    return s


def _read_frames(s: socket.socket, n: int) -> list[list[str]]:
    out, buf = [], b""
    while len(out) < n:
        chunk = s.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed after {len(out)} of {n} frames")
        buf += chunk
        while len(buf) >= 4 and len(buf) >= 4 + struct.unpack(">I", buf[:4])[0]:
            size = struct.unpack(">I", buf[:4])[0]
            out.append(buf[4 : 4 + size].decode().split("\0")[:-1])
            buf = buf[4 + size :]
    return out


def test_malformed_requests_get_errors_and_gateway_lives(gw: TestGateway) -> None:
    s = _raw_session(gw.port)
    try:
        (hello,) = _read_frames(s, 1)
        assert hello[0] == str(SERVER_VERSION)
        s.sendall(frame([71, 2, 3, ""]))
        _read_frames(s, 3)  # nextValidId, managedAccounts, 2104
        s.sendall(frame([3, "notanumber"]))  # placeOrder with a broken orderId
        s.sendall(frame([999, 1]))  # unknown message id
        errs = _read_frames(s, 2)
        assert errs[0][:2] == ["4", "2"] and errs[0][3] == "320" and "orderId" in errs[0][4]
        assert errs[1][3] == "504" and "999" in errs[1][4]
    finally:
        s.close()
    run(lambda: _connect_and_close(gw))  # still serving


async def _connect_and_close(gw: TestGateway) -> Any:
    ib = await connected(gw, client_id=2)
    ib.disconnect()


def test_bad_handshake_is_dropped(gw: TestGateway) -> None:
    s = socket.create_connection(("127.0.0.1", gw.port), timeout=5)
    s.sendall(b"GET / HTTP/1.1\r\n\r\n")
    assert s.recv(100) == b""  # closed, no reply
    s.close()
    run(lambda: _connect_and_close(gw))


def test_dbn_feed_streams_quotes(gw: TestGateway, esh4_mbo: Any) -> None:
    async def go() -> None:
        ib = await connected(gw)
        c = gw.front("ES")
        gw.feed_dbn(esh4_mbo, c.con_id, rate_hz=2000, max_updates=50)
        contract = (
            await ib.reqContractDetailsAsync(Future(symbol="ES", localSymbol=c.local_symbol))
        )[0].contract
        t = ib.reqMktData(contract)
        await until(lambda: t.bid == t.bid and 4000 < t.bid < 5000)  # ESH4 traded near 4800
        assert t.ask > t.bid
        ib.disconnect()

    run(go)


def test_reused_order_id_is_refused(gw: TestGateway) -> None:
    async def go() -> None:
        ib = await connected(gw)
        c = (await ib.reqContractDetailsAsync(Future(symbol="ES", localSymbol="ESZ6")))[0].contract
        first = ib.placeOrder(c, LimitOrder("BUY", 1, 4990.0))
        await until(lambda: first.orderStatus.status == "Submitted")
        ib.cancelOrder(first.order)
        await until(lambda: first.orderStatus.status == "Cancelled")
        again = LimitOrder("BUY", 1, 4990.0, orderId=first.order.orderId)
        ib.client.placeOrder(again.orderId, c, again)  # bypass ib_async's own bookkeeping
        await until(lambda: any(e[1] == 103 for e in gw.errors_sent))
        assert len(gw.order_list()) == 1
        ib.disconnect()

    run(go)
