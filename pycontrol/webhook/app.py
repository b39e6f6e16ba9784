"""The webhook's ASGI app (Starlette) and its server inside the session's event loop.

``POST /webhook``: the body is read up to the configured maximum (a larger one is refused
BODY_TOO_LARGE without reading the rest), then handed as raw bytes (the HMAC is over them)
to the session's alert desk, whose answer is the response: 202 with the correlation id and
the verdict, or the refusal's status and code. ``GET /healthz``: liveness. The server binds
127.0.0.1 only and runs as a task of the session's loop, so the engine (single-threaded)
is only ever touched from that loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any, Protocol

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from pycontrol.webhook.auth import SIGNATURE_HEADER


class AlertHandler(Protocol):
    """What the app calls (the session's :class:`pycontrol.session.alerts.AlertDesk`)."""

    max_body_bytes: int

    def on_alert(
        self, body: bytes, signature: str | None, *, oversize: bool = False
    ) -> tuple[int, dict[str, Any]]: ...


async def _read_capped(request: Request, cap: int) -> bytes | None:
    """The body, or None once it exceeds ``cap`` bytes (the rest is not read)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > cap:
        return None
    buf = bytearray()
    async for chunk in request.stream():
        buf += chunk
        if len(buf) > cap:
            return None
    return bytes(buf)


def build_app(desk: AlertHandler) -> Starlette:
    async def webhook(request: Request) -> JSONResponse:
        body = await _read_capped(request, desk.max_body_bytes)
        sig = request.headers.get(SIGNATURE_HEADER)
        if body is None:
            status, out = desk.on_alert(b"", sig, oversize=True)
        else:
            status, out = desk.on_alert(body, sig)
        return JSONResponse(out, status_code=status)

    async def healthz(_: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    return Starlette(
        routes=[
            Route("/webhook", webhook, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ]
    )


class WebhookServer:
    """uvicorn serving :func:`build_app` on 127.0.0.1:``port`` (0: ephemeral) in the running
    loop; ``port`` is the bound one once :meth:`start` returned."""

    def __init__(self, desk: AlertHandler, port: int = 0) -> None:
        import uvicorn

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.port: int = self.sock.getsockname()[1]
        config = uvicorn.Config(
            build_app(desk), log_level="warning", access_log=False, lifespan="off"
        )
        self.server = uvicorn.Server(config)
        # the session owns SIGTERM/SIGINT (it stops the server itself): uvicorn must not
        # take them over while it serves
        self.server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/webhook"

    async def start(self) -> None:
        self._task = asyncio.ensure_future(self.server.serve(sockets=[self.sock]))
        for _ in range(200):  # bounded: 2 s
            if self.server.started or self._task.done():
                break
            await asyncio.sleep(0.01)
        if self._task.done():
            self._task.result()  # raises why it could not start

    async def stop(self) -> None:
        self.server.should_exit = True
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, 5.0)
            except TimeoutError:
                self._task.cancel()
        self.sock.close()
