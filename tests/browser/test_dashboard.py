"""The ops dashboard in headless Chromium against a running replay session (Rust engine,
synthetic ES data) and a real `pycontrol serve`: login with the token, the page loads with no
console errors, the figures it shows equal `ctl status`, and its halt button (after the
confirmation step) halts the engine, journaled as the ops service's operator."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

from opskit import Serve
from sessionkit import SessionProc, wait_for
from test_session_rust import cli, rust_config

from pycontrol.session.control_auth import KEYS_ENV
from pycontrol.session.journal import Journal


@pytest.fixture
def running(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, Path, Serve]]:
    keys = tmp_path / "keys"
    monkeypatch.setenv(KEYS_ENV, str(keys))
    data = tmp_path / "synth.mbo.dbn.zst"
    r = cli("data", "synth", "--out", str(data), "--events", "100000", "--seed", "5")
    assert r.returncode == 0, r.stderr
    run_dir = tmp_path / "run"
    # flat out to the end of the data, then the session stays up: its figures stop moving
    cfg = rust_config(tmp_path, run_dir, data, exit_at_end=False, rate_hz=0)
    s = SessionProc(cfg, run_dir, env={KEYS_ENV: str(keys)}, mode="replay")
    serve = None
    try:
        s.wait_ready(90)
        wait_for(lambda: s.cmd("status")["result"]["engine"]["done"], 120, "the end of data")
        serve = Serve(run_dir, {KEYS_ENV: str(keys)})
        yield cfg, keys, serve
    finally:
        if serve is not None:
            serve.stop()
        s.stop()


def _ctl_status(cfg: Path) -> dict[str, Any]:
    r = cli("ctl", "--config", str(cfg), "status", "--json")
    if r.returncode != 0 and "unrecognized arguments: --json" in r.stderr:
        r = cli("ctl", "--config", str(cfg), "status")  # before the status table existed
    assert r.returncode == 0, r.stderr
    result: dict[str, Any] = json.loads(r.stdout)["result"]
    return result


def test_dashboard_shows_ctl_status_and_halts(
    running: tuple[Path, Path, Serve], browser: Any
) -> None:
    from selenium.webdriver.common.by import By

    cfg, keys, serve = running
    browser.get(serve.url + "/")  # not logged in: the login form
    assert browser.current_url.endswith("/login")
    browser.find_element(By.ID, "token").send_keys("wrong")
    browser.find_element(By.ID, "login").click()

    def refused() -> bool:
        """The refusal shown; False while the refused login's redirect reloads the page (an
        element found before the reload is stale after it)."""
        from selenium.common.exceptions import WebDriverException

        try:
            return bool(browser.find_element(By.ID, "failed").is_displayed())
        except WebDriverException:
            return False

    wait_for(refused, 20, "refusal")
    browser.get_log("browser")  # the refused login's 303 is not a page error: start clean
    browser.find_element(By.ID, "token").send_keys((keys / "service.token").read_text().strip())
    browser.find_element(By.ID, "login").click()

    def text(i: str) -> str:
        """The element's text, "" while the page is still navigating (not there, or gone)."""
        from selenium.common.exceptions import WebDriverException

        try:
            els = browser.find_elements(By.ID, i)
            return str(els[0].text) if els else ""
        except WebDriverException:  # stale: the page changed under us
            return ""

    wait_for(lambda: text("state") not in ("", "?") and text("equity") != "-", 60, "figures")
    wait_for(lambda: text("link") == "live", 30, "the stream")

    st = _ctl_status(cfg)
    eng = st["engine"]
    assert text("state") == eng["state"]
    assert text("equity") == f"{eng['equity']:.2f}"
    for k in ("fills", "intents", "denials", "working"):
        assert text(k) == str(eng[k]), k
    assert text("market-events") == str(st["market_events"])
    assert float(text("max-order-qty")) == eng["limits"]["max_order_qty"]
    assert float(text("max-position")) == eng["limits"]["max_position"]
    realized = sum(p["realized"] for p in eng["positions"])
    assert text("realized") == f"{realized:.2f}"
    for p in eng["positions"]:
        # read in one script call: the table is redrawn at every status poll, so an element
        # found by one call can be gone (stale) by the next
        qty = browser.execute_script(
            "const c = document.querySelector(arguments[0]); return c ? c.textContent : null;",
            f'#positions tr[data-symbol="{p["symbol"]}"] .qty',
        )
        assert qty == str(p["qty"]), (p["symbol"], qty)
    assert eng["fills"] > 0, "the replay traded: the comparison covers real figures"

    # halt: one click opens the confirmation, nothing is sent before it is confirmed
    browser.find_element(By.ID, "halt-btn").click()
    assert browser.find_element(By.ID, "confirm").is_displayed()
    time.sleep(1.0)
    assert _ctl_status(cfg)["engine"]["state"] == eng["state"]
    browser.find_element(By.ID, "confirm-yes").click()
    wait_for(lambda: text("state") == "HALTED", 30, "the page to show HALTED")
    after = _ctl_status(cfg)["engine"]
    assert after["state"] == "HALTED" and after["halt_reason"] == "ops dashboard"

    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == [], errors
    j = Journal(Path(cfg.read_text().split('run_dir = "')[1].split('"')[0]) / "journal.sqlite")
    try:
        cmds = [e["payload"] for e in j.events("command")]
    finally:
        j.close()
    assert {"by": "ops-service", "cmd": "halt"}.items() <= cmds[-1].items()
