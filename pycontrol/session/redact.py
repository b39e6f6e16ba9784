"""Secrets never reach a log: a logging filter that replaces the values of the named
environment variables (account ids, tokens) in every record, installed on the root logger's
handlers before anything else logs. Third-party loggers (ib_async logs whole orders and
executions, account ids included) go through the same handlers, so they are covered too."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable

MASK = "***"


class RedactingFilter(logging.Filter):
    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        # Longest first, so a secret containing another is masked whole.
        self.secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for s in self.secrets:
            text = text.replace(s, MASK)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            msg = self.redact(record.getMessage())
            record.msg, record.args = msg, None
            if record.exc_info and record.exc_info[1] is not None:
                record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
                record.exc_info = None
        return True


def secret_values(env_names: Iterable[str]) -> list[str]:
    return [v for n in env_names if (v := os.environ.get(n))]


def install_redaction(env_names: Iterable[str]) -> RedactingFilter:
    """Adds the filter to every handler of the root logger (adding a stderr handler if there
    is none), so whatever logs later is redacted."""
    f = RedactingFilter(secret_values(env_names))
    root = logging.getLogger()
    if not root.handlers:
        h: logging.Handler = logging.StreamHandler()
        h.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(h)
    for h in root.handlers:
        h.addFilter(f)
    return f
