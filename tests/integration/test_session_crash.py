"""Operator state survives a crash at any moment (issue 12, invariant 2).

A portfolio paper session on the Rust engine trades two instruments over one IB connection
against the test gateway's L3 venue: ES on the real ES day and NQ on the project's synthetic
MBO flow, each contract's fills decided by a simulated exchange over its own file. The test
moves those markets in a thread while the session trades, and on while it is dead (its
working exits fill then); it freezes them while a restarted session reconciles, so what is
checked is not a race. The session is killed with SIGKILL at 20 seeded random moments (some
of them inside the order path, between a bracket's legs or between the journal and the
socket), while the test halts it, resumes it, tightens its limits. After every restart,
before it trades again:

- its trading state and operator limits are those of the last acknowledged command (or a
  breaker's HALT journaled by the engine),
- the day's realized P&L it restored, and its fees once IB's late commission reports are in,
  equal what the gateway's executions imply,
- no fill is lost (every gateway execution in the journal), no order is sent twice (order
  refs unique at the gateway), positions agree (engine, journal, gateway), contract by
  contract.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sessionkit import PLACEBO, SessionProc, positions, wait_for, write_config

from pycontrol.data.synth import synth_mbo
from pycontrol.ib.orders import parse_order_ref
from pycontrol.session.journal import Journal, apply_fill
from pycontrol.session.operator_state import trading_day_start
from pycontrol.testing.ib_gateway import L3Venue, TestGateway

SECRET = "DU7654321"
KILLS = 20
SEED = 20261207
ROOTS = ("ES", "NQ")
POINT_VALUE = {"ES": 50.0, "NQ": 20.0}


@pytest.fixture
def gw(esh4_mbo: Path, tmp_path: Path) -> Iterator[TestGateway]:
    nq = tmp_path / "nq.mbo.dbn"
    synth_mbo(nq, 80_000, seed=SEED, instruments=["NQ"])
    g = TestGateway(account=SECRET, venue=L3Venue()).start()
    g.load_dbn(esh4_mbo, g.front("ES").con_id)
    g.load_dbn(nq, g.front("NQ").con_id)
    yield g
    g.stop()


class Market:
    """Moves the gateway's simulated market (quotes, trades, fills) in a thread while on."""

    def __init__(self, gw: TestGateway) -> None:
        self.gw, self.cons = gw, [gw.front(r).con_id for r in ROOTS]
        self._on = threading.Event()
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            if self._on.wait(0.05) and not self._stop.is_set():
                for con in self.cons:
                    self.gw.advance(con, 6)  # ~240 records/s each: the day lasts the test
                time.sleep(0.02)

    def run(self) -> None:
        self._on.set()

    def freeze(self) -> None:
        self._on.clear()
        time.sleep(0.2)  # an advance under way finishes

    def close(self) -> None:
        self._stop.set()
        self._on.set()
        self._t.join(10)


def _expected_day(gw: TestGateway, now_ns: int) -> tuple[float, float]:
    """Realized P&L (before fees) and fees of today's gateway executions, average cost per
    contract, in money (each root's point value)."""
    start = trading_day_start(now_ns)
    pnl, fees = 0.0, 0.0
    book: dict[str, tuple[int, float]] = {}
    for e in gw.execution_list():
        sym = e.order.contract.local_symbol
        qty, avg = book.get(sym, (0, 0.0))
        delta = e.shares if e.side == "BOT" else -e.shares
        if int(e.time.timestamp() * 1e9) >= start:
            fees += e.commission
            if qty and (qty > 0) != (delta > 0):
                closed = min(abs(delta), abs(qty))
                mult = POINT_VALUE[e.order.contract.symbol]
                pnl += (e.price - avg) * closed * (1 if qty > 0 else -1) * mult
        book[sym] = apply_fill(qty, avg, delta, e.price)
    return pnl, fees


