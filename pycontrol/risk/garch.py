"""GARCH(1,1) and EGARCH(1,1) volatility models: fits by ``arch``, everything after the fit
(filtering, 1-10 step volatility forecasts, the closed-form VaR/CVaR quantiles) by the Rust
core's ``tradecore::riskmodel`` (through ``pycontrol._core``), the same code the engine runs
live; a low/normal/high volatility regime; and the params file the engine reads
(:func:`params_file`, written by ``pycontrol risk fit``).

Scaling: returns are passed in *percent* (100 x log return) and every volatility, VaR and
CVaR returned is in percent of price too. ``arch``'s optimiser is tuned for values of order
1: even percent minute returns (std ~0.01 for 6E) leave omega ~1e-6 and the fit stops at
its start values. So the fit multiplies the percent returns by a further power of ten,
``scale`` (the smallest making the in-sample std >= 1, as ``arch``'s own ``rescale`` does),
and divides volatilities back; ``params`` are those of the scaled series (alpha, beta, nu
do not depend on it; omega and mu do).

VaR and CVaR are losses, reported as positive numbers: for a return ``r = mu + sigma z``
with ``z`` the model's standardised innovation (unit variance), VaR_a = -(mu + sigma q) with
``q`` the (1 - a) quantile of ``z``, and CVaR_a = -(mu - sigma ES_z) with ES_z the expected
shortfall of ``z`` beyond ``q``. So CVaR >= VaR and VaR_99 >= VaR_95 always.

Regime cut points: the one-step forecast's percentile within the fit's in-sample conditional
volatility history; below the 25th percentile is ``low``, above the 75th ``high``, otherwise
``normal`` (quartiles, so a calm half-month is not all called ``high``).

EGARCH has no closed-form mean variance beyond one step; its multi-step forecasts iterate
the log variance's conditional mean and exponentiate it (a geometric-mean forecast, see
``docs/risk.md``), deterministic and the same as the engine's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from arch import arch_model

from pycontrol import _core
from pycontrol.risk.errors import RiskInputError

Kind = Literal["garch", "egarch"]
Dist = Literal["normal", "t"]
Regime = Literal["low", "normal", "high"]

SCALE = 100.0
"""Multiply log returns by this before fitting (percent returns)."""
REGIME_CUTS = (0.25, 0.75)
MAX_HORIZON = 10
MIN_OBS = 100


def check_returns(returns: Any, what: str = "returns") -> np.ndarray[Any, np.dtype[np.float64]]:
    """A 1-D float64 copy of ``returns``; rejects NaN/inf naming the first bad row."""
    r = np.asarray(returns, dtype=np.float64)
    if r.ndim != 1:
        raise RiskInputError(f"{what}: expected a 1-D series, got shape {r.shape}")
    bad = np.flatnonzero(~np.isfinite(r))
    if bad.size:
        raise RiskInputError(f"{what}: row {int(bad[0])} is {r[bad[0]]} (NaN/inf not allowed)")
    return r


def _check_kind(kind: str, dist: str) -> None:
    if kind not in ("garch", "egarch"):
        raise RiskInputError(f"kind: expected 'garch' or 'egarch', got {kind!r}")
    if dist not in ("normal", "t"):
        raise RiskInputError(f"dist: expected 'normal' or 't', got {dist!r}")


def _check_level(level: float) -> None:
    if not 0.5 < level < 1.0:
        raise RiskInputError(f"level: expected a VaR confidence in (0.5, 1), got {level}")


def auto_scale(r: np.ndarray[Any, np.dtype[np.float64]]) -> float:
    """The power of ten bringing the std of ``r`` to [1, 10) (1 if already >= 1)."""
    sd = float(np.std(r))
    k = 1.0
    while 0 < sd * k < 1.0:
        k *= 10.0
    return k


def make_model(r: np.ndarray[Any, np.dtype[np.float64]], kind: Kind, dist: Dist) -> Any:
    """The ``arch`` model for (scaled) returns ``r``: constant mean, (E)GARCH(1,1)."""
    vol: Literal["GARCH", "EGARCH"] = "GARCH" if kind == "garch" else "EGARCH"
    return arch_model(r, mean="Constant", vol=vol, p=1, o=0, q=1, dist=dist, rescale=False)


def std_quantile_es(level: float, dist: Dist, nu: float | None) -> tuple[float, float]:
    """(q, es): the (1-level) quantile of the unit-variance innovation and its expected
    shortfall magnitude E[-z | z <= q] (positive). Closed forms in the core (the engine's
    VaR/CVaR); the t is rescaled by sqrt((nu - 2) / nu) to unit variance."""
    _check_level(level)
    if dist == "t" and (nu is None or not nu > 2.0):
        raise RiskInputError(f"nu: Student-t needs nu > 2 for unit variance, got {nu}")
    q, es = _core.innovation_quantile_es(level, dist, nu)
    return float(q), float(es)


def var_cvar(
    mu: Any, sigma: Any, level: float, dist: Dist, nu: float | None = None
) -> tuple[Any, Any]:
    """Parametric (VaR, CVaR) as positive losses for return ~ mu + sigma z (same units)."""
    q, es = std_quantile_es(level, dist, nu)
    mu_a = np.asarray(mu, dtype=np.float64)
    sig = np.asarray(sigma, dtype=np.float64)
    return -(mu_a + sig * q), -(mu_a - sig * es)


def regime_of(percentile: float) -> Regime:
    lo, hi = REGIME_CUTS
    return "low" if percentile < lo else "high" if percentile > hi else "normal"


@dataclass(frozen=True)
class GarchFit:
    """A fitted model. ``params`` uses ``arch``'s names (mu, omega, alpha[1], beta[1],
    nu) for returns in percent x ``scale``; ``cond_vol`` is the in-sample conditional
    volatility in percent."""

    kind: Kind
    dist: Dist
    params: dict[str, float]
    cond_vol: np.ndarray[Any, np.dtype[np.float64]]
    scale: float
    result: Any = field(repr=False)

    @property
    def nu(self) -> float | None:
        return self.params.get("nu")

    @property
    def mu(self) -> float:
        """Mean return in percent."""
        return self.params["mu"] / self.scale

    def forecast(self, h: int = 1) -> np.ndarray[Any, np.dtype[np.float64]]:
        """Volatility path (percent) for 1..h steps after the last in-sample return: the
        core's filter over the fit sample from ``arch``'s forecast backcast (residuals
        around the fitted mu), so the GARCH path equals ``result.forecast(horizon=h)``."""
        if not 1 <= h <= MAX_HORIZON:
            raise RiskInputError(f"h: expected 1..{MAX_HORIZON}, got {h}")
        y = np.asarray(self.result.model.y, dtype=np.float64)  # the scaled fit sample
        # The core multiplies its input by `scale`; `y` is already in fit units, so its
        # scale is 1 (passing `self.scale` scaled it twice: 65-97x too large on 6E).
        p = core_params(self.params, self.kind, self.dist, 1.0)
        bc = _core.garch_backcast(y - self.params["mu"])
        paths = forecast_paths(p, y, bc, h)
        vol: np.ndarray[Any, np.dtype[np.float64]] = np.sqrt(paths[-1]) / self.scale
        return vol

    def var(self, level: float = 0.99, h: int = 1) -> float:
        return float(var_cvar(self.mu, self.forecast(h)[h - 1], level, self.dist, self.nu)[0])

    def cvar(self, level: float = 0.99, h: int = 1) -> float:
        return float(var_cvar(self.mu, self.forecast(h)[h - 1], level, self.dist, self.nu)[1])

    def vol_percentile(self, sigma: float | None = None) -> float:
        """Share of in-sample conditional volatilities <= ``sigma`` (default: 1-step)."""
        s = float(self.forecast(1)[0]) if sigma is None else sigma
        return float(np.mean(self.cond_vol <= s))

    def regime(self) -> Regime:
        return regime_of(self.vol_percentile())


def core_params(
    params: dict[str, float], kind: Kind, dist: Dist, scale: float, **extra: Any
) -> dict[str, Any]:
    """``arch``'s parameters (its names) as the core's params-file fields, for returns that
    the core multiplies by ``scale``; ``extra`` adds file fields (``backcast``,
    ``interval_ns``, ``regime_cuts``, ...). The backcast defaults to 1 (batch filters pass
    theirs explicitly)."""
    out: dict[str, Any] = {
        "schema": _core.RISK_MODEL_SCHEMA,
        "kind": kind,
        "dist": dist,
        "mu": float(params["mu"]),
        "omega": float(params["omega"]),
        "alpha": float(params["alpha[1]"]),
        "beta": float(params["beta[1]"]),
        "scale": float(scale),
        "backcast": 1.0,
    }
    if "gamma[1]" in params:
        out["gamma"] = float(params["gamma[1]"])
    if dist == "t":
        out["nu"] = float(params["nu"])
    return out | extra


def forecast_paths(
    params: dict[str, Any], returns: Any, backcast: float, horizon: int
) -> np.ndarray[Any, np.dtype[np.float64]]:
    """Variance forecast paths (fit units) from the core's filter: row ``t`` (of
    ``len(returns) + 1``) is the 1..horizon path made after ``returns[:t]``; column 0 is the
    conditional variance of ``returns[t]``."""
    r = np.ascontiguousarray(returns, dtype=np.float64)
    flat = _core.garch_forecast_paths(json.dumps(params), r, float(backcast), horizon)
    out: np.ndarray[Any, np.dtype[np.float64]] = np.asarray(flat).reshape(-1, horizon)
    return out


def params_file(
    fit: GarchFit,
    interval_ns: int,
    *,
    copula: Any = None,
    reference_instrument_id: int | None = None,
    corr_window: int = 500,
    min_bars: int = 30,
    meta: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The engine's params file for ``fit`` (fitted on percent returns of bars every
    ``interval_ns``): the core takes raw log returns, so its ``scale`` is 100 x the fit's;
    the backcast is ``arch``'s forecast backcast of the sample; the regime cuts are the
    in-sample conditional volatility's quartiles as fractions of price. ``copula`` (a t
    :class:`~pycontrol.risk.copula.CopulaFit` against the reference) adds its rho and nu."""
    y = np.asarray(fit.result.model.y, dtype=np.float64)
    lo, hi = np.quantile(fit.cond_vol / SCALE, REGIME_CUTS)
    extra: dict[str, Any] = {
        "backcast": float(_core.garch_backcast(y - fit.params["mu"])),
        "interval_ns": int(interval_ns),
        "regime_cuts": [float(lo), float(hi)],
        "corr_window": int(corr_window),
        "min_bars": int(min_bars),
    }
    if reference_instrument_id is not None:
        extra["reference_instrument_id"] = int(reference_instrument_id)
    if copula is not None:
        if copula.family != "t":
            raise RiskInputError(f"copula: the engine takes a t copula, got {copula.family!r}")
        extra["copula"] = {"rho": float(copula.param), "nu": float(copula.nu)}
    if meta:
        extra["fit"] = meta
    out = core_params(fit.params, fit.kind, fit.dist, SCALE * fit.scale, **extra)
    _core.check_risk_model(json.dumps(out), "params")
    return out


def fit_garch(returns: Any, kind: Kind = "garch", dist: Dist = "normal") -> GarchFit:
    """Fits a constant-mean (E)GARCH(1,1) to percent returns (see module docstring)."""
    _check_kind(kind, dist)
    r = check_returns(returns)
    if r.size < MIN_OBS:
        raise RiskInputError(f"returns: need at least {MIN_OBS} observations, got {r.size}")
    k = auto_scale(r)
    model = make_model(r * k, kind, dist)
    res = model.fit(disp="off", show_warning=False)
    params = {str(n): float(v) for n, v in res.params.items()}
    return GarchFit(kind, dist, params, np.asarray(res.conditional_volatility) / k, k, res)
