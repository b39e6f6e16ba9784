"""``pycontrol notify serve``: the notifications microservice (FastAPI).

``POST /events`` (token: ``Authorization: Bearer``, the file ``notify.token`` beside the
control keys) takes ``{"event", "text", "source"?, "data"?, "id"?}``, routes it by event
(muted events are dropped and said so), and answers 202 once the alert and its deliveries
are in the durable queue. One worker per sink delivers in order: Telegram at most one message
per ``min_interval_s``, a 429's ``retry_after`` pauses the sink (persisted, so a restart still
waits), network errors back off exponentially with jitter up to ``max_backoff_s``, a
permanent refusal marks the delivery dead with its (token-free) error.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import random
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse

from pycontrol.notify.config import EVENTS, NotifyConfig
from pycontrol.notify.queue import Delivery, DurableQueue
from pycontrol.notify.sinks import RetryLater, TelegramSink, Undeliverable, WebhookSink, format_text
from pycontrol.session.control_auth import _private_dir, _write_private, keys_dir
from pycontrol.session.redact import RedactingFilter

log = logging.getLogger("pycontrol.notify")
TOKEN_FILE = "notify.token"


def ensure_notify_token(directory: Path | None = None) -> str:
    import secrets

    d = _private_dir(directory or keys_dir())
    path = d / TOKEN_FILE
    if not path.exists():
        _write_private(path, secrets.token_urlsafe(32) + "\n")
    return path.read_text().strip()


def mask_token_in_logs(token: str) -> None:
    """httpx logs every request URL at INFO, and the Bot API puts the token in the URL: mask
    it in every record of every handler, and keep httpx's request lines out of INFO."""
    if not token:
        return
    f = RedactingFilter([token])
    root = logging.getLogger()
    if not root.handlers:
        h: logging.Handler = logging.StreamHandler()
        h.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(h)
    for h in root.handlers:
        h.addFilter(f)
    for name in ("httpx", "httpcore", "telegram"):
        logging.getLogger(name).setLevel(logging.WARNING)
        logging.getLogger(name).addFilter(f)


class Deliverer:
    """The workers: one loop per sink over the durable queue."""

    def __init__(self, cfg: NotifyConfig, queue: DurableQueue) -> None:
        self.cfg = cfg
        self.queue = queue
        self.telegram: TelegramSink | None = None
        self.webhooks: dict[str, WebhookSink] = {}
        self.sent: dict[str, int] = {}
        self.failures: dict[str, int] = {}
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        if self.cfg.telegram is not None:
            try:
                self.telegram = TelegramSink(self.cfg.telegram)
            except Undeliverable as e:
                log.error("%s; telegram deliveries wait until it is set", e)
        for w in self.cfg.webhooks:
            self.webhooks[f"webhook:{w.name}"] = WebhookSink(w)
        for sink in self.cfg.sinks():
            self._tasks.append(asyncio.ensure_future(self._run(sink)))

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.telegram is not None:
            with contextlib.suppress(Exception):
                await self.telegram.close()
        for w in self.webhooks.values():
            await w.close()

    def wake(self) -> None:
        self._wake.set()

    async def _send(self, sink: str, d: Delivery) -> None:
        if sink == "telegram":
            if self.telegram is None:
                raise RetryLater("telegram: no bot token in the environment")
            await self.telegram.send(format_text(d.event, d.source, d.text, d.data))
        else:
            body = {"event": d.event, "source": d.source, "text": d.text, "data": d.data,
                    "alert_id": d.alert_id}  # fmt: skip
            await self.webhooks[sink].send_json(body)

    def _backoff(self, attempts: int) -> float:
        # full jitter: spread retries of many alerts instead of stampeding together
        return random.uniform(0, min(self.cfg.max_backoff_s, 0.5 * 2**attempts))

    async def _run(self, sink: str) -> None:
        interval = (
            self.cfg.telegram.min_interval_s if sink == "telegram" and self.cfg.telegram else 0.0
        )
        last = 0.0
        while True:
            now = time.time()
            d = self.queue.next_due(sink, now)
            if d is None:
                self._wake.clear()
                wait = max(0.05, min(1.0, self.queue.paused_until(sink) - now))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait)
                continue
            gap = last + interval - time.time()
            if gap > 0:  # the rate limit: one message per interval to the chat
                await asyncio.sleep(gap)
            last = time.time()
            try:
                await self._send(sink, d)
            except RetryLater as e:
                self.failures[sink] = self.failures.get(sink, 0) + 1
                if e.pause_sink and e.after_s is not None:
                    self.queue.pause(sink, time.time() + e.after_s)
                    self.queue.retry(d, 0.0, str(e))
                else:
                    self.queue.retry(d, time.time() + self._backoff(d.attempts), str(e))
                log.warning("delivery %s to %s: %s (will retry)", d.id, sink, e)
                continue
            except Undeliverable as e:
                self.failures[sink] = self.failures.get(sink, 0) + 1
                self.queue.dead(d, str(e))
                log.error("delivery %s to %s refused for good: %s", d.id, sink, e)
                continue
            self.queue.delivered(d)
            self.sent[sink] = self.sent.get(sink, 0) + 1


