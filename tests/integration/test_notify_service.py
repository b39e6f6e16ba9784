"""The notifications service as a real process (`pycontrol notify serve`) delivering through
python-telegram-bot to the Telegram Bot API double on loopback, and to a webhook: killed
(SIGKILL) mid-queue while it waits out a 429, restarted, every alert arrives exactly once and
in order, the 429's retry_after is honored across the restart, the bot token is in no log."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sessionkit import REPO, wait_for

from pycontrol.notify.client import NotifyUnavailable, post_event
from pycontrol.notify.testdouble import TelegramDouble
from pycontrol.session.control_auth import KEYS_ENV

TOKEN = "123456:TEST-double-token-abcdefghijklmnop"


class NotifyProc:
    def __init__(self, config: Path, env: dict[str, str], log: Path) -> None:
        self.log_path = log
        self.log = open(log, "a")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pycontrol.cli", "notify", "serve", "--config", str(config)],
            stdout=self.log, stderr=subprocess.STDOUT, cwd=REPO, env={**os.environ, **env},
        )  # fmt: skip

    def url(self) -> str:
        def find() -> str | None:
            if self.proc.poll() is not None:
                raise AssertionError(f"notify exited: {self.log_path.read_text()}")
            lines = self.log_path.read_text().splitlines()
            hits = [x for x in lines if x.startswith("notify service on ")]
            return hits[-1].split()[3].rstrip("/") if hits else None

        url: str = wait_for(find, 90, "the notify service")
        return url

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.log.close()


class Hook:
    """A webhook receiver on loopback."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        hook = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                hook.bodies.append(json.loads(self.rfile.read(n)))
                self.send_response(204)
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.t = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.t.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def setup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[TelegramDouble, Hook, Path, dict[str, str]]]:
    keys = tmp_path / "keys"
    monkeypatch.setenv(KEYS_ENV, str(keys))
    double = TelegramDouble(TOKEN, ("1001",)).start()
    hook = Hook()
    cfg = tmp_path / "notify.toml"
    cfg.write_text(
        f'[notify]\ndb = "{tmp_path / "queue.sqlite"}"\nport = 0\nmax_backoff_s = 2.0\n'
        'mute = ["drift"]\n'
        f'[telegram]\nchat_id = "1001"\ntoken_env = "TEST_BOT_TOKEN"\n'
        f'base_url = "{double.base_url}"\nmin_interval_s = 0.05\n'
        f'[[webhook]]\nname = "ops"\nurl = "{hook.url}"\n'
        '[routes]\n"*" = ["telegram"]\nhalt = ["telegram", "webhook:ops"]\n'
        'fill = ["webhook:ops"]\n'
    )
    env = {KEYS_ENV: str(keys), "TEST_BOT_TOKEN": TOKEN}
    try:
        yield double, hook, cfg, env
    finally:
        double.stop()
        hook.stop()


def _states(db: Path) -> dict[str, int]:
    con = sqlite3.connect(db)
    try:
        rows = con.execute(
            "SELECT state, COUNT(*) FROM deliveries WHERE sink = 'telegram' GROUP BY state"
        ).fetchall()
    finally:
        con.close()
    return dict(rows)


def test_kill_mid_queue_every_alert_arrives_once(
    setup: tuple[TelegramDouble, Hook, Path, dict[str, str]], tmp_path: Path
) -> None:
    double, hook, cfg, env = setup
    log, log2 = tmp_path / "notify.log", tmp_path / "notify-restarted.log"
    svc = NotifyProc(cfg, env, log)
    try:
        url = svc.url()
        token = (tmp_path / "keys" / "notify.token").read_text().strip()
        with pytest.raises(NotifyUnavailable, match="401"):
            post_event(url, "wrong", "halt", "x")
        for i in range(5):
            post_event(url, token, "error", f"alert {i:02d}", "test")
        wait_for(lambda: len(double.messages) == 5, 60, "the first five alerts")
        double.flood(1, retry_after=3)  # the next sendMessage: 429, retry after 3 s
        for i in range(5, 20):
            post_event(url, token, "error", f"alert {i:02d}", "test")
        wait_for(lambda: any(s == 429 for _, s in double.statuses()), 30, "the 429")
        svc.kill9()  # it is waiting out retry_after: nothing in flight, 15 alerts queued
        states = _states(tmp_path / "queue.sqlite")
        assert states == {"delivered": 5, "pending": 15}, states

        svc = NotifyProc(cfg, env, log2)
        url = svc.url()
        wait_for(lambda: len(double.messages) == 20, 90, "all twenty alerts")
        texts = double.texts()
        assert [t.split(": ", 1)[1] for t in texts] == [f"alert {i:02d}" for i in range(20)]
        assert all(t.startswith("[error] test: ") for t in texts)
        t429 = next(t for t, s in double.statuses() if s == 429)
        after = [t for t, s in double.statuses() if s == 200 and t > t429]
        assert after and after[0] - t429 >= 3.0, "retry_after honored across the restart"
        # the double has the message a moment before the service has committed "delivered"
        wait_for(
            lambda: _states(tmp_path / "queue.sqlite") == {"delivered": 20}, 30, "all delivered"
        )

        # routing and muting: halt goes to both sinks, fill only to the webhook, drift nowhere
        r = post_event(url, token, "halt", "halted by ops", "es-replay", {"reason": "news"})
        assert r["sinks"] == ["telegram", "webhook:ops"]
        assert post_event(url, token, "fill", "BUY 1 ESZ6", "es-replay")["sinks"] == ["webhook:ops"]
        assert post_event(url, token, "drift", "psi 0.3")["muted"] is True
        # the same id twice is one alert
        a = post_event(url, token, "error", "once", key="k-1")
        b = post_event(url, token, "error", "once", key="k-1")
        assert a["id"] == b["id"] and b["new"] is False
        wait_for(lambda: len(hook.bodies) == 2, 30, "the webhook deliveries")
        assert [x["event"] for x in hook.bodies] == ["halt", "fill"]
        assert hook.bodies[0]["data"] == {"reason": "news"}
        wait_for(lambda: len(double.messages) == 22, 30, "halt and once on telegram")
        assert double.texts()[20].startswith("[halt] es-replay: halted by ops")
        assert double.texts().count("[error] once") == 1
    finally:
        svc.stop()
    for p in (log, log2):
        assert TOKEN.split(":")[1] not in p.read_text(), "the bot token is never logged"
    assert "RetryAfter" in log.read_text(), "the log says what happened, token masked"


def test_bad_token_and_chat_are_dead_letters_without_the_token(
    setup: tuple[TelegramDouble, Hook, Path, dict[str, str]], tmp_path: Path
) -> None:
    double, _, cfg, env = setup
    cfg.write_text(cfg.read_text().replace('chat_id = "1001"', 'chat_id = "999"'))
    log = tmp_path / "notify.log"
    svc = NotifyProc(cfg, env, log)
    try:
        url = svc.url()
        token = (tmp_path / "keys" / "notify.token").read_text().strip()
        post_event(url, token, "error", "to nowhere")
        wait_for(lambda: _states(tmp_path / "queue.sqlite") == {"dead": 1}, 30, "a dead letter")
        con = sqlite3.connect(tmp_path / "queue.sqlite")
        err = con.execute("SELECT last_error FROM deliveries").fetchone()[0]
        con.close()
        assert "chat not found" in err.lower() and TOKEN not in err
        assert double.messages == []
    finally:
        svc.stop()
    assert TOKEN not in log.read_text()
