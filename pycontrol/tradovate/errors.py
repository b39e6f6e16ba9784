"""Typed errors of the Tradovate client, each naming what failed and where (endpoint, order,
contract). They subclass the project's ``CoreError`` so the CLI reports them without a
traceback like every other error of the system."""

from __future__ import annotations

from pycontrol._core import ConfigError, CoreError


class TradovateError(CoreError):
    """Anything that went wrong talking to Tradovate."""


class TradovateConfigError(TradovateError, ConfigError):
    """The venue cannot run with this configuration (environment vs session mode, missing
    credentials); the message names the setting."""


class TradovateConnectError(TradovateError):
    """No connection (REST, WebSocket) could be established or it was lost."""


class TradovateAuthError(TradovateError):
    """An access token was refused or could not be obtained or renewed."""


class TradovateRequestError(TradovateError):
    """A request was answered with an error: ``endpoint``, HTTP or socket ``status`` and the
    server's text."""

    def __init__(self, endpoint: str, status: int, text: str) -> None:
        super().__init__(f"{endpoint}: status {status}: {text[:300]}")
        self.endpoint = endpoint
        self.status = status
        self.text = text


class TradovateOrderError(TradovateError):
    """An order command was refused (``failureReason`` / ``failureText``) or cannot be built
    from an intent."""


class TradovateContractError(TradovateError):
    """No tradable contract for a root or symbol."""
