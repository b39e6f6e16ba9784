"""Out-of-sample VaR backtest: walk-forward one-step (E)GARCH forecasts, exceedance counts,
Kupiec's proportion-of-failures test and Christoffersen's independence test.

Walk-forward schedule: the model is refitted at origins ``start-1, start-1+k, ...`` on the
returns up to and including the origin (an expanding window, or the last ``window`` returns),
then its parameters are held while the core's filter (``tradecore::riskmodel``, the engine's
code) runs over the following returns one at a time: the forecast for return ``t`` only ever
uses returns ``< t``. Refit origins depend only on
``start`` and ``k``, never on the series length, so truncating the series after ``t`` leaves
every forecast up to ``t`` unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from pycontrol import _core
from pycontrol.risk.errors import RiskInputError
from pycontrol.risk.garch import (
    MAX_HORIZON,
    MIN_OBS,
    Dist,
    Kind,
    _check_kind,
    auto_scale,
    check_returns,
    core_params,
    forecast_paths,
    make_model,
    var_cvar,
)

F64 = np.ndarray[Any, np.dtype[np.float64]]


@dataclass(frozen=True)
class WalkForward:
    """One-step forecasts for returns ``start..n-1``: ``mu``, ``sigma`` (percent) and
    ``nu`` (Student-t dof, NaN for normal) of the model fitted at or before ``t-1``; and
    ``vol_pct``, the forecast's percentile within that fit's in-sample volatility history;
    ``vol_median``, that history's median; ``path``, the 1..horizon volatility path."""

    start: int
    mu: F64
    sigma: F64
    nu: F64
    vol_pct: F64
    vol_median: F64
    path: F64


def walk_forward(
    returns: Any,
    *,
    start: int,
    refit_every: int = 500,
    window: int | None = None,
    kind: Kind = "garch",
    dist: Dist = "normal",
    horizon: int = 1,
) -> WalkForward:
    """One-step-ahead forecasts for every return from ``start`` on (see module docstring)."""
    _check_kind(kind, dist)
    r = check_returns(returns)
    n = r.size
    if refit_every < 1:
        raise RiskInputError(f"refit_every: expected >= 1, got {refit_every}")
    if window is not None and window < MIN_OBS:
        raise RiskInputError(f"window: expected >= {MIN_OBS} returns, got {window}")
    if not MIN_OBS <= start <= n:
        raise RiskInputError(f"start: expected {MIN_OBS}..{n} (series length), got {start}")
    if not 1 <= horizon <= MAX_HORIZON or (kind == "egarch" and horizon > 1):
        raise RiskInputError(
            f"horizon: expected 1..{MAX_HORIZON} (1 for egarch, whose multi-step forecast "
            f"is a geometric-mean, not a mean, variance), got {horizon}"
        )
    m = n - start
    mu, sig, nu, pct, med = (np.full(m, np.nan) for _ in range(5))
    path = np.full((m, horizon), np.nan)
    for t0 in range(start, n, refit_every):
        t1 = min(t0 + refit_every, n)
        first = 0 if window is None else max(0, t0 - window)
        # The model sees returns up to t1-1 only; fitting stops at t0, and forecasts from
        # origins t0-1..t1-2 each use data up to their origin.
        k = auto_scale(r[first:t0])
        y = r[:t1] * k
        model = make_model(y, kind, dist)
        res = model.fit(disp="off", show_warning=False, first_obs=first, last_obs=t0)
        # arch fits; the core filters (the engine's code): from arch's forecast backcast,
        # the residuals of the fit sample around the fitted mu, the rows for origins
        # t0-1..t1-2 are arch's forecast(start=t0-1) rows.
        params = {str(name): float(v) for name, v in res.params.items()}
        bc = _core.garch_backcast(y[first:t0] - params["mu"])
        fp = forecast_paths(core_params(params, kind, dist, 1.0), y[first:], bc, horizon)
        p = np.sqrt(fp[t0 - first : t1 - first]) / k
        s = p[:, 0]
        cv = np.asarray(res.conditional_volatility, dtype=np.float64)[first:t0] / k
        cv = np.sort(cv[np.isfinite(cv)])
        sl = slice(t0 - start, t1 - start)
        mu[sl] = float(res.params["mu"]) / k
        sig[sl] = s
        nu[sl] = float(res.params["nu"]) if dist == "t" else np.nan
        pct[sl] = np.searchsorted(cv, s, side="right") / cv.size
        med[sl] = float(np.median(cv))
        path[sl] = p
    return WalkForward(start, mu, sig, nu, pct, med, path)


