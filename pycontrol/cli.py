"""`pycontrol` command line. Each area registers its own sub-commands; this file only
wires them together and turns core errors into a one-line message and exit status 2."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pycontrol import CoreError
from pycontrol.commands import (
    backtest_cmd,
    book_cmd,
    ctl_cmd,
    data_cmd,
    demo_cmd,
    features_cmd,
    ib_cmd,
    journal_cmd,
    models_cmd,
    notify_cmd,
    risk_cmd,
    serve_cmd,
    session_cmd,
    train_cmd,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pycontrol", description="Control plane of the CME futures trading system."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    backtest_cmd.register(sub)
    book_cmd.register(sub)
    data_cmd.register(sub)
    demo_cmd.register(sub)
    features_cmd.register(sub)
    session_cmd.register(sub)
    ctl_cmd.register(sub)
    journal_cmd.register(sub)
    ib_cmd.register(sub)
    train_cmd.register(sub)
    models_cmd.register(sub)
    risk_cmd.register(sub)
    serve_cmd.register(sub)
    notify_cmd.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except CoreError as e:
        print(f"error: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
