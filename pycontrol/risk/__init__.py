"""Risk models: GARCH/EGARCH volatility, VaR/CVaR and their out-of-sample backtest,
copulas with tail dependence, and the walk-forward risk features and score; and the
pre-trade risk limits (TOML) for the core's risk engine."""

from pycontrol.risk.backtest import (
    VarBacktest,
    WalkForward,
    backtest_var,
    christoffersen_ind,
    exceedance_test,
    kupiec_pof,
    walk_forward,
)
from pycontrol.risk.copula import (
    CopulaFit,
    clayton_lower_tail,
    correlation_beta,
    fit_copula,
    pseudo_obs,
    t_tail,
)
from pycontrol.risk.errors import RiskInputError
from pycontrol.risk.garch import GarchFit, fit_garch, var_cvar
from pycontrol.risk.limits import DEFAULT_LIMITS_PATH, load_risk_limits, risk_engine_from_toml
from pycontrol.risk.score import risk_features, risk_score

__all__ = [
    "DEFAULT_LIMITS_PATH",
    "CopulaFit",
    "GarchFit",
    "RiskInputError",
    "VarBacktest",
    "WalkForward",
    "backtest_var",
    "christoffersen_ind",
    "clayton_lower_tail",
    "correlation_beta",
    "exceedance_test",
    "fit_copula",
    "fit_garch",
    "kupiec_pof",
    "load_risk_limits",
    "pseudo_obs",
    "risk_engine_from_toml",
    "risk_features",
    "risk_score",
    "t_tail",
    "var_cvar",
    "walk_forward",
]
