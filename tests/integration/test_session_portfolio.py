"""A portfolio paper session (issue 12): five instruments in one Rust engine over one IB
connection, started from the CLI against the test gateway.

- every instrument's front month is resolved and quoted on its own contract; scripted
  signals for ES, NQ and CL become bracketed entries on those contracts, each journaled and
  filled at the gateway;
- the portfolio gate applies across instruments: with ``max_total_position = 2`` the third
  entry is denied (MAX_TOTAL_POSITION) and nothing for it reaches the gateway;
- ``pycontrol ctl status`` (the real CLI) shows every instrument, traded or not, and the
  engine's positions equal the journal's and the gateway's, contract by contract.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sessionkit import REPO, WARM_QUOTES, SessionProc, positions, wait_for, write_config

from pycontrol.session.journal import Journal
from pycontrol.testing.ib_gateway import BboVenue, TestGateway

SECRET = "DU5550001"
ROOTS = ("ES", "NQ", "RTY", "CL", "GC")
# a price level and a tick per root (the gateway's contract specs)
LEVEL = {"ES": (5000.0, 0.25), "NQ": (18000.0, 0.25), "RTY": (2000.0, 0.1),
         "CL": (70.0, 0.01), "GC": (2000.0, 0.1)}  # fmt: skip


@pytest.fixture
def gw() -> Iterator[TestGateway]:
    g = TestGateway(account=SECRET, venue=BboVenue(enabled=True)).start()
    yield g
    g.stop()


def quote_all(gw: TestGateway, i: int) -> None:
    """One quote change per instrument: the bid moves one tick under a fixed ask."""
    for root in ROOTS:
        base, tick = LEVEL[root]
        gw.set_quote(gw.front(root).con_id, base + tick * (i % 2), base + 3 * tick)


def test_five_instrument_paper_session_from_the_cli(gw: TestGateway, tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    n = len(ROOTS)
    # each quote round is n market updates; the signals come after the warm-up rounds
    at = n * (WARM_QUOTES + 2)
    signals = [
        {"intent_id": 1, "at_event": at, "side": "BUY", "confidence": 0.95, "symbol": "ES"},
        {"intent_id": 2, "at_event": at + n, "side": "SELL", "confidence": 0.95, "symbol": "NQ"},
        {"intent_id": 3, "at_event": at + 2 * n, "side": "BUY", "confidence": 0.95, "symbol": "CL"},
    ]  # fmt: skip
    cfg = write_config(
        tmp_path / "s.toml", run, gw.port, signals, roots=ROOTS,
        risk="max_order_qty = 5\nmax_position = 10\nmax_total_position = 2",
    )  # fmt: skip
    s = SessionProc(cfg, run, env={"IB_ACCOUNT": SECRET})
    try:
        s.wait_ready(60)
        st = s.cmd("status")["result"]
        fronts = {r: gw.front(r).local_symbol for r in ROOTS}
        assert st["venue"]["symbols"] == fronts
        j = Journal(run / "journal.sqlite")
        try:
            # quote rounds until the three signals are answered (each at its instrument's
            # next event after it is pushed): the two entries filled, the third denied
            for i in range(WARM_QUOTES + 60):
                quote_all(gw, i)
                time.sleep(0.2)
                if j.count("denial") >= 1 and len(j.fill_ids()) >= 2:
                    break
            assert j.count("scripted_signal") == 3
            wait_for(lambda: len(j.fill_ids()) == 2, 10, "the two entries' fills")
            denial = next(iter(j.events("denial")))["payload"]
            assert denial["reason"] == "MAX_TOTAL_POSITION", denial
            assert denial["intent"]["symbol"] == fronts["CL"]
        finally:
            j.close()
        # entries and their bracket exits on the ES and NQ contracts only; nothing for CL
        by_sym: dict[str, int] = {}
        for o in gw.order_list():
            by_sym[o.contract.local_symbol] = by_sym.get(o.contract.local_symbol, 0) + 1
        assert by_sym == {fronts["ES"]: 3, fronts["NQ"]: 3}, by_sym
        want = {fronts["ES"]: 1, fronts["NQ"]: -1}
        assert gw.position_map() == want
        st = s.cmd("status")["result"]
        assert positions(st) == want
        assert st["journal"]["positions"] == want
        rows = {r["root"]: r for r in st["engine"]["instruments"]}
        assert list(rows) == list(ROOTS)
        assert {r: rows[r]["qty"] for r in ROOTS} == {"ES": 1, "NQ": -1, "RTY": 0, "CL": 0,
                                                       "GC": 0}  # fmt: skip
        assert all(rows[r]["symbol"] == fronts[r] for r in ROOTS)
        assert all(rows[r]["book"] == "ok" for r in ROOTS)
        # the operator's view through the real CLI: every instrument, by contract
        out = subprocess.run(
            [sys.executable, "-m", "pycontrol.cli", "ctl", "--run-dir", str(run), "status"],
            capture_output=True, text=True, cwd=REPO, timeout=60,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        table = out.stdout[out.stdout.index("instruments (5)") :]
        for r in ROOTS:
            assert fronts[r] in table, (r, out.stdout)
    finally:
        s.stop()
