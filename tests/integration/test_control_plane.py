"""The control plane of a running replay session (Rust engine) against an attacker on the
same machine: another process without the operator's key tries to raise the limits to
1,000,000, resume a halt, swap the model and shut the session down; every try is refused and
counted and nothing changes. The operator's own loosening needs an override, journaled with
who and why; a 256 MiB frame is dropped without stalling the heartbeat; the run directory is
private; ``ctl halt`` imports nothing heavy."""

from __future__ import annotations

import itertools
import json
import os
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zmq
from sessionkit import REPO, SessionProc, Telemetry, wait_for
from test_session_rust import cli, rust_config

from pycontrol.session import messages as m
from pycontrol.session.control_auth import KEYS_ENV, secure_client
from pycontrol.session.journal import Journal

ATTACK = textwrap.dedent(
    """
    import json, sys, zmq
    ep, server_key = sys.argv[1], sys.argv[2].encode()
    cmds = [
        {"v": 1, "cmd": "set-risk-limits",
         "args": {"max_order_qty": 1000000, "max_position": 1000000},
         "override": True, "reason": "attack"},
        {"v": 1, "cmd": "resume", "override": True, "reason": "attack"},
        {"v": 1, "cmd": "swap-model", "args": {"model": "evil"}, "override": True,
         "reason": "attack"},
        {"v": 1, "cmd": "shutdown"},
    ]
    ctx = zmq.Context()
    answered = []
    for how in ("plain", "own-curve-key"):
        for c in cmds:
            s = ctx.socket(zmq.REQ)
            s.setsockopt(zmq.LINGER, 0)
            if how == "own-curve-key":
                pub, sec = zmq.curve_keypair()  # a key of its own, the server's public key
                s.curve_publickey, s.curve_secretkey, s.curve_serverkey = pub, sec, server_key
            s.connect(ep)
            s.send(json.dumps(c).encode())
            if s.poll(1500):
                answered.append([how, c["cmd"], s.recv().decode()])
            s.close()
    print(json.dumps({"answered": answered, "tries": 2 * len(cmds)}))
    """
)


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("synth") / "synth.mbo.dbn.zst"
    r = cli("data", "synth", "--out", str(data), "--events", "200000", "--seed", "5")
    assert r.returncode == 0, r.stderr
    return data


@pytest.fixture
def session(
    synth: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[SessionProc, Telemetry, Path]]:
    keys = tmp_path / "keys"
    monkeypatch.setenv(KEYS_ENV, str(keys))
    run_dir = tmp_path / "run"
    cfg = rust_config(tmp_path, run_dir, synth, exit_at_end=False, rate_hz=2000, chunk=512)
    s = SessionProc(cfg, run_dir, env={KEYS_ENV: str(keys)}, mode="replay")
    tel = None
    try:
        eps = s.wait_ready(90)
        tel = Telemetry(eps["pub"])
        tel.wait_joined()
        yield s, tel, cfg
    finally:
        if tel is not None:
            tel.close()
        s.stop()


def _events(run_dir: Path) -> list[dict[str, Any]]:
    j = Journal(run_dir / "journal.sqlite")
    try:
        return list(j.events())
    finally:
        j.close()


