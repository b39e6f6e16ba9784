"""GARCH/EGARCH fits recover simulated parameters; VaR/CVaR ordering; Kupiec and
Christoffersen statistics against hand computations; the walk-forward backtest accepts a
correct model and rejects one with half the volatility."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from scipy import stats

from pycontrol import ConfigError
from pycontrol.risk import RiskInputError, fit_garch, var_cvar
from pycontrol.risk.backtest import (
    backtest_var,
    christoffersen_ind,
    exceedance_test,
    kupiec_pof,
    walk_forward,
)

OMEGA, ALPHA, BETA = 0.05, 0.08, 0.90


def sim_garch(n: int, seed: int, burn: int = 500) -> Any:
    rng = np.random.default_rng(seed)
    z = rng.standard_normal(n + burn)
    r = np.empty(n + burn)
    s2 = OMEGA / (1 - ALPHA - BETA)
    for t in range(n + burn):
        r[t] = math.sqrt(s2) * z[t]
        s2 = OMEGA + ALPHA * r[t] ** 2 + BETA * s2
    return r[burn:]


def sim_egarch(n: int, seed: int, w: float, a: float, b: float, burn: int = 500) -> Any:
    rng = np.random.default_rng(seed)
    z = rng.standard_normal(n + burn)
    r = np.empty(n + burn)
    lns2 = w / (1 - b)
    for t in range(n + burn):
        r[t] = math.exp(lns2 / 2) * z[t]
        lns2 = w + a * (abs(z[t]) - math.sqrt(2 / math.pi)) + b * lns2
    return r[burn:]


@pytest.fixture(scope="module")
def garch_returns() -> Any:
    return sim_garch(4000, seed=11)


def test_garch_fit_recovers_simulated_parameters(garch_returns: Any) -> None:
    fit = fit_garch(garch_returns)
    p = fit.params
    assert abs(p["alpha[1]"] - ALPHA) < 0.03
    assert abs(p["beta[1]"] - BETA) < 0.03
    assert abs(p["omega"] - OMEGA) < 0.02
    # Persistence is better identified than its parts.
    assert abs(p["alpha[1]"] + p["beta[1]"] - (ALPHA + BETA)) < 0.015
    assert abs(p["mu"]) < 0.05


def test_egarch_fit_recovers_simulated_parameters() -> None:
    r = sim_egarch(4000, seed=5, w=0.0, a=0.15, b=0.95)
    fit = fit_garch(r, kind="egarch")
    assert abs(fit.params["alpha[1]"] - 0.15) < 0.03
    assert abs(fit.params["beta[1]"] - 0.95) < 0.02
    path = fit.forecast(10)
    assert path.shape == (10,) and np.all(path > 0)
    # Simulated multi-step forecasts use a fixed seed: they repeat exactly.
    assert np.array_equal(path, fit.forecast(10))
    # Mean reversion: the 10-step volatility lies between the 1-step one and the long run.
    long_run = math.exp(fit.params["omega"] / (1 - fit.params["beta[1]"]) / 2)
    lo, hi = sorted((path[0], long_run))
    assert lo - 0.05 <= path[9] <= hi + 0.05


def test_garch_forecast_reverts_to_unconditional_variance(garch_returns: Any) -> None:
    fit = fit_garch(garch_returns)
    p = fit.params
    uncond = p["omega"] / (1 - p["alpha[1]"] - p["beta[1]"])
    path = fit.forecast(10)
    gaps = np.abs(path**2 - uncond)
    assert np.all(np.diff(gaps) <= 1e-12)  # monotone approach to the long-run variance
    with pytest.raises(RiskInputError, match=r"h: expected 1\.\.10"):
        fit.forecast(11)


def test_var_cvar_ordering_and_normal_closed_form(garch_returns: Any) -> None:
    for dist in ("normal", "t"):
        fit = fit_garch(garch_returns, dist=dist)  # type: ignore[arg-type]
        v95, v99 = fit.var(0.95), fit.var(0.99)
        c95, c99 = fit.cvar(0.95), fit.cvar(0.99)
        assert 0 < v95 < v99 and v95 < c95 and v99 < c99
        assert fit.regime() in ("low", "normal", "high")
    v, c = var_cvar(0.0, 2.0, 0.99, "normal")
    assert float(v) == pytest.approx(2.0 * 2.3263478740408408)
    assert float(c) == pytest.approx(2.0 * stats.norm.pdf(2.3263478740408408) / 0.01)


def test_student_t_var_matches_scaled_quantile() -> None:
    nu = 5.0
    v, c = var_cvar(0.1, 1.0, 0.99, "t", nu)
    q = stats.t.ppf(0.01, nu) * math.sqrt((nu - 2) / nu)
    assert float(v) == pytest.approx(-(0.1 + q))
    # CVaR by numerical integration of the scaled t density's tail.
    s = math.sqrt((nu - 2) / nu)
    xs = np.linspace(-60, q, 400_001)
    dens = stats.t.pdf(xs / s, nu) / s
    es = -np.trapezoid(xs * dens, xs) / 0.01
    assert float(c) == pytest.approx(-0.1 + es, rel=1e-3)


def test_kupiec_matches_hand_computation() -> None:
    n, x, p = 1000, 17, 0.01
    lr0 = -2 * ((n - x) * math.log(1 - p) + x * math.log(p))
    lr1 = -2 * ((n - x) * math.log(1 - x / n) + x * math.log(x / n))
    lr, pv = kupiec_pof(n, x, 0.99)
    assert lr == pytest.approx(lr0 - lr1)
    assert pv == pytest.approx(stats.chi2.sf(lr0 - lr1, 1))
    assert kupiec_pof(1000, 10, 0.99)[0] == pytest.approx(0.0, abs=1e-9)
    assert kupiec_pof(1000, 0, 0.99)[0] == pytest.approx(-2 * 1000 * math.log(0.99))


def test_christoffersen_flags_clustered_hits() -> None:
    spread = np.zeros(1000, dtype=bool)
    spread[::100] = True
    clustered = np.zeros(1000, dtype=bool)
    clustered[500:510] = True
    assert christoffersen_ind(spread)[1] > 0.5
    assert christoffersen_ind(clustered)[1] < 1e-6


def test_backtest_accepts_true_model_and_rejects_half_volatility() -> None:
    r = sim_garch(5000, seed=3)
    good = backtest_var(r, level=0.99, start=2000, refit_every=500)
    assert good.n == 3000
    assert good.kupiec_p > 0.05
    wf = walk_forward(r, start=2000, refit_every=500)
    half = var_cvar(wf.mu, wf.sigma / 2, 0.99, "normal")[0]
    bad = exceedance_test(r[2000:], half, 0.99)
    assert bad.rate > 0.05 and bad.kupiec_p < 1e-6


def test_walk_forward_has_no_look_ahead() -> None:
    r = sim_garch(3000, seed=9)
    full = walk_forward(r, start=1000, refit_every=400)
    cut = walk_forward(r[:2100], start=1000, refit_every=400)
    assert np.allclose(full.sigma[:1100], cut.sigma, rtol=1e-10, atol=0)
    # Changing a return changes only forecasts made after it.
    r2 = r.copy()
    r2[2050] *= 10
    alt = walk_forward(r2, start=1000, refit_every=400)
    assert np.array_equal(alt.sigma[:1051], full.sigma[:1051])
    assert alt.sigma[1051] != full.sigma[1051]


def test_bad_input_is_rejected_with_row() -> None:
    r = sim_garch(500, seed=1)
    r[123] = np.nan
    with pytest.raises(RiskInputError, match="row 123"):
        fit_garch(r)
    with pytest.raises(ConfigError, match="kind"):
        fit_garch(sim_garch(500, seed=1), kind="figarch")  # type: ignore[arg-type]
    with pytest.raises(RiskInputError, match="level"):
        var_cvar(0.0, 1.0, 1.5, "normal")
