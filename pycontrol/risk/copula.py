"""Bivariate copulas of an instrument against a reference: pseudo-observations, Gaussian,
Student-t and Clayton fits, and their tail-dependence coefficients.

Why ``statsmodels`` (``statsmodels.distributions.copula``) and not ``copulas``: ``copulas``
(0.14) has no Student-t copula and no tail dependence, and the t copula is the one that
captures joint crashes with a symmetric, non-zero tail coefficient. ``statsmodels`` has
Gaussian, Student-t and Clayton with ``logpdf``/``rvs``, which is what the ML fit of the t
copula's degrees of freedom and the tests' simulated samples need. Its Clayton has no
``dependence_tail``, so the tail coefficients here are the closed forms (below), which the
tests also compare with ``statsmodels``' t-copula values.

Fits use Kendall's tau, which is rank-based and so unaffected by the marginals:
Gaussian and t: rho = sin(pi tau / 2); Clayton: theta = 2 tau / (1 - tau) (needs tau > 0;
with tau <= 0 Clayton has no lower-tail dependence and theta is floored at ``CLAYTON_MIN``).
The t copula's nu is the maximum-likelihood value on ``NU_GRID`` given that rho.

Tail dependence (lambda_L, lambda_U): Gaussian (0, 0) for |rho| < 1; Student-t
2 t_{nu+1}(-sqrt((nu+1)(1-rho)/(1+rho))) in both tails; Clayton (2^(-1/theta), 0).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy import stats
from statsmodels.distributions.copula.api import (
    ClaytonCopula,
    GaussianCopula,
    StudentTCopula,
)

from pycontrol import _core
from pycontrol.risk.errors import RiskInputError
from pycontrol.risk.garch import check_returns

Family = Literal["gaussian", "t", "clayton"]
F64 = np.ndarray[Any, np.dtype[np.float64]]

NU_GRID = (2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 15.0, 20.0, 30.0, 50.0, 100.0)
CLAYTON_MIN = 1e-6
MIN_PAIRS = 30


def pseudo_obs(x: Any, what: str = "x") -> F64:
    """Ranks / (n + 1): uniform scores strictly inside (0, 1); ties get average ranks."""
    a = check_returns(x, what)
    return np.asarray(stats.rankdata(a), dtype=np.float64) / (a.size + 1)


def _pair(x: Any, y: Any) -> tuple[F64, F64]:
    a = check_returns(x, "x")
    b = check_returns(y, "y")
    if a.shape != b.shape:
        raise RiskInputError(f"x and y must align row by row: {a.shape} vs {b.shape}")
    if a.size < MIN_PAIRS:
        raise RiskInputError(f"need at least {MIN_PAIRS} aligned pairs, got {a.size}")
    return a, b


def t_tail(rho: float, nu: float) -> float:
    """Student-t copula tail dependence (same in both tails): the core's closed form, the
    one the engine feeds its risk score."""
    if not -1.0 < rho < 1.0:
        return 1.0 if rho >= 1.0 else 0.0
    if not nu > 0:
        raise RiskInputError(f"nu: expected > 0, got {nu}")
    return float(_core.t_copula_tail(float(rho), float(nu)))


def clayton_lower_tail(theta: float) -> float:
    if not theta > 0:
        raise RiskInputError(f"theta: Clayton needs theta > 0, got {theta}")
    return float(2.0 ** (-1.0 / theta))


@dataclass(frozen=True)
class CopulaFit:
    """A fitted copula: ``family``, its parameter (rho or theta), nu for t (else None),
    Kendall's tau of the data, tail coefficients and the log-likelihood on the data."""

    family: Family
    param: float
    nu: float | None
    tau: float
    tail_lower: float
    tail_upper: float
    loglik: float

    def sample(self, n: int, seed: int) -> F64:
        """``n`` draws (n x 2) from the fitted copula, reproducible by ``seed``."""
        return np.asarray(
            _sm(self.family, self.param, self.nu).rvs(n, rng=np.random.default_rng(seed))
        )


def _sm(family: Family, param: float, nu: float | None) -> Any:
    if family == "gaussian":
        return GaussianCopula(corr=param)
    if family == "t":
        return StudentTCopula(corr=param, df=nu)
    return ClaytonCopula(theta=param)


def _loglik(family: Family, param: float, nu: float | None, u: F64) -> float:
    return float(np.sum(_sm(family, param, nu).logpdf(u)))


def fit_copula(x: Any, y: Any, family: Family = "t") -> CopulaFit:
    """Fits ``family`` to the pseudo-observations of aligned series ``x`` and ``y``."""
    if family not in ("gaussian", "t", "clayton"):
        raise RiskInputError(f"family: expected 'gaussian', 't' or 'clayton', got {family!r}")
    a, b = _pair(x, y)
    u = np.column_stack([pseudo_obs(a, "x"), pseudo_obs(b, "y")])
    tau = float(stats.kendalltau(a, b).statistic)
    if not np.isfinite(tau):
        raise RiskInputError("x or y is constant: Kendall's tau is undefined")
    if family == "clayton":
        theta = max(2.0 * tau / (1.0 - tau), CLAYTON_MIN) if tau < 1 else 1e6
        ll = _loglik("clayton", theta, None, u)
        return CopulaFit("clayton", theta, None, tau, clayton_lower_tail(theta), 0.0, ll)
    rho = float(np.clip(np.sin(np.pi * tau / 2.0), -0.999, 0.999))
    if family == "gaussian":
        return CopulaFit("gaussian", rho, None, tau, 0.0, 0.0, _loglik("gaussian", rho, None, u))
    lls = [_loglik("t", rho, nu, u) for nu in NU_GRID]
    best = int(np.argmax(lls))
    nu = NU_GRID[best]
    lam = t_tail(rho, nu)
    return CopulaFit("t", rho, nu, tau, lam, lam, lls[best])


def correlation_beta(x: Any, y: Any) -> tuple[float, float]:
    """Pearson correlation of x with reference y, and beta = cov(x, y) / var(y)."""
    a, b = _pair(x, y)
    c = np.cov(a, b)
    if c[1, 1] <= 0 or c[0, 0] <= 0:
        raise RiskInputError("x or y is constant: correlation and beta are undefined")
    return float(c[0, 1] / np.sqrt(c[0, 0] * c[1, 1])), float(c[0, 1] / c[1, 1])
