"""IBVenue in process against the test gateway: journal-before-send for new orders,
brackets, modify and cancel; and a journaled order that never reached the venue (a crash
between the journal commit and placeOrder) is marked not_sent and never resent."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ibkit import until

from pycontrol.ib.broker import IBVenue
from pycontrol.session.config import SessionConfig
from pycontrol.session.journal import Journal
from pycontrol.session.orders import Bracket, ExecutionReport, OrderIntent
from pycontrol.session.venue import VenueSinks
from pycontrol.testing.ib_gateway import BboVenue, TestGateway


@pytest.fixture
def gw() -> Iterator[TestGateway]:
    g = TestGateway(venue=BboVenue(enabled=False), today=dt.date(2026, 11, 20)).start()
    g.set_quote(g.front("ES").con_id, 5000.0, 5000.25)
    yield g
    g.stop()


def cfg(port: int) -> SessionConfig:
    return SessionConfig.from_dict(
        {"name": "t", "ib": {"port": port, "client_id": 3, "connect_timeout": 3.0,
                              "restart_window": {"start": "03:00", "end": "03:00", "tz": "UTC"}}}
    )  # fmt: skip


def venue(gw: TestGateway, j: Journal, reports: list[Any]) -> IBVenue:
    sinks = VenueSinks(
        on_report=lambda r, src: reports.append((r, src)),
        on_deny=lambda i, reason, detail: reports.append(("deny", i.intent_id, reason)),
        on_market=lambda md: None, on_event=lambda k, d: None,
    )  # fmt: skip
    return IBVenue(
        cfg(gw.port), "paper", j, sinks,
        clock=lambda: dt.datetime(2026, 11, 20, 15, 0, tzinfo=dt.UTC),
    )  # fmt: skip


def test_new_bracket_modify_cancel(gw: TestGateway, tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.sqlite")
    reports: list[Any] = []

    async def go() -> None:
        v = venue(gw, j, reports)
        await v.start()
        try:
            await v.submit(OrderIntent(1, 0, "ESZ6", "BUY", 1, "LMT", price=4990.0))
            br = Bracket(stop_loss=4980.0, take_profit=5010.0)
            await v.submit(OrderIntent(2, 0, "ESZ6", "BUY", 2, "LMT", price=4995.0, bracket=br))
            await until(lambda: len([o for o in gw.order_list() if o.status != "Held"]) == 4)
            refs = {o.order_ref: o for o in gw.order_list()}
            assert refs["tc:9"].parent_id == refs["tc:8"].order_id == refs["tc:10"].parent_id
            assert refs["tc:9"].order_type == "STP" and refs["tc:10"].order_type == "LMT"
            # every order was journaled with its IB order id before it was sent
            for ref, o in refs.items():
                row = j.order(int(ref[3:]))
                assert row is not None and row.venue_order_id == o.order_id
            await until(lambda: j.order(4).status == "submitted")  # type: ignore[union-attr]
            await v.submit(OrderIntent(3, 0, "ESZ6", "BUY", 2, "LMT", "MODIFY", price=4991.0,
                                       target_client_order_id=4))  # fmt: skip
            await until(lambda: refs["tc:4"].qty == 2 and refs["tc:4"].lmt_price == 4991.0)
            await v.submit(OrderIntent(4, 0, "ESZ6", "BUY", 0, "MKT", "CANCEL",
                                       target_client_order_id=4))  # fmt: skip
            await until(lambda: refs["tc:4"].status == "Cancelled")
            await until(lambda: j.order(4).status == "cancelled")  # type: ignore[union-attr]
            kinds = [e["kind"] for e in j.events() if e["client_order_id"] == 4]
            assert kinds == ["order", "ack", "modify", "cancel_request", "cancelled"]
            assert any(isinstance(r, tuple) and isinstance(r[0], ExecutionReport)
                       and r[0].kind == "cancelled" for r in reports)  # fmt: skip
        finally:
            await v.stop()

    asyncio.run(asyncio.wait_for(go(), 30))
    j.close()


def test_journaled_but_unsent_order_is_never_resent(gw: TestGateway, tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.sqlite")
    # the state a crash right after the journal commit, before placeOrder, leaves behind
    j.record_intent(7, {"note": "crashed before send"})
    j.record_order(28, intent_id=7, leg=0, symbol="ESZ6", side="BUY", qty=1,
                   order_type="LMT", price=4990.0, stop_price=None,
                   parent_client_order_id=None, venue_order_id=50)  # fmt: skip

    async def go() -> None:
        v = venue(gw, j, [])
        await v.start()
        try:
            row = j.order(28)
            assert row is not None and row.status == "not_sent"
            # the same intent again (a replayed signal): refused by the journal, not sent
            await v.submit(OrderIntent(7, 0, "ESZ6", "BUY", 1, "LMT", price=4990.0))
            await asyncio.sleep(0.3)
            assert gw.order_list() == []
            assert j.count("duplicate_suppressed") == 1
            # and new IB order ids start above every journaled one
            await v.submit(OrderIntent(8, 0, "ESZ6", "BUY", 1, "LMT", price=4990.0))
            await until(lambda: len(gw.order_list()) == 1)
            assert gw.order_list()[0].order_id > 50
        finally:
            await v.stop()

    asyncio.run(asyncio.wait_for(go(), 30))
    j.close()


def test_held_in_restart_window_then_sent_after(gw: TestGateway, tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.sqlite")
    now = [dt.datetime(2026, 11, 20, 3, 30, tzinfo=dt.UTC)]  # inside 03:00-04:00 UTC
    c = SessionConfig.from_dict(
        {"name": "t", "ib": {"port": gw.port, "client_id": 4, "connect_timeout": 3.0,
                              "restart_window": {"start": "03:00", "end": "04:00", "tz": "UTC",
                                                 "policy": "hold"}}}
    )  # fmt: skip

    async def go() -> None:
        sinks = VenueSinks(lambda r, s: None, lambda i, r, d: None, lambda md: None,
                           lambda k, d: None)  # fmt: skip
        v = IBVenue(c, "paper", j, sinks, clock=lambda: now[0])
        await v.start()
        try:
            await v.submit(OrderIntent(1, 0, "ESZ6", "BUY", 1, "LMT", price=4990.0))
            await asyncio.sleep(1.5)
            assert gw.order_list() == [] and v.status()["held"] == 1
            now[0] = dt.datetime(2026, 11, 20, 4, 0, tzinfo=dt.UTC)  # the window ends
            await until(lambda: len(gw.order_list()) == 1, timeout=5)
            assert [e["kind"] for e in j.events() if e["intent_id"] == 1][:2] == [
                "held",
                "released",
            ]
        finally:
            await v.stop()

    asyncio.run(asyncio.wait_for(go(), 30))
    j.close()


def test_half_sent_bracket_is_cancelled_not_completed(gw: TestGateway, tmp_path: Path) -> None:
    """A crash after the bracket's entry (transmit=False) reached the gateway but before the
    exits did: on restart the untransmitted entry is cancelled, never completed or resent."""
    from ib_async import IB, Future, LimitOrder

    j = Journal(tmp_path / "j.sqlite")
    j.record_intent(9, {"note": "bracket"})
    for cid, leg, vid, side in ((36, 0, 60, "BUY"), (38, 2, 61, "SELL"), (37, 1, 62, "SELL")):
        j.record_order(cid, intent_id=9, leg=leg, symbol=gw.contract("ESZ6").local_symbol,
                       side=side, qty=1, order_type="LMT", price=4990.0, stop_price=None,
                       parent_client_order_id=None if leg == 0 else 36,
                       venue_order_id=vid)  # fmt: skip

    async def go() -> None:
        crashed = IB()  # the session that crashed: its entry got out, nothing else
        await crashed.connectAsync("127.0.0.1", gw.port, clientId=3, timeout=5)
        c = gw.contract("ESZ6")
        contract = (await crashed.reqContractDetailsAsync(Future(conId=c.con_id)))[0].contract
        entry = LimitOrder("BUY", 1, 4990.0, orderId=60, transmit=False, orderRef="tc:36")
        crashed.placeOrder(contract, entry)
        await until(lambda: [o.status for o in gw.order_list()] == ["Held"])
        crashed.disconnect()
        await asyncio.sleep(0.1)
        v = venue(gw, j, [])
        await v.start()
        try:
            await until(lambda: [o.status for o in gw.order_list()] == ["Cancelled"])
            assert {o.status for o in j.orders()} == {"not_sent"}
        finally:
            await v.stop()

    asyncio.run(asyncio.wait_for(go(), 30))
    j.close()
