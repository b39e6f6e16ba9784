"""Backtest metrics from a run folder (the files of docs/backtest-outputs.md).

Returns are simple per-sample returns of ``equity.parquet`` (``r_t = E_t / E_{t-1} - 1``),
the risk-free rate is 0, and ``periods_per_year`` defaults to the run's own sampling rate:
``n_returns / span_years`` with the span measured in calendar time (365.25 days) from the
first to the last equity sample.

- ``sharpe = mean(r) / std(r, ddof=1) * sqrt(periods_per_year)``; 0 when ``std == 0``.
- ``sortino = mean(r) / sqrt(mean(min(r, 0)^2)) * sqrt(periods_per_year)``; 0 when the mean
  is 0, ``None`` (unbounded) when there is no downside at all and the mean is positive.
- ``max_drawdown``: the largest ``(peak - E) / peak`` over the run, a positive fraction.
- ``profit_factor = gross profit / gross loss`` of round trips; ``None`` without losses.
- ``win_rate``: share of round trips with ``pnl > 0``; ``None`` without trades.
- ``turnover``: contracts traded per year (sum of fill quantities / span in years). The
  output files carry no contract multiplier, so a notional turnover is not computed here.
- ``fees``: the sum of fill fees (of round-trip fees when there is no fills file).

Deflated Sharpe ratio (Bailey and Lopez de Prado, 2014), on the per-period Sharpe ``SR`` of
``T`` returns with skewness ``g3`` and (non-excess) kurtosis ``g4``::

    PSR(SR*) = Phi( (SR - SR*) * sqrt(T - 1) / sqrt(1 - g3 * SR + (g4 - 1) / 4 * SR^2) )
    SR*      = sqrt(V) * ((1 - gamma) * Phi^-1(1 - 1/N) + gamma * Phi^-1(1 - 1/(N e)))

``N = n_trials`` is the number of configurations tried, ``gamma`` the Euler-Mascheroni
constant, ``V`` the variance of the Sharpe ratios across the trials. When the trials'
variance is not supplied, ``V = 1 / (T - 1)``: the sampling variance of a Sharpe estimate
whose true value is 0, i.e. the expected maximum of ``N`` skill-less trials. With ``N = 1``,
``SR* = 0`` and the deflated Sharpe is the probabilistic Sharpe ratio ``PSR(0)``. Both are
probabilities; ``None`` with fewer than 3 returns or zero variance.

Every value is a finite float, an int, a string or ``None``: never NaN, so ``metrics.json``
is strict JSON.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from scipy.stats import norm

from pycontrol import ConfigError

EULER_GAMMA = 0.5772156649015329
NS_PER_YEAR = 365.25 * 24 * 3600 * 1e9


def _read(run_dir: Path, name: str) -> pl.DataFrame | None:
    p = run_dir / name
    return pl.read_parquet(p) if p.exists() else None


def _f(x: float | np.floating[Any] | None) -> float | None:
    """A finite float, or None: what metrics.json can hold."""
    if x is None:
        return None
    v = float(x)
    return v if math.isfinite(v) else None


def _returns(values: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    prev, cur = values[:-1], values[1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(prev > 0, cur / prev - 1.0, 0.0)
    return np.asarray(r, dtype=np.float64)


def max_drawdown(values: np.ndarray[Any, Any]) -> tuple[float, int]:
    """Largest peak-to-trough loss as a fraction of the peak, and its length in samples
    (from the peak to the trough)."""
    if values.size == 0:
        return 0.0, 0
    peak = np.maximum.accumulate(values)
    with np.errstate(divide="ignore", invalid="ignore"):
        dd = np.where(peak > 0, (peak - values) / peak, 0.0)
    i = int(np.argmax(dd))
    if dd[i] <= 0:
        return 0.0, 0
    start = int(np.flatnonzero(values[: i + 1] == peak[i])[-1])
    return float(dd[i]), i - start


def sharpe_ratio(r: np.ndarray[Any, Any], periods_per_year: float) -> float:
    if r.size < 2:
        return 0.0
    sd = float(np.std(r, ddof=1))
    if sd == 0.0 or not math.isfinite(sd):
        return 0.0
    return float(np.mean(r)) / sd * math.sqrt(periods_per_year)


def sortino_ratio(r: np.ndarray[Any, Any], periods_per_year: float) -> float | None:
    if r.size == 0:
        return 0.0
    m = float(np.mean(r))
    if m == 0.0:
        return 0.0
    dd = math.sqrt(float(np.mean(np.minimum(r, 0.0) ** 2)))
    if dd == 0.0:
        return None
    return m / dd * math.sqrt(periods_per_year)


def expected_max_sharpe(n_trials: int, trials_sharpe_var: float) -> float:
    """``SR*`` of the module docstring: the Sharpe the best of ``n_trials`` skill-less
    configurations is expected to reach (per period)."""
    if n_trials < 1:
        raise ConfigError(f"n_trials = {n_trials} must be >= 1")
    if n_trials == 1:
        return 0.0
    z1 = float(norm.ppf(1.0 - 1.0 / n_trials))
    z2 = float(norm.ppf(1.0 - 1.0 / (n_trials * math.e)))
    return math.sqrt(trials_sharpe_var) * ((1.0 - EULER_GAMMA) * z1 + EULER_GAMMA * z2)


def probabilistic_sharpe(r: np.ndarray[Any, Any], benchmark: float = 0.0) -> float | None:
    """``PSR(benchmark)`` of the module docstring, per-period Sharpe units."""
    t = r.size
    if t < 3:
        return None
    sd = float(np.std(r, ddof=1))
    if sd == 0.0 or not math.isfinite(sd):
        return None
    sr = float(np.mean(r)) / sd
    c = r - float(np.mean(r))
    m2 = float(np.mean(c**2))
    g3 = float(np.mean(c**3)) / m2**1.5
    g4 = float(np.mean(c**4)) / m2**2
    denom = 1.0 - g3 * sr + (g4 - 1.0) / 4.0 * sr**2
    if denom <= 0:
        return None
    return float(norm.cdf((sr - benchmark) * math.sqrt(t - 1) / math.sqrt(denom)))


def deflated_sharpe(
    r: np.ndarray[Any, Any], n_trials: int, trials_sharpe_var: float | None = None
) -> tuple[float | None, float]:
    """(deflated Sharpe probability, SR*) of the module docstring."""
    var = trials_sharpe_var if trials_sharpe_var is not None else 1.0 / max(r.size - 1, 1)
    sr_star = expected_max_sharpe(n_trials, var)
    return probabilistic_sharpe(r, sr_star), sr_star


def _annualize(total: float, years: float) -> float | None:
    """Compounded yearly return; None when there is no time span or it overflows (a short
    run's return raised to a large power says nothing)."""
    if years <= 0:
        return None
    if total <= -1.0:
        return -1.0
    try:
        return math.expm1(math.log1p(total) / years)
    except OverflowError:
        return None


def compute_metrics(
    run_dir: str | Path,
    n_trials: int,
    periods_per_year: float | None = None,
    *,
    trials_sharpe_var: float | None = None,
) -> dict[str, Any]:
    """Metrics of one run folder (see the module docstring for every definition).

    ``equity.parquet`` is required; trades, fills, orders, denials and latency are read when
    present and count as empty otherwise. ``n_trials`` is the number of configurations tried
    before this one was chosen (deflated Sharpe); ``trials_sharpe_var`` the variance of the
    per-period Sharpe ratios across them, when known.
    """
    run = Path(run_dir)
    if not isinstance(n_trials, int) or n_trials < 1:
        raise ConfigError(f"n_trials = {n_trials!r} must be an int >= 1")
    if periods_per_year is not None and not (
        math.isfinite(periods_per_year) and periods_per_year > 0
    ):
        raise ConfigError(f"periods_per_year = {periods_per_year} must be finite and > 0")
    eq = _read(run, "equity.parquet")
    if eq is None:
        raise ConfigError(f"{run}: equity.parquet is missing (docs/backtest-outputs.md)")
    miss = {"ts", "equity", "price"} - set(eq.columns)
    if miss:
        raise ConfigError(f"{run}/equity.parquet: missing columns {sorted(miss)}")
    eq = eq.sort("ts")
    e = eq["equity"].cast(pl.Float64).to_numpy()
    if e.size == 0:
        raise ConfigError(f"{run}/equity.parquet: no rows")
    bad = np.flatnonzero(~np.isfinite(e))
    if bad.size:
        raise ConfigError(f"{run}/equity.parquet: equity is not finite at row {int(bad[0])}")
    ts = eq["ts"].cast(pl.Int64).to_numpy()
    price = eq["price"].cast(pl.Float64).to_numpy()

    r = _returns(e)
    span_years = float(ts[-1] - ts[0]) / NS_PER_YEAR if ts.size > 1 else 0.0
    if periods_per_year is None:
        ppy = r.size / span_years if span_years > 0 and r.size > 0 else 1.0
    else:
        ppy = float(periods_per_year)
    years = r.size / ppy if ppy > 0 else 0.0

    total = float(e[-1] / e[0] - 1.0) if e[0] > 0 else 0.0
    mdd, mdd_len = max_drawdown(e)
    dsr, sr_star = deflated_sharpe(r, n_trials, trials_sharpe_var)
    sd = float(np.std(r, ddof=1)) if r.size > 1 else 0.0

    trades = _read(run, "trades.parquet")
    fills = _read(run, "fills.parquet")
    orders = _read(run, "orders.parquet")
    denials = _read(run, "denials.parquet")
    n_trades = 0 if trades is None else trades.height
    pnl = trades["pnl"].cast(pl.Float64).to_numpy() if trades is not None else np.zeros(0)
    gross_profit = float(pnl[pnl > 0].sum())
    gross_loss = float(-pnl[pnl < 0].sum())
    durations = (
        (trades["exit_ts"].cast(pl.Int64) - trades["entry_ts"].cast(pl.Int64)).to_numpy() / 1e9
        if trades is not None and n_trades
        else np.zeros(0)
    )
    if fills is not None:
        fees = float(fills["fee"].cast(pl.Float64).sum())
        contracts = int(fills["qty"].cast(pl.Int64).sum())
    else:
        fees = float(trades["fees"].cast(pl.Float64).sum()) if trades is not None else 0.0
        contracts = 0
    by_reason: dict[str, int] = {}
    if denials is not None and denials.height:
        for reason, n in denials.group_by("reason").len().sort("reason").iter_rows():
            by_reason[str(reason)] = int(n)

    lat_path = run / "latency.npy"
    lat = np.load(lat_path).astype(np.int64) if lat_path.exists() else np.zeros(0, np.int64)
    latency = {
        "count": int(lat.size),
        "p50_ns": _f(np.percentile(lat, 50)) if lat.size else None,
        "p99_ns": _f(np.percentile(lat, 99)) if lat.size else None,
        "p999_ns": _f(np.percentile(lat, 99.9)) if lat.size else None,
        "max_ns": int(lat.max()) if lat.size else None,
    }

    bh_r = _returns(price)
    bh_total = float(price[-1] / price[0] - 1.0) if price[0] > 0 else 0.0
    bh_mdd, _ = max_drawdown(price)

    return {
        "n_samples": int(e.size),
        "start_ts": int(ts[0]),
        "end_ts": int(ts[-1]),
        "periods_per_year": _f(ppy),
        "start_equity": _f(e[0]),
        "end_equity": _f(e[-1]),
        "total_return": _f(total),
        "annualized_return": _f(_annualize(total, years)),
        "annualized_volatility": _f(sd * math.sqrt(ppy)),
        "sharpe": _f(sharpe_ratio(r, ppy)),
        "sortino": _f(sortino_ratio(r, ppy)),
        "max_drawdown": _f(mdd),
        "max_drawdown_samples": mdd_len,
        "n_trades": n_trades,
        "win_rate": _f(float(np.mean(pnl > 0))) if n_trades else None,
        "profit_factor": _f(gross_profit / gross_loss) if gross_loss > 0 else None,
        "gross_profit": _f(gross_profit),
        "gross_loss": _f(gross_loss),
        "avg_trade_pnl": _f(float(pnl.mean())) if n_trades else None,
        "avg_trade_duration_s": _f(float(durations.mean())) if durations.size else None,
        "contracts_traded": contracts,
        "turnover": _f(contracts / years) if years > 0 else None,
        "fees": _f(fees),
        "n_fills": 0 if fills is None else fills.height,
        "n_orders": 0 if orders is None else orders.height,
        "n_denials": sum(by_reason.values()),
        "denials_by_reason": by_reason,
        "n_trials": n_trials,
        "sharpe_per_period": _f(float(np.mean(r)) / sd) if sd > 0 else 0.0,
        "probabilistic_sharpe": _f(probabilistic_sharpe(r, 0.0)),
        "expected_max_sharpe": _f(sr_star),
        "deflated_sharpe": _f(dsr),
        "latency": latency,
        "buy_and_hold": {
            "total_return": _f(bh_total),
            "annualized_return": _f(_annualize(bh_total, years)),
            "sharpe": _f(sharpe_ratio(bh_r, ppy)),
            "max_drawdown": _f(bh_mdd),
        },
    }


ANNUALIZE_MIN_DAYS = 30.0
"""Shortest sample (calendar days) whose annualized figures (return, volatility, Sharpe,
Sortino, turnover) reports show: below it they extrapolate hours to a year and say nothing."""


def annualized_supported(m: dict[str, Any]) -> bool:
    """Whether the metrics' sample spans at least :data:`ANNUALIZE_MIN_DAYS`."""
    return (int(m["end_ts"]) - int(m["start_ts"])) / 86_400e9 >= ANNUALIZE_MIN_DAYS
