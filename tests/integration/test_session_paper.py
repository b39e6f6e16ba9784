"""Paper sessions as real subprocesses (`pycontrol session --mode paper`) against the test
gateway in this process, driven by the real ib_async client inside the session.

The crash test: working orders, SIGKILL, fills at the gateway while the session is down,
restart: no fill lost, no order sent twice, positions equal the gateway's, the journal
complete, and the session carries on (flatten through ctl). Plus the failure modes other
platforms have: positions older than the reqExecutions lookback, a warm restart inventing
fills, a cold start cancelling orders it did not create. And the engine trading real ES
quotes with placebo signals: restart, halt, flatten."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sessionkit import (
    PLACEBO,
    SessionProc,
    Telemetry,
    buy,
    fire,
    positions,
    wait_for,
    warm,
    write_config,
)

from pycontrol.ib.orders import parse_order_ref
from pycontrol.session.journal import Journal
from pycontrol.testing.ib_gateway import BboVenue, L3Venue, TestGateway

SECRET = "DU7654321"


@pytest.fixture
def gw() -> Iterator[TestGateway]:
    g = TestGateway(account=SECRET, venue=BboVenue(enabled=False)).start()
    g.set_quote(g.front("ES").con_id, 5000.0, 5000.25)
    yield g
    g.stop()


@pytest.fixture
def sessions() -> Iterator[list[SessionProc]]:
    procs: list[SessionProc] = []
    yield procs
    for p in procs:
        p.stop()


def _journal(run: Path) -> Journal:
    return Journal(run / "journal.sqlite")


def _start(sessions: list[SessionProc], cfg: Path, run: Path) -> SessionProc:
    s = SessionProc(cfg, run, env={"IB_ACCOUNT": SECRET})
    sessions.append(s)
    s.wait_ready()
    return s


def test_crash_restart_reconcile_and_continue(
    gw: TestGateway, sessions: list[SessionProc], tmp_path: Path
) -> None:
    """A scripted buy becomes a bracketed entry of the Rust engine; SIGKILL; the entry fills
    at the gateway while the session is down (its exits go live); the restart backfills the
    fill, restores the position, never resends, and carries on (flatten through ctl)."""
    run = tmp_path / "run"
    run.mkdir()
    cfg = write_config(tmp_path / "s.toml", run, gw.port, [buy(1)], max_qty=2)
    front = gw.front("ES")

    a = _start(sessions, cfg, run)
    warm(gw, front.con_id)
    fire(gw, front.con_id, run)  # the scripted signal's update
    wait_for(lambda: len(gw.order_list()) == 3, what="a bracket at the gateway")
    orders = {o.order_ref: o for o in gw.order_list()}
    assert set(orders) == {"tc:4", "tc:5", "tc:6"}
    assert orders["tc:5"].parent_id == orders["tc:4"].order_id  # a child of the entry
    assert orders["tc:6"].oca_group == orders["tc:5"].oca_group != ""
    qty = orders["tc:4"].qty
    assert qty >= 1

    a.kill9()  # no goodbye: the journal is all that survives
    wait_for(lambda: gw.connected_client_ids() == [], what="gateway to see the drop")
    fills = [gw.fill(orders["tc:4"].order_id)]  # the entry fills: its exits go live
    assert gw.position_map() == {front.local_symbol: qty}

    b = _start(sessions, cfg, run)
    tel = Telemetry(b.wait_ready()["pub"])
    tel.wait_joined()
    wait_for(lambda: gw.market_data_subscribers(front.con_id), what="market data subscription")
    try:
        # more market data: the scripted signal already fired (journaled) and must not again
        for k, px in enumerate((5000.0, 5000.25, 5000.5), start=1):
            gw.set_quote(front.con_id, px, px + 0.25)
            st = wait_for(
                lambda k=k: (r := b.cmd("status"))["result"]["market_events"] >= k and r,
                what=f"market event {k} after the restart",
            )
        assert st["ok"]
        assert positions(st["result"]) == {front.local_symbol: qty}
        assert len(gw.order_list()) == 3, "an order was sent twice"
        j = _journal(run)
        assert j.count("scripted_signal") == 1
        assert j.fill_ids() == {e.exec_id for e in gw.execution_list()} == set(fills)
        assert {s: q for s, (q, _) in j.positions().items() if q} == gw.position_map()
        working = {o.client_order_id for o in j.orders(working_only=True)}
        assert working == {5, 6}  # the bracket exits, live after the entry filled
        rec = list(j.events("reconcile"))[-1]["payload"]
        assert rec["backfilled_fills"] == 1 and rec["position_mismatches"] == []
        for o in gw.order_list():
            row = j.order(parse_order_ref(o.order_ref) or -1)
            assert row is not None and row.venue_order_id == o.order_id
        j.close()

        # carry on: flatten through ctl; the exits are cancelled, the position closed
        gw.venue = BboVenue(enabled=True)
        assert b.cmd("flatten")["ok"]
        wait_for(lambda: gw.position_map() == {}, what="flat at the gateway")
        wait_for(lambda: not [o for o in gw.order_list() if o.working], what="no working orders")
        j = _journal(run)
        wait_for(lambda: j.positions()[front.local_symbol][0] == 0, what="flat in the journal")
        assert j.fill_ids() == {e.exec_id for e in gw.execution_list()}
        assert j.count("flatten") == 1
        j.close()
        close = gw.execution_list()[-1]
        assert close.side == "SLD" and close.shares == qty
        # flat again: the engine's realized P&L (before fees) is sells minus buys, the fill
        # while away included
        cash = sum((1 if e.side == "SLD" else -1) * e.shares * e.price for e in gw.execution_list())
        wait_for(lambda: not positions(b.cmd("status")["result"]), what="flat in the engine")
        eng = b.cmd("status")["result"]["engine"]
        assert sum(p["realized"] for p in eng["positions"]) == pytest.approx(cash * 50)
        wait_for(
            lambda: {"fill", "position", "pnl", "order", "state"} <= tel.topics(), what="telemetry"
        )
    finally:
        tel.close()
    assert b.cmd("shutdown")["ok"]
    assert b.proc.wait(15) == 0

    # a warm restart with nothing new must not invent a fill (or an opposite one), even when
    # reqExecutions no longer reaches back to the fills: positions come from the journal and
    # reqPositions, not from replaying executions.
    gw.execution_lookback = dt.timedelta(seconds=0)
    n_fills = len(gw.execution_list())
    c = _start(sessions, cfg, run)
    j = _journal(run)
    assert len(j.fill_ids()) == n_fills
    rec = list(j.events("reconcile"))[-1]["payload"]
    assert rec["backfilled_fills"] == 0 and rec["position_mismatches"] == []
    assert positions(c.cmd("status")["result"]) == {}
    j.close()


def test_positions_older_than_lookback_and_foreign_orders_on_cold_start(
    gw: TestGateway, sessions: list[SessionProc], tmp_path: Path
) -> None:
    front = gw.front("ES")
    gw.add_position(front.con_id, 3, 4990.0 * 50)  # from last week: no execution reaches it
    ext = gw.add_external_order(front.con_id, "SELL", 1, 5050.0, client_id=99)
    run = tmp_path / "run"
    run.mkdir()
    cfg = write_config(tmp_path / "s.toml", run, gw.port, [])
    s = _start(sessions, cfg, run)
    st = s.cmd("status")["result"]
    assert positions(st) == {front.local_symbol: 3}
    j = _journal(run)
    assert j.positions()[front.local_symbol] == (3, 4990.0)
    assert j.fill_ids() == set()  # adopted from reqPositions, not made up as fills
    foreign = list(j.events("foreign_order"))
    assert [f["payload"]["venue_order_id"] for f in foreign] == [ext]
    j.close()
    ext_order = next(o for o in gw.order_list() if o.order_id == ext)
    assert ext_order.status == "Submitted"  # reported, never cancelled
    assert s.cmd("shutdown")["ok"]
    s.proc.wait(15)
    assert next(o for o in gw.order_list() if o.order_id == ext).status == "Submitted"


def test_orders_of_ours_unknown_to_the_journal_are_adopted(
    gw: TestGateway, sessions: list[SessionProc], tmp_path: Path
) -> None:
    """A lost journal (cold start) with our own working order at the gateway: adopted."""
    front = gw.front("ES")
    oid = gw.add_external_order(front.con_id, "BUY", 1, 4900.0, client_id=7, order_ref="tc:400")
    run = tmp_path / "run"
    run.mkdir()
    s = _start(sessions, write_config(tmp_path / "s.toml", run, gw.port, []), run)
    j = _journal(run)
    row = j.order(400)
    assert (
        row is not None and row.adopted and row.venue_order_id == oid and row.status == "submitted"
    )
    j.close()
    working = s.cmd("status")["result"]["engine"]["working"]
    assert [w["client_order_id"] for w in working] == [400]


def test_secret_never_in_logs_journal_or_telemetry(
    gw: TestGateway, sessions: list[SessionProc], tmp_path: Path
) -> None:
    gw.venue = BboVenue(enabled=True)
    run = tmp_path / "run"
    run.mkdir()
    # the signal's update comes after the subscriber has joined (PUB drops what it sends
    # before a subscriber is connected)
    s = SessionProc(write_config(tmp_path / "s.toml", run, gw.port, [buy(1)]), run,
                    env={"IB_ACCOUNT": SECRET})  # fmt: skip
    sessions.append(s)
    tel = Telemetry(s.wait_ready()["pub"])
    try:
        tel.wait_joined()
        warm(gw, gw.front("ES").con_id)
        fire(gw, gw.front("ES").con_id, run)
        wait_for(lambda: gw.position_map() != {}, what="a fill")
        wait_for(lambda: "fill" in tel.topics(), what="fill telemetry")
        assert s.cmd("status")["ok"]
    finally:
        tel.close()
    s.cmd("shutdown")
    s.proc.wait(15)
    # the account really went over the wire (the gateway saw it on every order)...
    assert all(o.account == SECRET for o in gw.order_list())
    # ...and it is nowhere we write
    assert SECRET not in s.output()
    assert SECRET not in (run / "session.log").read_text()
    assert "***" in (run / "session.log").read_text()  # ib_async did try to log it
    for f in run.glob("journal.sqlite*"):
        assert SECRET.encode() not in f.read_bytes()
    db = sqlite3.connect(run / "journal.sqlite")
    dump = "\n".join(db.iterdump())
    db.close()
    assert SECRET not in dump
    assert all(SECRET.encode() not in frame for frame in tel.raw)


@pytest.fixture
def gw_es(esh4_mbo: Path) -> Iterator[TestGateway]:
    """A gateway streaming the real ES day's top of book and trades, its fills decided by
    the L3 simulated exchange over the same file (queue position, walking the book)."""
    g = TestGateway(account=SECRET, venue=L3Venue()).start()
    g.feed_dbn(esh4_mbo, g.front("ES").con_id, rate_hz=25.0)
    yield g
    g.stop()


def _engine_qty(s: SessionProc) -> int:
    eng = s.cmd("status")["result"]["engine"]
    return int(sum(p["qty"] for p in eng["positions"]))


def _consistent(gw: TestGateway, run: Path) -> Journal:
    """Every gateway order and execution is in the journal under its ids; positions agree."""
    j = Journal(run / "journal.sqlite")
    refs = [o.order_ref for o in gw.order_list()]
    assert len(refs) == len(set(refs)), "an order was sent twice"
    for o in gw.order_list():
        row = j.order(parse_order_ref(o.order_ref) or -1)
        assert row is not None and row.venue_order_id == o.order_id, o.order_ref
    assert j.fill_ids() == {e.exec_id for e in gw.execution_list()}
    assert {s: q for s, (q, _) in j.positions().items() if q} == gw.position_map()
    return j


def test_paper_session_on_the_rust_engine(
    gw_es: TestGateway, sessions: list[SessionProc], tmp_path: Path
) -> None:
    """The Rust engine (`[engine] kind = "rust"`) on IB: the gateway streams the real ES
    day's quotes, the engine trades placebo signals through its decision, sizing and risk
    gates, IB's fills come back into its positions. Positions agree (engine, journal,
    gateway); a SIGKILL and restart restores the position and never reuses an intent id;
    ctl halts it (TRADING_HALTED, no new orders) and flattens it (flat at the gateway)."""
    gw = gw_es
    run = tmp_path / "run"
    run.mkdir()
    (tmp_path / "strategy.toml").write_text(PLACEBO.format(interval_s=1.0))
    cfg = write_config(tmp_path / "s.toml", run, gw.port, [], strategy=tmp_path / "strategy.toml")
    front = gw.front("ES")

    # 1. it trades: entries with their brackets at the gateway, fills into the engine
    a = _start(sessions, cfg, run)
    st = a.cmd("status")["result"]
    assert st["engine"]["engine"] == "rust" and st["engine"]["model_source"] == "external:placebo"
    wait_for(lambda: gw.position_map(), 60, "a position at the gateway")
    entries = [o for o in gw.order_list() if o.parent_id == 0]
    children = [o for o in gw.order_list() if o.parent_id != 0]
    assert entries and {c.parent_id for c in children} <= {e.order_id for e in entries}
    assert all(c.oca_group for c in children)
    wait_for(
        lambda: _engine_qty(a) == gw.position_map().get(front.local_symbol, 0) != 0,
        30, "the engine to book the gateway's fill",
    )  # fmt: skip
    _consistent(gw, run).close()

    # IB's commission reports reach the engine after their fills: its fees are the gateway's
    def fees() -> float:
        return sum(p["fees"] for p in a.cmd("status")["result"]["engine"]["positions"])

    wait_for(
        lambda: abs(fees() - sum(e.commission for e in gw.execution_list())) < 1e-9,
        30, "the engine's fees to equal the gateway's commissions",
    )  # fmt: skip
    assert fees() > 0

    # 2. SIGKILL with a position; the restart restores it from the journal and the broker
    a.kill9()
    wait_for(lambda: gw.connected_client_ids() == [], what="gateway to see the drop")
    held = gw.position_map().get(front.local_symbol, 0)
    j = Journal(run / "journal.sqlite")
    last_intent = max(j.intent_ids())
    j.close()
    b = _start(sessions, cfg, run)
    tel = Telemetry(b.wait_ready()["pub"])
    try:
        tel.wait_joined()
        eng = b.cmd("status")["result"]["engine"]
        assert eng["next_intent_id"] > last_intent
        wait_for(
            lambda: _engine_qty(b) == gw.position_map().get(front.local_symbol, 0),
            30, "the restored position to match the gateway",
        )  # fmt: skip
        assert held == 0 or b.cmd("status")["result"]["engine"]["positions"][0]["avg_price"] > 0

        # 3. halt: the risk gate denies every new order, nothing new reaches the gateway
        assert b.cmd("halt", reason="news")["ok"]
        n_orders = len([o for o in gw.order_list() if o.status != "Cancelled"])
        wait_for(
            lambda: [
                x for x in tel.msgs
                if x["topic"] == "denial" and x["data"]["reason"] == "TRADING_HALTED"
            ],
            60, "a TRADING_HALTED denial",
        )  # fmt: skip
        assert len([o for o in gw.order_list() if o.status != "Cancelled"]) <= n_orders
        assert b.cmd("status")["result"]["engine"]["state"] == "HALTED"

        # 4. flatten: exits cancelled, the position closed at the gateway and in the engine
        fl = b.cmd("flatten")
        assert fl["ok"], fl
        wait_for(lambda: not gw.position_map(), 30, "flat at the gateway")
        wait_for(lambda: _engine_qty(b) == 0, 30, "flat in the engine")
        wait_for(
            lambda: not [o for o in gw.order_list() if o.working and o.status != "Held"],
            30, "no working orders",
        )  # fmt: skip
        j = _consistent(gw, run)
        ids = j.intent_ids()
        assert len(ids) == len(set(ids))
        kinds = [e["kind"] for e in j.events()]
        for k in ("halt", "flatten", "denial", "fill", "reconcile"):
            assert k in kinds, k
        j.close()
        sw = b.cmd("swap-model", model="v2", override="test")
        assert not sw["ok"] and sw["error"]["code"] == "unsupported"
        assert "registry" in sw["error"]["message"]
    finally:
        tel.close()
