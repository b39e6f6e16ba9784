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


# The strategy of scripted session tests: no signals of its own (only the session's pushed
# [[signals]]), a volatility forecast after two one-second returns (so a test warms up in
# seconds, see `warm`), market entries of at most `max_qty` with a bracket.
STRATEGY = """
name = "session-test"
data = ["<broker feed>"]
seed = 1
fee_per_contract = 2.0
initial_equity = 100000.0
flatten_at_end = false
vol_halflife_s = 2.0
vol_min_samples = 2
[order_latency]
kind = "constant"
ns = 0
[feed_latency]
kind = "constant"
ns = 0
[signals]
kind = "pushed"
max_age_s = 30.0
[sizing]
max_qty = {max_qty}
"""


# Placebo signals past a low threshold, a volatility forecast after a few seconds of quotes,
# one contract per entry: a paper session on the real ES day trades within seconds.
PLACEBO = """
name = "paper-placebo"
data = ["<broker feed>"]
seed = 3
fee_per_contract = 2.0
vol_halflife_s = 30.0
vol_min_samples = 3
flatten_at_end = false

[signals]
kind = "placebo"
interval_s = {interval_s}
seed = 12

[decision]
min_confidence_external = 0.4

[sizing]
max_qty = 1
stop_k = 1.0
"""


def write_config(
    path: Path,
    run_dir: Path,
    port: int,
    signals: list[dict[str, Any]],
    extra: str = "",
    client_id: int = 7,
    max_qty: int = 1,
    risk: str = "max_order_qty = 5\nmax_position = 10",
    strategy: Path | None = None,
    roots: tuple[str, ...] = ("ES",),
) -> Path:
    if strategy is None:
        strategy = path.with_name(path.stem + "-strategy.toml")
        strategy.write_text(STRATEGY.format(max_qty=max_qty))
    lines = [
        'name = "test-session"', 'mode = "paper"', f'run_dir = "{run_dir}"',
        'secret_envs = ["IB_ACCOUNT"]',
        *(x for r in roots for x in ("[[instruments]]", f'root = "{r}"', "roll_days = 8")),
        "[ib]", f"port = {port}", f"client_id = {client_id}", "connect_timeout = 3.0",
        "reconnect_initial = 0.2", "reconnect_max = 1.0",
        "[ib.restart_window]", 'start = "03:00"', 'end = "03:00"', 'tz = "UTC"',
        "[engine]", f'strategy = "{strategy}"',
        "[risk]", risk,
    ]  # fmt: skip
    for s in signals:
        lines.append("[[signals]]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in s.items()]
    path.write_text("\n".join(lines) + "\n" + extra)
    return path


WARM_QUOTES = 16


def quote(gw: Any, con_id: int, i: int, base: float = 5000.0) -> None:
    """The ``i``-th of alternating quotes whose bid moves one tick under a fixed ask: one
    tick, so one market update each (IB sends bid and ask as separate ticks: moving both
    could count twice, or pass through a locked book, which the gate refuses as crossed)."""
    gw.set_quote(con_id, base + 0.25 * (i % 2), base + 0.75)


def warm(gw: Any, con_id: int, seconds: float = 3.2) -> None:
    """``WARM_QUOTES`` alternating quotes over ``seconds`` of wall time (the session's event
    time): the engine's volatility forecast exists afterwards, so the next scripted signal
    (``at_event = WARM_QUOTES + 1`` or later) can trade."""
    for i in range(WARM_QUOTES):
        quote(gw, con_id, i)
        time.sleep(seconds / WARM_QUOTES)


def positions(status: dict[str, Any]) -> dict[str, int]:
    """The engine's non-zero positions in a ``status`` reply's result."""
    return {p["symbol"]: int(p["qty"]) for p in status["engine"]["positions"] if p["qty"]}


def fire(gw: Any, con_id: int, run_dir: Path, scripted: int = 1) -> None:
    """Quote changes after ``warm`` until the session has pushed ``scripted`` scripted
    signals (the initial snapshot may or may not count as an update: no exact count)."""
    from pycontrol.session.journal import Journal

    j = Journal(run_dir / "journal.sqlite")
    try:
        for i in range(40):
            quote(gw, con_id, i)  # warm() ended on the odd one: i = 0 is a change
            time.sleep(0.1)
            if j.count("scripted_signal") >= scripted:
                return
    finally:
        j.close()
    raise AssertionError("the scripted signal never fired")


def buy(iid: int, at: int = WARM_QUOTES + 2, side: str = "BUY") -> dict[str, Any]:
    """A scripted external signal at the ``at``-th market update: after ``warm`` (whose
    quotes, with the initial snapshot, are at most ``WARM_QUOTES + 1`` updates)."""
    return {"intent_id": iid, "at_event": at, "side": side, "confidence": 0.95}


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
