"""Backtest throughput against hftbacktest's L3 replay, interleaved on the same file.

Each round times hftbacktest's L3 replay (`HashMapMarketDepthBacktest` with its L3 FIFO queue
model, events converted once and kept in memory, run to the end: the `hftbacktest_replay`
case of book_peers.py) in this process, then runs one round of our engine
(`cargo run --release -p tradecore-bench --example backtest -- 1`, which times itself with
records in memory). Interleaving keeps both under the same machine load. Everything is in
records of the input file per second. Target: ours >= 1.5x hftbacktest.

Run: `.venv-bench/bin/python bench/peers/backtest_peers.py [--rounds 15]`
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from book_peers import DEFAULT_FILE, hbt_convert, hbt_replay  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--file", default=str(DEFAULT_FILE))
    args = ap.parse_args()
    path = Path(args.file)
    exe = REPO / "target" / "release" / "examples" / "backtest"
    subprocess.run(
        [
            "cargo",
            "build",
            "--quiet",
            "--release",
            "-p",
            "tradecore-bench",
            "--example",
            "backtest",
        ],
        check=True,
        cwd=REPO,
    )
    events = hbt_convert(path)
    hbt_replay(events)  # warm-up (numba compilation)
    env = {**os.environ, "BACKTEST_JSON": "1", "TRADECORE_BENCH_MBO": str(path)}
    hbt: list[float] = []
    ours: dict[str, list[float]] = {}
    records = 0
    for _ in range(args.rounds):
        t = time.perf_counter()
        hbt_replay(events)
        hbt.append(time.perf_counter() - t)
        out = subprocess.run([str(exe), "1"], check=True, capture_output=True, text=True, env=env)
        row = json.loads(out.stdout.strip().splitlines()[-1])
        records = int(row.pop("records"))
        for k, v in row.items():
            ours.setdefault(k, []).extend(v)
    h_best, h_med = min(hbt), statistics.median(hbt)
    print(f"{path.name}: {records} records, {args.rounds} interleaved rounds")
    print("| case | M rec/s best | M rec/s median | x hftbacktest (best) | x (median) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    print(
        f"| hftbacktest L3 replay (FIFO queue model, events in memory) "
        f"| {records / h_best / 1e6:.2f} | {records / h_med / 1e6:.2f} | 1.00 | 1.00 |"
    )
    for k, v in ours.items():
        b, m = min(v), statistics.median(v)
        print(
            f"| ours: {k} | {records / b / 1e6:.2f} | {records / m / 1e6:.2f} "
            f"| {h_best / b:.2f} | {h_med / m:.2f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
