"""`pycontrol ctl`: talk to a running session from another terminal (REQ socket).

Authenticated with the operator's CURVE key (``--operator``, keys in ``$PYCONTROL_KEYS_DIR``
or ``~/.config/pycontrol/keys``); loosening commands need ``--override --reason TEXT``.
Imports stay light (zmq and the message schema, imported where used): ``ctl halt`` is the
emergency stop.
"""

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
    p.add_argument("--operator", default="operator", help="whose CURVE key signs the command")
    csub = p.add_subparsers(dest="ctl_command", required=True, metavar="SUBCOMMAND")
    st = add_sub(
        csub,
        "status",
        "engine, venue and journal state (a table)",
        "pycontrol ctl --run-dir build/sessions/es-paper status",
    )
    st.add_argument("--json", action="store_true", help="the raw reply as JSON")
    h = add_sub(
        csub,
        "halt",
        "stop opening new orders",
        "pycontrol ctl --run-dir build/sessions/es-paper halt --reason news",
    )
    h.add_argument("--reason", default="operator")
    _override(
        add_sub(
            csub,
            "resume",
            "back to ACTIVE (loosening: --override --reason)",
            "pycontrol ctl --run-dir build/sessions/es-paper resume --override --reason checked",
        )
    )
    add_sub(
        csub,
        "reducing",
        "only orders that reduce a position (REDUCING)",
        "pycontrol ctl --run-dir build/sessions/es-paper reducing",
    )
    add_sub(
        csub,
        "flatten",
        "cancel working orders and close positions",
        "pycontrol ctl --run-dir build/sessions/es-paper flatten",
    )
    s = add_sub(
        csub,
        "swap-model",
        "switch the engine's model (production: the registry's production version)",
        "pycontrol ctl --run-dir build/sessions/es-paper swap-model production",
    )
    s.add_argument("model")
    _override(s)
    r = add_sub(
        csub,
        "set-risk-limits",
        "change pre-trade limits: any key of configs/risk/default.toml (looser than the "
        "session started with: --override --reason)",
        "pycontrol ctl --run-dir build/sessions/es-paper set-risk-limits "
        "--max-order-qty 1 --limit daily_loss_limit=2000",
    )
    _override(r)
    r.add_argument("--max-order-qty", type=int, default=None)
    r.add_argument("--max-position", type=int, default=None)
    r.add_argument(
        "--limit",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any other limit, e.g. --limit daily_loss_limit=2000 (repeatable)",
    )
    add_sub(
        csub,
        "shutdown",
        "stop the session",
        "pycontrol ctl --run-dir build/sessions/es-paper shutdown",
    )
    raw = add_sub(
        csub,
        "raw",
        "send one raw JSON message (for debugging)",
        """pycontrol ctl --run-dir build/sessions/es-paper raw '{"v": 1, "cmd": "status"}'""",
    )
    raw.add_argument("json")
    w = add_sub(
        csub,
        "watch",
        "print the session's telemetry (one JSON per line)",
        "pycontrol ctl --run-dir build/sessions/es-paper watch --topic state --count 5",
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
    if args.run_dir:
        run_dir = Path(args.run_dir)
    else:
        from pycontrol.session.config import SessionConfig  # only for --config

        run_dir = Path(SessionConfig.load(args.config).run_dir)
    eps = json.loads((run_dir / "endpoints.json").read_text())
    return str(eps[which])


def watch(ep: str, topics: list[str], count: int, seconds: float, operator: str) -> int:
    """Prints telemetry until ``count`` messages or ``seconds`` have passed (or Ctrl-C)."""
    import zmq

    from pycontrol.session import control_client
    from pycontrol.session import messages as m

    ctx: zmq.Context[Any] = zmq.Context.instance()
    sock = control_client.subscriber(ctx, ep, topics, operator)
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


def request(
    ep: str, body: bytes, timeout: float, operator: str = "operator"
) -> dict[str, Any] | None:
    """One authenticated request/reply; None when no reply came within ``timeout`` seconds."""
    from pycontrol.session import control_client

    return control_client.request(ep, body, timeout, operator)


def _run(args: argparse.Namespace) -> int:
    from pycontrol.session.control_auth import ControlAuthError

    c = args.ctl_command
    try:
        ep = endpoint(args, "pub" if c == "watch" else "cmd")
    except (OSError, KeyError, ValueError) as e:
        print(f"error: {type(e).__name__}: no session endpoint: {e}", file=sys.stderr)
        return 2
    override = getattr(args, "override", False)
    if override and not (args.reason or "").strip():
        print(
            "error: UsageError: --override needs --reason TEXT (it is journaled)", file=sys.stderr
        )
        return 2
    ov: str | None = args.reason if override else None
    try:
        if c == "watch":
            return watch(ep, args.topic, args.count, args.seconds, args.operator)
        return _send(ep, c, args, ov)
    except ControlAuthError as e:
        print(f"error: ControlAuthError: {e}", file=sys.stderr)
        return 2


def _send(ep: str, c: str, args: argparse.Namespace, ov: str | None) -> int:
    from pycontrol.session import messages as m

    if c == "raw":
        body = args.json.encode()
    elif c == "halt":
        body = m.command("halt", reason=args.reason)
    elif c == "swap-model":
        body = m.command("swap-model", model=args.model, override=ov)
    elif c == "set-risk-limits":
        body = m.command("set-risk-limits", override=ov, **_limits(args))
    else:
        body = m.command(c, override=ov)
    reply = request(ep, body, args.timeout, args.operator)
    if reply is None:
        print(f"error: TimeoutError: no reply from {ep} within {args.timeout} s", file=sys.stderr)
        return 2
    if c == "status" and not args.json and reply["ok"]:
        from pycontrol.commands.ctl_format import format_status

        print(format_status(reply["result"]))
    else:
        print(json.dumps(reply, indent=2))
    return 0 if reply["ok"] else 1


def _override(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--override",
        action="store_true",
        help="loosen risk beyond the config (journaled with your identity and --reason)",
    )
    p.add_argument("--reason", default=None, help="why (required with --override)")


def _limits(args: argparse.Namespace) -> dict[str, float]:
    """The limits named on the command line (the session's core validates keys and values)."""
    out: dict[str, float] = {}
    if args.max_order_qty is not None:
        out["max_order_qty"] = args.max_order_qty
    if args.max_position is not None:
        out["max_position"] = args.max_position
    for item in args.limit:
        key, sep, value = item.partition("=")
        try:
            out[key.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not key.strip():
            _usage(f"--limit {item!r}: expected KEY=NUMBER")
    if not out:
        _usage("set-risk-limits: name at least one limit")
    return out


def _usage(msg: str) -> None:
    print(f"error: UsageError: {msg}", file=sys.stderr)
    raise SystemExit(2)


def main(argv: list[str] | None = None) -> int:
    """``python -m pycontrol.commands.ctl_cmd ARGS`` = ``pycontrol ctl ARGS``, without the
    rest of the CLI: the shortest path from process start to a halt."""
    parser = argparse.ArgumentParser(prog="pycontrol")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["ctl", *(sys.argv[1:] if argv is None else argv)])
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
