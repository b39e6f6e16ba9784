"""`pycontrol data ...`: data generation and ingestion."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pycontrol.commands import add_command, add_sub, manifest_cmd
from pycontrol.commands.argtypes import POSITIVE

# The generator's instrument roots (pycontrol.data.synth.ROOTS; a test keeps them equal):
# spelled out here so `data --help` does not load the core.
SYNTH_ROOTS = ("ES", "NQ", "RTY", "CL", "GC")


def register(sub: Any) -> None:
    p = add_command(sub, "data")
    dsub = p.add_subparsers(dest="data_command", required=True, metavar="SUBCOMMAND")
    _register_synth(dsub)
    _register_info(dsub)
    manifest_cmd.register(dsub)


def _register_synth(dsub: Any) -> None:
    s = add_sub(
        dsub,
        "synth",
        "write synthetic CME MBO order flow as a DBN file (deterministic per seed)",
        "pycontrol data synth --out build/synth/es.mbo.dbn.zst --events 100000 --seed 1",
    )
    s.add_argument(
        "--out",
        required=True,
        help="output path; zstd when it ends in .zst; missing folders are created",
    )
    s.add_argument(
        "--events", type=POSITIVE, required=True, help="live events after the snapshot (>= 1)"
    )
    s.add_argument("--seed", type=int, default=0)
    s.add_argument(
        "--instruments",
        nargs="+",
        default=["ES"],
        metavar="ROOT",
        help=f"roots: {' '.join(SYNTH_ROOTS)}",
    )
    s.add_argument("--mbp10", default=None, help="also write the MBP-10 ground truth here")
    s.add_argument("--json", action="store_true", help="print the summary as JSON")
    s.set_defaults(func=_synth)


def _synth(args: argparse.Namespace) -> int:
    from pycontrol.data.synth import synth_mbo

    for out in (args.out, args.mbp10):
        if out is not None:
            Path(out).parent.mkdir(parents=True, exist_ok=True)
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


def _register_info(dsub: Any) -> None:
    i = add_sub(
        dsub,
        "info",
        "summarise a DBN file (.dbn or .dbn.zst): schema, symbols, definitions, counts",
        "pycontrol data info ../shared/data/dbn/nautilus/esh4-glbx-mdp3-20231225.mbo.dbn.zst",
    )
    i.add_argument("path")
    i.add_argument("--json", action="store_true", help="print the full summary as JSON")
    i.set_defaults(func=_info)


def _ts(ns: int | None) -> str:
    if ns is None:
        return "-"
    return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%Y-%m-%d %H:%M:%S.%f UTC")


def _info(args: argparse.Namespace) -> int:
    from pycontrol.dbn import dbn_info

    info = dbn_info(args.path)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    kind = "zstd" if info["compressed"] else "plain"
    print(f"{info['path']}: DBN v{info['version']} ({kind}), {info['stream_bytes']} bytes")
    print(
        f"dataset {info['dataset']}, schema {info['schema']}, "
        f"stype {info['stype_in']} -> {info['stype_out']}"
    )
    print(f"query range {_ts(info['start'])} .. {_ts(info['end'])}")
    print(f"symbols {', '.join(info['symbols']) or '-'}")
    for raw, intervals in info["mappings"].items():
        for d0, d1, sym in intervals:
            print(f"  {raw}: {d0} .. {d1} -> {sym}")
    counts = ", ".join(f"{k} {v}" for k, v in info["record_counts"].items()) or "none"
    print(f"records {info['records']}: {counts}")
    print(f"ts_event {_ts(info['ts_event_min'])} .. {_ts(info['ts_event_max'])}")
    print(f"instrument ids {', '.join(map(str, info['instrument_ids'])) or '-'}")
    for inst in info["instruments"]:
        print(
            f"  {inst['raw_symbol']} (id {inst['instrument_id']}): tick {inst['tick_size']}, "
            f"multiplier {inst['multiplier']}, {inst['currency']} on {inst['exchange']}, "
            f"class {inst['instrument_class']}, expires {_ts(inst['expiration'])}"
        )
    return 0
