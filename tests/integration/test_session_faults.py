"""Fault injection against a paper session subprocess on the Rust engine (scripted external
signals through its inbox, then decision, sizing and every gate): client-id conflicts,
partial fills, rejects, lost connectivity (1100) with intents held until 1102 and re-gated
at release, lost market data (1101), dropped connections with fills while away, a gateway
restart (down for a while), and the daily restart window (deny or hold)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sessionkit import (
    SessionProc,
    buy,
    fire,
    positions,
    quote,
    wait_for,
    warm,
    write_config,
)

from pycontrol.session.journal import Journal
from pycontrol.testing.ib_gateway import BboVenue, TestGateway


@pytest.fixture
def gw() -> Iterator[TestGateway]:
    g = TestGateway(venue=BboVenue(enabled=False)).start()
    g.set_quote(g.front("ES").con_id, 5000.0, 5000.25)
    yield g
    g.stop()


@pytest.fixture
def start(gw: TestGateway, tmp_path: Path) -> Iterator[Any]:
    procs: list[SessionProc] = []

    def go(
        signals: list[dict[str, Any]], extra: str = "", window: str = "", max_qty: int = 1
    ) -> SessionProc:
        run = tmp_path / f"run{len(procs)}"
        run.mkdir()
        cfg = write_config(
            tmp_path / f"s{len(procs)}.toml", run, gw.port, signals, extra, max_qty=max_qty
        )
        if window:
            text = cfg.read_text()
            cut = text.index("[ib.restart_window]")
            end = text.index("[engine]")
            cfg.write_text(text[:cut] + window + "\n" + text[end:])
        s = SessionProc(cfg, run)
        procs.append(s)
        s.wait_ready()
        return s

    yield go
    for p in procs:
        p.stop()


def journal(s: SessionProc) -> Journal:
    return Journal(s.run_dir / "journal.sqlite")


def tick(gw: TestGateway, n: int) -> None:
    for i in range(n):
        quote(gw, gw.front("ES").con_id, i)  # warm() ended on the other one: a change
        time.sleep(0.05)


def trade(gw: TestGateway, s: SessionProc) -> None:
    """Warms the engine's volatility up, then the quotes that fire the scripted signal."""
    warm(gw, gw.front("ES").con_id)
    fire(gw, gw.front("ES").con_id, s.run_dir)


def entry_orders(gw: TestGateway) -> list[Any]:
    return [o for o in gw.order_list() if o.order_ref == "tc:4"]


def test_client_id_in_use_partial_fills_and_reject(gw: TestGateway, start: Any) -> None:
    gw.occupied_client_ids = {7}
    gw.venue = BboVenue(max_fill=1)
    gw.reject_next_orders = 0
    s = start([buy(1)], max_qty=3)
    assert s.cmd("status")["result"]["venue"]["client_id"] == 8  # 326 on 7 -> 8
    trade(gw, s)
    j = journal(s)
    wait_for(lambda: j.order(4) is not None, what="the entry")
    o = j.order(4)
    assert o is not None and o.qty >= 2, "sizing should ask for more than one contract"
    tick(gw, 2 * o.qty + 2)  # each quote change fills one more contract
    sym = gw.front("ES").local_symbol
    wait_for(lambda: j.positions().get(sym, (0, 0))[0] == o.qty, what="partial fills")
    entry_fills = [f["qty"] for f in j.fills() if f["client_order_id"] == 4]
    assert entry_fills == [1] * o.qty
    o = j.order(4)
    assert o is not None and o.status == "filled" and o.filled == o.qty
    j.close()


def test_rejected_order_is_journaled_and_released(gw: TestGateway, start: Any) -> None:
    gw.reject_next_orders = 1
    gw.reject_reason = "margin"
    s = start([buy(1)])
    trade(gw, s)
    j = journal(s)
    wait_for(lambda: j.count("reject") >= 1, what="reject")
    o = j.order(4)
    assert o is not None and o.status == "rejected"
    ev = next(j.events("reject"))
    assert ev["payload"]["code"] == 201 and "margin" in ev["payload"]["message"]
    wait_for(lambda: s.cmd("status")["result"]["engine"]["working"] == [], what="engine update")
    j.close()


def test_1100_holds_orders_until_1102_reconciles(gw: TestGateway, start: Any) -> None:
    s = start([buy(1)])
    warm(gw, gw.front("ES").con_id)
    gw.send_error(1100, "Connectivity between IB and Trader Workstation has been lost.")
    j = journal(s)
    wait_for(lambda: j.count("connectivity") == 1, what="1100 journaled")
    fire(gw, gw.front("ES").con_id, s.run_dir)  # the signal, while IB is unreachable
    wait_for(lambda: j.count("held") == 1, what="intent held")
    assert next(j.events("held"))["payload"]["reason"] == "DISCONNECTED"
    assert gw.order_list() == []
    gw.send_error(1102, "Connectivity restored - data maintained.")
    wait_for(lambda: entry_orders(gw), what="held order released")
    whys = [e["payload"]["why"] for e in j.events("reconcile")]
    assert whys == ["connect", "restored 1102"]
    j.close()