def test_an_attacker_without_the_key_changes_nothing(
    session: tuple[SessionProc, Telemetry, Path], tmp_path: Path
) -> None:
    s, _, _ = session
    assert s.cmd("halt", reason="before the attack")["ok"]
    before = s.cmd("status")["result"]
    eps = json.loads((s.run_dir / "endpoints.json").read_text())

    empty = tmp_path / "attacker-keys"
    r = subprocess.run(
        [sys.executable, "-c", ATTACK, eps["cmd"], eps["server_key"]],
        capture_output=True, text=True, timeout=120, cwd=REPO,
        env={**os.environ, KEYS_ENV: str(empty)},
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["answered"] == [], "no command without the operator's key gets an answer"
    # ctl itself, run by a process that has no key, refuses to send at all
    r = subprocess.run(
        [sys.executable, "-m", "pycontrol.cli", "ctl", "--run-dir", str(s.run_dir),
         "--timeout", "2", "shutdown"],
        capture_output=True, text=True, timeout=120, cwd=REPO,
        env={**os.environ, KEYS_ENV: str(empty)},
    )  # fmt: skip
    assert r.returncode == 2 and "ControlAuthError" in r.stderr and "Traceback" not in r.stderr

    after = s.cmd("status")["result"]
    assert s.proc.poll() is None, "the session is still running"
    assert after["engine"]["state"] == "HALTED"
    assert after["engine"]["limits"] == before["engine"]["limits"]
    assert after["engine"]["limits"]["max_order_qty"] == 2.0
    # every refused handshake is counted: the plain ones and the unknown keys
    ctl = after["control"]
    assert ctl["auth_failures"] >= out["tries"], ctl
    assert ctl["unknown_keys"] >= out["tries"] // 2, ctl
    assert set(ctl["commands_by_operator"]) == {"operator"}
    kinds = [e["kind"] for e in _events(s.run_dir)]
    for k in ("risk_limits", "resume", "model_swap", "shutdown"):
        assert k not in kinds, k
    cmds = [e["payload"] for e in _events(s.run_dir) if e["kind"] == "command"]
    assert [c["cmd"] for c in cmds] == ["halt"] and cmds[0]["by"] == "operator"


def test_loosening_needs_an_override_and_is_journaled_with_who_and_why(
    session: tuple[SessionProc, Telemetry, Path],
) -> None:
    s, _, cfg = session
    # tightening within the config's limits (2, 3): no override needed
    assert s.cmd("set-risk-limits", max_order_qty=1, max_position=1)["ok"]
    # raising beyond the config: refused without an override, nothing applied
    r = s.cmd("set-risk-limits", max_order_qty=4, max_position=6)
    assert not r["ok"] and r["error"]["code"] == "override_required"
    assert "max_order_qty 4" in r["error"]["message"] and "2" in r["error"]["message"]
    assert s.cmd("status")["result"]["engine"]["limits"]["max_order_qty"] == 1.0
    # an override without a reason is malformed
    raw = json.dumps(
        {"v": 1, "cmd": "resume", "override": True, "reason": "  "}
    ).encode()  # fmt: skip
    eps = json.loads((s.run_dir / "endpoints.json").read_text())
    from pycontrol.commands.ctl_cmd import request

    bad = request(eps["cmd"], raw, 10)
    assert bad is not None and bad["error"]["code"] == "bad_schema"
    # with an override (from the CLI): applied, and journaled with identity and reason
    r2 = cli("ctl", "--config", str(cfg), "set-risk-limits", "--max-order-qty", "4",
             "--max-position", "6", "--override", "--reason", "desk approved size")  # fmt: skip
    assert r2.returncode == 0, r2.stdout + r2.stderr
    lim = s.cmd("status")["result"]["engine"]["limits"]
    assert (lim["max_order_qty"], lim["max_position"]) == (4.0, 6.0)
    r3 = cli("ctl", "--config", str(cfg), "resume", "--override")
    assert r3.returncode == 2 and "--override needs --reason" in r3.stderr
    ev = _events(s.run_dir)
    refused = [e["payload"] for e in ev if e["kind"] == "command_refused"]
    assert len(refused) == 1 and refused[0]["by"] == "operator"
    assert refused[0]["cmd"] == "set-risk-limits" and refused[0]["override"] is False
    granted = [e["payload"] for e in ev if e["kind"] == "command" and e["payload"]["override"]]
    assert granted == [
        {
            "by": "operator",
            "cmd": "set-risk-limits",
            "args": {"max_order_qty": 4, "max_position": 6},
            "class": "loosen",
            "override": True,
            "reason": "desk approved size",
        }
    ]
    st = s.cmd("status")["result"]["control"]
    assert st["refused"] == {"override_required": 1} and st["overrides"] == 1


def test_an_oversized_frame_is_dropped_and_the_heartbeat_keeps_time(
    session: tuple[SessionProc, Telemetry, Path],
) -> None:
    s, tel, _ = session
    eps = json.loads((s.run_dir / "endpoints.json").read_text())
    ctx: zmq.Context[Any] = zmq.Context()
    big = ctx.socket(zmq.REQ)
    big.setsockopt(zmq.LINGER, 0)
    secure_client(big)  # authenticated: the limit is not only for strangers
    big.setsockopt(zmq.MAXMSGSIZE, -1)  # this client would accept anything back
    big.connect(eps["cmd"])
    t0 = time.time_ns()
    body = m.command("raw")[:-1] + b', "pad": "' + b"x" * (256 << 20) + b'"}'
    big.send(body, copy=False)
    del body
    assert not big.poll(3000), "the session never answers (nor echoes) a frame over the limit"
    big.close()
    ctx.term()
    assert s.cmd("status")["ok"], "the session still answers"
    wait_for(
        lambda: sum(
            1 for x in tel.msgs
            if x["data"].get("event") == "heartbeat" and x["ts"] > t0 + 2_000_000_000
        ) >= 2,
        30, "heartbeats after the frame",
    )  # fmt: skip
    beats = [
        x["ts"]
        for x in tel.msgs
        if x["topic"] == "state" and x["data"].get("event") == "heartbeat"
        and x["ts"] > t0 - 2_000_000_000
    ]  # fmt: skip
    gaps = [(b - a) / 1e9 for a, b in itertools.pairwise(beats)]
    assert gaps and max(gaps) <= 1.5, gaps
    st = s.cmd("status")["result"]
    assert st["control"]["max_message_bytes"] == 64 * 1024
    assert st["telemetry"]["sent"] > 0 and st["telemetry"]["dropped"] == 0


def test_run_dir_is_private(session: tuple[SessionProc, Telemetry, Path]) -> None:
    s, _, _ = session
    assert s.cmd("halt")["ok"]  # the journal has written (WAL and shm exist)
    assert stat.S_IMODE(s.run_dir.stat().st_mode) == 0o700
    files = [p for p in s.run_dir.rglob("*") if p.is_file() and not p.name.startswith("stdout-")]
    names = {p.name for p in files}
    assert {"journal.sqlite", "endpoints.json", "session.lock"} <= names, names
    assert {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in files} == {
        p.name: "0o600" for p in files
    }
    keys = Path(os.environ[KEYS_ENV])
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700
    for p in keys.rglob("*"):
        assert stat.S_IMODE(p.stat().st_mode) == (0o700 if p.is_dir() else 0o600), p


def test_ctl_halt_imports_only_what_it_needs(
    session: tuple[SessionProc, Telemetry, Path],
) -> None:
    """The emergency stop: ``python -m pycontrol.commands.ctl_cmd`` loads no polars, numpy,
    torch or sklearn, and its halt is acknowledged."""
    s, _, _ = session
    r = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "pycontrol.commands.ctl_cmd",
         "--run-dir", str(s.run_dir), "halt", "--reason", "stop"],
        capture_output=True, text=True, timeout=60, cwd=REPO,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads(r.stdout)["result"]["state"] == "HALTED"
    imported = {line.split("|")[-1].strip() for line in r.stderr.splitlines() if "|" in line}
    for heavy in ("polars", "numpy", "torch", "sklearn", "pycontrol.session.config"):
        assert heavy not in imported, heavy
