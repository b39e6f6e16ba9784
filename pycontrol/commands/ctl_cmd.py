"""`pycontrol ctl`: talk to a running session from another terminal (REQ socket)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from pycontrol.commands import add_command, add_sub
from pycontrol.commands.argtypes import NONNEG, nonneg_float, positive_float

# zmq and pycontrol.session are imported where they are used: `ctl --help` stays fast.


def register(sub: Any) -> None:
    p = add_command(sub, "ctl")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--endpoint", help="the session's command endpoint (tcp://127.0.0.1:N)")
    where.add_argument("--config", help="the session's config (endpoint from its run_dir)")
    where.add_argument("--run-dir", help="the session's run directory")
    p.add_argument(
        "--timeout", type=positive_float, default=5.0, help="seconds to wait for a reply (> 0)"
    )
    csub = p.add_subparsers(dest="ctl_command", required=True, metavar="SUBCOMMAND")
    st = add_sub(
        csub,
        "status",
        "engine, venue and journal state (a table)",
        "pycontrol ctl --run-dir build/sessions/es-paper-rust status",
    )
    st.add_argument("--json", action="store_true", help="the raw reply as JSON")
    h = add_sub(
        csub,
        "halt",
        "stop opening new orders",
        "pycontrol ctl --run-dir build/sessions/es-paper-rust halt --reason news",
    )
    h.add_argument("--reason", default="operator")
    add_sub(
        csub,
        "resume",
        "back to ACTIVE",
        "pycontrol ctl --run-dir build/sessions/es-paper-rust resume",
    )
    add_sub(
        csub,
        "reducing",
        "only orders that reduce a position (REDUCING)",
        "pycontrol ctl --run-dir build/sessions/es-paper-rust reducing",
    )
    add_sub(
        csub,
        "flatten",
        "cancel working orders and close positions",
        "pycontrol ctl --run-dir build/sessions/es-paper-rust flatten",
    )
    s = add_sub(
        csub,
        "swap-model",
        "switch the engine's model (production: the registry's production version)",
        "pycontrol ctl --run-dir build/sessions/es-paper-rust swap-model production",
    )
    s.add_argument("model")
    r = add_sub(
        csub,
        "set-risk-limits",
        "change pre-trade limits",
        "pycontrol ctl --run-dir build/sessions/es-paper-rust set-risk-limits "
        "--max-order-qty 1 --max-position 2",
    )
    r.add_argument("--max-order-qty", type=int, required=True)
    r.add_argument("--max-position", type=int, required=True)
    add_sub(
        csub,
        "shutdown",
        "stop the session",
        "pycontrol ctl --run-dir build/sessions/es-paper-rust shutdown",
    )
    raw = add_sub(
        csub,
        "raw",
        "send one raw JSON message (for debugging)",
        """pycontrol ctl --run-dir build/sessions/es-paper-rust raw '{"v": 1, "cmd": "status"}'""",
    )
    raw.add_argument("json")
    w = add_sub(
        csub,
        "watch",
        "print the session's telemetry (one JSON per line)",
        "pycontrol ctl --run-dir build/sessions/es-paper-rust watch --topic state --count 5",
    )
    w.add_argument("--topic", action="append", default=[], help="only this topic (repeatable)")
    w.add_argument("--count", type=NONNEG, default=0, help="stop after N messages (0: no limit)")
    w.add_argument(
        "--seconds", type=nonneg_float, default=0.0, help="stop after S seconds (0: never)"
    )
    p.set_defaults(func=_run)


def endpoint(args: argparse.Namespace, which: str = "cmd") -> str:
    if args.endpoint:
        if which != "cmd":
            raise ValueError("--endpoint names the command socket; use --config or --run-dir")
        return str(args.endpoint)
    from pycontrol.session.config import SessionConfig

    run_dir = Path(args.run_dir) if args.run_dir else Path(SessionConfig.load(args.config).run_dir)
    eps = json.loads((run_dir / "endpoints.json").read_text())
    return str(eps[which])


def watch(ep: str, topics: list[str], count: int, seconds: float) -> int:
    """Prints telemetry until ``count`` messages or ``seconds`` have passed (or Ctrl-C)."""
    import zmq

    from pycontrol.session import messages as m

    ctx: zmq.Context[Any] = zmq.Context.instance()
    sock = ctx.socket(zmq.SUB)
    sock.setsockopt(zmq.LINGER, 0)
    for t in topics or [""]:
        sock.setsockopt(zmq.SUBSCRIBE, t.encode())
    sock.connect(ep)
    deadline = time.monotonic() + seconds if seconds > 0 else None
    n = 0
    try:
        while count == 0 or n < count:
            left = 1000 if deadline is None else int((deadline - time.monotonic()) * 1000)
            if left <= 0:
                break
            if not sock.poll(min(left, 1000)):
                continue
            try:
                msg = m.parse_telemetry(sock.recv_multipart())
            except m.MessageError as e:
                print(json.dumps({"error": e.code, "message": e.message}), file=sys.stderr)
                continue
            print(json.dumps(msg), flush=True)
            n += 1
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    return 0


def request(ep: str, body: bytes, timeout: float) -> dict[str, Any] | None:
    """One request/reply; None when no reply came within ``timeout`` seconds."""
    import zmq

    from pycontrol.session import messages as m

    ctx: zmq.Context[Any] = zmq.Context.instance()
    sock = ctx.socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(ep)
    try:
        sock.send(body)
        if not sock.poll(int(timeout * 1000)):
            return None
        return m.parse_reply(sock.recv())
    finally:
        sock.close()


def _run(args: argparse.Namespace) -> int:
    from pycontrol.session import messages as m

    c = args.ctl_command
    try:
        ep = endpoint(args, "pub" if c == "watch" else "cmd")
    except (OSError, KeyError, ValueError) as e:
        print(f"error: {type(e).__name__}: no session endpoint: {e}", file=sys.stderr)
        return 2
    if c == "watch":
        return watch(ep, args.topic, args.count, args.seconds)
    if c == "raw":
        body = args.json.encode()
    elif c == "halt":
        body = m.command("halt", reason=args.reason)
    elif c == "swap-model":
        body = m.command("swap-model", model=args.model)
    elif c == "set-risk-limits":
        body = m.command(
            "set-risk-limits", max_order_qty=args.max_order_qty, max_position=args.max_position
        )
    else:
        body = m.command(c)
    reply = request(ep, body, args.timeout)
    if reply is None:
        print(f"error: TimeoutError: no reply from {ep} within {args.timeout} s", file=sys.stderr)
        return 2
    if c == "status" and not args.json and reply["ok"]:
        from pycontrol.commands.ctl_format import format_status

        print(format_status(reply["result"]))
    else:
        print(json.dumps(reply, indent=2))
    return 0 if reply["ok"] else 1
