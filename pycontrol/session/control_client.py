"""The client side of a session's sockets: one authenticated request/reply, and an
authenticated telemetry subscriber. Used by ``ctl``, the ops service and tests.

Light on purpose (zmq, json and the message schema only): ``ctl halt`` imports this and
nothing else of the project before it sends.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import zmq

from pycontrol.session import messages as m
from pycontrol.session.control_auth import OPERATOR, secure_client


def request(
    ep: str,
    body: bytes,
    timeout: float,
    operator: str = OPERATOR,
    keys: Path | None = None,
) -> dict[str, Any] | None:
    """One request/reply as ``operator`` (its CURVE key from ``keys``, default
    :func:`~pycontrol.session.control_auth.keys_dir`); None when no reply came within
    ``timeout`` seconds (also what a peer without a valid key sees: the session never
    completes its handshake)."""
    ctx: zmq.Context[Any] = zmq.Context.instance()
    sock = ctx.socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    try:
        secure_client(sock, operator, keys)
        sock.connect(ep)
        sock.send(body)
        if not sock.poll(int(timeout * 1000)):
            return None
        return m.parse_reply(sock.recv())
    finally:
        sock.close()


def subscriber(
    ctx: zmq.Context[Any],
    ep: str,
    topics: list[str] | None = None,
    operator: str = OPERATOR,
    keys: Path | None = None,
) -> zmq.Socket[Any]:
    """A SUB socket on a session's telemetry, authenticated as ``operator``."""
    sock: zmq.Socket[Any] = ctx.socket(zmq.SUB)
    sock.setsockopt(zmq.LINGER, 0)
    secure_client(sock, operator, keys)
    for t in topics or [""]:
        sock.setsockopt(zmq.SUBSCRIBE, t.encode())
    sock.connect(ep)
    return sock
