"""`pycontrol serve`: the ops service (REST, stream, dashboard, /metrics, /predict) for one
running session, on 127.0.0.1 by default. Heavy imports happen in the function that runs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from pycontrol.commands import add_command
from pycontrol.commands.argtypes import PORT, positive_float


def register(sub: Any) -> None:
    p = add_command(sub, "serve")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--config", help="the session's config (its run_dir)")
    where.add_argument("--run-dir", help="the session's run directory")
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=PORT, default=8470, help="port (0: any free port)")
    p.add_argument("--registry", default="models", help="model registry for POST /predict")
    p.add_argument(
        "--poll", type=positive_float, default=1.0, help="status poll interval, seconds (> 0)"
    )
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from pycontrol.service.server import serve

    if args.run_dir:
        run_dir = Path(args.run_dir)
    else:
        from pycontrol.session.config import SessionConfig

        run_dir = Path(SessionConfig.load(args.config).run_dir)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: serving on {args.host}, not loopback", file=sys.stderr)
    return serve(run_dir, args.host, args.port, Path(args.registry), args.poll)
