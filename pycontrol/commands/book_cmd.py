"""`pycontrol book ...`: replay files into order books and verify them."""

from __future__ import annotations

import argparse
from typing import Any

from pycontrol.commands import add_command, add_sub
from pycontrol.commands.argtypes import POSITIVE


def register(sub: Any) -> None:
    p = add_command(sub, "book")
    bsub = p.add_subparsers(dest="book_command", required=True, metavar="SUBCOMMAND")

    r = add_sub(
        bsub,
        "replay",
        "replay a DBN file into books and print the last rows and the counters",
        "pycontrol book replay FILE.mbo.dbn.zst --levels 5",
    )
    r.add_argument("path", help="DBN file (.dbn or .dbn.zst): MBO, MBP-1/10 or BBO")
    r.add_argument("--levels", type=POSITIVE, default=1, help="book levels per side (>= 1)")
    r.set_defaults(func=_replay)

    v = add_sub(
        bsub,
        "verify-lobster",
        "rebuild the book from a LOBSTER message file and check it against the orderbook "
        "file after every message",
        "pycontrol book verify-lobster --message M.csv --orderbook O.csv --levels 5",
    )
    v.add_argument("--message", required=True, help="LOBSTER message file (CSV, may be gzip)")
    v.add_argument("--orderbook", required=True, help="matching orderbook file")
    v.add_argument(
        "--levels", type=POSITIVE, required=True, help="levels in the orderbook file (>= 1)"
    )
    v.set_defaults(func=_verify_lobster)


def _replay(args: argparse.Namespace) -> int:
    from pycontrol.book import replay_book

    df, stats = replay_book(args.path, levels=args.levels, with_stats=True)
    print(df.tail(5))
    for k, v in stats.items():
        print(f"{k}: {v}")
    return 0


def _verify_lobster(args: argparse.Namespace) -> int:
    from pycontrol.lobster import verify_lobster

    s = verify_lobster(args.message, args.orderbook, args.levels)
    shown = s["first_mismatches"]
    for m in shown:
        print(f"mismatch: {m['text']}")
    if s["mismatches"] > len(shown):
        print(f"... {s['mismatches'] - len(shown)} more mismatches")
    # The last line is a stable, machine-readable summary.
    print(f"rows={s['rows']} seeded={s['seeded']} mismatches={s['mismatches']}")
    return 1 if s["mismatches"] > 0 else 0
