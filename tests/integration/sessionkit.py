"""Helpers for session tests: a config on disk, a session subprocess that is always killed,
commands over the real REQ socket, and a telemetry subscriber."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import zmq

from pycontrol.commands.ctl_cmd import request
from pycontrol.session import messages as m
from pycontrol.session.control_client import subscriber

REPO = Path(__file__).resolve().parents[2]


def write_config(
    path: Path,
    run_dir: Path,
    port: int,
    signals: list[dict[str, Any]],
    extra: str = "",
    client_id: int = 7,
) -> Path:
    lines = [
        'name = "test-session"', 'mode = "paper"', f'run_dir = "{run_dir}"',
        'secret_envs = ["IB_ACCOUNT"]',
        "[instrument]", 'root = "ES"', "roll_days = 8",
        "[ib]", f"port = {port}", f"client_id = {client_id}", "connect_timeout = 3.0",
        "reconnect_initial = 0.2", "reconnect_max = 1.0",
        "[ib.restart_window]", 'start = "03:00"', 'end = "03:00"', 'tz = "UTC"',
        "[risk]", "max_order_qty = 5", "max_position = 10",
    ]  # fmt: skip
    for s in signals:
        lines.append("[[signals]]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in s.items()]
    path.write_text("\n".join(lines) + "\n" + extra)
    return path


def wait_for(cond: Callable[[], Any], timeout: float = 90.0, what: str = "condition") -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class SessionProc:
    """`pycontrol session ...` as a real subprocess; stop() always kills it."""

    def __init__(
        self,
        config: Path,
        run_dir: Path,
        env: dict[str, str] | None = None,
        mode: str = "paper",
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.run_dir = run_dir
        self.out = open(run_dir / f"stdout-{time.monotonic_ns()}.txt", "w+")  # noqa: SIM115
        (run_dir / "endpoints.json").unlink(missing_ok=True)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pycontrol.cli", "session", "--config", str(config),
             "--mode", mode, *extra_args],
            stdout=self.out, stderr=subprocess.STDOUT, cwd=REPO,
            env={**os.environ, **(env or {})},
        )  # fmt: skip

    def output(self) -> str:
        if not self.out.closed:
            self.out.flush()
        return Path(self.out.name).read_text()

    def wait_ready(self, timeout: float = 60.0) -> dict[str, str]:
        def ready() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"session exited {self.proc.returncode}:\n{self.output()}")
            return "session ready" in self.output()

        wait_for(ready, timeout, "session ready")
        eps: dict[str, str] = json.loads((self.run_dir / "endpoints.json").read_text())
        assert eps["pid"] == str(self.proc.pid)
        return eps

    def cmd(self, name: str, timeout: float = 10.0, **args: Any) -> dict[str, Any]:
        eps = json.loads((self.run_dir / "endpoints.json").read_text())
        reply = request(eps["cmd"], m.command(name, **args), timeout)
        assert reply is not None, f"no reply to {name}"
        return reply

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.out.close()


class Telemetry:
    """Collects every telemetry message of a session in a background thread."""

    def __init__(self, endpoint: str) -> None:
        self.ctx: zmq.Context[Any] = zmq.Context()
        self.sock = subscriber(self.ctx, endpoint)  # CURVE: the operator's key
        self.raw: list[bytes] = []
        self.msgs: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            if self.sock.poll(100):
                frames = self.sock.recv_multipart()
                self.raw.extend(frames)
                self.msgs.append(m.parse_telemetry(frames))

    def wait_joined(self, timeout: float = 20.0) -> None:
        """PUB drops what it sends before a subscriber has joined: wait for the first beat."""
        wait_for(lambda: self.msgs, timeout, "the first telemetry message")

    def topics(self) -> set[str]:
        return {x["topic"] for x in self.msgs}

    def close(self) -> None:
        self._stop.set()
        self._t.join(5)
        self.sock.close(linger=0)
        self.ctx.term()
