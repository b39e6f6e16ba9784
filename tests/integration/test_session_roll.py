"""A contract roll inside a paper session (issue 12), against the IB test gateway.

A session buys ES in the front month of an 8-day roll rule, with its bracket, and is halted
and stopped. Restarted with a roll rule that has left that month, it owes a roll:

- HALTED, the roll's exit is refused by the gate: nothing is sent, not even the cancels of
  the old bracket (the position keeps its protection), and ``roll_blocked`` is journaled;
- after ``resume`` (an override), the old month's bracket is cancelled and its position
  closed at market, then the same quantity is bought in the new month with the old
  bracket's distances carried over, every order gated and journaled; the gateway ends with
  the position in the new month only, and ``ctl status`` shows the instrument on it.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sessionkit import SessionProc, buy, fire, positions, wait_for, warm, write_config

from pycontrol.session.journal import Journal
from pycontrol.testing.ib_gateway import BboVenue, TestGateway

SECRET = "DU5550002"


@pytest.fixture
def gw() -> Iterator[TestGateway]:
    g = TestGateway(account=SECRET, venue=BboVenue(enabled=True)).start()
    yield g
    g.stop()


def _kinds(run: Path, *kinds: str) -> list[dict[str, object]]:
    j = Journal(run / "journal.sqlite")
    try:
        return [e["payload"] for e in j.events() if e["kind"] in kinds]
    finally:
        j.close()


def test_roll_waits_while_halted_then_moves_the_position_to_the_new_month(
    gw: TestGateway, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    run.mkdir()
    old = gw.front("ES", 8)
    # a roll rule that has left the old month: its expiry is no longer far enough away
    days = (dt.datetime.strptime(old.expiry, "%Y%m%d").date() - gw.today).days
    new = gw.front("ES", days)
    assert new.local_symbol != old.local_symbol
    env = {"IB_ACCOUNT": SECRET}

    cfg_a = write_config(tmp_path / "a.toml", run, gw.port, [buy(1)])
    s = SessionProc(cfg_a, run, env=env)
    try:
        s.wait_ready(60)
        warm(gw, old.con_id)
        fire(gw, old.con_id, run)
        wait_for(lambda: gw.position_map() == {old.local_symbol: 1}, 30, "the entry's fill")
        legs = [o for o in gw.order_list() if o.status == "Submitted"]
        assert {o.order_type for o in legs} == {"STP", "LMT"}  # its bracket is working
        stop = next(o.aux_price for o in legs if o.order_type == "STP")
        take = next(o.lmt_price for o in legs if o.order_type == "LMT")
        entry = next(e.price for e in gw.execution_list())
        assert s.cmd("halt", reason="before the roll")["ok"]
    finally:
        s.stop()

    cfg_b = tmp_path / "b.toml"
    cfg_b.write_text(cfg_a.read_text().replace("roll_days = 8", f"roll_days = {days}"))
    gw.set_quote(old.con_id, 5001.0, 5001.25)
    n_orders = len(gw.order_list())
    s = SessionProc(cfg_b, run, env=env)
    try:
        s.wait_ready(60)
        st = s.cmd("status")["result"]
        assert st["venue"]["symbols"] == {"ES": new.local_symbol}
        # the exit waits for a market (the gate's price band and data age need one)
        assert [r["stage"] for r in st["rolls"]] == ["exit"]
        gw.set_quote(new.con_id, 5010.0, 5010.75)
        wait_for(lambda: _kinds(run, "roll_blocked"), 10, "the halted roll's refusal")
        blocked = _kinds(run, "roll_blocked")
        assert blocked and blocked[-1]["reason"] == "TRADING_HALTED", blocked
        assert len(gw.order_list()) == n_orders, "a halted roll sent something"
        assert {o.order_type for o in gw.order_list() if o.status == "Submitted"} == {
            "STP",
            "LMT",
        }, "the old bracket must stay working"
        st = s.cmd("status")["result"]
        assert [r["stage"] for r in st["rolls"]] == ["blocked"]

        assert s.cmd("resume", override="roll test")["ok"]
        for i in range(100):  # the new month's quotes: the entry waits for its first one
            gw.set_quote(new.con_id, 5010.0 + 0.25 * (i % 2), 5010.75)
            time.sleep(0.1)
            if _kinds(run, "roll_done"):
                break
        done = _kinds(run, "roll_done")
        assert done and "intent_id" in done[-1], done
        wait_for(lambda: gw.position_map() == {new.local_symbol: 1}, 30, "the rolled position")
        # the old bracket is cancelled, the new one works on the new month at the same
        # distances from the new entry's reference (the new month's mid when it was sent)
        working = [o for o in gw.order_list() if o.status == "Submitted"]
        assert {o.contract.local_symbol for o in working} == {new.local_symbol}
        new_stop = next(o.aux_price for o in working if o.order_type == "STP")
        new_take = next(o.lmt_price for o in working if o.order_type == "LMT")
        mid = (5010.0 + 5010.75) / 2
        for got, want in ((new_stop, mid - (entry - stop)), (new_take, mid + (take - entry))):
            assert abs(got - want) <= 0.5, (got, want)  # each within two ticks (mid and rounding)
        st = s.cmd("status")["result"]
        assert positions(st) == {new.local_symbol: 1}
        es = next(r for r in st["engine"]["instruments"] if r["root"] == "ES")
        assert (es["symbol"], es["qty"]) == (new.local_symbol, 1)
        assert st["rolls"] == []
        j = Journal(run / "journal.sqlite")
        try:
            # both roll orders were decided by the engine and journaled before they were sent
            ids = {e["intent_id"] for e in j.events("intent")}
            for o in gw.order_list()[n_orders:]:
                row = j.order(int(o.order_ref[3:]))
                assert row is not None and row.intent_id in ids
            held = {k: v for k, v in j.positions().items() if v[0]}
            assert held == {new.local_symbol: (1, pytest.approx(5010.75))}
        finally:
            j.close()
    finally:
        s.stop()
