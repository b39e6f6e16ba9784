"""One Tradovate WebSocket (the user socket or the market data socket) over aiohttp: waits
for the ``o`` frame, authorizes with the access token, sends the ``[]`` heartbeat every
``heartbeat_s`` seconds, matches responses to requests by id and hands events (``props``
user-sync events, ``md`` quotes) to a callback. A ``c`` frame, a closed socket or a
silent server (no frame for ``server_timeout_s``) ends it and calls ``on_close`` once."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import aiohttp

from pycontrol.tradovate.errors import (
    TradovateAuthError,
    TradovateConnectError,
    TradovateRequestError,
)
from pycontrol.tradovate.frames import HEARTBEAT, FrameError, encode_request, parse_frame

log = logging.getLogger("pycontrol.tradovate.ws")

EventSink = Callable[[str, Any], None]


class WsClient:
    def __init__(
        self,
        url: str,
        heartbeat_s: float,
        timeout: float,
        on_event: EventSink,
        on_close: Callable[[str], None],
        name: str = "ws",
        server_timeout_s: float = 30.0,
    ) -> None:
        self.url = url
        self.heartbeat_s = heartbeat_s
        self.timeout = timeout
        self.on_event = on_event
        self.on_close = on_close
        self.name = name
        self.server_timeout_s = server_timeout_s
        self._http: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._next_id = 0
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = True
        self.last_close = ""

    @property
    def connected(self) -> bool:
        return not self._closed

    async def connect(self, token: str) -> None:
        """Opens and authorizes; raises TradovateConnectError / TradovateAuthError."""
        await self.close()
        self._http = aiohttp.ClientSession()
        try:
            self._ws = await self._http.ws_connect(
                self.url, timeout=aiohttp.ClientWSTimeout(ws_close=self.timeout), autoping=True
            )
            first = await self._ws.receive(timeout=self.timeout)
        except (aiohttp.ClientError, TimeoutError, OSError) as e:
            await self._drop()
            raise TradovateConnectError(f"{self.name} {self.url}: {type(e).__name__}: {e}") from e
        if first.type != aiohttp.WSMsgType.TEXT or first.data != "o":
            await self._drop()
            raise TradovateConnectError(f"{self.name} {self.url}: no open frame ({first.data!r})")
        self._closed = False
        self._tasks = [
            asyncio.ensure_future(self._read()),
            asyncio.ensure_future(self._beat()),
        ]
        try:
            await self.request("authorize", token)
        except TradovateRequestError as e:
            await self.close()
            raise TradovateAuthError(f"{self.name} authorize: {e.text}") from None

    async def request(self, endpoint: str, body: Any = None, query: str = "") -> Any:
        """Sends one request and returns its ``d``; TradovateRequestError on ``s`` != 200."""
        if self._ws is None or self._closed:
            raise TradovateConnectError(f"{self.name} {endpoint}: not connected")
        self._next_id += 1
        rid = self._next_id
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        try:
            await self._ws.send_str(encode_request(endpoint, rid, body, query))
            msg = await asyncio.wait_for(fut, self.timeout)
        except (aiohttp.ClientError, ConnectionError) as e:
            raise TradovateConnectError(f"{self.name} {endpoint}: {e}") from e
        except TimeoutError:
            raise TradovateConnectError(
                f"{self.name} {endpoint}: no answer in {self.timeout} s"
            ) from None
        finally:
            self._pending.pop(rid, None)
        if msg.get("s") != 200:
            raise TradovateRequestError(endpoint, int(msg.get("s") or 0), str(msg.get("d", "")))
        return msg.get("d")

    async def close(self) -> None:
        self._closed = True
        for t in self._tasks:
            if t is not asyncio.current_task():
                t.cancel()
        self._tasks = []
        await self._drop()

    async def _drop(self) -> None:
        if self._ws is not None:
            await self._ws.close()
            self._ws = None
        if self._http is not None:
            await self._http.close()
            self._http = None
        for f in self._pending.values():
            if not f.done():
                f.set_exception(TradovateConnectError(f"{self.name}: connection closed"))
        self._pending.clear()

    def _lost(self, why: str) -> None:
        if self._closed:
            return
        self._closed = True
        self.last_close = why
        for f in self._pending.values():
            if not f.done():
                f.set_exception(TradovateConnectError(f"{self.name}: {why}"))
        log.warning("%s closed: %s", self.name, why)
        self.on_close(why)

    async def _beat(self) -> None:
        while not self._closed and self._ws is not None:
            await asyncio.sleep(self.heartbeat_s)
            try:
                await self._ws.send_str(HEARTBEAT)
            except (aiohttp.ClientError, ConnectionError) as e:
                self._lost(f"heartbeat failed: {e}")
                return

    async def _read(self) -> None:
        ws = self._ws
        assert ws is not None
        silent = self.server_timeout_s
        while not self._closed:
            try:
                msg = await ws.receive(timeout=silent)
            except TimeoutError:
                self._lost(f"no frame for {silent:.1f} s")
                return
            if msg.type != aiohttp.WSMsgType.TEXT:
                self._lost(f"socket {msg.type.name.lower()}")
                return
            try:
                frame = parse_frame(str(msg.data))
            except FrameError as e:
                log.warning("%s: %s", self.name, e)
                continue
            if frame.kind == "c":
                self._lost(f"closed by server: {frame.code} {frame.reason}")
                return
            for m in frame.messages:
                rid = m.get("i")
                if isinstance(rid, int) and rid in self._pending:
                    f = self._pending[rid]
                    if not f.done():
                        f.set_result(m)
                elif "e" in m:
                    try:
                        self.on_event(str(m["e"]), m.get("d"))
                    except Exception:
                        # a handler's bug must not end the socket (and with it every later
                        # event): logged with its traceback in the session log, and the
                        # next reconcile repairs what the event would have recorded
                        log.exception("%s: handling a %r event failed", self.name, m["e"])
