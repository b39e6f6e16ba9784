"""The ops service's view of one running session, over the session's own sockets only.

:class:`SessionLink` polls ``status`` on the command socket (CURVE, as operator
``ops-service``) and subscribes to telemetry; from these it keeps what the REST API, the
stream and the metrics serve: the last status, recent signals / orders / fills / denials /
state events, the working orders (from order and fill telemetry), an equity and P&L series,
the event-to-intent latencies and the telemetry health. It never opens the journal or
touches the session's objects: what the session does not say on its sockets, the service does
not know.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any, cast

import zmq
import zmq.asyncio

from pycontrol.session import messages as m
from pycontrol.session.control_auth import OPS_SERVICE, secure_client
from pycontrol.session.control_client import subscriber
from pycontrol.session.latency import LatencyStats

RECENT = 200  # messages kept per topic
SERIES = 3600  # P&L points kept (one per status poll)


class SessionUnavailable(Exception):
    """The session did not answer (not running, or the service's key is not accepted)."""


def read_endpoints(run_dir: Path) -> dict[str, str]:
    try:
        eps: dict[str, str] = json.loads((run_dir / "endpoints.json").read_text())
    except (OSError, ValueError) as e:
        raise SessionUnavailable(f"{run_dir}/endpoints.json: {e}") from None
    return eps


class SessionLink:
    def __init__(
        self,
        run_dir: Path,
        operator: str = OPS_SERVICE,
        keys: Path | None = None,
        poll_s: float = 1.0,
    ) -> None:
        self.run_dir = Path(run_dir)
        self.operator = operator
        self.keys = keys
        self.poll_s = poll_s
        self.ctx: zmq.asyncio.Context = zmq.asyncio.Context()
        self._req: zmq.asyncio.Socket | None = None
        self._req_lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        self._listeners: set[asyncio.Queue[dict[str, Any]]] = set()
        self.status: dict[str, Any] | None = None
        self.status_at: float = 0.0
        self.error: str | None = None
        self.recent: dict[str, deque[dict[str, Any]]] = {t: deque(maxlen=RECENT) for t in m.TOPICS}
        self.working: dict[int, dict[str, Any]] = {}
        self.series: deque[dict[str, Any]] = deque(maxlen=SERIES)
        # the telemetry seen since this service connected; the session's own account (in
        # its status) wins when it has one
        self.latency_seen = LatencyStats()
        self.telemetry_received = 0
        self.telemetry_gaps = 0  # messages missed (sequence numbers skipped)
        self._last_seq = 0
        self.last_heartbeat: float = 0.0
        self.commands_sent = 0

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        self._tasks = [
            asyncio.ensure_future(self._poll_status()),
            asyncio.ensure_future(self._telemetry()),
        ]

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._req is not None:
            self._req.close(linger=0)
        self.ctx.term()

    # -- commands -------------------------------------------------------------------------

    def _endpoints(self) -> dict[str, str]:
        return read_endpoints(self.run_dir)

    async def command(self, name: str, timeout: float = 5.0, **args: Any) -> dict[str, Any]:
        """One command on the session's control socket; raises SessionUnavailable."""
        body = m.command(name, **args)
        async with self._req_lock:
            if self._req is None:
                sock = self.ctx.socket(zmq.REQ)
                sock.setsockopt(zmq.LINGER, 0)
                secure_client(sock, self.operator, self.keys)
                sock.connect(self._endpoints()["cmd"])
                self._req = sock
            sock = self._req
            await sock.send(body)
            if not await sock.poll(int(timeout * 1000)):
                # a REQ that lost its reply is stuck: a fresh one next time
                sock.close(linger=0)
                self._req = None
                raise SessionUnavailable(f"no reply to {name} within {timeout} s")
            reply = m.parse_reply(await sock.recv())
        self.commands_sent += 1
        return reply

    async def refresh(self) -> dict[str, Any]:
        reply = await self.command("status")
        if not reply["ok"]:
            raise SessionUnavailable(f"status: {reply['error']}")
        result: dict[str, Any] = reply["result"]
        self._set_status(result)
        return result

    def _set_status(self, st: dict[str, Any]) -> None:
        self.status = st
        self.status_at = time.time()
        self.error = None
        eng = st.get("engine", {})
        pos = eng.get("positions", [])
        self.series.append(
            {
                "t": self.status_at,
                "equity": eng.get("equity"),
                "realized": sum(p.get("realized", 0.0) for p in pos),
                "unrealized": sum(p.get("unrealized", 0.0) for p in pos),
                "fees": sum(p.get("fees", 0.0) for p in pos),
            }
        )
        self._broadcast({"kind": "status", "data": st, "at": self.status_at})

    async def _poll_status(self) -> None:
        while True:
            try:
                await self.refresh()
            except (SessionUnavailable, zmq.ZMQError, m.MessageError, OSError) as e:
                self.error = str(e)
                self._broadcast({"kind": "link_error", "data": {"message": self.error}})
            except Exception as e:  # the poller must outlive any one bad reply
                self.error = f"{type(e).__name__}: {e}"
            await asyncio.sleep(self.poll_s)

    # -- telemetry ------------------------------------------------------------------------

    async def _telemetry(self) -> None:
        while True:
            try:
                eps = self._endpoints()
            except SessionUnavailable as e:
                self.error = str(e)
                await asyncio.sleep(self.poll_s)
                continue
            sock = cast(
                "zmq.asyncio.Socket",
                subscriber(self.ctx, eps["pub"], None, self.operator, self.keys),
            )
            try:
                while True:
                    frames = await sock.recv_multipart()
                    with contextlib.suppress(m.MessageError):
                        self.on_telemetry(m.parse_telemetry(frames))
            finally:
                sock.close(linger=0)

    def on_telemetry(self, msg: dict[str, Any]) -> None:
        self.telemetry_received += 1
        seq = int(msg.get("seq", 0))
        if self._last_seq and seq > self._last_seq + 1:
            self.telemetry_gaps += seq - self._last_seq - 1
        self._last_seq = seq
        topic, data = msg["topic"], msg["data"]
        self.recent[topic].append(msg)
        if topic == "state" and data.get("event") == "heartbeat":
            self.last_heartbeat = time.time()
        elif topic == "latency":
            self.latency_seen.add(float(data.get("value", 0.0)))
        elif topic == "order":
            coid = int(data.get("client_order_id", 0))
            if data.get("kind") == "ack":
                self.working[coid] = {**data, "filled": 0}
            elif data.get("kind") in ("cancelled", "reject", "cancel"):
                self.working.pop(coid, None)
        elif topic == "fill":
            coid = int(data.get("client_order_id", 0))
            w = self.working.get(coid)
            if w is not None:
                w["filled"] += int(data.get("qty", 0))
                if w["filled"] >= int(w.get("qty", 0)):
                    del self.working[coid]
        self._broadcast({"kind": "telemetry", "data": msg, "at": time.time()})

    # -- the stream -----------------------------------------------------------------------

    def _broadcast(self, event: dict[str, Any]) -> None:
        for q in list(self._listeners):
            if q.qsize() < 1000:  # a stalled browser loses events, never the service
                q.put_nowait(event)

    async def events(self) -> AsyncGenerator[dict[str, Any], None]:
        q: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._listeners.add(q)
        try:
            if self.status is not None:
                yield {"kind": "status", "data": self.status, "at": self.status_at}
            while True:
                yield await q.get()
        finally:
            self._listeners.discard(q)

    # -- views ----------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        now = time.time()
        return {
            "connected": self.error is None and self.status is not None,
            "error": self.error,
            "status_age_s": now - self.status_at if self.status_at else None,
            "heartbeat_age_s": now - self.last_heartbeat if self.last_heartbeat else None,
            "telemetry_received": self.telemetry_received,
            "telemetry_gaps": self.telemetry_gaps,
            "session_telemetry": (self.status or {}).get("telemetry"),
            "market_events": (self.status or {}).get("market_events"),
            "connectivity": [x["data"] for x in self.recent["state"]
                             if x["data"].get("event") == "connectivity"][-20:],
        }  # fmt: skip

    def latency(self) -> dict[str, Any]:
        """Event-to-intent latency: the session's account of every sample (its status) when
        it has one, else the telemetry this service has seen."""
        own = (self.status or {}).get("latency")
        if isinstance(own, dict) and "counts" in own:
            return own
        return self.latency_seen.summary()
