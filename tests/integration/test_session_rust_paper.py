"""A paper session on the Rust engine (`[engine] kind = "rust"`, `--mode paper`) as a real
subprocess against the test gateway, driven by the real ib_async client inside the session:
the gateway streams the real ES day's top of book, the engine trades placebo signals through
its decision, sizing and risk gates, IB's fills come back into the engine's positions.

Asserted: the engine's position equals the gateway's and the journal's; every gateway order
and fill is journaled under its client order id; a SIGKILL and restart restores the position
and never reuses an intent id; ctl halts it (TRADING_HALTED denials, no new orders) and
flattens it (flat at the gateway)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sessionkit import SessionProc, Telemetry, wait_for, write_config

from pycontrol.ib.orders import parse_order_ref
from pycontrol.ib.testgateway import BboVenue, TestGateway
from pycontrol.session.journal import Journal

SECRET = "DU7654321"

# Placebo signals every second that pass the threshold, a volatility forecast after a few
# seconds of quotes, one contract per entry: trades happen within seconds of wall time.
STRATEGY = """
name = "paper-placebo"
data = ["<broker feed>"]
seed = 3
fee_per_contract = 2.0
vol_halflife_s = 30.0
vol_min_samples = 3

[signals]
kind = "placebo"
interval_s = 1.0
seed = 12

[decision]
min_confidence_external = 0.4

[sizing]
max_qty = 1
stop_k = 1.0
"""


@pytest.fixture
def gw(esh4_mbo: Path) -> Iterator[TestGateway]:
    g = TestGateway(account=SECRET, venue=BboVenue(enabled=True)).start()
    g.feed_dbn(esh4_mbo, g.front("ES").con_id, rate_hz=25.0)
    yield g
    g.stop()


@pytest.fixture
def sessions() -> Iterator[list[SessionProc]]:
    procs: list[SessionProc] = []
    yield procs
    for p in procs:
        p.stop()


def _start(sessions: list[SessionProc], cfg: Path, run: Path) -> SessionProc:
    s = SessionProc(cfg, run, env={"IB_ACCOUNT": SECRET})
    sessions.append(s)
    s.wait_ready()
    return s


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
    gw: TestGateway, sessions: list[SessionProc], tmp_path: Path
) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (tmp_path / "strategy.toml").write_text(STRATEGY)
    engine = f'[engine]\nkind = "rust"\nstrategy = "{tmp_path / "strategy.toml"}"\n'
    cfg = write_config(tmp_path / "s.toml", run, gw.port, [], extra=engine)
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
        sw = b.cmd("swap-model", model="v2")
        assert not sw["ok"] and sw["error"]["code"] == "unsupported"
        assert "registry" in sw["error"]["message"]
    finally:
        tel.close()
