"""Versioned, schema-checked messages of the session's ZeroMQ sockets (JSON, UTF-8).

- Commands (REQ -> ROUTER): ``{"v": 1, "cmd": <name>, "args": {...}, "id": <opaque>}``,
  optionally ``"override": true, "reason": <text>`` for a loosening command
  (:mod:`pycontrol.session.permissions`);
  replies ``{"v": 1, "ok": true, "result": {...}}`` or ``{"v": 1, "ok": false, "error":
  {"code": <code>, "message": <what and where>}}``.
- Telemetry (PUB): two frames, topic then ``{"v": 1, "topic": ..., "ts": <ns>, "seq": n,
  "data": {...}}``; topics in :data:`TOPICS`.

A message that is not JSON, has another version, an unknown command or wrong argument types
gets a :class:`MessageError` with a code; the socket owner answers it, it never crashes.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from typing import Any

SCHEMA_VERSION = 1

# name -> {arg: (type, required)}; None: any arguments, each a number (``set-risk-limits``
# takes any subset of the core's RiskLimits keys; the core names unknown keys and bad values).
COMMANDS: dict[str, dict[str, tuple[type, bool]] | None] = {
    "status": {},
    "set-risk-limits": None,
    "swap-model": {"model": (str, True)},
    "halt": {"reason": (str, False)},
    "resume": {},
    "reducing": {},
    "flatten": {},
    "shutdown": {},
}

TOPICS = (
    "signal",
    "order",
    "fill",
    "denial",
    "position",
    "pnl",
    "latency",
    "state",
    "reconcile",
)


class MessageError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Command:
    cmd: str
    args: dict[str, Any]
    id: Any = None
    override: bool = False
    reason: str | None = None


def _load(raw: bytes, what: str) -> dict[str, Any]:
    try:
        msg = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise MessageError("bad_json", f"{what}: not UTF-8 JSON ({e})") from None
    if not isinstance(msg, dict):
        raise MessageError("bad_schema", f"{what}: expected an object, got {type(msg).__name__}")
    v = msg.get("v")
    if v != SCHEMA_VERSION:
        raise MessageError(
            "bad_version", f"{what}: schema version {v!r} not supported (this is {SCHEMA_VERSION})"
        )
    return msg


def parse_command(raw: bytes) -> Command:
    """A schema-checked command, with its override (``override: true`` and a non-empty
    ``reason``) read beside the command's own checks, so every command carries it."""
    msg = _load(raw, "command")
    cmd = _command_from(msg)
    override, reason = msg.get("override", False), msg.get("reason")
    if not isinstance(override, bool):
        raise MessageError("bad_schema", f"command {cmd.cmd}: 'override' must be a bool")
    if reason is not None and not isinstance(reason, str):
        raise MessageError("bad_schema", f"command {cmd.cmd}: 'reason' must be a string")
    if override and not (reason or "").strip():
        raise MessageError(
            "bad_schema", f"command {cmd.cmd}: an override needs a non-empty 'reason'"
        )
    return dataclasses.replace(cmd, override=override, reason=reason)


def _command_from(msg: dict[str, Any]) -> Command:
    extra = set(msg) - {"v", "cmd", "args", "id", "override", "reason"}
    if extra:
        raise MessageError("bad_schema", f"command: unknown fields {sorted(extra)}")
    name = msg.get("cmd")
    if not isinstance(name, str):
        raise MessageError("bad_schema", f"command: 'cmd' must be a string, got {name!r}")
    if name not in COMMANDS:
        raise MessageError(
            "unknown_command", f"command {name!r} unknown (known: {', '.join(COMMANDS)})"
        )
    args = msg.get("args", {})
    if not isinstance(args, dict):
        raise MessageError("bad_schema", f"command {name}: 'args' must be an object")
    schema = COMMANDS[name]
    if schema is None:
        problems = [
            f"argument {k!r} must be a number, got {v!r}"
            for k, v in args.items()
            if isinstance(v, bool) or not isinstance(v, int | float) or v != v
        ]
        if not args:
            problems.append("at least one limit is needed")
        if problems:
            raise MessageError("bad_args", f"command {name}: " + "; ".join(problems))
        return Command(name, args, msg.get("id"))
    problems = [f"unknown argument {k!r}" for k in args if k not in schema]
    for arg, (typ, required) in schema.items():
        if arg not in args:
            if required:
                problems.append(f"missing argument {arg!r}")
            continue
        val = args[arg]
        if not isinstance(val, typ) or (typ is int and isinstance(val, bool)):
            problems.append(f"argument {arg!r} must be {typ.__name__}, got {val!r}")
    if problems:
        raise MessageError("bad_args", f"command {name}: " + "; ".join(problems))
    return Command(name, args, msg.get("id"))


def command(name: str, /, *, override: str | None = None, **args: Any) -> bytes:
    """A command message; ``override`` is the reason of an override (loosening commands)."""
    body: dict[str, Any] = {"v": SCHEMA_VERSION, "cmd": name, "args": args}
    if override is not None:
        body["override"] = True
        body["reason"] = override
    return json.dumps(body).encode()


def ok(result: dict[str, Any], req_id: Any = None) -> bytes:
    return json.dumps({"v": SCHEMA_VERSION, "ok": True, "id": req_id, "result": result}).encode()


def error(code: str, message: str, req_id: Any = None) -> bytes:
    body = {
        "v": SCHEMA_VERSION,
        "ok": False,
        "id": req_id,
        "error": {"code": code, "message": message},
    }
    return json.dumps(body).encode()


def parse_reply(raw: bytes) -> dict[str, Any]:
    msg = _load(raw, "reply")
    if not isinstance(msg.get("ok"), bool):
        raise MessageError("bad_schema", "reply: 'ok' must be a bool")
    return msg


def telemetry(topic: str, seq: int, data: dict[str, Any]) -> list[bytes]:
    if topic not in TOPICS:
        raise MessageError("bad_topic", f"telemetry topic {topic!r} unknown")
    body = {"v": SCHEMA_VERSION, "topic": topic, "ts": time.time_ns(), "seq": seq, "data": data}
    return [topic.encode(), json.dumps(body).encode()]


def parse_telemetry(frames: list[bytes]) -> dict[str, Any]:
    if len(frames) != 2:
        raise MessageError("bad_schema", f"telemetry: expected 2 frames, got {len(frames)}")
    msg = _load(frames[1], "telemetry")
    if msg.get("topic") != frames[0].decode(errors="replace") or msg["topic"] not in TOPICS:
        raise MessageError("bad_topic", f"telemetry: topic {msg.get('topic')!r} mismatched/unknown")
    return msg
