"""The momentum scanner in a portfolio paper session (``[scanner]``): at start the universe
is scored and only the selected roots may open positions. ES (a strong trend with rising
volume) is selected, NQ (a quiet random walk) is not: a scripted buy on each reaches the
gateway for ES only, NQ's entry is held NOT_SELECTED; the selection is journaled and in
``status``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from sessionkit import WARM_QUOTES, SessionProc, wait_for, write_config

from pycontrol.session.journal import Journal
from pycontrol.testing.ib_gateway import BboVenue, TestGateway

SECRET = "DU5550003"


def _bars(path: Path, trend: float, seed: int) -> Path:
    n = 3000
    rng = np.random.default_rng(seed)
    close = 100 + np.cumsum(rng.normal(trend, 0.05, n))
    volume = np.where(np.arange(n) > n - 40, 3000.0, 1000.0) if trend else np.full(n, 1000.0)
    start = 1_700_000_000
    pl.DataFrame(
        {
            "timestamp_utc": [
                time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start + 60 * (i + 1)))
                for i in range(n)
            ],
            "open": close,
            "high": close + 0.02,
            "low": close - 0.02,
            "close": close,
            "volume": volume,
        }
    ).write_csv(path)
    return path


@pytest.fixture
def gw() -> Iterator[TestGateway]:
    g = TestGateway(account=SECRET, venue=BboVenue(enabled=True)).start()
    yield g
    g.stop()


def test_only_the_selected_roots_open_positions(gw: TestGateway, tmp_path: Path) -> None:
    es, nq = _bars(tmp_path / "es.csv", 0.02, 1), _bars(tmp_path / "nq.csv", 0.0, 2)
    universe = tmp_path / "u.toml"
    universe.write_text(
        f'name = "t"\n[[instruments]]\nname = "ES"\ndata = "{es}"\n'
        f'[[instruments]]\nname = "NQ"\ndata = "{nq}"\n[scan]\ntimeframes = ["5m"]\n'
    )
    run = tmp_path / "run"
    run.mkdir()
    n = 2
    at = n * (WARM_QUOTES + 2)
    signals = [
        {"intent_id": 1, "at_event": at, "side": "BUY", "confidence": 0.95, "symbol": "ES"},
        {"intent_id": 2, "at_event": at + n, "side": "BUY", "confidence": 0.95, "symbol": "NQ"},
    ]
    cfg = write_config(
        tmp_path / "s.toml", run, gw.port, signals, roots=("ES", "NQ"),
        extra=f'[scanner]\nuniverse = "{universe}"\nthreshold = 50\n',
    )  # fmt: skip
    s = SessionProc(cfg, run, env={"IB_ACCOUNT": SECRET})
    try:
        s.wait_ready(60)
        assert "scanner: ['ES'] may open positions" in s.output()
        st = s.cmd("status")["result"]["scanner"]
        assert st["selected"] == ["ES"] and st["scores"]["ES"] > 50 > st["scores"]["NQ"]
        fronts = {r: gw.front(r) for r in ("ES", "NQ")}
        j = Journal(run / "journal.sqlite")
        try:
            for i in range(WARM_QUOTES + 40):
                for r, base in (("ES", 5000.0), ("NQ", 18000.0)):
                    gw.set_quote(fronts[r].con_id, base + 0.25 * (i % 2), base + 0.75)
                time.sleep(0.2)
                if j.count("scripted_signal") == 2 and len(j.fill_ids()) >= 1:
                    break
            assert j.count("scripted_signal") == 2
            wait_for(lambda: gw.position_map() == {fronts["ES"].local_symbol: 1}, 10, "ES")
            assert [e["payload"]["selected"] for e in j.events("scanner")] == [["ES"]]
        finally:
            j.close()
        time.sleep(1.0)  # NQ's signal has had its next events
        assert {o.contract.local_symbol for o in gw.order_list()} == {fronts["ES"].local_symbol}
        eng = s.cmd("status")["result"]["engine"]
        assert eng["holds_by_reason"].get("NOT_SELECTED", 0) >= 1, eng["holds_by_reason"]
    finally:
        s.stop()
