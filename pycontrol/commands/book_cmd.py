"""`pycontrol book ...`: replay files into order books and verify them."""

from __future__ import annotations

import argparse
from typing import Any

from pycontrol.book import replay_book


def register(sub: Any) -> None:
    p = sub.add_parser("book", help="order-book replay and verification")
    bsub = p.add_subparsers(dest="book_command", required=True)

    r = bsub.add_parser("replay", help="replay a DBN file into books and print a summary")
    r.add_argument("path")
    r.add_argument("--levels", type=int, default=1)
    r.set_defaults(func=_replay)


def _replay(args: argparse.Namespace) -> int:
    df, stats = replay_book(args.path, levels=args.levels, with_stats=True)
    print(df.tail(5))
    for k, v in stats.items():
        print(f"{k}: {v}")
    return 0
