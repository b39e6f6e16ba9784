"""Risk score 1-10 and walk-forward risk features per bar (the engine's risk inputs).

Score (monotone non-decreasing in each input, 1 = calm, 10 = extreme):

    score = 1 + 9 * (0.5 * vol_pct + 0.3 * min(var99 / (2 * var99_typical), 1) + 0.2 * tail)

``vol_pct`` is the one-step volatility forecast's percentile within the fit's in-sample
volatility history (0..1); ``var99 / var99_typical`` compares the forecast VaR 99 with the
VaR 99 at that history's median volatility (twice the typical VaR saturates the term);
``tail`` is the lower-tail dependence to the reference (t copula; 0 without a reference):
joint crashes with the hedge/benchmark make the same volatility riskier.

Features (:func:`risk_features`): each row's values use bars up to and including that row
only. Returns are 100 x log close-to-close between consecutive rows (a gap such as the daily
CME break is one return). The GARCH model is refitted every ``refit_every`` rows on schedule
(see :mod:`pycontrol.risk.backtest`) and filtered by the core; the copula is refitted at the
same origins on the last ``ref_window`` time-aligned return pairs (bars present in both
frames, joined on ``ts``). Correlation and beta are the core's rolling ones (the engine's
and the ``corr_ref``/``beta_ref`` features' code) over the last ``ref_window`` aligned bars,
updated at every aligned bar and held between them; null until the window fills.
Rows before ``start`` are null.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from pycontrol import _core
from pycontrol.risk.backtest import walk_forward
from pycontrol.risk.copula import fit_copula
from pycontrol.risk.errors import RiskInputError
from pycontrol.risk.garch import REGIME_CUTS, Dist, Kind, check_returns, var_cvar

W_VOL, W_VAR, W_TAIL = 0.5, 0.3, 0.2


def risk_score(vol_pct: Any, var99: Any, var99_typical: Any, tail_lower: Any) -> Any:
    """The 1-10 score of the module docstring (vectorised; floats in [1, 10])."""
    v = np.clip(np.asarray(vol_pct, dtype=np.float64), 0.0, 1.0)
    ratio = np.asarray(var99, dtype=np.float64) / (2.0 * np.asarray(var99_typical, np.float64))
    w = np.clip(ratio, 0.0, 1.0)
    t = np.clip(np.asarray(tail_lower, dtype=np.float64), 0.0, 1.0)
    return 1.0 + 9.0 * (W_VOL * v + W_VAR * w + W_TAIL * t)


def _returns(close: Any, what: str) -> Any:
    c = check_returns(close, what)
    if np.any(c <= 0):
        raise RiskInputError(f"{what}: row {int(np.flatnonzero(c <= 0)[0])} is not > 0")
    return 100.0 * np.diff(np.log(c))


def _need(df: pl.DataFrame, what: str) -> None:
    miss = {"ts", "close"} - set(df.columns)
    if miss:
        raise RiskInputError(f"{what}: missing columns {sorted(miss)}")


def risk_features(
    bars: pl.DataFrame,
    reference_bars: pl.DataFrame | None = None,
    *,
    start: int = 1000,
    refit_every: int = 500,
    window: int | None = 5000,
    ref_window: int = 2000,
    kind: Kind = "garch",
    dist: Dist = "t",
) -> pl.DataFrame:
    """One row per bar: ``ts``, ``risk_vol_fcst_1`` (and ``_10`` for garch), ``risk_vol_pct``,
    ``risk_regime``, ``risk_var_95/99``, ``risk_cvar_95/99`` (percent of price, positive
    losses), ``risk_corr_ref``, ``risk_beta_ref``, ``risk_tail_lower``, ``risk_tail_upper``,
    ``risk_score``. See the module docstring for timing."""
    _need(bars, "bars")
    n = bars.height
    if n < start + 1:
        raise RiskInputError(f"bars: need more than start={start} rows, got {n}")
    # A placeholder return after the last bar lets row n-1 get its forecast; walk_forward
    # never puts a return into a fit or a filter before its own forecast is made.
    r = np.append(_returns(bars["close"].to_numpy(), "bars.close"), 0.0)
    horizon = 10 if kind == "garch" else 1
    wf = walk_forward(
        r,
        start=start,
        refit_every=refit_every,
        window=window,
        kind=kind,
        dist=dist,
        horizon=horizon,
    )
    m = n - start
    var = {}
    for lvl in (0.95, 0.99):
        v, c = np.empty(m), np.empty(m)
        t_ = np.empty(m)
        for nu in np.unique(wf.nu) if dist == "t" else [np.nan]:
            sel = wf.nu == nu if dist == "t" else np.ones(m, dtype=bool)
            nu_ = None if dist == "normal" else float(nu)
            v[sel], c[sel] = var_cvar(wf.mu[sel], wf.sigma[sel], lvl, dist, nu_)
            t_[sel] = var_cvar(wf.mu[sel], wf.vol_median[sel], lvl, dist, nu_)[0]
        var[lvl] = (v, c, t_)

    corr, beta, tl, tu = (np.full(m, np.nan) for _ in range(4))
    if reference_bars is not None:
        _need(reference_bars, "reference_bars")
        j = bars.select("ts", "close").join(
            reference_bars.select("ts", pl.col("close").alias("ref")), on="ts", how="inner"
        )
        jc, jr = j["close"].to_numpy(), j["ref"].to_numpy()
        jx = _returns(jc, "bars.close")
        jy = _returns(jr, "reference_bars.close")
        jts_all = j["ts"].to_numpy()
        jts = jts_all[1:]
        ts = bars["ts"].to_numpy()
        # Each bar holds the value after the last aligned bar at or before it.
        jc_corr, jc_beta = _core.rolling_corr_beta(
            np.ascontiguousarray(jc, dtype=np.float64),
            np.ascontiguousarray(jr, dtype=np.float64),
            ref_window,
        )
        at = np.searchsorted(jts_all, ts[start:], side="right") - 1
        ok = at >= 0
        corr[ok], beta[ok] = np.asarray(jc_corr)[at[ok]], np.asarray(jc_beta)[at[ok]]
        for t0 in range(start, n, refit_every):
            hi = int(np.searchsorted(jts, ts[t0], side="right"))
            lo = max(0, hi - ref_window)
            if hi - lo < 100:
                continue
            x, y = jx[lo:hi], jy[lo:hi]
            if np.std(x) == 0 or np.std(y) == 0:
                continue
            sl = slice(t0 - start, min(t0 + refit_every, n) - start)
            cf = fit_copula(x, y, "t")
            tl[sl], tu[sl] = cf.tail_lower, cf.tail_upper

    score = risk_score(wf.vol_pct, var[0.99][0], var[0.99][2], np.nan_to_num(tl))
    lo_cut, hi_cut = REGIME_CUTS
    regime = np.where(wf.vol_pct < lo_cut, "low", np.where(wf.vol_pct > hi_cut, "high", "normal"))

    def col(a: Any) -> list[Any]:
        return [None] * start + [None if not np.isfinite(x) else float(x) for x in a]

    cols: dict[str, Any] = {"ts": bars["ts"], "risk_vol_fcst_1": col(wf.sigma)}
    if horizon == 10:
        cols["risk_vol_fcst_10"] = col(wf.path[:, 9])
    cols |= {
        "risk_vol_pct": col(wf.vol_pct),
        "risk_regime": [None] * start + list(regime),
        "risk_var_95": col(var[0.95][0]),
        "risk_cvar_95": col(var[0.95][1]),
        "risk_var_99": col(var[0.99][0]),
        "risk_cvar_99": col(var[0.99][1]),
        "risk_corr_ref": col(corr),
        "risk_beta_ref": col(beta),
        "risk_tail_lower": col(tl),
        "risk_tail_upper": col(tu),
        "risk_score": col(score),
    }
    schema = {k: pl.Float64 for k in cols if k not in ("ts", "risk_regime")}
    return pl.DataFrame(cols, schema_overrides={**schema, "risk_regime": pl.String})
