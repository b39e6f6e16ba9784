"""Restart to ready-to-trade after ``kill -9`` with a full trading day in the journal.

A journal is filled with a day of a busy single-instrument session: ``--trades`` round trips
(each an intent, a bracketed entry of three orders, its ack, fill, a commission report, the
exit's orders, fill, commission and position changes), plus operator commands (halts,
resumes, tightened limits) and heartbeat-free telemetry-free state, as a real session writes
it. Then a paper session (`pycontrol session`, a subprocess) starts on that run directory
against the TWS test gateway in this process: it folds the journal into the operator state,
rebuilds the engine (positions, working orders, intent ids), connects, reconciles and
prints "session ready". Timed from process spawn to that line, ``--rounds`` times
(median, max), and the journal fold alone in process.

Target (issue 12): < 2 s from spawn to ready. Writes bench/results/session_restart.json.
Run with `make bench` or `.venv/bin/python bench/session_restart.py [--trades N]`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pycontrol.session import operator_state  # noqa: E402
from pycontrol.session.journal import Journal  # noqa: E402
from pycontrol.testing.ib_gateway import BboVenue, TestGateway  # noqa: E402


def fill_journal(path: Path, symbol: str, trades: int) -> int:
    """A day of round trips in the journal; returns the number of events."""
    j = Journal(path)
    try:
        px = 5000.0
        for t in range(1, trades + 1):
            iid = 2 * t - 1
            j.record_intent(iid, {"intent_id": iid, "side": "BUY", "qty": 1, "engine": "rust"})
            for leg in range(3):
                j.record_order(
                    iid * 4 + leg, intent_id=iid, leg=leg, symbol=symbol,
                    side="BUY" if leg == 0 else "SELL", qty=1, order_type="MKT",
                    price=None, stop_price=None,
                    parent_client_order_id=None if leg == 0 else iid * 4,
                    venue_order_id=10 * t + leg, status="submitted",
                )  # fmt: skip
            j.record_fill(f"e{t}a", client_order_id=iid * 4, symbol=symbol, side="BUY", qty=1,
                          price=px, ts_ns=time.time_ns(), commission=2.25)  # fmt: skip
            j.append("commission", {"exec_id": f"e{t}a", "commission": 2.25})
            px += 0.25 if t % 3 else -0.5
            j.record_fill(f"e{t}b", client_order_id=iid * 4 + 2, symbol=symbol, side="SELL",
                          qty=1, price=px, ts_ns=time.time_ns(), commission=2.25)  # fmt: skip
            for leg in (0, 1, 2):
                j.update_order(iid * 4 + leg, "cancelled", status="cancelled")
            if t % 200 == 0:
                j.append("halt", {"reason": "bench"})
                j.append("risk_limits", {"limits": {"max_order_qty": 2.0}})
                j.append("resume", {})
        return j.count("fill") + sum(1 for _ in j.events())
    finally:
        j.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trades", type=int, default=5000, help="round trips in the day")
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    gw = TestGateway(venue=BboVenue(enabled=False)).start()
    con = gw.front("ES")
    gw.set_quote(con.con_id, 5000.0, 5000.25)
    out: dict[str, Any] = {"machine": platform.processor() or platform.machine()}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            run = Path(tmp) / "run"
            run.mkdir()
            t0 = time.perf_counter()
            events = fill_journal(run / "journal.sqlite", con.local_symbol, a.trades)
            out["journal"] = {"trades": a.trades, "events": events,
                              "write_s": round(time.perf_counter() - t0, 2)}  # fmt: skip
            j = Journal(run / "journal.sqlite")
            folds = []
            for _ in range(5):
                t0 = time.perf_counter()
                operator_state.read(j, {"ES": 50.0}, time.time_ns())
                folds.append(time.perf_counter() - t0)
            j.close()
            out["fold_ms"] = {"median": round(statistics.median(folds) * 1e3, 1)}
            cfg = Path(tmp) / "s.toml"
            cfg.write_text(
                f'name = "bench"\nmode = "paper"\nrun_dir = "{run}"\n'
                f"[ib]\nport = {gw.port}\nclient_id = 41\n"
                '[engine]\nstrategy = "configs/backtest/es_replay_session.toml"\n'
            )
            ready = []
            for _ in range(a.rounds):
                log = open(Path(tmp) / "out.txt", "w+")  # noqa: SIM115
                t0 = time.perf_counter()
                p = subprocess.Popen(
                    [sys.executable, "-m", "pycontrol.cli", "session", "--config", str(cfg)],
                    stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
                    env={**os.environ, "PYTHONUNBUFFERED": "1"},
                )  # fmt: skip
                while "session ready" not in Path(log.name).read_text():
                    if p.poll() is not None:
                        raise SystemExit(Path(log.name).read_text())
                    time.sleep(0.005)
                ready.append(time.perf_counter() - t0)
                p.kill()  # kill -9: the next round restarts after a crash
                p.wait()
                log.close()
                while gw.connected_client_ids():
                    time.sleep(0.01)
            out["spawn_to_ready_s"] = {
                "median": round(statistics.median(ready), 3),
                "max": round(max(ready), 3),
                "rounds": a.rounds,
            }
    finally:
        gw.stop()
    out["load_avg_1m"] = os.getloadavg()[0]
    print(json.dumps(out, indent=2))
    res = REPO / "bench" / "results"
    res.mkdir(parents=True, exist_ok=True)
    (res / "session_restart.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
