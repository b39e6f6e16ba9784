"""The TradingView alert payload (the alert's message body, JSON) and its refusals.

Every refusal is an :class:`AlertRefused` with a stable HTTP status and machine code
(docs/webhook.md lists them); a malformed field names the field.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from dataclasses import dataclass
from typing import Any

# code -> HTTP status: the contract with senders (docs/webhook.md)
CODES: dict[str, int] = {
    "BAD_SECRET": 401,
    "BAD_SIGNATURE": 401,
    "UNKNOWN_STRATEGY": 403,
    "BODY_TOO_LARGE": 413,
    "MALFORMED_JSON": 400,
    "INVALID_FIELD": 422,
    "UNKNOWN_INSTRUMENT": 404,
    "DUPLICATE_ALERT": 409,
    "STALE_ALERT": 408,
    "RATE_LIMITED": 429,
    "SESSION_NOT_TRADING": 503,
}

SIDES = {"buy": "BUY", "long": "BUY", "sell": "SELL", "short": "SELL"}
FIELDS = ("secret", "alert_id", "strategy", "instrument", "side", "price", "time", "qty")
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/@+ -]{0,127}")
_STRATEGY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_SYMBOL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.!-]{0,31}")


class AlertRefused(Exception):
    """An alert refused before it could become a signal: ``code`` (machine), ``status``
    (HTTP), ``detail`` (for the sender), ``field`` (the bad field, if one)."""

    def __init__(self, code: str, detail: str, field: str | None = None) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.status = CODES[code]
        self.detail = detail
        self.field = field

    def body(self, correlation_id: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"status": "refused", "code": self.code, "detail": self.detail}
        if self.field:
            out["field"] = self.field
        if correlation_id:
            out["correlation_id"] = correlation_id
        return out


@dataclass(frozen=True)
class Alert:
    """One validated alert. ``side`` is BUY or SELL; ``time_ns`` the alert's own time (UTC
    ns); ``qty`` the sender's quantity hint (journaled; sizing decides the order's)."""

    secret: str
    alert_id: str
    strategy: str
    instrument: str
    side: str
    price: float
    time_ns: int
    qty: int | None = None

    def journal_body(self) -> dict[str, Any]:
        """The alert as journaled: everything but the secret."""
        return {
            "alert_id": self.alert_id,
            "strategy": self.strategy,
            "instrument": self.instrument,
            "side": self.side,
            "price": self.price,
            "time_ns": self.time_ns,
            "qty": self.qty,
        }


def parse_json(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, or MALFORMED_JSON."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise AlertRefused("MALFORMED_JSON", f"the body is not JSON: {e}") from None
    if not isinstance(data, dict):
        raise AlertRefused("MALFORMED_JSON", f"expected a JSON object, got {type(data).__name__}")
    return data


def parse_time(v: object) -> int | None:
    """Epoch seconds or milliseconds (a number or digits), or ISO 8601 (TradingView's
    ``{{timenow}}``, with a Z or an offset; naive times are UTC), as UTC ns."""
    if isinstance(v, bool):
        return None
    if isinstance(v, str) and re.fullmatch(r"\d{9,13}(\.\d+)?", v.strip()):
        v = float(v)
    if isinstance(v, int | float):
        if not math.isfinite(v) or v <= 0:
            return None
        secs = v / 1000.0 if v > 1e11 else float(v)  # milliseconds from 1973 on
        return int(secs * 1e9)
    if isinstance(v, str):
        try:
            t = dt.datetime.fromisoformat(v.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
        if t.tzinfo is None:
            t = t.replace(tzinfo=dt.UTC)
        return int(t.timestamp() * 1e9)
    return None


def authenticated_secret(data: dict[str, Any]) -> str:
    """The payload's secret (checked before anything else is looked at)."""
    s = data.get("secret")
    if not isinstance(s, str) or not s:
        raise AlertRefused("BAD_SECRET", "missing or empty secret")
    return s


def parse_alert(data: dict[str, Any]) -> Alert:
    """Validates every field; the first bad one is refused by name (INVALID_FIELD)."""
    unknown = sorted(k for k in data if k not in FIELDS)
    if unknown:
        raise AlertRefused(
            "INVALID_FIELD", f"unknown field(s) {unknown} (known: {', '.join(FIELDS)})", unknown[0]
        )

    def bad(name: str, why: str) -> AlertRefused:
        return AlertRefused("INVALID_FIELD", f"{name}: {why}, got {data.get(name)!r}"[:300], name)

    aid = data.get("alert_id")
    if not isinstance(aid, str | int) or isinstance(aid, bool) or not _ID.fullmatch(str(aid)):
        raise bad("alert_id", "a non-empty id of at most 128 letters, digits and ._:/@+- ")
    strategy = data.get("strategy")
    if not isinstance(strategy, str) or not _STRATEGY.fullmatch(strategy):
        raise bad("strategy", "a strategy id (letters, digits, ._-)")
    inst = data.get("instrument")
    if not isinstance(inst, str) or not _SYMBOL.fullmatch(inst):
        raise bad("instrument", "a root or local symbol (e.g. ES or ESZ6)")
    side = data.get("side")
    if not isinstance(side, str) or side.strip().lower() not in SIDES:
        raise bad("side", "buy, sell, long or short")
    price = data.get("price")
    if isinstance(price, str):
        try:
            price = float(price)
        except ValueError:
            raise bad("price", "a number > 0") from None
    if isinstance(price, bool) or not isinstance(price, int | float):
        raise bad("price", "a number > 0")
    if not (math.isfinite(price) and price > 0):
        raise bad("price", "a number > 0")
    ts = parse_time(data.get("time"))
    if ts is None:
        raise bad("time", "ISO 8601 or epoch seconds/milliseconds")
    qty = data.get("qty")
    if qty is not None:
        if isinstance(qty, str) and qty.strip().isdigit():
            qty = int(qty)
        if isinstance(qty, bool) or not isinstance(qty, int) or not 0 < qty <= 10_000:
            raise bad("qty", "an integer 1..10000 (a hint; sizing decides)")
    return Alert(
        secret=str(data.get("secret", "")),
        alert_id=str(aid),
        strategy=strategy,
        instrument=inst.upper(),
        side=SIDES[side.strip().lower()],
        price=float(price),
        time_ns=ts,
        qty=qty,
    )
