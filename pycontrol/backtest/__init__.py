"""Backtest results: metrics (:mod:`pycontrol.backtest.metrics`) and the HTML report
(:mod:`pycontrol.backtest.report`) computed from a run folder (docs/backtest-outputs.md)."""

from pycontrol.backtest.metrics import compute_metrics
from pycontrol.backtest.report import write_report

__all__ = ["compute_metrics", "write_report"]
