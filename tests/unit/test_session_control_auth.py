"""Keys, the ZAP authenticator, the size limit and the command gate, in process over real
loopback sockets: an operator's key names the sender, a NULL or unknown peer is refused and
counted, a frame over 64 KiB drops its connection, loosening needs an override."""

from __future__ import annotations

import json
import stat
import time
from pathlib import Path
from typing import Any

import pytest
import zmq

from pycontrol.session import messages as m
from pycontrol.session.control_auth import (
    ControlAuth,
    ControlAuthError,
    ensure_keypair,
    load_keypair,
    private_run_dir,
    secure_client,
)
from pycontrol.session.permissions import LOOSEN, READ, TIGHTEN, Gate, classify


def test_keys_are_created_once_and_owner_only(tmp_path: Path) -> None:
    d = tmp_path / "keys"
    a = ensure_keypair("alice", d, authorize=True)
    assert ensure_keypair("alice", d) == a, "the second call reads, never replaces"
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    for p in d.rglob("*"):
        assert stat.S_IMODE(p.stat().st_mode) == (0o700 if p.is_dir() else 0o600), p
    assert (d / "operators" / "alice.key").exists()
    assert "secret-key" not in (d / "operators" / "alice.key").read_text()
    (d / "bad.key_secret").write_text('curve\n    public-key = "short"\n')
    with pytest.raises(ControlAuthError, match=r"bad\.key_secret"):
        load_keypair("bad", d)
    with pytest.raises(ControlAuthError, match=r"nobody\.key_secret"):
        load_keypair("nobody", d)


def test_private_run_dir_fixes_an_old_world_readable_run(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "logs").mkdir(parents=True)
    for p in (run / "journal.sqlite", run / "logs" / "session.log"):
        p.write_text("x")
        p.chmod(0o644)
    run.chmod(0o755)
    private_run_dir(run)
    assert stat.S_IMODE(run.stat().st_mode) == 0o700
    assert stat.S_IMODE((run / "logs").stat().st_mode) == 0o700
    assert stat.S_IMODE((run / "journal.sqlite").stat().st_mode) == 0o600
    assert stat.S_IMODE((run / "logs" / "session.log").stat().st_mode) == 0o600


class _Server:
    """A ROUTER served by ControlAuth, answered from a background poll in the test."""

    def __init__(self, keys: Path) -> None:
        self.ctx: zmq.Context[Any] = zmq.Context()
        self.auth = ControlAuth(self.ctx, keys)
        self.sock = self.ctx.socket(zmq.ROUTER)
        self.auth.serve(self.sock)
        port = self.sock.bind_to_random_port("tcp://127.0.0.1")
        self.ep = f"tcp://127.0.0.1:{port}"

    def serve_one(self, timeout_ms: int) -> str | None:
        """Answers one message with the sender's operator name; None when none came."""
        if not self.sock.poll(timeout_ms):
            return None
        frames = self.sock.recv_multipart(copy=False)
        who = ControlAuth.operator_of(frames[-1])
        self.sock.send_multipart([frames[0].bytes, b"", who.encode()])
        return who

    def pump_monitors(self) -> None:
        for mon in self.auth.monitors():
            while mon.poll(0):
                self.auth.on_monitor_event(mon.recv_multipart())

    def close(self) -> None:
        self.auth.close()
        self.sock.close(linger=0)
        self.ctx.term()


def _client(ctx: zmq.Context[Any], ep: str) -> zmq.Socket[Any]:
    s: zmq.Socket[Any] = ctx.socket(zmq.REQ)
    s.setsockopt(zmq.LINGER, 0)
    return s


