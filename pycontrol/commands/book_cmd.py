"""`pycontrol book ...`: replay files into order books and verify them."""

from __future__ import annotations

import argparse
from typing import Any

from pycontrol.book import replay_book
from pycontrol.lobster import verify_lobster


def register(sub: Any) -> None:
    p = sub.add_parser("book", help="order-book replay and verification")
    bsub = p.add_subparsers(dest="book_command", required=True)

    r = bsub.add_parser("replay", help="replay a DBN file into books and print a summary")
    r.add_argument("path")
    r.add_argument("--levels", type=int, default=1)
    r.set_defaults(func=_replay)

    v = bsub.add_parser(
        "verify-lobster",
        help="rebuild the book from a LOBSTER message file and check it against the "
        "orderbook file after every message",
    )
    v.add_argument("--message", required=True, help="LOBSTER message file (CSV, may be gzip)")
    v.add_argument("--orderbook", required=True, help="matching orderbook file")
    v.add_argument("--levels", type=int, required=True, help="levels in the orderbook file")
    v.set_defaults(func=_verify_lobster)


def _replay(args: argparse.Namespace) -> int:
    df, stats = replay_book(args.path, levels=args.levels, with_stats=True)
    print(df.tail(5))
    for k, v in stats.items():
        print(f"{k}: {v}")
    return 0


def _verify_lobster(args: argparse.Namespace) -> int:
    s = verify_lobster(args.message, args.orderbook, args.levels)
    shown = s["first_mismatches"]
    for m in shown:
        print(f"mismatch: {m['text']}")
    if s["mismatches"] > len(shown):
        print(f"... {s['mismatches'] - len(shown)} more mismatches")
    # The last line is a stable, machine-readable summary.
    print(f"rows={s['rows']} seeded={s['seeded']} mismatches={s['mismatches']}")
    return 1 if s["mismatches"] > 0 else 0
