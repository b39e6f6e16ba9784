"""The HTML report renders from small synthetic run folders: one file with its chart code and
data inlined (nothing fetched), annualized figures only for samples long enough, daily and
monthly returns that compound to the total, and a "what limited trading" panel that says
when trading stopped and which gate denied what came after."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import polars as pl
from test_backtest_metrics import DAY, EQUITY, trades_frame, write_run

from pycontrol.backtest import write_report
from pycontrol.backtest.report import period_returns, trading_window


def _charts(doc: str) -> dict[str, dict]:
    out = {}
    for raw in re.findall(
        r'<script type="application/json" class="chart-data">(.*?)</script>', doc
    ):
        c = json.loads(raw.replace("<\\/", "</"))
        out[c["id"]] = c
    return out


def test_report_renders_self_contained(tmp_path: Path) -> None:
    denials = pl.DataFrame({"ts": [1], "intent_id": [1], "reason": ["PRICE_BAND"], "detail": ["x"]})
    rng = np.random.default_rng(1)
    run = write_run(
        tmp_path / "run-1",
        EQUITY * 10,
        trades=trades_frame(),
        denials=denials,
        latency=rng.integers(2_000, 20_000, size=500),
    )
    holds = pl.DataFrame(
        {
            "minute": [0, 0, 60 * 10**9 * 1440],
            "reason": ["LOW_CONFIDENCE", "NO_DIRECTION", "LOW_CONFIDENCE"],
            "count": [3, 1, 2],
        },
        schema={"minute": pl.Int64, "reason": pl.String, "count": pl.UInt64},
    )
    holds.write_parquet(run / "holds.parquet")
    out = write_report(run, n_trials=3)
    assert out == run / "report.html"
    doc = out.read_text()
    # holds over time: cumulative per reason, the most frequent first
    h = _charts(doc)["holds"]["spec"]["series"]
    assert [x["name"] for x in h] == ["LOW_CONFIDENCE (cumulative)", "NO_DIRECTION (cumulative)"]
    assert h[0]["y"] == [0, 3, 5, 5] and h[1]["y"] == [0, 1, 1]
    # Nothing fetched from elsewhere: no src/href attributes at all, the chart code inline.
    assert not re.search(r"\b(src|href)=", doc)
    assert "PcCharts" in doc
    charts = _charts(doc)
    assert {"equity", "drawdown", "position", "trades", "denials", "latency"} <= set(charts)
    assert len(charts["equity"]["spec"]["series"][0]["y"]) == 50
    for label in (
        "Sharpe",
        "Deflated Sharpe",
        "buy and hold",
        "Max drawdown",
        "p99.9",
        "What limited trading",
        "Daily returns",
        "Monthly returns",
        "exit reason",
    ):
        assert label in doc, label
    # a 49-day sample is long enough to annualize: a figure, not the n/a marker
    assert "sample &lt; 30 days" not in doc
    m = json.loads((run / "metrics.json").read_text())
    assert m["n_trials"] == 3 and m["n_trades"] == 3


def test_short_sample_marks_annualized_figures(tmp_path: Path) -> None:
    run = write_run(tmp_path / "short", EQUITY, step_ns=60 * 10**9)  # 4 minutes
    doc = write_report(run).read_text()
    assert doc.count("n/a (4 min sample &lt; 30 days)") >= 5
    assert "262" not in doc.split("Annualized return")[1][:80]


def test_period_returns_compound_to_the_total(tmp_path: Path) -> None:
    hours = 3600 * 10**9
    eq = pl.DataFrame(
        {
            "ts": [i * 12 * hours for i in range(8)],
            "equity": [100.0, 101, 99, 102, 103, 98, 97, 110],
        }
    )
    daily = period_returns(eq, "1d")
    assert daily.height == 4
    total = float(np.prod(1 + daily["return"].to_numpy()) - 1)
    assert abs(total - (110 / 100 - 1)) < 1e-12
    assert daily["pnl"].sum() == 10.0


def test_trading_window_names_what_came_after_the_last_fill() -> None:
    eq = pl.DataFrame({"ts": [0, 100], "equity": [1.0, 1.0]})
    fills = pl.DataFrame({"ts": [10, 30]})
    denials = pl.DataFrame(
        {"ts": [20, 40, 50, 60], "reason": ["MAX_POSITION", "MAX_DAILY_EXPOSURE"] * 2}
    )
    w = trading_window(eq, fills, denials)
    assert (w["first_fill"], w["last_fill"]) == (10, 30)
    assert w["denials_after_last_fill"] == {"MAX_DAILY_EXPOSURE": 2, "MAX_POSITION": 1}


def test_report_of_an_empty_run(tmp_path: Path) -> None:
    run = write_run(tmp_path / "flat", [1e6] * 3, price=[10.0] * 3, step_ns=DAY)
    doc = write_report(run).read_text()
    assert "n/a" in doc and "No trades." in doc and "No risk denials." in doc
    assert "No order was filled" in doc
