"""The training report in headless Chromium: no console error, and every chart (folds beside
the baselines, rank IC by horizon, calibration, importance, equity) draws its points."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from selenium.webdriver.common.by import By

from pycontrol.training.report import render, signal_quality

CLASSES = np.array([-1, 0, 1])


def _metrics(acc: float) -> dict[str, Any]:
    block = {"accuracy": acc, "balanced_accuracy": acc, "log_loss": 1.09}
    base = {"majority": {"accuracy": 0.37, "balanced_accuracy": 0.33, "log_loss": 1.1}}
    folds = [
        {"fold": k, "n_train": 100 * (k + 1), "n_test": 100, "model": block, "baselines": base}
        for k in range(3)
    ]
    agg = {
        "model": {**block, "accuracy_std": 0.01},
        "baselines": base,
        "best_baseline": "majority",
        "best_baseline_accuracy": 0.37,
        "accuracy_over_best_baseline": acc - 0.37,
    }
    return {"folds": folds, "aggregate": agg}


def test_training_report_page(browser: Any, tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    n = 600
    p = rng.dirichlet([2, 2, 2], size=n)
    y = CLASSES[rng.integers(0, 3, n)]
    close = 100 + np.cumsum(rng.normal(0, 0.1, n + 60))
    fold_of = np.arange(n) * 3 // n
    sq = signal_quality(p, CLASSES, (1,), (-1,), close, np.arange(n), fold_of)
    ts = np.datetime64("2026-01-05T14:30:00", "ns") + np.arange(n).astype("timedelta64[s]")
    doc = render(
        title="demo run x",
        config_text="family = 'demo'",
        splitter={"n_folds": 3},
        models={"lgbm": _metrics(0.41)},
        oof={"lgbm": p},
        y=y,
        classes=CLASSES,
        importance={"lgbm": {f"f{i}": float(i) for i in range(12)}},
        equity={"lgbm": (ts, rng.normal(0, 1, n))},
        strategy={
            "lgbm": {
                "net_pnl": 1.0,
                "changes": 3,
                "bars_in_market": 5,
                "threshold": 0.5,
                "cost_per_change": 0.2,
            }
        },
        exports={},
        notes=["a note"],
        header={"Data": "x.dbn (sha256 abc...)", "Code commit": "0123456789ab"},
        signal={"lgbm": sq},
    )
    page = tmp_path / "report.html"
    page.write_text(doc)
    browser.get_log("browser")
    browser.get(page.as_uri())
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
    expect = {"folds": 6, "ic": 6, "calibration": 3, "importance-0": 12, "equity": 50}
    for chart_id, least in expect.items():
        host = browser.find_element(By.ID, chart_id)
        assert int(host.get_attribute("data-points") or 0) >= least, chart_id
    assert "0123456789ab" in browser.find_element(By.TAG_NAME, "body").text
