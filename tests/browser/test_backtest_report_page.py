"""The backtest report in headless Chromium: it loads from the file alone with no console
error, every chart draws its data, hover shows values and drag zooms (double-click resets).
The run is a real engine backtest (placebo signals on a synthetic MBO session)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By

from pycontrol.backtest.config import BacktestConfig
from pycontrol.backtest.run import run_backtest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("bt")
    raw = tomllib.loads((REPO / "configs/backtest/demo.toml").read_text())
    raw["synth"] = {**raw["synth"], "events": 60_000, "cache_dir": str(tmp / "cache")}
    raw["out"] = str(tmp / "runs")
    folder = run_backtest(BacktestConfig.from_dict(raw), run_id="page", progress=False)
    return folder / "report.html"


def _points(drv: Any, chart_id: str) -> int:
    return int(drv.find_element(By.ID, chart_id).get_attribute("data-points") or 0)


def test_report_loads_without_console_errors_and_draws(browser: Any, report: Path) -> None:
    browser.get_log("browser")  # start from an empty console
    browser.get(report.as_uri())
    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == []
    for chart_id in ("equity", "drawdown", "position", "trades"):
        host = browser.find_element(By.ID, chart_id)
        assert host.find_elements(By.CSS_SELECTOR, "svg path.series"), chart_id
        assert _points(browser, chart_id) > 50, chart_id
    # the trades chart carries entry/exit markers, the header names data hash and commit
    assert browser.find_elements(By.CSS_SELECTOR, "#trades path.marker")
    text = browser.find_element(By.TAG_NAME, "body").text
    for label in ("sha256", "Code commit", "What limited trading", "Daily returns", "exit reason"):
        assert label in text, label
    assert "n/a (" in text  # a sub-day sample: annualized figures are marked, not printed


def test_hover_and_zoom(browser: Any, report: Path) -> None:
    browser.get(report.as_uri())
    host = browser.find_element(By.ID, "equity")
    svg = host.find_element(By.TAG_NAME, "svg")
    w = svg.size["width"]
    ActionChains(browser).move_to_element_with_offset(svg, 0, 0).perform()
    tip = host.find_element(By.CLASS_NAME, "tip")
    assert tip.is_displayed() and "strategy:" in tip.text
    before = [float(v) for v in (host.get_attribute("data-domain") or "").split(",")]
    (
        ActionChains(browser)
        .move_to_element_with_offset(svg, -w // 4, 0)
        .click_and_hold()
        .move_by_offset(w // 4, 0)
        .release()
        .perform()
    )
    host = browser.find_element(By.ID, "equity")
    after = [float(v) for v in (host.get_attribute("data-domain") or "").split(",")]
    assert before[0] < after[0] < after[1] < before[1]
    assert (after[1] - after[0]) < 0.5 * (before[1] - before[0])
    ActionChains(browser).double_click(host.find_element(By.TAG_NAME, "svg")).perform()
    reset = browser.find_element(By.ID, "equity").get_attribute("data-domain")
    assert [float(v) for v in (reset or "").split(",")] == before
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
