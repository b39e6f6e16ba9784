"""The ops service's credential: one token (created on first run, 0600, beside the CURVE
keys) sent as ``Authorization: Bearer <token>``, or typed once into the login form, which
sets an HttpOnly, SameSite=Strict session cookie. State-changing requests made with the
cookie must also carry ``X-Pycontrol-Action: 1`` (a header other sites cannot make a browser
send), so a page elsewhere cannot press the halt button for you."""

from __future__ import annotations

import hmac
import secrets
import time
from pathlib import Path

from pycontrol.session.control_auth import _private_dir, _write_private, keys_dir

TOKEN_FILE = "service.token"
COOKIE = "pycontrol_session"
ACTION_HEADER = "x-pycontrol-action"
SESSION_TTL_S = 12 * 3600


def ensure_token(directory: Path | None = None) -> str:
    d = _private_dir(directory or keys_dir())
    path = d / TOKEN_FILE
    if not path.exists():
        _write_private(path, secrets.token_urlsafe(32) + "\n")
    return path.read_text().strip()


class TokenAuth:
    def __init__(self, token: str) -> None:
        self.token = token
        self._sessions: dict[str, float] = {}  # cookie -> expiry
        self.failures = 0

    def check_token(self, presented: str | None) -> bool:
        ok = presented is not None and hmac.compare_digest(presented.encode(), self.token.encode())
        if not ok:
            self.failures += 1
        return ok

    def login(self, presented: str) -> str | None:
        if not self.check_token(presented):
            return None
        sid = secrets.token_urlsafe(32)
        self._sessions[sid] = time.time() + SESSION_TTL_S
        return sid

    def check_cookie(self, sid: str | None) -> bool:
        exp = self._sessions.get(sid or "")
        if exp is None or exp < time.time():
            self._sessions.pop(sid or "", None)
            return False
        return True

    def logout(self, sid: str | None) -> None:
        self._sessions.pop(sid or "", None)