def test_an_intent_held_while_disconnected_is_regated_after_a_halt(
    gw: TestGateway, start: Any
) -> None:
    """Held during a disconnect, then the operator halts: at release the gate runs again and
    refuses it. Nothing reaches the gateway."""
    s = start([buy(1)])
    warm(gw, gw.front("ES").con_id)
    gw.send_error(1100, "Connectivity between IB and Trader Workstation has been lost.")
    j = journal(s)
    wait_for(lambda: j.count("connectivity") == 1, what="1100 journaled")
    fire(gw, gw.front("ES").con_id, s.run_dir)
    wait_for(lambda: j.count("held") == 1, what="intent held")
    assert s.cmd("halt", reason="news")["ok"]
    gw.send_error(1102, "Connectivity restored - data maintained.")
    wait_for(lambda: j.count("denial") >= 1, what="the held intent refused at release")
    body = next(j.events("denial"))["payload"]
    assert body["reason"] == "TRADING_HALTED" and "at release" in body["detail"]
    assert gw.order_list() == []
    assert j.count("released") == 0
    st = s.cmd("status")["result"]
    assert st["engine"]["working"] == [] and st["engine"]["state"] == "HALTED"
    j.close()


def test_1101_restores_market_data(gw: TestGateway, start: Any) -> None:
    start([])
    n = sum(1 for r in gw.requests if r[0] == "1")
    gw.send_error(1101, "Connectivity restored - data lost.")
    wait_for(lambda: sum(1 for r in gw.requests if r[0] == "1") == n + 1, what="resubscribe")


def test_drop_fill_while_away_reconnect(gw: TestGateway, start: Any) -> None:
    s = start([buy(1)])
    trade(gw, s)
    wait_for(lambda: entry_orders(gw), what="working order")
    n_orders = len(gw.order_list())
    oid = entry_orders(gw)[0].order_id
    gw.go_down(1.0)  # a gateway restart: connections dropped, refused for a second
    exec_id = gw.fill(oid)  # fills while the session is away
    j = journal(s)
    wait_for(lambda: exec_id in j.fill_ids(), timeout=30, what="backfilled fill")
    st = s.cmd("status")["result"]
    assert st["venue"]["reconnects"] == 1 and st["venue"]["ready"]
    sym = gw.front("ES").local_symbol
    assert positions(st) == {sym: 1}
    assert j.positions()[sym][0] == 1 == gw.position_map()[sym]
    rec = list(j.events("reconcile"))
    assert [r["payload"]["why"] for r in rec] == ["connect", "reconnect"]
    assert rec[-1]["payload"]["backfilled_fills"] == 1
    assert len(gw.order_list()) == n_orders  # nothing resent
    j.close()


def _window_around_now(policy: str) -> str:
    now = dt.datetime.now(dt.UTC)
    a = (now - dt.timedelta(minutes=5)).strftime("%H:%M")
    b = (now + dt.timedelta(minutes=30)).strftime("%H:%M")
    return f'[ib.restart_window]\nstart = "{a}"\nend = "{b}"\ntz = "UTC"\npolicy = "{policy}"\n'


@pytest.mark.parametrize("policy", ["deny", "hold"])
def test_restart_window_sends_nothing(gw: TestGateway, start: Any, policy: str) -> None:
    s = start([buy(1)], window=_window_around_now(policy))
    trade(gw, s)
    j = journal(s)
    kind = "denial" if policy == "deny" else "held"
    wait_for(lambda: j.count(kind) == 1, what=kind)
    body = next(j.events(kind))["payload"]
    reason = body["reason"]
    assert reason == "GATEWAY_RESTART_WINDOW"
    assert s.cmd("status")["result"]["venue"]["in_restart_window"]
    assert gw.order_list() == []
    j.close()


def test_a_reconnect_that_finds_another_position_moves_the_engine_to_it(
    gw: TestGateway, start: Any
) -> None:
    """A position appears at the broker that the session never traded (a manual trade in the
    account while it was disconnected): the reconcile after the reconnect takes the broker's
    position into the journal and the engine, whose risk gate must count it."""
    s = start([])
    sym = gw.front("ES").local_symbol
    assert positions(s.cmd("status")["result"]) == {}
    gw.add_position(gw.front("ES").con_id, 3, 5000.0 * 50)
    gw.disconnect_all()
    j = journal(s)
    wait_for(lambda: len(list(j.events("reconcile"))) == 2, timeout=30, what="the reconcile")
    rec = list(j.events("reconcile"))[-1]["payload"]
    assert rec["position_mismatches"] == [{"symbol": sym, "journal": 0, "broker": 3}]
    st = wait_for(
        lambda: positions(r := s.cmd("status")["result"]) == {sym: 3} and r,
        timeout=10, what="the engine to take the broker's position",
    )  # fmt: skip
    assert st["journal"]["positions"] == {sym: 3}
    j.close()
