"""The HTML report renders from a small synthetic run folder, self-contained."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
import polars as pl
from test_backtest_metrics import DAY, EQUITY, trades_frame, write_run

from pycontrol.backtest import write_report


def test_report_renders_self_contained(tmp_path: Path) -> None:
    denials = pl.DataFrame({"ts": [1], "intent_id": [1], "reason": ["PRICE_BAND"], "detail": ["x"]})
    rng = np.random.default_rng(1)
    run = write_run(
        tmp_path / "run-1",
        EQUITY,
        trades=trades_frame(),
        denials=denials,
        latency=rng.integers(2_000, 20_000, size=500),
    )
    out = write_report(run, n_trials=3)
    assert out == run / "report.html"
    doc = out.read_text()
    imgs = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', doc)
    assert len(imgs) == 5
    for b in imgs:
        assert base64.b64decode(b)[:8] == b"\x89PNG\r\n\x1a\n"
    # Nothing fetched from elsewhere.
    assert not re.search(r'(src|href)="(?!data:)', doc)
    for label in ("Sharpe", "Deflated Sharpe", "buy and hold", "Max drawdown", "p99.9"):
        assert label in doc
    m = json.loads((run / "metrics.json").read_text())
    assert m["n_trials"] == 3 and m["n_trades"] == 3


def test_report_of_an_empty_run(tmp_path: Path) -> None:
    run = write_run(tmp_path / "flat", [1e6] * 3, price=[10.0] * 3, step_ns=DAY)
    doc = write_report(run).read_text()
    assert "n/a" in doc and doc.count("data:image/png;base64,") == 5
