"""Tradovate's WebSocket framing (SockJS-style): the server sends ``o`` (open), ``h``
(heartbeat), ``a[...]`` (a JSON array of messages) and ``c[code,"reason"]`` (close); the
client sends requests as text ``endpoint\\nrequestId\\nquery\\nbody`` and a heartbeat ``[]``.
One place spells the format out, for the client and the test double alike."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pycontrol.tradovate.errors import TradovateError

HEARTBEAT = "[]"


class FrameError(TradovateError):
    """A frame that is not one of o / h / a[...] / c[...] (the text is quoted, shortened)."""


@dataclass(frozen=True)
class Frame:
    """One server frame: ``kind`` is "o", "h", "a" or "c"; ``messages`` the decoded array of
    an "a" frame; ``code`` / ``reason`` of a "c" frame."""

    kind: str
    messages: tuple[dict[str, Any], ...] = ()
    code: int = 0
    reason: str = ""


def parse_frame(text: str) -> Frame:
    """Decodes one server frame; :class:`FrameError` for anything else."""
    if text in ("o", "h"):
        return Frame(text)
    if text[:1] in ("a", "c"):
        try:
            body = json.loads(text[1:])
        except json.JSONDecodeError as e:
            raise FrameError(f"frame {text[:80]!r}: bad JSON ({e})") from None
        if text[0] == "a":
            if not isinstance(body, list) or not all(isinstance(m, dict) for m in body):
                raise FrameError(f"frame {text[:80]!r}: 'a' must carry an array of objects")
            return Frame("a", tuple(body))
        if not isinstance(body, list) or len(body) != 2 or not isinstance(body[0], int):
            raise FrameError(f"frame {text[:80]!r}: 'c' must carry [code, reason]")
        return Frame("c", code=body[0], reason=str(body[1]))
    raise FrameError(f"frame {text[:80]!r}: unknown kind")


def encode_frame(messages: list[dict[str, Any]]) -> str:
    """An ``a`` frame of ``messages`` (the server side)."""
    return "a" + json.dumps(messages, separators=(",", ":"))


def encode_close(code: int, reason: str) -> str:
    return "c" + json.dumps([code, reason])


def encode_request(endpoint: str, request_id: int, body: Any = None, query: str = "") -> str:
    """A client request: endpoint, id, query and JSON body (``authorize`` carries the bare
    token as its body)."""
    text = body if isinstance(body, str) else ("" if body is None else json.dumps(body))
    return f"{endpoint}\n{request_id}\n{query}\n{text}"


@dataclass(frozen=True)
class Request:
    endpoint: str
    request_id: int
    query: str
    body: str

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


def parse_request(text: str) -> Request:
    """A client request (the test double's side); :class:`FrameError` when malformed."""
    parts = text.split("\n", 3)
    if len(parts) < 2 or not parts[1].isdigit():
        raise FrameError(f"request {text[:80]!r}: want endpoint\\nid\\nquery\\nbody")
    while len(parts) < 4:
        parts.append("")
    return Request(parts[0], int(parts[1]), parts[2], parts[3])
