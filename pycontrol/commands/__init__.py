"""CLI sub-commands, one module per area; each exposes `register(subparsers)`.

``COMMANDS`` is the table the top-level parser is built from: the module that implements a
command, its one-line summary and an example. ``pycontrol --help`` needs only this table, so it
imports no command module (and nothing heavy); ``pycontrol X ...`` imports X's module only.
Command modules keep their top-level imports light (argparse and the standard library) and
import numpy, polars, the core and the research stack inside the function that runs.
"""

from __future__ import annotations

import argparse
from typing import Any, NamedTuple


class Command(NamedTuple):
    module: str
    summary: str
    example: str


COMMANDS: dict[str, Command] = {
    "demo": Command(
        "pycontrol.commands.demo_cmd",
        "the whole chain on synthetic MBO: data, features, model, gates, backtest",
        "pycontrol demo --out build/demo",
    ),
    "data": Command(
        "pycontrol.commands.data_cmd",
        "synthetic data, file info, ingestion into the data manifest",
        "pycontrol data info ../shared/data/dbn/nautilus/esh4-glbx-mdp3-20231225.mbo.dbn.zst",
    ),
    "book": Command(
        "pycontrol.commands.book_cmd",
        "order-book replay and LOBSTER verification",
        "pycontrol book replay FILE.mbo.dbn.zst --levels 5",
    ),
    "features": Command(
        "pycontrol.commands.features_cmd",
        "feature sets and their reference (formula, window, warm-up)",
        "pycontrol features list --markdown",
    ),
    "train": Command(
        "pycontrol.commands.train_cmd",
        "train and evaluate a model family (walk-forward, baselines, ONNX export, report)",
        "pycontrol train --config configs/train/regime_hourly.toml",
    ),
    "models": Command(
        "pycontrol.commands.models_cmd",
        "model registry: versions, gates, aliases, audit",
        "pycontrol models list",
    ),
    "backtest": Command(
        "pycontrol.commands.backtest_cmd",
        "backtest over DBN MBO files with the simulated exchange (run folder + report)",
        "pycontrol backtest --config configs/backtest/es_mbo.toml",
    ),
    "runs": Command(
        "pycontrol.commands.runs_cmd",
        "list, show and compare backtest and training runs",
        "pycontrol runs compare build/demo/backtest/demo runs/backtest/RUN",
    ),
    "session": Command(
        "pycontrol.commands.session_cmd",
        "run a trading session (replay, paper or live)",
        "pycontrol session --config configs/session/es-paper.toml",
    ),
    "ctl": Command(
        "pycontrol.commands.ctl_cmd",
        "control a running session (status, halt, flatten, swap-model, ...)",
        "pycontrol ctl --config configs/session/es-paper.toml status",
    ),
    "journal": Command(
        "pycontrol.commands.journal_cmd",
        "inspect a session journal",
        "pycontrol journal show --run-dir build/sessions/es-paper",
    ),
    "serve": Command(
        "pycontrol.commands.serve_cmd",
        "the ops service of a running session: REST, stream, dashboard, /metrics, /predict",
        "pycontrol serve --run-dir build/sessions/es-replay",
    ),
    "notify": Command(
        "pycontrol.commands.notify_cmd",
        "the notifications service (Telegram Bot API, webhooks) and a Telegram test double",
        "pycontrol notify serve --config configs/notify/local-double.toml --telegram-double",
    ),
    "ib": Command(
        "pycontrol.commands.ib_cmd",
        "Interactive Brokers tools (TWS-protocol test gateway)",
        "pycontrol ib test-gateway --port 4002 --data FILE.mbo.dbn.zst",
    ),
    "scan": Command(
        "pycontrol.commands.scan_cmd",
        "momentum scanner: score a futures universe 0-100 and keep the strongest",
        "pycontrol scan --universe configs/universe/real-bars.toml",
    ),
    "risk": Command(
        "pycontrol.commands.risk_cmd",
        "risk models: fit the engine's GARCH/copula params",
        "pycontrol risk fit --bars BARS --timeframe 1m --out params.json",
    ),
}


def add_command(sub: Any, name: str, **kwargs: Any) -> argparse.ArgumentParser:
    """The parser of top-level command ``name``: its summary as help and description, its
    example in the epilog (what ``pycontrol NAME --help`` shows)."""
    c = COMMANDS[name]
    kwargs.setdefault("description", c.summary[0].upper() + c.summary[1:] + ".")
    kwargs.setdefault("epilog", f"example:\n  {c.example}")
    kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
    p: argparse.ArgumentParser = sub.add_parser(name, help=c.summary, **kwargs)
    return p


def add_sub(sub: Any, name: str, summary: str, example: str, **kwargs: Any) -> Any:
    """A second-level command (``data synth``, ``models list``) with the same shape."""
    kwargs.setdefault("description", summary[0].upper() + summary[1:] + ".")
    kwargs.setdefault("epilog", f"example:\n  {example}")
    kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
    return sub.add_parser(name, help=summary, **kwargs)
