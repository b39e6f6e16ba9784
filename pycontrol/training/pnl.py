"""The trade a label describes, evaluated out of sample: signals held for the label horizon,
in USD after fees and half-spread, per seed, with the daily P&L the trial ledger keeps, the
probabilistic Sharpe of those days and the rank IC of the model's score.

- Signal at a test row (bar ``t``): +1 when P(up classes) > threshold and >= P(down), -1
  when P(down classes) > threshold, else 0 (the family's ``up``/``down``).
- Held for the horizon ``h``: each signal buys ``1/h`` contract for the ``h`` bars its label
  looks at (a staggered book, so overlapping signals add up and one signal never counts
  twice): position after bar ``b`` = mean of the signals of bars ``b-h+1 .. b``. Bars
  without a signal (outside the test folds, purge, embargo) contribute 0.
- P&L of bar ``b`` = position after ``b`` x (close[b+1] - close[b]) x ``point_value`` (USD
  per price unit per contract), minus ``|position change| x (half_spread + fees / 2) x
  point_value``: ``fees`` are round trip, so half per side, and every side crosses half the
  spread.
- Days are CME trading days (from 17:00 America/Chicago, the boundary of
  ``core-rs/core/src/features/session.rs``), keyed by the Chicago date of their close.
- PSR: ``probabilistic_sharpe`` (Bailey and Lopez de Prado) of the daily net P&L against 0.
- Rank IC: Spearman correlation, over the test rows, between the score
  P(up) - P(down) and the forward move close[t+h] - close[t].
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
from scipy.stats import spearmanr

from pycontrol.backtest.metrics import probabilistic_sharpe

Arr = np.ndarray[Any, Any]
CHICAGO = ZoneInfo("America/Chicago")


def signals(
    proba: Arr, classes: Arr, up: Sequence[int], down: Sequence[int], threshold: float
) -> Arr:
    """+1 / -1 / 0 per row (see the module docstring)."""
    pu = proba[:, np.isin(classes, up)].sum(axis=1)
    pd_ = proba[:, np.isin(classes, down)].sum(axis=1)
    return np.where((pu > threshold) & (pu >= pd_), 1.0, np.where(pd_ > threshold, -1.0, 0.0))


def trading_days(ts: Any) -> Arr:
    """CME trading day (a date) of each UTC timestamp: the Chicago date of its session's
    close (a bar after 17:00 Chicago belongs to the next day)."""
    s = pl.Series("ts", ts)
    if s.dtype != pl.Datetime:
        s = s.cast(pl.Datetime("ns"))
    local = s.dt.replace_time_zone("UTC").dt.convert_time_zone("America/Chicago")
    out: Arr = (local + timedelta(hours=7)).dt.date().to_numpy()
    return out


@dataclass(frozen=True)
class HorizonPnl:
    """Per bar (from the first signal to ``h`` bars after the last): bar index, position
    after it, net and cost USD; and the daily net USD."""

    bars: Arr
    position: Arr
    net: Arr
    cost: Arr
    daily: pl.DataFrame  # day (date), net_usd

    @property
    def net_usd(self) -> float:
        return float(self.net.sum())


def horizon_pnl(
    sig: Arr,
    bar_idx: Arr,
    close: Arr,
    ts: Any,
    horizon: int,
    point_value: float,
    half_spread: float,
    fees: float,
) -> HorizonPnl:
    """The staggered book of the module docstring. ``sig``: one signal per test row at bar
    ``bar_idx`` (increasing); ``close``/``ts``: every bar of the dataset."""
    n_bars = len(close)
    lo, hi = int(bar_idx[0]), min(int(bar_idx[-1]) + horizon, n_bars - 1)
    s = np.zeros(hi - lo + 1)
    s[bar_idx - lo] = sig
    c = np.cumsum(np.concatenate([[0.0], s]))
    k = np.arange(1, len(s) + 1)
    pos = (c[k] - c[np.maximum(k - horizon, 0)]) / horizon
    bars = np.arange(lo, hi + 1)
    move = np.zeros(len(bars))
    move[:-1] = np.diff(close[lo : hi + 1])
    change = np.abs(np.diff(np.concatenate([[0.0], pos])))
    cost = change * (half_spread + fees / 2.0) * point_value
    net = pos * move * point_value - cost
    days = trading_days(pl.Series(ts)[lo : hi + 1])
    daily = (
        pl.DataFrame({"day": days, "net_usd": net})
        .group_by("day", maintain_order=True)
        .agg(pl.col("net_usd").sum())
    )
    return HorizonPnl(bars, pos, net, cost, daily)


def rank_ic(proba: Arr, classes: Arr, up: Sequence[int], down: Sequence[int], fwd: Arr) -> float:
    """Spearman correlation of P(up) - P(down) with the forward move (NaN moves dropped);
    0 when either side is constant."""
    score = proba[:, np.isin(classes, up)].sum(axis=1) - proba[:, np.isin(classes, down)].sum(
        axis=1
    )
    ok = np.isfinite(fwd) & np.isfinite(score)
    if ok.sum() < 3 or np.ptp(score[ok]) == 0 or np.ptp(fwd[ok]) == 0:
        return 0.0
    return float(spearmanr(score[ok], fwd[ok]).statistic)


def trading_block(
    per_seed: dict[int, tuple[HorizonPnl, float]], horizon: int, point_value: float
) -> dict[str, Any]:
    """The report's trading figures over seeds: mean and sample std of net USD, PSR and
    rank IC, plus the seed-mean daily P&L the trial ledger records."""
    nets = np.array([p.net_usd for p, _ in per_seed.values()])
    psr = [probabilistic_sharpe(p.daily["net_usd"].to_numpy()) for p, _ in per_seed.values()]
    ics = np.array([ic for _, ic in per_seed.values()])
    daily = (
        pl.concat([p.daily for p, _ in per_seed.values()])
        .group_by("day")
        .agg(pl.col("net_usd").sum() / len(per_seed))
    )
    daily = daily.sort("day")
    psr_ok = [x for x in psr if x is not None]
    return {
        "horizon_bars": horizon,
        "point_value_usd": point_value,
        "net_usd": float(nets.mean()),
        "net_usd_std": float(nets.std(ddof=1)) if len(nets) > 1 else 0.0,
        "net_usd_per_seed": nets.tolist(),
        "costs_usd": float(np.mean([p.cost.sum() for p, _ in per_seed.values()])),
        "days": daily.height,
        "psr": float(np.mean(psr_ok)) if psr_ok else None,
        "rank_ic": float(ics.mean()),
        "rank_ic_std": float(ics.std(ddof=1)) if len(ics) > 1 else 0.0,
        "daily": {
            "day": [str(d) for d in daily["day"].to_list()],
            "net_usd": daily["net_usd"].to_list(),
        },
    }
