"""Risk models: GARCH/EGARCH volatility, VaR/CVaR and their out-of-sample backtest,
copulas with tail dependence, and the walk-forward risk features and score."""

from pycontrol.risk.errors import RiskInputError
from pycontrol.risk.garch import GarchFit, fit_garch, var_cvar

__all__ = ["GarchFit", "RiskInputError", "fit_garch", "var_cvar"]
