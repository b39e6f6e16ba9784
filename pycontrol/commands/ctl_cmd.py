"""`pycontrol ctl`: talk to a running session from another terminal (REQ socket)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import zmq

from pycontrol.session import messages as m
from pycontrol.session.config import SessionConfig


def register(sub: Any) -> None:
    p = sub.add_parser("ctl", help="control a running session")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--endpoint", help="the session's command endpoint (tcp://127.0.0.1:N)")
    where.add_argument("--config", help="the session's config (endpoint from its run_dir)")
    where.add_argument("--run-dir", help="the session's run directory")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for a reply")
    csub = p.add_subparsers(dest="ctl_command", required=True)
    csub.add_parser("status", help="engine, venue and journal state")
    h = csub.add_parser("halt", help="stop opening new orders")
    h.add_argument("--reason", default="operator")
    csub.add_parser("resume", help="back to ACTIVE")
    csub.add_parser("flatten", help="cancel working orders and close positions")
    s = csub.add_parser("swap-model", help="switch the engine's model")
    s.add_argument("model")
    r = csub.add_parser("set-risk-limits", help="change pre-trade limits")
    r.add_argument("--max-order-qty", type=int, required=True)
    r.add_argument("--max-position", type=int, required=True)
    csub.add_parser("shutdown", help="stop the session")
    raw = csub.add_parser("raw", help="send one raw JSON message (for debugging)")
    raw.add_argument("json")
    p.set_defaults(func=_run)


def endpoint(args: argparse.Namespace) -> str:
    if args.endpoint:
        return str(args.endpoint)
    run_dir = Path(args.run_dir) if args.run_dir else Path(SessionConfig.load(args.config).run_dir)
    eps = json.loads((run_dir / "endpoints.json").read_text())
    return str(eps["cmd"])


def request(ep: str, body: bytes, timeout: float) -> dict[str, Any] | None:
    """One request/reply; None when no reply came within ``timeout`` seconds."""
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
    try:
        ep = endpoint(args)
    except (OSError, KeyError, ValueError) as e:
        print(f"error: no session endpoint: {e}", file=sys.stderr)
        return 2
    c = args.ctl_command
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
        print(f"error: no reply from {ep} within {args.timeout} s", file=sys.stderr)
        return 2
    print(json.dumps(reply, indent=2))
    return 0 if reply["ok"] else 1
