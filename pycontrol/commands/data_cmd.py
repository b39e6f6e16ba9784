"""`pycontrol data ...`: data generation and ingestion."""

from __future__ import annotations

import argparse
import json
from typing import Any

from pycontrol.data.synth import ROOTS, synth_mbo


def register(sub: Any) -> None:
    p = sub.add_parser("data", help="synthetic data, ingestion and manifests")
    dsub = p.add_subparsers(dest="data_command", required=True)
    _register_synth(dsub)


def _register_synth(dsub: Any) -> None:
    s = dsub.add_parser(
        "synth", help="write synthetic CME MBO order flow as a DBN file (deterministic per seed)"
    )
    s.add_argument("--out", required=True, help="output path; zstd when it ends in .zst")
    s.add_argument("--events", type=int, required=True, help="live events after the snapshot")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument(
        "--instruments", nargs="+", default=["ES"], metavar="ROOT", help=f"roots: {' '.join(ROOTS)}"
    )
    s.add_argument("--mbp10", default=None, help="also write the MBP-10 ground truth here")
    s.add_argument("--json", action="store_true", help="print the summary as JSON")
    s.set_defaults(func=_synth)


def _synth(args: argparse.Namespace) -> int:
    summary = synth_mbo(args.out, args.events, args.seed, args.instruments, args.mbp10)
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(f"wrote {args.out}")
    for key in ("records", "events", "trades", "fills", "adds", "cancels", "modifies"):
        print(f"  {key:<10} {summary[key]:>12,}")
    if args.mbp10:
        print(f"  mbp10      {summary['mbp10_records']:>12,}  -> {args.mbp10}")
    for inst in summary["instruments"]:
        print(
            f"  {inst['symbol']:<6} id {inst['instrument_id']:<6} tick {inst['tick_size']:g} "
            f"x{inst['multiplier']}: {inst['events']:,} events, {inst['trades']:,} trades, "
            f"last {inst['last_bid']} / {inst['last_ask']}"
        )
    return 0
