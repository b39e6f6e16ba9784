"""The ops service (`pycontrol serve`) against a running replay session, with the session's
notifications going through `pycontrol notify serve` to the Telegram double: every view needs
the token or the login cookie, the REST views and the scraped and parsed `/metrics` equal the
session's own status, the stream delivers, halt from the API halts the engine, the session's
start and halt arrive on Telegram, and a refused handshake shows up in the metrics."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import zmq
from opskit import Serve
from prometheus_client.parser import text_string_to_metric_families
from sessionkit import REPO, SessionProc, wait_for
from test_notify_service import TOKEN as BOT_TOKEN
from test_notify_service import NotifyProc
from test_session_rust import cli, rust_config

from pycontrol.notify.testdouble import TelegramDouble
from pycontrol.session.control_auth import KEYS_ENV


@pytest.fixture
def stack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[SessionProc, Serve, TelegramDouble, str]]:
    keys = tmp_path / "keys"
    monkeypatch.setenv(KEYS_ENV, str(keys))
    double = TelegramDouble(BOT_TOKEN, ("1001",)).start()
    ncfg = tmp_path / "notify.toml"
    ncfg.write_text(
        f'[notify]\ndb = "{tmp_path / "queue.sqlite"}"\nport = 0\n'
        f'[telegram]\nchat_id = "1001"\ntoken_env = "TEST_BOT_TOKEN"\n'
        f'base_url = "{double.base_url}"\nmin_interval_s = 0.0\n'
        '[routes]\n"*" = ["telegram"]\n'
    )
    env = {KEYS_ENV: str(keys), "TEST_BOT_TOKEN": BOT_TOKEN}
    notify = NotifyProc(ncfg, env, tmp_path / "notify.log")
    s = serve = None
    try:
        nurl = notify.url()
        data = tmp_path / "synth.mbo.dbn.zst"
        r = cli("data", "synth", "--out", str(data), "--events", "100000", "--seed", "5")
        assert r.returncode == 0, r.stderr
        run_dir = tmp_path / "run"
        cfg = rust_config(tmp_path, run_dir, data, exit_at_end=False, rate_hz=0)
        s = SessionProc(cfg, run_dir, env={**env, "PYCONTROL_NOTIFY_URL": nurl}, mode="replay")
        s.wait_ready(90)
        wait_for(lambda: s.cmd("status")["result"]["engine"]["done"], 120, "the end of data")
        serve = Serve(run_dir, {KEYS_ENV: str(keys)})
        yield s, serve, double, (keys / "service.token").read_text().strip()
    finally:
        if serve is not None:
            serve.stop()
        if s is not None:
            s.stop()
        notify.stop()
        double.stop()


def _metrics(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for fam in text_string_to_metric_families(text):
        for smp in fam.samples:
            out[(smp.name, tuple(sorted(smp.labels.items())))] = smp.value
    return out


def test_rest_metrics_stream_and_halt(
    stack: tuple[SessionProc, Serve, TelegramDouble, str],
) -> None:
    s, serve, double, token = stack
    base = serve.url
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, timeout=10) as c:
        # nothing without the token; the page sends you to the login form
        for path in ("/api/status", "/metrics", "/api/positions", "/api/stream"):
            assert c.get(path).status_code == 401, path
            assert c.get(path, headers={"Authorization": "Bearer nope"}).status_code == 401
        assert c.post("/api/halt").status_code == 401
        r = c.get("/", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/login"
        wait_for(lambda: c.get("/api/status", headers=auth).status_code == 200, 30, "status")

        # the figures are the session's own (its data has ended: they stay put)
        st = s.cmd("status")["result"]
        eng = st["engine"]
        got = c.get("/api/status", headers=auth).json()
        assert got["engine"]["fills"] == eng["fills"] and got["engine"]["equity"] == eng["equity"]
        assert c.get("/api/positions", headers=auth).json() == got["engine"]["positions"]
        lim = c.get("/api/limits", headers=auth).json()
        assert lim["engine"] == eng["limits"]
        assert lim["config"]["max_order_qty"] == 2 and lim["config"]["max_position"] == 3
        den = c.get("/api/denials", headers=auth).json()
        assert den["by_reason"] == eng["denials_by_reason"]
        assert c.get("/api/instruments", headers=auth).json() == st["venue"]["symbols"]
        assert c.get("/api/fills", headers=auth).json()["fills"] == eng["fills"]
        assert c.get("/api/model", headers=auth).json()["source"] == eng["model_source"]
        feed = c.get("/api/feed", headers=auth).json()
        assert feed["connected"] and feed["market_events"] == st["market_events"]

        # a stranger's handshake, then the metrics: parsed, equal to the status
        ctx: zmq.Context[Any] = zmq.Context()
        plain = ctx.socket(zmq.REQ)
        plain.setsockopt(zmq.LINGER, 0)
        plain.connect(json.loads((s.run_dir / "endpoints.json").read_text())["cmd"])
        plain.send(b'{"v": 1, "cmd": "shutdown"}')
        assert not plain.poll(1500)
        plain.close()
        ctx.term()
        wait_for(lambda: s.cmd("status")["result"]["control"]["auth_failures"] >= 1, 30, "counted")

        def scraped() -> dict[Any, float]:
            return _metrics(c.get("/metrics", headers=auth).text)

        wait_for(lambda: scraped()[("pycontrol_command_auth_failures_total", ())] >= 1, 30, "m")
        mm = scraped()
        st = s.cmd("status")["result"]
        eng = st["engine"]
        assert mm[("pycontrol_session_up", ())] == 1.0
        assert mm[("pycontrol_fills_total", ())] == eng["fills"]
        assert mm[("pycontrol_engine_intents_total", ())] == eng["intents"]
        assert mm[("pycontrol_equity", ())] == pytest.approx(eng["equity"])
        assert mm[("pycontrol_trading_state", (("state", eng["state"]),))] == 1.0
        for reason, n in eng["denials_by_reason"].items():
            assert mm[("pycontrol_denials_by_reason_total", (("reason", reason),))] == n
        for p in eng["positions"]:
            sym = (("symbol", p["symbol"]),)
            assert mm[("pycontrol_position", sym)] == p["qty"]
            assert mm[("pycontrol_realized_pnl", sym)] == pytest.approx(p["realized"])
        assert mm[("pycontrol_risk_limit", (("limit", "max_position"),))] == 3.0
        # book integrity per instrument, as the engine's books count it
        assert eng["books"], "the engine reports its books"
        for sym, b in eng["books"].items():
            assert mm[("pycontrol_book_crossed", (("symbol", sym),))] == float(b["crossed"])
            assert mm[("pycontrol_book_untrusted", (("symbol", sym),))] == float(b["untrusted"])
            for kind, n in b["anomalies"].items():
                key = ("pycontrol_book_anomalies_total", (("kind", kind), ("symbol", sym)))
                assert mm[key] == n
        assert mm[("pycontrol_command_auth_failures_total", ())] >= 1
        assert mm[("pycontrol_telemetry_dropped_total", ())] == st["telemetry"]["dropped"]
        # a replay's engine reports its event-to-intent latency like a live session's
        lat = c.get("/api/latency", headers=auth).json()
        assert eng["intents"] >= 1 and lat["n"] >= 1 and lat["p50_us"] > 0, lat
        assert mm[("pycontrol_event_to_intent_latency_us_count", ())] >= 1
        assert mm[("pycontrol_market_events_total", ())] == st["market_events"]

        # the stream: a status event within seconds
        with c.stream("GET", "/api/stream", headers=auth) as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            seen = []
            for line in r.iter_lines():
                seen.append(line)
                if line.startswith("data: ") and '"kind": "status"' in line:
                    break
            assert json.loads(seen[-1][6:])["data"]["engine"]["fills"] == eng["fills"]

        # the login cookie works for views, and for actions only with the action header
        r = c.post("/login", content=b"token=" + token.encode(), follow_redirects=False,
                   headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
        assert r.status_code == 303 and r.headers["location"] == "/"
        assert c.get("/api/status").status_code == 200
        assert c.post("/api/halt", json={"reason": "csrf"}).status_code == 401
        assert s.cmd("status")["result"]["engine"]["state"] != "HALTED"
        r = c.post("/api/halt", json={"reason": "ops test"},
                   headers={"X-Pycontrol-Action": "1"})  # fmt: skip
        assert r.status_code == 200 and r.json()["result"]["state"] == "HALTED"
    after = s.cmd("status")["result"]["engine"]
    assert after["state"] == "HALTED" and after["halt_reason"] == "ops test"
    # the session told Telegram it started and that it was halted
    wait_for(lambda: any(t.startswith("[halt]") for t in double.texts()), 30, "a halt alert")
    assert any(t.startswith("[session_start]") for t in double.texts())


def test_serve_is_loopback_by_default() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "pycontrol.cli", "serve", "--help"],
        capture_output=True, text=True, cwd=REPO, timeout=60,
    )  # fmt: skip
    assert r.returncode == 0 and "default 127.0.0.1" in r.stdout
