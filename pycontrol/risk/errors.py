"""The one error type of the risk models: bad parameters or bad input series."""

from __future__ import annotations

from pycontrol import ConfigError


class RiskInputError(ConfigError):
    """A risk-model parameter or input series is invalid; the message names what and where
    (parameter name, or the row of the first NaN)."""
