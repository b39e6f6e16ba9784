"""Telemetry drops at the PUB's high-water mark are counted, not hidden: a subscriber that
stops reading fills its queue, and every message the session could not queue is in
``telemetry_dropped`` (sent + dropped = published)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import zmq

from pycontrol.session.config import SessionConfig
from pycontrol.session.control_auth import KEYS_ENV
from pycontrol.session.control_client import subscriber
from pycontrol.session.runtime import Session

REPO = Path(__file__).resolve().parents[2]


def test_a_stalled_subscriber_makes_counted_drops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEYS_ENV, str(tmp_path / "keys"))
    cfg = SessionConfig.load(REPO / "configs/session/es-replay.toml")
    s = Session(cfg, "replay", tmp_path / "run")
    s.TELEMETRY_HWM = 100  # a small queue: the test fills it in milliseconds
    eps = s._bind()
    ctx: zmq.Context[Any] = zmq.Context()
    sub = subscriber(ctx, eps["pub"])
    sub.setsockopt(zmq.RCVHWM, 1)
    try:
        deadline = time.monotonic() + 20
        while not sub.poll(10):  # joined once a message gets through
            assert time.monotonic() < deadline, "the subscriber never joined"
            s.publish("state", {"event": "heartbeat"})
        sub.recv_multipart()
        joined = s.telemetry_sent + s.telemetry_dropped
        pad = "x" * 1000
        for i in range(20_000):  # about 20 MB: past the socket buffers and both queues
            s.publish("state", {"event": "flood", "i": i, "pad": pad})
        assert s.telemetry_dropped > 0
        assert s.telemetry_sent + s.telemetry_dropped == joined + 20_000
    finally:
        sub.close(linger=0)
        ctx.term()
        s._close()
