"""The core's (E)GARCH filter, forecasts and closed forms against their references on real
returns (6E minute bars, January 2024): conditional volatility equals ``arch``'s
``conditional_volatility`` and GARCH forecasts equal ``res.forecast`` to 1e-9 relative
given the same parameters and backcast; arch's backcast is reproduced; VaR/CVaR quantiles
and the t-copula tail coefficient equal scipy's. Worst relative errors are printed
(``pytest -s``) for docs/risk.md."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from arch import arch_model
from scipy import stats

from pycontrol import _core, load_bars
from pycontrol.risk.garch import core_params, forecast_paths

SIXE = "bars/other/6EH4.XCME_1min_bars_20240101_20240131.csv.gz"
REL = 1e-9


@pytest.fixture(scope="module")
def returns(shared_data: Path) -> Any:
    c = load_bars(shared_data / SIXE)["close"].to_numpy()
    # Percent log returns x 100: std ~1, the scale arch's optimiser wants (garch.py). The
    # last 9,995 minutes: on the whole month (and on its first 10,000 minutes with normal
    # innovations) arch's GARCH fit lands on alpha + beta = 1
    # (integrated), which the core refuses as non-stationary (tested below).
    return 100.0 * 100.0 * np.diff(np.log(c))[20_000:]


def _rel(a: Any, b: Any) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b) / np.abs(b)))


CASES = [
    ("garch", "normal", 0),
    ("garch", "t", 0),
    ("egarch", "normal", 0),
    ("egarch", "t", 1),
]


@pytest.mark.parametrize(("kind", "dist", "o"), CASES)
def test_conditional_volatility_equals_arch(returns: Any, kind: str, dist: str, o: int) -> None:
    y = returns
    vol = "GARCH" if kind == "garch" else "EGARCH"
    res = arch_model(y, mean="Constant", vol=vol, p=1, o=o, q=1, dist=dist, rescale=False).fit(
        disp="off", show_warning=False
    )
    params = {str(k): float(v) for k, v in res.params.items()}
    assert res.convergence_flag == 0
    # arch's fit backcast: residuals around the sample mean (its starting values).
    bc = _core.garch_backcast(y - y.mean())
    # The value the recursion started from (private: arch has no public accessor).
    want_bc = res.model._backcast
    got_bc = bc if kind == "garch" else np.log(bc)
    assert abs(got_bc - want_bc) <= 1e-14 * abs(want_bc)
    p = core_params(params, kind, dist, 1.0)  # type: ignore[arg-type]
    sig = np.sqrt(forecast_paths(p, y, bc, 1)[:-1, 0])
    err = _rel(sig, res.conditional_volatility)
    print(f"\n{kind}-{dist} (o={o}) on {y.size} 6E minutes: cond. vol max rel err {err:.2e}")
    assert err <= REL


@pytest.mark.parametrize("dist", ["normal", "t"])
def test_garch_forecasts_equal_arch(returns: Any, dist: str) -> None:
    y = returns
    res = arch_model(y, mean="Constant", vol="GARCH", p=1, q=1, dist=dist, rescale=False).fit(
        disp="off", show_warning=False
    )
    params = {str(k): float(v) for k, v in res.params.items()}
    h = 15
    start = y.size - 500
    fc = res.forecast(horizon=h, start=start, reindex=False)
    want = np.asarray(fc.variance)
    # arch's forecast backcast: residuals around the fitted mu.
    bc = _core.garch_backcast(y - params["mu"])
    paths = forecast_paths(core_params(params, "garch", dist, 1.0), y, bc, h)  # type: ignore[arg-type]
    got = paths[start + 1 :]
    assert got.shape == want.shape
    err = _rel(got, want)
    print(f"\ngarch-{dist} {h}-step forecasts from 500 origins: max rel err {err:.2e}")
    assert err <= REL
    # The engine's horizon sum is the sum of that path.
    assert float(np.sum(got[-1])) == pytest.approx(float(np.sum(want[-1])), rel=REL)


def test_egarch_one_step_forecast_equals_arch(returns: Any) -> None:
    y = returns
    res = arch_model(y, mean="Constant", vol="EGARCH", p=1, o=1, q=1, dist="t", rescale=False).fit(
        disp="off", show_warning=False
    )
    params = {str(k): float(v) for k, v in res.params.items()}
    fc = res.forecast(horizon=1, start=y.size - 300, reindex=False)
    bc = _core.garch_backcast(y - params["mu"])
    paths = forecast_paths(core_params(params, "egarch", "t", 1.0), y, bc, 1)
    err = _rel(paths[y.size - 299 :, 0], np.asarray(fc.variance)[:, 0])
    print(f"\negarch-t one-step forecasts from 300 origins: max rel err {err:.2e}")
    assert err <= REL


@pytest.mark.parametrize("level", [0.95, 0.99])
@pytest.mark.parametrize("nu", [None, 2.5, 4.0, 7.3, 30.0])
def test_var_cvar_closed_forms_equal_scipy(level: float, nu: float | None) -> None:
    a = 1 - level
    if nu is None:
        q_ref = stats.norm.ppf(a)
        es_ref = stats.norm.pdf(q_ref) / a
        # Expected shortfall by integration, independent of the closed form.
        es_int = -stats.norm.expect(lambda z: z, ub=q_ref) / a
        q, es = _core.innovation_quantile_es(level, "normal")
    else:
        s = np.sqrt((nu - 2) / nu)
        tq = stats.t.ppf(a, nu)
        q_ref = tq * s
        es_ref = stats.t.pdf(tq, nu) / a * (nu + tq * tq) / (nu - 1) * s
        es_int = -stats.t.expect(lambda z: z, args=(nu,), ub=tq) / a * s
        q, es = _core.innovation_quantile_es(level, "t", nu)
    assert q == pytest.approx(q_ref, rel=1e-12)
    assert es == pytest.approx(es_ref, rel=1e-12)
    assert es == pytest.approx(es_int, rel=1e-7)


@pytest.mark.parametrize(("rho", "nu"), [(0.1, 3.0), (0.5, 2.5), (0.8, 4.0), (-0.3, 10.0)])
def test_t_copula_tail_equals_scipy(rho: float, nu: float) -> None:
    x = -np.sqrt((nu + 1) * (1 - rho) / (1 + rho))
    assert _core.t_copula_tail(rho, nu) == pytest.approx(2 * stats.t.cdf(x, nu + 1), rel=1e-12)


def test_params_file_from_a_fit_is_accepted_by_the_core(returns: Any) -> None:
    from pycontrol.risk import fit_garch
    from pycontrol.risk.garch import params_file

    fit = fit_garch(returns[:5000] / 100.0, dist="t")
    out = params_file(fit, 60_000_000_000)
    _core.check_risk_model(json.dumps(out), "fit")
    assert out["scale"] == 100.0 * fit.scale
    lo, hi = out["regime_cuts"]
    assert 0 < lo < hi < 0.01  # minute volatility of 6E: a few basis points
    bad = out | {"beta": 1.0 - out["alpha"] + 1e-9}
    with pytest.raises(_core.InvalidInputError, match="alpha \\+ beta"):
        _core.check_risk_model(json.dumps(bad), "bad.json")
