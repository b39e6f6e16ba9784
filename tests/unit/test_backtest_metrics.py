"""Backtest metrics on hand-computable run folders, deflated-Sharpe closed forms, and the
degenerate cases (no trades, flat equity, one sample) that must give values, never NaN."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy.stats import kurtosis, norm, skew

import pycontrol
from pycontrol.backtest import compute_metrics
from pycontrol.backtest.metrics import (
    EULER_GAMMA,
    NS_PER_YEAR,
    deflated_sharpe,
    expected_max_sharpe,
    probabilistic_sharpe,
)

DAY = 86_400 * 10**9
EQUITY = [100.0, 110.0, 99.0, 99.0, 118.8]  # returns +10 %, -10 %, 0, +20 %


def write_run(
    d: Path,
    equity: list[float],
    price: list[float] | None = None,
    trades: pl.DataFrame | None = None,
    fills: pl.DataFrame | None = None,
    denials: pl.DataFrame | None = None,
    latency: np.ndarray | None = None,
    step_ns: int = DAY,
) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    n = len(equity)
    pl.DataFrame(
        {
            "ts": [i * step_ns for i in range(n)],
            "equity": equity,
            "position": [0] * n,
            "price": price if price is not None else [e / 10 for e in equity],
        }
    ).write_parquet(d / "equity.parquet")
    for name, df in (("trades", trades), ("fills", fills), ("denials", denials)):
        if df is not None:
            df.write_parquet(d / f"{name}.parquet")
    if latency is not None:
        np.save(d / "latency.npy", latency.astype(np.int64))
    return d


def trades_frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "instrument_id": [1, 1, 1],
            "symbol": ["ESZ6"] * 3,
            "side": ["BUY", "SELL", "BUY"],
            "qty": [1, 2, 1],
            "entry_ts": [0, DAY, 2 * DAY],
            "exit_ts": [60 * 10**9, DAY + 120 * 10**9, 2 * DAY + 30 * 10**9],
            "entry_price": [5000.0, 5010.0, 4990.0],
            "exit_price": [5002.0, 5010.5, 4990.6],
            "pnl": [100.0, -50.0, 30.0],
            "fees": [4.0, 8.0, 4.0],
            "exit_reason": ["TAKE_PROFIT", "STOP_LOSS", "SIGNAL"],
        }
    )


def test_hand_computed_path(tmp_path: Path) -> None:
    fills = pl.DataFrame(
        {"ts": [0, 1], "qty": [3, 5], "fee": [6.0, 10.0], "price": [1.0, 1.0]},
    )
    denials = pl.DataFrame(
        {
            "ts": [1, 2, 3],
            "intent_id": [1, 2, 3],
            "reason": ["PRICE_BAND", "MAX_POSITION", "PRICE_BAND"],
            "detail": ["", "", ""],
        }
    )
    run = write_run(
        tmp_path / "r",
        EQUITY,
        trades=trades_frame(),
        fills=fills,
        denials=denials,
        latency=np.arange(1, 1001),
    )
    m = compute_metrics(run, n_trials=1, periods_per_year=252)
    # mean 0.05, sample sd sqrt(0.05 / 3) = 0.129099...
    sd = math.sqrt(0.05 / 3)
    assert m["total_return"] == pytest.approx(0.188)
    assert m["sharpe_per_period"] == pytest.approx(0.05 / sd)
    assert m["sharpe"] == pytest.approx(0.05 / sd * math.sqrt(252))
    # downside deviation sqrt(0.01 / 4) = 0.05 -> per-period Sortino 1.
    assert m["sortino"] == pytest.approx(math.sqrt(252))
    assert m["max_drawdown"] == pytest.approx(0.1)
    assert m["max_drawdown_samples"] == 1
    assert m["annualized_return"] == pytest.approx(1.188**63 - 1)
    assert m["annualized_volatility"] == pytest.approx(sd * math.sqrt(252))
    assert m["n_trades"] == 3
    assert m["win_rate"] == pytest.approx(2 / 3)
    assert m["profit_factor"] == pytest.approx(130 / 50)
    assert m["avg_trade_pnl"] == pytest.approx(80 / 3)
    assert m["avg_trade_duration_s"] == pytest.approx(70.0)
    assert m["fees"] == pytest.approx(16.0)
    assert m["contracts_traded"] == 8
    # 4 returns at 252 per year = 4/252 years.
    assert m["turnover"] == pytest.approx(8 / (4 / 252))
    assert m["denials_by_reason"] == {"MAX_POSITION": 1, "PRICE_BAND": 2}
    assert m["n_denials"] == 3
    lat = m["latency"]
    assert (lat["p50_ns"], lat["p99_ns"], lat["p999_ns"]) == pytest.approx((500.5, 990.01, 999.001))
    assert lat["count"] == 1000 and lat["max_ns"] == 1000
    # Price = equity / 10: buy and hold has the same returns.
    bh = m["buy_and_hold"]
    assert bh["total_return"] == pytest.approx(0.188)
    assert bh["sharpe"] == pytest.approx(m["sharpe"])
    assert bh["max_drawdown"] == pytest.approx(0.1)
    json.dumps(m, allow_nan=False)


def test_periods_per_year_inferred_from_timestamps(tmp_path: Path) -> None:
    run = write_run(tmp_path / "r", EQUITY, step_ns=DAY)
    m = compute_metrics(run, n_trials=1)
    assert m["periods_per_year"] == pytest.approx(NS_PER_YEAR / DAY)  # 365.25 daily samples
    assert m["annualized_return"] == pytest.approx(1.188 ** (365.25 / 4) - 1)


def test_psr_matches_the_closed_form() -> None:
    rng = np.random.default_rng(7)
    r = rng.standard_t(5, size=500) * 0.01 + 0.001
    sr = r.mean() / r.std(ddof=1)
    g3 = skew(r, bias=True)
    g4 = kurtosis(r, fisher=False, bias=True)
    expect = norm.cdf(sr * math.sqrt(499) / math.sqrt(1 - g3 * sr + (g4 - 1) / 4 * sr**2))
    assert probabilistic_sharpe(r) == pytest.approx(expect, rel=1e-12)
    # One trial: no selection, the deflated Sharpe is the PSR against 0.
    dsr, sr_star = deflated_sharpe(r, 1)
    assert sr_star == 0.0 and dsr == pytest.approx(expect, rel=1e-12)
    # More trials raise the bar and lower the probability.
    d10, s10 = deflated_sharpe(r, 10)
    d1000, s1000 = deflated_sharpe(r, 1000)
    assert 0 < s10 < s1000
    assert d1000 is not None and d10 is not None and expect is not None
    assert d1000 < d10 < expect


def test_expected_max_sharpe_closed_form_and_normal_maxima() -> None:
    n, v = 100, 0.04
    z = (1 - EULER_GAMMA) * norm.ppf(1 - 1 / n) + EULER_GAMMA * norm.ppf(1 - 1 / (n * math.e))
    assert expected_max_sharpe(n, v) == pytest.approx(0.2 * z)
    # The approximation tracks the true expected maximum of N standard normals (2.5076 for
    # N = 100, from order statistics) within a few percent.
    assert expected_max_sharpe(100, 1.0) == pytest.approx(2.5076, rel=0.02)
    rng = np.random.default_rng(3)
    mc = rng.standard_normal((20_000, 10)).max(axis=1).mean()
    assert expected_max_sharpe(10, 1.0) == pytest.approx(mc, rel=0.03)
    with pytest.raises(pycontrol.ConfigError):
        expected_max_sharpe(0, 1.0)


def test_flat_equity_no_trades_are_defined(tmp_path: Path) -> None:
    run = write_run(tmp_path / "r", [1e6] * 10, price=[5000.0] * 10)
    m = compute_metrics(run, n_trials=5)
    assert m["total_return"] == 0.0 and m["sharpe"] == 0.0 and m["sortino"] == 0.0
    assert m["max_drawdown"] == 0.0
    assert m["n_trades"] == 0 and m["win_rate"] is None and m["profit_factor"] is None
    assert m["avg_trade_duration_s"] is None and m["fees"] == 0.0
    assert m["probabilistic_sharpe"] is None and m["deflated_sharpe"] is None
    assert m["latency"]["count"] == 0 and m["latency"]["p99_ns"] is None
    assert m["buy_and_hold"]["sharpe"] == 0.0
    json.dumps(m, allow_nan=False)


def test_one_sample_and_only_gains(tmp_path: Path) -> None:
    m = compute_metrics(write_run(tmp_path / "a", [1e6]), n_trials=1)
    assert m["sharpe"] == 0.0 and m["total_return"] == 0.0 and m["annualized_return"] is None
    json.dumps(m, allow_nan=False)
    m = compute_metrics(write_run(tmp_path / "b", [1.0, 1.1, 1.2, 1.3]), n_trials=1)
    assert m["sortino"] is None  # no downside at all: unbounded, reported as None
    assert m["sharpe"] > 0
    json.dumps(m, allow_nan=False)


def test_bad_inputs_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(pycontrol.ConfigError, match=r"equity\.parquet"):
        compute_metrics(tmp_path, n_trials=1)
    run = write_run(tmp_path / "r", [1.0, float("nan"), 1.0])
    with pytest.raises(pycontrol.ConfigError, match="row 1"):
        compute_metrics(run, n_trials=1)
    run = write_run(tmp_path / "s", EQUITY)
    with pytest.raises(pycontrol.ConfigError, match="n_trials"):
        compute_metrics(run, n_trials=0)
    with pytest.raises(pycontrol.ConfigError, match="periods_per_year"):
        compute_metrics(run, n_trials=1, periods_per_year=0.0)
