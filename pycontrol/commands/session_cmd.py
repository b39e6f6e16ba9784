"""`pycontrol session`: run a trading session (replay | paper | live) from a config."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path
from typing import Any

from pycontrol.commands import add_command


def register(sub: Any) -> None:
    p = add_command(sub, "session")
    p.add_argument("--config", required=True, help="configs/session/<name>.toml")
    p.add_argument(
        "--mode",
        choices=["replay", "paper", "live"],
        default=None,
        help="default: the config's mode (paper unless it says otherwise)",
    )
    p.add_argument(
        "--confirm-live",
        action="store_true",
        help='required, with mode = "live" in the config, to trade live',
    )
    p.add_argument("--run-dir", default=None, help="journal and endpoints (default: config)")
    p.add_argument(
        "--serve",
        type=int,
        default=None,
        metavar="PORT",
        help="also run the ops service (dashboard, /metrics) on 127.0.0.1:PORT",
    )
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from pycontrol.session.config import SessionConfig
    from pycontrol.session.runtime import LiveModeRefused, Session, SessionLocked, check_mode

    os.umask(0o077)  # everything the session writes (journal, logs, endpoints) is owner-only
    cfg = SessionConfig.load(args.config)
    mode = args.mode or cfg.mode
    try:
        check_mode(cfg, mode, args.confirm_live)
    except LiveModeRefused as e:
        print(f"error: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
    if mode == "replay" and not cfg.replay.data:
        print(
            "error: ConfigError: replay mode needs [replay] data = <DBN file> in the config",
            file=sys.stderr,
        )
        return 2
    run_dir = Path(args.run_dir or cfg.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    for h in (logging.FileHandler(run_dir / "session.log"), logging.StreamHandler()):
        h.setFormatter(fmt)
        root.addHandler(h)
    from pycontrol._core import CoreError
    from pycontrol.ib.connect import IBConnectError
    from pycontrol.ib.contracts import ContractError

    ops = None
    if args.serve is not None:
        import subprocess

        # its own process: the ops service reads the session over its sockets only
        ops = subprocess.Popen(
            [sys.executable, "-m", "pycontrol.cli", "serve", "--run-dir", str(run_dir),
             "--port", str(args.serve)]
        )  # fmt: skip
    try:
        session = Session(cfg, mode, run_dir, confirm_live=args.confirm_live)
        return asyncio.run(session.run())
    except (IBConnectError, ContractError, SessionLocked, CoreError, FileNotFoundError) as e:
        # an expected failure to start (no gateway, wrong account kind, no contract): one
        # line, not a traceback; the journal has the session_start/stop around it
        print(f"error: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
    finally:
        if ops is not None:
            ops.terminate()
            ops.wait(10)
