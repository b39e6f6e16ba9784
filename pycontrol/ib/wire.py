"""TWS API socket framing, as ib_async speaks it: every message is a 4-byte big-endian length
followed by NUL-terminated text fields. The handshake opens with ``API\\0`` and a framed
``v<min>..<max>`` version range; the server answers with a framed ``<version>\\0<time>\\0``.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable

# Announced by the test gateway: ib_async 2.1.0's MaxClientVersion. Every server-version
# dependent field in pycontrol/testing/ib_gateway.py is encoded for exactly this version.
SERVER_VERSION = 178
MIN_CLIENT_VERSION = 157

UNSET_DOUBLE = 1.7976931348623157e308
UNSET_INTEGER = 2**31 - 1

MAX_MESSAGE = 1 << 24  # a length above this is a corrupt or hostile stream, not a message


class WireError(Exception):
    """A malformed frame or field; the message says what and where."""


def fmt(v: object) -> str:
    """One field as text: None/unset as empty, bools as 1/0, floats without noise."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, float):
        if v == UNSET_DOUBLE or math.isnan(v):
            return ""
        if v.is_integer():
            return str(int(v)) if abs(v) < 1e15 else repr(v)
        return repr(v)
    return str(v)


def frame(fields: Iterable[object]) -> bytes:
    body = "".join(fmt(f) + "\0" for f in fields).encode()
    return struct.pack(">I", len(body)) + body


def split_frames(buf: bytearray) -> list[list[str]]:
    """Pops every complete frame off ``buf`` and returns each one's fields."""
    out: list[list[str]] = []
    while len(buf) >= 4:
        (n,) = struct.unpack(">I", bytes(buf[:4]))
        if n > MAX_MESSAGE:
            raise WireError(f"frame length {n} exceeds {MAX_MESSAGE}")
        if len(buf) < 4 + n:
            break
        text = bytes(buf[4 : 4 + n]).decode(errors="backslashreplace")
        del buf[: 4 + n]
        fields = text.split("\0")
        if fields and fields[-1] == "":
            fields.pop()
        out.append(fields)
    return out


def to_int(fields: list[str], i: int, what: str, default: int | None = None) -> int:
    try:
        s = fields[i]
    except IndexError:
        if default is not None:
            return default
        raise WireError(f"{what}: field {i} missing ({len(fields)} fields)") from None
    if s == "" and default is not None:
        return default
    try:
        return int(s)
    except ValueError:
        raise WireError(f"{what}: field {i} is not an integer: {s!r}") from None


def to_float(fields: list[str], i: int, what: str, default: float | None = None) -> float:
    try:
        s = fields[i]
    except IndexError:
        if default is not None:
            return default
        raise WireError(f"{what}: field {i} missing ({len(fields)} fields)") from None
    if s == "" and default is not None:
        return default
    try:
        return float(s)
    except ValueError:
        raise WireError(f"{what}: field {i} is not a number: {s!r}") from None


def to_str(fields: list[str], i: int, what: str) -> str:
    try:
        return fields[i]
    except IndexError:
        raise WireError(f"{what}: field {i} missing ({len(fields)} fields)") from None