def _check_restored(s: SessionProc, gw: TestGateway, run: Path, want: dict[str, Any]) -> None:
    st = s.cmd("status")["result"]
    eng = st["engine"]
    j = Journal(run / "journal.sqlite")
    try:
        breaker = any(e["payload"].get("reason") == "breaker" for e in j.events("state"))
        assert eng["state"] == want["state"] or (breaker and eng["state"] == "HALTED"), (
            eng["state"],
            want,
        )
        for k, v in want["limits"].items():
            assert eng["limits"][k] == v, (k, eng["limits"][k], v)
        # no fill lost, no order twice, positions agree everywhere
        refs = [o.order_ref for o in gw.order_list()]
        assert len(refs) == len(set(refs)), "an order was sent twice"
        for o in gw.order_list():
            row = j.order(parse_order_ref(o.order_ref) or -1)
            assert row is not None and row.venue_order_id == o.order_id, o.order_ref
        assert j.fill_ids() == {e.exec_id for e in gw.execution_list()}
        for root in ROOTS:
            sym = gw.front(root).local_symbol
            broker = gw.position_map().get(sym, 0)
            assert j.positions().get(sym, (0, 0.0))[0] == broker, sym
            assert positions(st).get(sym, 0) == broker, sym
    finally:
        j.close()
    # the day's P&L and fees the engine was restored with equal the gateway's executions
    # (reconciliation has backfilled the fills made while the session was dead; the market
    # is frozen, so nothing has filled since)
    pnl, fees = _expected_day(gw, time.time_ns())
    r = st["restored"]
    assert r["realized_pnl"] == pytest.approx(pnl, abs=1e-6)
    # IB's commission report of a fill backfilled by the reconciliation may come after the
    # restore: the engine books it when it comes, so its day's fees reach the gateway's
    wait_for(
        lambda: abs(s.cmd("status")["result"]["engine"]["fees"] - fees) < 1e-6,
        20, f"the engine's fees to reach the gateway's commissions ({fees})",
    )  # fmt: skip
    assert r["fees"] <= fees + 1e-6
    eng_now = s.cmd("status")["result"]["engine"]
    assert eng_now["realized_pnl"] == pytest.approx(pnl, abs=1e-6)


def test_kill_9_at_random_moments_restores_operator_state(gw: TestGateway, tmp_path: Path) -> None:
    rng = random.Random(SEED)
    run = tmp_path / "run"
    run.mkdir()
    (tmp_path / "strategy.toml").write_text(PLACEBO.format(interval_s=0.5))
    cfg = write_config(
        tmp_path / "s.toml", run, gw.port, [], strategy=tmp_path / "strategy.toml",
        risk="max_order_qty = 3\nmax_position = 5\nmin_confidence_external = 0.4", roots=ROOTS,
    )  # fmt: skip
    want: dict[str, Any] = {"state": "ACTIVE", "limits": {"max_order_qty": 3.0}}
    procs: list[SessionProc] = []
    failpoints = ["ib.between_bracket_legs", "ib.journaled_not_sent"]
    market = Market(gw)
    try:
        for k in range(KILLS + 1):
            env = {"IB_ACCOUNT": SECRET}
            armed = k < KILLS and k % 4 == 3 and want["state"] == "ACTIVE"
            if armed:  # die inside the order path, at the next bracket
                env["PYCONTROL_FAILPOINTS"] = failpoints[(k // 4) % 2]
            market.freeze()  # nothing fills while the restarted session reconciles
            s = SessionProc(cfg, run, env=env)
            procs.append(s)
            s.wait_ready(60)
            wait_for(lambda s=s: s.cmd("status")["result"]["venue"]["ready"], 30, "reconciled")
            _check_restored(s, gw, run, want)
            if k == KILLS:
                break
            market.run()
            # the operator acts (acknowledged commands are journaled before the reply)
            op = rng.random() if k else 1.0  # the first run trades undisturbed
            if op < 0.2:
                assert s.cmd("halt", reason=f"k{k}")["ok"]
                want["state"] = "HALTED"
            elif op < 0.45:
                assert s.cmd("resume", override="crash test")["ok"]
                want["state"] = "ACTIVE"
            elif op < 0.6:
                q = float(rng.choice([1, 2, 3]))
                assert s.cmd("set-risk-limits", max_order_qty=q)["ok"]
                want["limits"]["max_order_qty"] = q
            if armed:
                # the failpoint kills it at its next bracket (or, idle, the timer does)
                end = time.monotonic() + 20
                while s.proc.poll() is None and time.monotonic() < end:
                    time.sleep(0.05)
                if s.proc.poll() is None:
                    s.kill9()
            else:
                # the volatility forecast needs ~3 s of quotes after each start before it trades
                time.sleep(rng.uniform(2.0, 6.0) if k else 8.0)
                s.kill9()
            s.stop()
            wait_for(lambda: gw.connected_client_ids() == [], what="gateway to see the drop")
            time.sleep(rng.uniform(0.0, 1.0))  # the market moves on while it is dead
    finally:
        market.close()
        for p in procs:
            p.stop()
    j = Journal(run / "journal.sqlite")
    try:
        assert j.count("session_start") == KILLS + 1
        traded = {str(e["payload"]["symbol"]) for e in j.events("fill")}
        assert traded == {gw.front(r).local_symbol for r in ROOTS}, (
            f"the session traded {traded}: both instruments must trade, or the test proves "
            "nothing about a portfolio"
        )
    finally:
        j.close()
