"""The senders' side: the registry's promotion reaches the notifications service through
``emit`` (a real HTTP server on loopback standing in for it), nothing is posted without
``$PYCONTROL_NOTIFY_URL``, and a service that is down never breaks the caller; the session
hook turns telemetry into the right events, once each."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from pycontrol.notify.client import DENIAL_SPIKE, URL_ENV, Notifier, emit
from pycontrol.session.control_auth import KEYS_ENV


@pytest.fixture
def service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    got: list[dict[str, Any]] = []

    class H(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            n = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(n))
            body["auth"] = self.headers.get("Authorization")
            got.append(body)
            out = json.dumps({"id": len(got), "new": True, "sinks": ["telegram"]}).encode()
            self.send_response(202)
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "notify.token").write_text("tok\n")
    monkeypatch.setenv(KEYS_ENV, str(keys))
    monkeypatch.setenv(URL_ENV, f"http://127.0.0.1:{srv.server_address[1]}")
    try:
        yield got
    finally:
        srv.shutdown()
        srv.server_close()


def test_emit_posts_with_the_token(service: list[dict[str, Any]]) -> None:
    assert emit("promotion", "demo production: v1 -> v2", "registry", {"reason": "gates"})
    assert service == [
        {
            "event": "promotion",
            "text": "demo production: v1 -> v2",
            "source": "registry",
            "data": {"reason": "gates"},
            "auth": "Bearer tok",
        }
    ]


def test_emit_without_a_service_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(URL_ENV, raising=False)
    assert emit("error", "x", "t") is False
    monkeypatch.setenv(URL_ENV, "http://127.0.0.1:9")  # nothing listens: logged, not raised
    assert emit("error", "x", "t") is False


def test_session_hook_maps_telemetry_to_events(service: list[dict[str, Any]]) -> None:
    n = Notifier(os.environ[URL_ENV], "tok", "es-replay")
    n.on_session_event("state", {"event": "ready", "mode": "replay"})
    n.on_session_event("state", {"event": "heartbeat", "market_events": 5})
    n.on_session_event("fill", {"side": "BUY", "qty": 1, "symbol": "ESZ6", "price": 6000.25,
                                "exec_id": "sim-1", "client_order_id": 4})  # fmt: skip
    n.on_session_event("state", {"event": "halt", "reason": "news"})
    for _ in range(DENIAL_SPIKE + 5):
        n.on_session_event("denial", {"reason": "MAX_POSITION"})
    # the engine halting itself (a breaker), and a contract roll that waits
    n.on_session_event("state", {"event": "engine_state", "state": "REDUCING", "reason": "x"})
    n.on_session_event("state", {"event": "engine_state", "state": "HALTED", "reason": "breaker"})
    n.on_session_event("state", {"event": "roll_blocked", "root": "ES", "reason": "HALTED"})
    n.close()
    end = time.monotonic() + 10
    while len(service) < 6 and time.monotonic() < end:
        time.sleep(0.05)
    assert [x["event"] for x in service] == [
        "session_start", "fill", "halt", "denial_spike", "breaker", "roll",
    ]  # fmt: skip
    assert service[1]["id"] == "es-replay:fill:sim-1", "a fill's id is its execution id"
    assert len({x["id"] for x in service}) == 6
    assert service[2]["data"] == {"reason": "news"}
    assert service[4]["data"] == {"state": "HALTED", "reason": "breaker"}
    assert service[5]["data"] == {"root": "ES", "reason": "HALTED"}


def test_a_training_run_posts_its_outcome(service: list[dict[str, Any]], tmp_path: Path) -> None:
    from pycontrol.training.run import RunResult, _notify

    def result(passed: bool) -> RunResult:
        metrics = {"models": {"lgbm": {"aggregate": {"model": {"accuracy": 0.61}}},
                              "logreg": {"aggregate": {"model": {"accuracy": 0.55}}}}}  # fmt: skip
        return RunResult(tmp_path, metrics, {"lgbm": {"parity": {"passed": passed}}}, None, 12.0)

    _notify("regime", result(True))
    _notify("regime", result(False))
    assert [x["event"] for x in service] == ["training", "error"]
    assert service[0]["text"] == "regime trained in 12 s: best lgbm, export parity passed"
    assert service[0]["source"] == "training" and service[0]["data"]["best"] == "lgbm"
    assert "FAILED" in service[1]["text"]
