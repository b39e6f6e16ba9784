"""Event-to-intent latency in process: book -> features -> a real model -> decision -> sizing
-> risk gates, measured by the engine itself (wall clock, per decision) while it replays the
demo's traded session with the demo's production model.

The model is served twice: by ONNX Runtime (the exported graph, `backend = "onnx"`) and by
the core's native tree evaluator (`backend = "native"`). Needs `make demo` to have run (it
builds the registry); runs it first when it has not. Prints p50/p99/p99.9 and a log-spaced
histogram per backend and writes bench/results/engine_latency.json.

    .venv/bin/python bench/engine_latency.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np

from pycontrol.backtest.config import BacktestConfig
from pycontrol.backtest.run import run_backtest

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "build" / "demo"
TARGET_P99_NS = 20_000


def config(backend: str) -> BacktestConfig:
    raw = tomllib.loads((REPO / "configs/backtest/demo_model.toml").read_text())
    raw["data"] = [str(DEMO / "session-trade.mbo.dbn.zst")]
    raw["out"] = str(REPO / "build/bench/engine_latency")
    raw["signals"] = {**raw["signals"], "registry": str(DEMO / "registry"), "backend": backend}
    risk = tomllib.loads((REPO / "configs/risk/default.toml").read_text())
    raw["risk"] = {**risk, **raw.get("risk", {})}
    return BacktestConfig.from_dict(raw)


def histogram(ns: np.ndarray) -> list[tuple[str, int]]:
    edges = [0, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 1_000_000, np.inf]
    counts, _ = np.histogram(ns, bins=edges)
    labels = [f"<{int(e / 1000)}us" if np.isfinite(e) else ">=1ms" for e in edges[1:]]
    return list(zip(labels, counts.tolist(), strict=True))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3, help="backtests per backend")
    args = ap.parse_args()
    if not (DEMO / "registry").is_dir():
        subprocess.run([sys.executable, "-m", "pycontrol.cli", "demo"], check=True, cwd=REPO)
    results: dict[str, dict[str, object]] = {}
    for backend in ("onnx", "native"):
        samples = []
        for r in range(args.rounds):
            folder = run_backtest(config(backend), run_id=f"{backend}-{r}", progress=False)
            samples.append(np.load(folder / "latency.npy"))
        ns = np.concatenate(samples).astype(np.float64)
        p50, p99, p999 = np.percentile(ns, [50, 99, 99.9])
        results[backend] = {
            "decisions": int(ns.size),
            "p50_ns": float(p50),
            "p99_ns": float(p99),
            "p99.9_ns": float(p999),
            "max_ns": float(ns.max()),
            "histogram": histogram(ns),
        }
        print(
            f"{backend:6s} {ns.size:6d} decisions  p50 {p50 / 1e3:6.2f} us  p99 {p99 / 1e3:6.2f} us"
            f"  p99.9 {p999 / 1e3:7.2f} us  max {ns.max() / 1e3:8.1f} us"
            f"  (target p99 < {TARGET_P99_NS / 1e3:.0f} us: "
            f"{'met' if p99 < TARGET_P99_NS else 'NOT met'})"
        )
        print("       " + "  ".join(f"{label} {n}" for label, n in histogram(ns)))
    out = REPO / "bench/results/engine_latency.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
