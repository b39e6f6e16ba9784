"""Copulas: closed-form tail dependence against hand-computed numbers and statsmodels, and
fits that recover the parameters of simulated copula samples."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.distributions.copula.api import (
    ClaytonCopula,
    GaussianCopula,
    StudentTCopula,
)

from pycontrol.risk import RiskInputError
from pycontrol.risk.copula import (
    clayton_lower_tail,
    correlation_beta,
    fit_copula,
    pseudo_obs,
    t_tail,
)


def test_clayton_lower_tail_is_two_to_minus_one_over_theta() -> None:
    assert clayton_lower_tail(1.0) == 0.5
    assert clayton_lower_tail(2.0) == pytest.approx(1 / math.sqrt(2), abs=1e-15)
    assert clayton_lower_tail(0.5) == 0.25
    with pytest.raises(RiskInputError, match="theta"):
        clayton_lower_tail(0.0)


def test_t_tail_matches_hand_value_and_statsmodels() -> None:
    # rho = 0.5, nu = 4: 2 * t_5(-sqrt(5 * 0.5 / 1.5)) = 2 * t_5(-1.2909944) = 0.2531700
    assert t_tail(0.5, 4.0) == pytest.approx(0.25317, abs=1e-5)
    arg = -math.sqrt(5 * 0.5 / 1.5)
    assert t_tail(0.5, 4.0) == pytest.approx(2 * stats.t.cdf(arg, 5), rel=1e-12)
    for rho, nu in [(0.3, 3.0), (0.7, 10.0), (-0.2, 5.0)]:
        lo, up = StudentTCopula(corr=rho, df=nu).dependence_tail()
        assert t_tail(rho, nu) == pytest.approx(float(lo), rel=1e-10)
        assert float(lo) == pytest.approx(float(up))
    # More dof, thinner tails: the coefficient falls toward the Gaussian's 0.
    assert t_tail(0.5, 3) > t_tail(0.5, 30) > t_tail(0.5, 300) > 0


def test_gaussian_has_zero_tails() -> None:
    u = GaussianCopula(corr=0.6).rvs(3000, rng=np.random.default_rng(1))
    fit = fit_copula(u[:, 0], u[:, 1], "gaussian")
    assert (fit.tail_lower, fit.tail_upper) == (0.0, 0.0)
    assert fit.param == pytest.approx(0.6, abs=0.04)


def test_t_fit_recovers_rho_nu_and_symmetric_tails() -> None:
    u = StudentTCopula(corr=0.6, df=4).rvs(4000, rng=np.random.default_rng(2))
    # Any monotone marginal transform leaves the copula unchanged.
    x, y = stats.norm.ppf(u[:, 0]) * 3.0, np.exp(u[:, 1])
    fit = fit_copula(x, y, "t")
    assert fit.param == pytest.approx(0.6, abs=0.04)
    assert fit.nu is not None and 3.0 <= fit.nu <= 6.0
    assert fit.tail_lower == fit.tail_upper == pytest.approx(t_tail(fit.param, fit.nu))
    assert fit.tail_lower > 0.2
    gauss = fit_copula(x, y, "gaussian")
    assert fit.loglik > gauss.loglik  # heavy joint tails: t beats Gaussian on t data


def test_clayton_fit_recovers_theta() -> None:
    u = ClaytonCopula(theta=2.0).rvs(4000, rng=np.random.default_rng(3))
    fit = fit_copula(u[:, 0], u[:, 1], "clayton")
    assert fit.param == pytest.approx(2.0, abs=0.2)
    assert fit.tau == pytest.approx(0.5, abs=0.03)  # tau = theta / (theta + 2)
    assert fit.tail_lower == pytest.approx(2 ** (-1 / fit.param), rel=1e-12)
    assert fit.tail_upper == 0.0
    s = fit.sample(100, seed=4)
    assert s.shape == (100, 2) and np.all((s > 0) & (s < 1))


def test_pseudo_obs_and_correlation_beta() -> None:
    u = pseudo_obs([3.0, 1.0, 2.0, 2.0])
    assert list(u) == [4 / 5, 1 / 5, 2.5 / 5, 2.5 / 5]
    rng = np.random.default_rng(0)
    y = rng.standard_normal(2000)
    x = 1.5 * y + rng.standard_normal(2000)
    rho, beta = correlation_beta(x, y)
    assert beta == pytest.approx(1.5, abs=0.06)
    assert rho == pytest.approx(1.5 / math.sqrt(1.5**2 + 1), abs=0.02)


def test_bad_copula_input() -> None:
    with pytest.raises(RiskInputError, match="row 2"):
        pseudo_obs([1.0, 2.0, float("nan")])
    with pytest.raises(RiskInputError, match="align"):
        fit_copula(np.ones(50), np.ones(40))
    with pytest.raises(RiskInputError, match="family"):
        fit_copula(np.arange(50.0), np.arange(50.0), "gumbel")  # type: ignore[arg-type]
