"""Batch bar features: ours (`pycontrol.compute_features`, the Rust streaming engine
stepped over the bars) against an equivalent polars-expression implementation of the same
default feature set (every kind, on 1m, 5m, 30m and 1h, coarse timeframes resampled with
`group_by_dynamic` and joined back as-of the base bar's end), on the same 1 M synthetic
one-minute bars.

"Equivalent" means the same features with the same windows, computed the way a polars
user would: rolling_* for windows, ewm_mean(adjust=False) for EMAs and Wilder averages
(seeded at the first value instead of by the SMA of the first n, which costs the same),
rolling_rank for the volatility percentile. Both sides return a DataFrame with one column
per feature. Each side is warmed up once, then timed `--repeat` times in one process
("warm": both reuse freed memory, polars through its allocator, ours through its pool of
feature columns); then each side is timed `--cold` times as the first computation of a
fresh process ("cold": every output page is new to both). Best and median wall seconds
are printed and written to bench/results/features_polars.json.

Run with `make bench`, or `.venv/bin/python bench/peers/features_polars.py --help`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from pycontrol import FeatureSet, compute_features  # noqa: E402

TFS = {"1m": 1, "5m": 5, "30m": 30, "1h": 60}


def synthetic_bars(n: int, seed: int = 7) -> pl.DataFrame:
    """A tick-size random walk of one-minute bars with occasional gaps."""
    rng = np.random.default_rng(seed)
    gaps = np.where(rng.random(n) < 0.02, rng.integers(2, 60, n), 1)
    ts = np.int64(1_704_067_200) * 10**9 + np.cumsum(gaps) * 60 * 10**9
    close = np.maximum(4800 + np.cumsum(np.round((rng.random(n) - 0.5) * 12) * 0.25), 1.0)
    open_ = np.concatenate([[4800.0], close[:-1]])
    high = np.maximum(open_, close) + np.floor(rng.random(n) * 3) * 0.25
    low = np.minimum(open_, close) - np.floor(rng.random(n) * 3) * 0.25
    vol = np.floor(rng.random(n) * 2000) + 1
    return pl.DataFrame(
        {"ts": ts, "open": open_, "high": high, "low": low, "close": close, "volume": vol}
    ).with_columns(pl.col("ts").cast(pl.Datetime("ns", "UTC")))


def kind_exprs() -> dict[str, pl.Expr]:
    """Every default bar kind as a polars expression over open/high/low/close/volume."""
    o, h, lo, c, v = (pl.col(x) for x in ("open", "high", "low", "close", "volume"))
    e: dict[str, pl.Expr] = {}
    for k in (1, 2, 3, 5, 10, 20):
        e[f"ret_{k}"] = c / c.shift(k) - 1
    for k in (10, 20):
        e[f"roc_{k}"] = 100 * (c / c.shift(k) - 1)
    for k in (5, 10, 20, 50, 200):
        e[f"sma_{k}"] = c.rolling_mean(k)
        e[f"dist_sma_{k}"] = c / c.rolling_mean(k) - 1
    ema = {k: c.ewm_mean(span=k, adjust=False) for k in (12, 26)}
    for k in (12, 26):
        e[f"ema_{k}"] = ema[k]
        e[f"dist_ema_{k}"] = c / ema[k] - 1
    macd = ema[12] - ema[26]
    sig = macd.ewm_mean(span=9, adjust=False)
    e["macd_12_26_9"], e["macd_signal_12_26_9"], e["macd_hist_12_26_9"] = macd, sig, macd - sig
    d = c.diff()

    def wilder(x: pl.Expr, n: int) -> pl.Expr:
        return x.ewm_mean(alpha=1 / n, adjust=False)

    for k in (7, 14, 21):
        g, loss = wilder(d.clip(lower_bound=0), k), wilder((-d).clip(lower_bound=0), k)
        e[f"rsi_{k}"] = 100 - 100 / (1 + g / loss)
    hh, ll = h.rolling_max(14), lo.rolling_min(14)
    e["stoch_k_14"] = 100 * (c - ll) / (hh - ll)
    e["stoch_d_14_3"] = (100 * (c - ll) / (hh - ll)).rolling_mean(3)
    e["willr_14"] = -100 * (hh - c) / (hh - ll)
    tp = (h + lo + c) / 3
    dtp = tp.diff()
    pos = pl.when(dtp > 0).then(tp * v).otherwise(0.0).rolling_sum(14)
    neg = pl.when(dtp < 0).then(tp * v).otherwise(0.0).rolling_sum(14)
    e["mfi_14"] = 100 * pos / (pos + neg)
    pc = c.shift(1)
    tr = pl.max_horizontal(h - lo, (h - pc).abs(), (lo - pc).abs())
    atr = wilder(tr, 14)
    e["atr_14"], e["natr_14"] = atr, 100 * atr / c
    mid, sd = c.rolling_mean(20), c.rolling_std(20, ddof=0)
    e["bb_width_20_2"] = 4 * sd / mid
    e["bb_pctb_20_2"] = (c - (mid - 2 * sd)) / (4 * sd)
    r1 = c / pc - 1
    e["std_ret_20"], e["std_ret_50"] = r1.rolling_std(20), r1.rolling_std(50)
    e["std_close_20"] = c.rolling_std(20)
    e["zscore_20"] = (c - mid) / sd
    e["obv"] = pl.when(c > pc).then(v).when(c < pc).then(-v).otherwise(0.0).cum_sum()
    for k in (20, 50):
        e[f"vwap_dist_{k}"] = c / ((tp * v).rolling_sum(k) / v.rolling_sum(k)) - 1
    e["vol_sma_20"] = v.rolling_mean(20)
    e["rel_vol_20"], e["rel_vol_50"] = v / v.rolling_mean(20), v / v.rolling_mean(50)
    ph, pl_, pcl = h.shift(1), lo.shift(1), c.shift(1)
    p = (ph + pl_ + pcl) / 3
    for name, lvl in {
        "p": p,
        "r1": 2 * p - pl_,
        "s1": 2 * p - ph,
        "r2": p + (ph - pl_),
        "s2": p - (ph - pl_),
    }.items():
        e[f"pivot_{name}"] = c / lvl - 1
    for k in (20, 50):
        e[f"dist_support_{k}"] = c / lo.rolling_min(k) - 1
        e[f"dist_resistance_{k}"] = c / h.rolling_max(k) - 1
    e["range_pct"] = (h - lo) / c
    e["body_pct"] = (c - o) / o
    e["upper_wick"] = (h - pl.max_horizontal(o, c)) / c
    e["lower_wick"] = (pl.min_horizontal(o, c) - lo) / c
    up, down = h.diff(), -lo.diff()
    pdm = pl.when((up > down) & (up > 0)).then(up).otherwise(0.0)
    mdm = pl.when((down > up) & (down > 0)).then(down).otherwise(0.0)
    pdi, mdi = 100 * wilder(pdm, 14) / atr, 100 * wilder(mdm, 14) / atr
    e["plus_di_14"], e["minus_di_14"] = pdi, mdi
    e["adx_14"] = wilder(100 * (pdi - mdi).abs() / (pdi + mdi), 14)
    pct = 100 * r1.rolling_std(20).rolling_rank(200, method="max") / 200
    e["vol_pctile_20_200"] = pct
    e["vol_regime_20_200"] = pl.when(pct <= 25).then(0).when(pct > 75).then(2).otherwise(1)
    rsi = e["rsi_14"]
    rv = e["rel_vol_20"]
    z = e["ret_10"] / (e["std_ret_20"] * 10**0.5)
    e["momentum_score"] = 0.4 * rsi + 30 * rv / (1 + rv) + 30 / (1 + (-z).exp())
    return e


def polars_features(df: pl.DataFrame) -> pl.DataFrame:
    kinds = kind_exprs()
    names = FeatureSet.default().names()
    out = [df.select("ts")]
    for tf, minutes in TFS.items():
        want = [n.removeprefix(f"tf{tf}_") for n in names if n.startswith(f"tf{tf}_")]
        exprs = [kinds[k].alias(f"tf{tf}_{k}") for k in want]
        if minutes == 1:
            out.append(df.select(exprs))
            continue
        coarse = df.group_by_dynamic("ts", every=tf, label="left").agg(
            pl.col("open").first(),
            pl.col("high").max(),
            pl.col("low").min(),
            pl.col("close").last(),
            pl.col("volume").sum(),
        )
        feats = coarse.select((pl.col("ts") + pl.duration(minutes=minutes)).alias("end"), *exprs)
        base_end = df.select((pl.col("ts") + pl.duration(minutes=1)).alias("end"))
        out.append(base_end.join_asof(feats, on="end").drop("end"))
    return pl.concat(out, how="horizontal")


def timed(fn: Callable[[], Any], repeat: int) -> dict[str, Any]:
    fn()
    walls = []
    for _ in range(repeat):
        t = time.perf_counter()
        res = fn()
        walls.append(time.perf_counter() - t)
        del res
    return {"best_s": min(walls), "median_s": statistics.median(walls), "runs": walls}


def cold(side: str, bars: int, runs: int) -> dict[str, Any]:
    """Wall seconds of the first computation in fresh processes (data made before timing)."""
    walls = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, __file__, "--one", side, "--bars", str(bars)],
            check=True,
            capture_output=True,
            text=True,
        )
        walls.append(float(out.stdout.strip().splitlines()[-1]))
    return {"best_s": min(walls), "median_s": statistics.median(walls), "runs": walls}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--bars", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--cold", type=int, default=3, help="fresh-process runs per side")
    ap.add_argument("--one", choices=["ours", "polars"], help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "features_polars.json")
    args = ap.parse_args()
    df = synthetic_bars(args.bars)
    fs = FeatureSet.default()
    if args.one:
        t = time.perf_counter()
        _ = compute_features(df, fs, "1m") if args.one == "ours" else polars_features(df)
        print(time.perf_counter() - t)
        return 0
    ours_df = compute_features(df, fs, "1m")
    theirs_df = polars_features(df)
    assert ours_df.columns == theirs_df.columns, "both sides compute the same columns"
    res = {
        "bars": args.bars,
        "features": len(fs),
        "feature_set_hash": fs.hash,
        "polars_threads": pl.thread_pool_size(),
        "cpus": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
        "ours": timed(lambda: compute_features(df, fs, "1m"), args.repeat),
        "polars": timed(lambda: polars_features(df), args.repeat),
    }
    if args.cold:
        res["ours_cold"] = cold("ours", args.bars, args.cold)
        res["polars_cold"] = cold("polars", args.bars, args.cold)
    print(f"{args.bars:,} bars x {len(fs)} features (polars threads {res['polars_threads']})")
    for mode in ("warm", "cold") if args.cold else ("warm",):
        key = "" if mode == "warm" else "_cold"
        ours, theirs = res[f"ours{key}"], res[f"polars{key}"]
        for side, r in (("ours", ours), ("polars", theirs)):
            print(f"  {side:<6} {mode}  best {r['best_s']:.3f} s  median {r['median_s']:.3f} s")
        res[f"speedup_{mode}_best"] = theirs["best_s"] / ours["best_s"]
        res[f"speedup_{mode}_median"] = theirs["median_s"] / ours["median_s"]
        print(
            f"  ours is {res[f'speedup_{mode}_best']:.2f}x faster (best), "
            f"{res[f'speedup_{mode}_median']:.2f}x (median), {mode}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
