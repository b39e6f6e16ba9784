"""`pycontrol ib test-gateway`: a TWS-API test gateway on loopback for dry runs."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from pycontrol.commands import add_command, add_sub
from pycontrol.commands.argtypes import PORT, positive_float


def register(sub: Any) -> None:
    p = add_command(sub, "ib")
    isub = p.add_subparsers(dest="ib_command", required=True, metavar="SUBCOMMAND")
    g = add_sub(
        isub,
        "test-gateway",
        "serve the TWS API on 127.0.0.1 (dry runs, tests); fills by the L3 simulator",
        "pycontrol ib test-gateway --port 4002 "
        "--data ../shared/data/dbn/nautilus/esh4-glbx-mdp3-20231225.mbo.dbn.zst",
    )
    g.add_argument("--port", type=PORT, default=4002, help="0..65535 (0: ephemeral)")
    g.add_argument(
        "--data",
        action="append",
        default=None,
        metavar="[ROOT=]FILE",
        help="MBO file whose book becomes a front month's ticks (and, l3, its fills); "
        "repeat as ROOT=FILE for a portfolio (e.g. --data ES=es.dbn --data NQ=nq.dbn); "
        "a bare FILE is --root's",
    )
    g.add_argument("--root", default="ES", help="the root of a bare --data FILE")
    g.add_argument(
        "--account-env",
        default="IB_TEST_ACCOUNT",
        help="env var with the account id to announce (default DU0000001)",
    )
    g.add_argument("--rate", type=positive_float, default=50.0, help="quote updates per second")
    g.add_argument("--no-auto-fill", action="store_true", help="orders rest until filled by hand")
    g.add_argument(
        "--venue",
        choices=("l3", "bbo"),
        default=None,
        help="who fills orders: l3 = the L3 simulated exchange over the --data MBO file "
        "(default with --data), bbo = at the quote (default without)",
    )
    g.set_defaults(func=_gateway)


def _gateway(args: argparse.Namespace) -> int:
    from pycontrol import CoreError
    from pycontrol.testing.ib_gateway import serve

    account = os.environ.get(args.account_env, "DU0000001")
    data: dict[str, str] = {}
    for item in args.data or []:
        root, sep, path = item.partition("=")
        if not sep:
            root, path = args.root, item
        if not root.isalnum() or not path or root in data:
            print(f"error: UsageError: ib test-gateway: --data {item!r}: want ROOT=FILE, each "
                  "root once", file=sys.stderr)  # fmt: skip
            return 2
        data[root] = path
    try:
        serve(args.port, data, args.root, account, args.rate, not args.no_auto_fill, args.venue)
    except ValueError as e:
        print(f"error: {type(e).__name__}: ib test-gateway: {e}", file=sys.stderr)
        return 2
    except CoreError as e:  # e.g. an L2 file for the l3 venue
        print(
            f"error: {type(e).__name__}: {e} (--venue bbo streams the BBO of any book file)",
            file=sys.stderr,
        )
        return 2
    return 0