def create_app(cfg: NotifyConfig, token: str) -> FastAPI:
    queue = DurableQueue(cfg.db)
    deliverer = Deliverer(cfg, queue)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        deliverer.start()
        try:
            yield
        finally:
            await deliverer.stop()
            queue.close()

    app = FastAPI(title="pycontrol notify", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.queue = queue
    app.state.deliverer = deliverer

    def need(request: Request) -> None:
        h = request.headers.get("authorization", "")
        if not (h.lower().startswith("bearer ") and hmac.compare_digest(h[7:].strip(), token)):
            raise HTTPException(401, "notify token required (Authorization: Bearer)")

    @app.post("/events", status_code=202)
    async def post_event(request: Request) -> JSONResponse:
        need(request)
        try:
            body: Any = await request.json()
        except ValueError as e:
            raise HTTPException(400, f"body is not JSON: {e}") from None
        if not isinstance(body, dict):
            raise HTTPException(422, "body must be a JSON object")
        event, text = body.get("event"), body.get("text", "")
        problems = []
        if event not in EVENTS:
            problems.append(f"event must be one of {', '.join(EVENTS)}, got {event!r}")
        if not isinstance(text, str):
            problems.append("text must be a string")
        data = body.get("data", {})
        if not isinstance(data, dict):
            problems.append("data must be an object")
        key = body.get("id")
        if key is not None and not isinstance(key, str):
            problems.append("id must be a string")
        if problems:
            raise HTTPException(422, "; ".join(problems))
        assert isinstance(event, str)
        sinks = cfg.route(event)
        if not sinks:
            return JSONResponse({"muted": True, "event": event}, status_code=200)
        aid, new = queue.put(event, str(body.get("source", "")), text, data, sinks, key)
        deliverer.wake()
        return JSONResponse({"id": aid, "new": new, "sinks": sinks}, status_code=202)

    @app.get("/health")
    async def health(request: Request) -> JSONResponse:
        need(request)
        return JSONResponse(
            {
                "queue": queue.counts(),
                "sent": deliverer.sent,
                "failures": deliverer.failures,
                "paused_until": {s: queue.paused_until(s) for s in cfg.sinks()},
            }
        )

    @app.get("/deliveries")
    async def deliveries(request: Request) -> JSONResponse:
        need(request)
        return JSONResponse(queue.recent())

    return app


def serve(cfg: NotifyConfig, port: int | None = None) -> int:
    import socket

    import uvicorn

    token = ensure_notify_token()
    if cfg.telegram is not None:
        mask_token_in_logs(cfg.telegram.token())
    app = create_app(cfg, token)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # TCP_NODELAY
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((cfg.host, cfg.port if port is None else port))
    sock.listen(128)  # connections queue from here; the address is printed once it listens
    bound = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    print(
        f"notify service on http://{cfg.host}:{bound}/ (queue {cfg.db}, token in "
        f"{keys_dir() / TOKEN_FILE})",
        flush=True,
    )
    asyncio.run(server.serve(sockets=[sock]))
    return 0
