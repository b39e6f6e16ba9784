"""Posting events to the notifications service, from sessions, training and the registry.

:func:`post_event` is one synchronous POST (stdlib only, so a caller pays no import cost).
:class:`Notifier` is the non-blocking form a session uses: events go to a small bounded
queue drained by one background thread, so the event loop never waits on HTTP; if the
service is down the notifier retries a few times and then logs (the service's durable queue
starts where its HTTP endpoint accepted the event).

The service is found through ``$PYCONTROL_NOTIFY_URL`` (for example
``http://127.0.0.1:8472``); without it :func:`notifier_from_env` returns None and nothing is
posted. The token is read from ``notify.token`` in the keys directory.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
import urllib.error
import urllib.request
from typing import Any

from pycontrol.session.control_auth import keys_dir

log = logging.getLogger("pycontrol.notify.client")
URL_ENV = "PYCONTROL_NOTIFY_URL"


class NotifyUnavailable(Exception):
    pass


def read_token() -> str:
    path = keys_dir() / "notify.token"
    try:
        return path.read_text().strip()
    except OSError as e:
        raise NotifyUnavailable(f"{path}: {e} (start `pycontrol notify serve` once)") from None


def post_event(
    url: str,
    token: str,
    event: str,
    text: str,
    source: str = "",
    data: dict[str, Any] | None = None,
    key: str | None = None,
    timeout: float = 5.0,
) -> dict[str, Any]:
    body: dict[str, Any] = {"event": event, "text": text, "source": source, "data": data or {}}
    if key is not None:
        body["id"] = key
    req = urllib.request.Request(
        url.rstrip("/") + "/events",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            out: dict[str, Any] = json.loads(r.read())
            return out
    except urllib.error.HTTPError as e:
        raise NotifyUnavailable(f"{url}: HTTP {e.code}: {e.read()[:200]!r}") from None
    except (urllib.error.URLError, OSError) as e:
        raise NotifyUnavailable(f"{url}: {e}") from None


def emit(event: str, text: str, source: str, data: dict[str, Any] | None = None) -> bool:
    """One event to the service at ``$PYCONTROL_NOTIFY_URL``, if set (training, the registry,
    scripts): True when it was accepted; a service that is down is logged, never raised, so an
    alert can not break what it reports on."""
    url = os.environ.get(URL_ENV)
    if not url:
        return False
    try:
        post_event(url, read_token(), event, text, source, data, timeout=3.0)
    except NotifyUnavailable as e:
        log.warning("notification %s not posted: %s", event, e)
        return False
    return True


# Session events worth a message (telemetry topic/event -> notification event).
SESSION_EVENTS = {
    ("state", "halt"): "halt",
    ("state", "resume"): "resume",
    ("state", "flatten"): "halt",
    ("state", "ready"): "session_start",
    ("state", "connectivity"): "reconnect",
    ("state", "disconnected"): "reconnect",
    ("state", "reconnected"): "reconnect",
    ("state", "roll_start"): "roll",
    ("state", "roll_blocked"): "roll",
    ("state", "roll_done"): "roll",
    ("state", "drift"): "drift",
    ("fill", None): "fill",
}
DENIAL_SPIKE = 20  # denials within one minute that make a "denial_spike"


class Notifier:
    def __init__(self, url: str, token: str | None, source: str, maxsize: int = 1000) -> None:
        # token None: read from the keys directory at the first send (the service may start
        # after the session and create it then)
        self.url, self.token, self.source = url, token, source
        self._q: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize)
        self.dropped = 0
        self.sent = 0
        self._denials: list[float] = []
        self._n = 0
        self._started = time.time_ns()
        self._t = threading.Thread(target=self._run, name="notify", daemon=True)
        self._t.start()

    def event(self, event: str, text: str, data: dict[str, Any] | None = None,
              key: str | None = None) -> None:  # fmt: skip
        if key is None:
            # every event its own id: a retried POST (a reply lost to a timeout) is one alert
            self._n += 1
            key = f"{self.source}:{os.getpid()}:{self._started}:{self._n}"
        try:
            self._q.put_nowait({"event": event, "text": text, "data": data or {}, "key": key})
        except queue.Full:
            self.dropped += 1

    def on_session_event(self, topic: str, data: dict[str, Any]) -> None:
        """The session's hook: every telemetry message passes here; the few that matter
        become notifications (halt, resume, fills, start/stop, connectivity, denial spikes)."""
        if topic == "denial":
            now = time.monotonic()
            self._denials = [t for t in self._denials if now - t < 60.0] + [now]
            if len(self._denials) == DENIAL_SPIKE:
                self.event("denial_spike", f"{DENIAL_SPIKE} denials within a minute",
                           {"last_reason": data.get("reason")})  # fmt: skip
            return
        if topic == "state" and data.get("event") == "engine_state":
            # the engine moved by itself: a daily-loss or drawdown breaker halted it
            if data.get("state") == "HALTED":
                self.event("breaker", f"breaker: engine HALTED ({data.get('reason')})",
                           {"state": data.get("state"), "reason": data.get("reason")})  # fmt: skip
            return
        name = SESSION_EVENTS.get((topic, data.get("event"))) or SESSION_EVENTS.get((topic, None))
        if name is None:
            return
        if name == "drift":
            text = (
                f"drift: {data.get('symbol')} {data.get('feature')} PSI {data.get('psi', 0):.2f}"
                f" KS {data.get('ks', 0):.2f} ({data.get('breached_features')} features)"
            )
            self.event("drift", text, {k: v for k, v in data.items() if k != "event"})
        elif name == "fill":
            text = (
                f"{data.get('side')} {data.get('qty')} {data.get('symbol')} @ {data.get('price')}"
            )
            self.event("fill", text, {k: data.get(k) for k in ("exec_id", "client_order_id")},
                       key=f"{self.source}:fill:{data.get('exec_id')}")  # fmt: skip
        else:
            detail = {
                k: v for k, v in data.items() if k != "event" and not isinstance(v, dict | list)
            }
            self.event(name, str(data.get("event")), detail)

    def close(self, timeout: float = 5.0) -> None:
        self._q.put(None)
        self._t.join(timeout)

    def _run(self) -> None:
        while True:
            item = self._q.get()
            if item is None:
                return
            for attempt in range(5):  # about 8 s of retries, then the event is logged
                try:
                    if self.token is None:
                        self.token = read_token()
                    post_event(self.url, self.token, item["event"], item["text"], self.source,
                               item["data"], item["key"], timeout=3.0)  # fmt: skip
                    self.sent += 1
                    break
                except NotifyUnavailable as e:
                    if attempt == 4:
                        log.warning("notification %s not posted: %s", item["event"], e)
                    else:
                        time.sleep(0.5 * 2**attempt)


def notifier_from_env(source: str) -> Notifier | None:
    url = os.environ.get(URL_ENV)
    if not url:
        return None
    return Notifier(url, None, source)
