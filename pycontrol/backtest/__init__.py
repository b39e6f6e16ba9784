"""Backtest results: metrics (:mod:`pycontrol.backtest.metrics`) and the HTML report
(:mod:`pycontrol.backtest.report`) computed from a run folder (docs/backtest-outputs.md).

Loaded on first use (PEP 562): a session imports :mod:`pycontrol.backtest.config` for its
strategy and must not pay for scipy and the report (about a second) on every restart."""

from __future__ import annotations

from typing import Any

__all__ = ["compute_metrics", "write_report"]


def __getattr__(name: str) -> Any:
    if name == "compute_metrics":
        from pycontrol.backtest.metrics import compute_metrics

        return compute_metrics
    if name == "write_report":
        from pycontrol.backtest.report import write_report

        return write_report
    raise AttributeError(f"module 'pycontrol.backtest' has no attribute {name!r}")
