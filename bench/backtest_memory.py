"""Memory across repeated backtests in one process: RSS after the first backtest and after
the 100th (each run builds the engine in the core, steps it to the end, and converts every
output table to polars, as `pycontrol backtest` does, without writing files). A leak in the
engine or the bindings shows as growth; the target is within 5 % of the first.

Run: `.venv/bin/python bench/backtest_memory.py [--runs 100] [--config CONFIG]`
(default config: configs/backtest/es_mbo.toml).
"""

from __future__ import annotations

import argparse
import gc
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from pycontrol.backtest.config import BacktestConfig  # noqa: E402
from pycontrol.backtest.run import drive, frames, make_run  # noqa: E402


def rss_mib() -> float:
    """Resident set size now (not the peak), from /proc."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def one(cfg: BacktestConfig) -> int:
    run, symbols = make_run(cfg)
    drive(run, cfg.chunk_records, progress=False)
    tables = frames(run, symbols)
    return tables["fills"].height


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--config", default=str(REPO / "configs/backtest/es_mbo.toml"))
    args = ap.parse_args()
    cfg = BacktestConfig.load(args.config)
    fills = one(cfg)
    gc.collect()
    first = rss_mib()
    for _ in range(args.runs - 1):
        assert one(cfg) == fills, "a rerun of the same config must fill the same"
    gc.collect()
    last = rss_mib()
    growth = (last - first) / first * 100
    print(f"backtests: {args.runs} x {cfg.name} ({fills} fills each)")
    print(f"RSS after the first: {first:.1f} MiB")
    print(f"RSS after run {args.runs}: {last:.1f} MiB ({growth:+.2f} %)")
    verdict = "PASS" if abs(growth) <= 5 else "FAIL"
    print(f"within 5 % of the first: {verdict}")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