def test_only_operator_keys_get_through_and_refusals_are_counted(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    srv = _Server(keys)
    ctx: zmq.Context[Any] = zmq.Context()
    try:
        ok = _client(ctx, srv.ep)
        secure_client(ok, "operator", keys)
        ok.connect(srv.ep)
        ok.send(b"hello")
        assert srv.serve_one(5000) == "operator"
        assert ok.recv() == b"operator"
        # a second operator, added while the server runs, is accepted under its own name
        ensure_keypair("bob", keys, authorize=True)
        bob = _client(ctx, srv.ep)
        secure_client(bob, "bob", keys)
        bob.connect(srv.ep)
        bob.send(b"hi")
        assert srv.serve_one(5000) == "bob"
        # NULL mechanism and an unknown CURVE key: nothing arrives
        plain = _client(ctx, srv.ep)
        plain.connect(srv.ep)
        plain.send(b"x")
        stranger = _client(ctx, srv.ep)
        pub, sec = zmq.curve_keypair()
        stranger.curve_publickey, stranger.curve_secretkey = pub, sec
        stranger.curve_serverkey = srv.auth.server.public
        stranger.connect(srv.ep)
        stranger.send(b"x")
        assert srv.serve_one(1500) is None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and (
            srv.auth.auth_failures < 2 or srv.auth.unknown_keys < 1
        ):
            srv.pump_monitors()
            time.sleep(0.05)
        assert srv.auth.auth_failures >= 2 and srv.auth.unknown_keys >= 1
        assert srv.auth.status()["operators"] == ["bob", "operator", "ops-service"]
        # a frame over the limit drops that connection; the next one is served
        big = _client(ctx, srv.ep)
        secure_client(big, "operator", keys)
        big.connect(srv.ep)
        big.send(b"x" * (64 * 1024 + 1))
        assert srv.serve_one(1500) is None
        ok.send(b"again")
        assert srv.serve_one(5000) == "operator"
        for s in (ok, bob, plain, stranger, big):
            s.close(linger=0)
    finally:
        ctx.term()
        srv.close()


class _Journal:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def append(self, kind: str, payload: dict[str, Any]) -> int:
        self.events.append((kind, payload))
        return len(self.events)


def _cmd(name: str, override: str | None = None, **args: Any) -> m.Command:
    return m.parse_command(m.command(name, override=override, **args))


LIMITS = {"max_order_qty": 2.0, "max_position": 3.0, "min_confidence_external": 0.87}


@pytest.mark.parametrize(
    ("name", "args", "kind"),
    [
        ("status", {}, READ),
        ("halt", {"reason": "x"}, TIGHTEN),
        ("reducing", {}, TIGHTEN),
        ("flatten", {}, TIGHTEN),
        ("shutdown", {}, TIGHTEN),
        ("set-risk-limits", {"max_order_qty": 2, "max_position": 3}, TIGHTEN),
        ("set-risk-limits", {"max_order_qty": 1, "max_position": 1}, TIGHTEN),
        ("set-risk-limits", {"max_order_qty": 3, "max_position": 3}, LOOSEN),
        ("set-risk-limits", {"max_order_qty": 1, "max_position": 1_000_000}, LOOSEN),
        ("set-risk-limits", {"min_confidence_external": 0.5}, LOOSEN),
        ("set-risk-limits", {"min_confidence_external": 0.9}, TIGHTEN),
        ("resume", {}, LOOSEN),
        ("swap-model", {"model": "v2"}, LOOSEN),
    ],
)
def test_classes(name: str, args: dict[str, Any], kind: str) -> None:
    assert (
        classify(
            _cmd(name, **args),
            LIMITS,
        )[0]
        == kind
    )


def test_gate_refuses_loosening_without_override_and_journals_who() -> None:
    j = _Journal()
    gate = Gate(LIMITS, j)
    gate.admit(_cmd("status"), "operator")
    assert j.events == [], "queries are not journaled"
    with pytest.raises(m.MessageError) as e:
        gate.admit(_cmd("resume"), "alice")
    assert e.value.code == "override_required"
    gate.admit(_cmd("resume", override="breaker reviewed"), "alice")
    gate.admit(_cmd("halt", reason="news"), "bob")
    assert [(k, p["by"], p.get("reason")) for k, p in j.events] == [
        ("command_refused", "alice", None),
        ("command", "alice", "breaker reviewed"),
        ("command", "bob", None),
    ]
    st = gate.status()
    assert st["refused"] == {"override_required": 1} and st["overrides"] == 1
    assert st["commands_by_operator"] == {"operator": 1, "alice": 2, "bob": 1}


def test_override_fields_are_schema_checked() -> None:
    base = {"v": 1, "cmd": "resume"}
    for extra, code in (
        ({"override": "yes", "reason": "r"}, "bad_schema"),
        ({"override": True}, "bad_schema"),
        ({"override": True, "reason": " "}, "bad_schema"),
        ({"override": True, "reason": 5}, "bad_schema"),
    ):
        with pytest.raises(m.MessageError) as e:
            m.parse_command(json.dumps({**base, **extra}).encode())
        assert e.value.code == code, extra
    c = m.parse_command(json.dumps({**base, "override": True, "reason": "ok"}).encode())
    assert c.override and c.reason == "ok"
    # every command carries it, whatever path its own arguments' check takes
    for name, args in (("set-risk-limits", {"max_order_qty": 1, "max_position": 2}),
                       ("swap-model", {"model": "v2"}), ("halt", {})):  # fmt: skip
        c = m.parse_command(m.command(name, override="desk", **args))
        assert (c.override, c.reason, c.args) == (True, "desk", args), name
