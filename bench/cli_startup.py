"""Start-up time of the command line: wall time of ``pycontrol --help``, ``pycontrol ctl
--help``, ``pycontrol --version`` and ``pycontrol backtest --help`` in fresh interpreters
(best and median of N runs), beside a bare ``python -c pass`` for the interpreter's own
start. ``--pythonpath`` points at another checkout to compare (e.g. before a change).

    .venv/bin/python bench/cli_startup.py [--runs 15] [--pythonpath /other/checkout]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

CASES = [
    ["-c", "pass"],
    ["-m", "pycontrol.cli", "--help"],
    ["-m", "pycontrol.cli", "ctl", "--help"],
    ["-m", "pycontrol.cli", "--version"],
    ["-m", "pycontrol.cli", "backtest", "--help"],
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--pythonpath", default=str(Path(__file__).resolve().parents[1]))
    args = ap.parse_args()
    env = {**os.environ, "PYTHONPATH": args.pythonpath}
    # cwd is the checkout too: `-m` puts the current folder first on sys.path
    print(f"checkout {args.pythonpath}, {args.runs} runs each, load {os.getloadavg()[0]:.1f}")
    for case in CASES:
        times = []
        label = " ".join(case[2:]) if case[0] == "-m" else "python -c pass"
        for _ in range(args.runs):
            t = time.perf_counter()
            r = subprocess.run(
                [sys.executable, *case], env=env, cwd=args.pythonpath, capture_output=True
            )
            times.append(time.perf_counter() - t)
            if r.returncode != 0:
                break
        if r.returncode != 0:
            print(f"  {label:<28} exits {r.returncode} (not supported by this checkout)")
            continue
        print(
            f"  {label:<28} best {min(times) * 1e3:7.0f} ms  "
            f"median {statistics.median(times) * 1e3:7.0f} ms"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
