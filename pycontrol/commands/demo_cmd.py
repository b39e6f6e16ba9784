"""`pycontrol demo`: the main job on embedded data (grows with each capability).

Today: generate a synthetic two-instrument MBO file, replay it into L3 books in Rust and
print what came out (per-instrument last BBO, spread statistics, anomalies, timings).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import polars as pl

from pycontrol.book import replay_book
from pycontrol.data.synth import synth_mbo


def register(sub: Any) -> None:
    p = sub.add_parser("demo", help="run the end-to-end demo on synthetic data")
    p.add_argument("--out", default="build/demo")
    p.add_argument("--events", type=int, default=200_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--instruments", nargs="+", default=["ES", "NQ"], metavar="ROOT")
    p.set_defaults(func=_demo)


def _demo(args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "synth.mbo.dbn.zst"

    t0 = time.perf_counter()
    summary = synth_mbo(path, args.events, args.seed, args.instruments)
    t1 = time.perf_counter()
    df, stats = replay_book(path, levels=1, with_stats=True)
    t2 = time.perf_counter()

    print(f"synthetic MBO: {path} ({path.stat().st_size / 1e6:.1f} MB)")
    print(
        f"  generated {summary['records']:,} records / {summary['events']:,} events "
        f"({summary['trades']:,} trades) in {t1 - t0:.2f} s"
    )
    print(
        f"  replayed  {stats['records']:,} records / {stats['boundaries']:,} boundaries "
        f"into {stats['instruments']} L3 books in {t2 - t1:.2f} s"
    )
    print()
    with pl.Config(tbl_cols=-1, tbl_width_chars=200, tbl_hide_dataframe_shape=True):
        print(_per_instrument(df, summary))
    anomalies = {k: v for k, v in stats["anomalies"].items() if v}
    print(f"anomalies: {anomalies or 'none'}")
    print(f"elapsed: {time.perf_counter() - t0:.2f} s")
    return 0 if not anomalies else 1


def _per_instrument(df: pl.DataFrame, summary: dict[str, Any]) -> pl.DataFrame:
    """One row per instrument: last BBO and spread statistics in ticks."""
    ticks = pl.DataFrame(
        [
            {
                "instrument_id": i["instrument_id"],
                "symbol": i["symbol"],
                "tick": i["tick_size"],
                "trades": i["trades"],
            }
            for i in summary["instruments"]
        ],
        schema_overrides={"instrument_id": pl.UInt32},
    )
    spread = (pl.col("ask_px_00") - pl.col("bid_px_00")) / pl.col("tick")
    return (
        df.join(ticks, on="instrument_id")
        .group_by("symbol", maintain_order=True)
        .agg(
            pl.len().alias("rows"),
            pl.col("trades").first(),
            pl.col("bid_px_00").last().alias("last_bid"),
            pl.col("ask_px_00").last().alias("last_ask"),
            spread.mean().round(3).alias("spread_mean_ticks"),
            spread.min().alias("spread_min"),
            spread.max().alias("spread_max"),
            pl.col("crossed").sum().alias("crossed"),
        )
    )
