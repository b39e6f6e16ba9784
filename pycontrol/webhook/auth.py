"""Authentication of an alert: the shared secret in the payload (TradingView can send no
header of its own) and, where the sender can, an HMAC-SHA256 of the raw body in the
``X-Signature`` header (hex, optionally ``sha256=``-prefixed). Both compared in constant
time; the keys come from the environment variables the session config names."""

from __future__ import annotations

import hashlib
import hmac

from pycontrol.webhook.schema import AlertRefused

SIGNATURE_HEADER = "x-signature"


def sign(body: bytes, key: str) -> str:
    """The ``X-Signature`` value of ``body`` under ``key`` (what a sender computes)."""
    return "sha256=" + hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


def check_signature(body: bytes, header: str | None, key: str | None) -> None:
    """No key configured: nothing to check. Else the header must be the body's HMAC."""
    if not key:
        return
    if not header:
        raise AlertRefused("BAD_SIGNATURE", f"missing {SIGNATURE_HEADER} header (HMAC-SHA256)")
    given = header.strip().lower().removeprefix("sha256=")
    want = sign(body, key).removeprefix("sha256=")
    if not hmac.compare_digest(given.encode(), want.encode()):
        raise AlertRefused("BAD_SIGNATURE", "the signature does not match the body")


def check_secret(given: str, expected: str) -> None:
    """The payload's secret against the session's, in constant time."""
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        raise AlertRefused("BAD_SECRET", "the secret does not match")
