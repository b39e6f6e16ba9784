"""`pycontrol backtest --config configs/backtest/<name>.toml`: one backtest, one run folder."""

from __future__ import annotations

import argparse
import json
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("backtest", help="backtest over DBN MBO files with the simulated exchange")
    p.add_argument("--config", required=True, help="TOML file, e.g. configs/backtest/es_mbo.toml")
    p.add_argument("--out", default=None, help="parent folder of the run folder (config: out)")
    p.add_argument("--run-id", default=None, help="run folder name (default: name_time_hash)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_backtest)


def _backtest(args: argparse.Namespace) -> int:
    from pycontrol.backtest.config import BacktestConfig
    from pycontrol.backtest.run import run_backtest

    cfg = BacktestConfig.load(args.config)
    folder = run_backtest(cfg, args.out, args.run_id, progress=not args.no_progress)
    tele = json.loads((folder / "telemetry.json").read_text())
    print(f"run folder: {folder}")
    for k in ("records", "events", "signals", "decisions", "intents", "denials", "fills"):
        print(f"  {k:<10} {tele[k]:>10,}")
    print(f"  equity     {tele['equity']:>14,.2f}")
    metrics = json.loads((folder / "metrics.json").read_text())
    for k in ("total_return", "sharpe", "max_drawdown", "n_trades", "win_rate", "fees"):
        v = metrics.get(k)
        print(f"  {k:<13} {v if v is None or isinstance(v, int) else round(float(v), 6)}")
    print(f"report: {folder / 'report.html'}")
    return 0