@dataclass(frozen=True)
class VarBacktest:
    """Exceedances of one-step VaR at ``level`` over ``n`` out-of-sample returns."""

    level: float
    n: int
    exceedances: int
    rate: float
    kupiec_lr: float
    kupiec_p: float
    christoffersen_lr: float
    christoffersen_p: float
    hits: np.ndarray[Any, np.dtype[np.bool_]]


def _xlogy(x: float, y: float) -> float:
    return 0.0 if x == 0 else x * float(np.log(y))


def kupiec_pof(n: int, x: int, level: float) -> tuple[float, float]:
    """Kupiec's proportion-of-failures LR statistic and its chi2(1) p-value for ``x``
    exceedances in ``n`` trials when the VaR promises a rate of ``1 - level``."""
    if n < 1 or not 0 <= x <= n:
        raise RiskInputError(f"kupiec: need 0 <= exceedances <= n and n >= 1, got x={x}, n={n}")
    p = 1.0 - level
    phat = x / n
    ll0 = _xlogy(n - x, 1.0 - p) + _xlogy(x, p)
    ll1 = _xlogy(n - x, 1.0 - phat) + _xlogy(x, phat)
    lr = max(0.0, -2.0 * (ll0 - ll1))
    return lr, float(stats.chi2.sf(lr, 1))


def christoffersen_ind(hits: Any) -> tuple[float, float]:
    """Christoffersen's independence LR (a Markov chain of hits vs i.i.d.) and p-value."""
    h = np.asarray(hits, dtype=bool)
    a, b = h[:-1], h[1:]
    n00 = int(np.sum(~a & ~b))
    n01 = int(np.sum(~a & b))
    n10 = int(np.sum(a & ~b))
    n11 = int(np.sum(a & b))
    p01 = n01 / max(n00 + n01, 1)
    p11 = n11 / max(n10 + n11, 1)
    p = (n01 + n11) / max(n00 + n01 + n10 + n11, 1)
    ll0 = _xlogy(n00 + n10, 1 - p) + _xlogy(n01 + n11, p)
    ll1 = _xlogy(n00, 1 - p01) + _xlogy(n01, p01) + _xlogy(n10, 1 - p11) + _xlogy(n11, p11)
    lr = max(0.0, -2.0 * (ll0 - ll1))
    return lr, float(stats.chi2.sf(lr, 1))


def exceedance_test(returns: Any, var: Any, level: float) -> VarBacktest:
    """Counts losses beyond ``var`` (positive loss numbers aligned with ``returns``)."""
    r = check_returns(returns)
    v = check_returns(var, "var")
    if r.shape != v.shape:
        raise RiskInputError(f"var: shape {v.shape} differs from returns {r.shape}")
    hits = -r > v
    x = int(hits.sum())
    lr, p = kupiec_pof(r.size, x, level)
    clr, cp = christoffersen_ind(hits)
    return VarBacktest(level, r.size, x, x / r.size, lr, p, clr, cp, hits)


def backtest_var(
    returns: Any,
    *,
    level: float = 0.99,
    start: int,
    refit_every: int = 500,
    window: int | None = None,
    kind: Kind = "garch",
    dist: Dist = "normal",
) -> VarBacktest:
    """Walk-forward one-step VaR at ``level`` for returns ``start..`` and its tests."""
    r = check_returns(returns)
    wf = walk_forward(r, start=start, refit_every=refit_every, window=window, kind=kind, dist=dist)
    var = np.empty_like(wf.sigma)
    # nu is constant within a refit block, so compute per block.
    for nu in np.unique(wf.nu) if dist == "t" else [np.nan]:
        sel = wf.nu == nu if dist == "t" else np.ones(var.size, dtype=bool)
        var[sel] = var_cvar(
            wf.mu[sel], wf.sigma[sel], level, dist, None if dist == "normal" else float(nu)
        )[0]
    return exceedance_test(r[start:], var, level)
