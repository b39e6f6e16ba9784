"""`pycontrol backtest --config configs/backtest/<name>.toml`: one backtest, one run folder
(optionally over a date range of the config's files or of the data manifest)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from pycontrol.commands import add_command


def register(sub: Any) -> None:
    p = add_command(sub, "backtest")
    p.add_argument("--config", required=True, help="TOML file, e.g. configs/backtest/es_mbo.toml")
    p.add_argument("--out", default=None, help="parent folder of the run folder (config: out)")
    p.add_argument("--run-id", default=None, help="run folder name (default: name_time_hash)")
    p.add_argument(
        "--start",
        default=None,
        metavar="WHEN",
        help="first UTC date/time of the data (YYYY-MM-DD or YYYY-MM-DDTHH:MM); files whose "
        "events lie in [start, end) are replayed",
    )
    p.add_argument("--end", default=None, metavar="WHEN", help="end (exclusive) of the range")
    p.add_argument(
        "--manifest",
        nargs="?",
        const="",
        default=None,
        metavar="ROOT",
        help="take the MBO files from the data manifest (ROOT, default $PYCONTROL_DATA_ROOT "
        "or ./data) instead of the config's data",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_backtest)


def _backtest(args: argparse.Namespace) -> int:
    from pycontrol.backtest.config import BacktestConfig
    from pycontrol.backtest.metrics import annualized_supported
    from pycontrol.backtest.run import manifest_files, parse_when, run_backtest

    cfg = BacktestConfig.load(args.config)
    start = parse_when(args.start, "--start") if args.start else None
    end = parse_when(args.end, "--end") if args.end else None
    paths = manifest_files(args.manifest or None) if args.manifest is not None else None
    print(f"backtest {cfg.name}: replaying the data through the engine", flush=True)
    folder = run_backtest(
        cfg,
        args.out,
        args.run_id,
        progress=not args.no_progress,
        start_ns=start,
        end_ns=end,
        paths=paths,
    )
    tele = json.loads((folder / "telemetry.json").read_text())
    print(f"run folder: {folder}")
    for k in ("records", "events", "signals", "decisions", "intents", "denials", "fills"):
        print(f"  {k:<10} {tele[k]:>10,}")
    print(f"  equity     {tele['equity']:>14,.2f}")
    metrics = json.loads((folder / "metrics.json").read_text())
    for k in ("total_return", "sharpe", "max_drawdown", "n_trades", "win_rate", "fees"):
        v = metrics.get(k)
        if k == "sharpe" and not annualized_supported(metrics):
            print(f"  {k:<13} n/a (sample too short to annualize)")
            continue
        print(f"  {k:<13} {v if v is None or isinstance(v, int) else round(float(v), 6)}")
    print(f"report: {folder / 'report.html'}")
    return 0
