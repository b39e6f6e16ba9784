"""Session control-plane benchmarks over ZeroMQ on this machine:

1. Command round trip: a real paper session (subprocess, `pycontrol session --mode paper`)
   against the TWS test gateway in this process; `--rounds` REQ -> ROUTER `status` commands
   (schema check, engine status over the engine channel, journal reads, JSON reply), timed
   from send to reply. p50 / p99 / max in microseconds.
2. Telemetry throughput: the session's telemetry encoding (`messages.telemetry`, versioned
   JSON, two frames) published on PUB over tcp://127.0.0.1 and received by a SUB in another
   thread; messages per second received, with the count dropped (high-water marks are
   raised so a drop means the socket could not keep up, not a small buffer).

Writes bench/results/session_zmq.json. Run with `make bench` or
`.venv/bin/python bench/session_zmq.py [--rounds N] [--messages N]`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import zmq

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pycontrol.session import messages as m  # noqa: E402
from pycontrol.session.control_auth import secure_client  # noqa: E402
from pycontrol.testing.ib_gateway import BboVenue, TestGateway  # noqa: E402


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


def command_round_trip(rounds: int) -> dict[str, Any]:
    gw = TestGateway(venue=BboVenue(enabled=False)).start()
    gw.set_quote(gw.front("ES").con_id, 5000.0, 5000.25)
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp)
        cfg = run / "bench.toml"
        cfg.write_text(
            f'name = "bench"\nmode = "paper"\nrun_dir = "{run}"\n'
            f"[ib]\nport = {gw.port}\nclient_id = 31\n"
        )
        out = open(run / "out.txt", "w+")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-m", "pycontrol.cli", "session", "--config", str(cfg)],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )
        try:
            end = time.monotonic() + 60
            while "session ready" not in (run / "out.txt").read_text():
                if proc.poll() is not None or time.monotonic() > end:
                    raise RuntimeError((run / "out.txt").read_text())
                time.sleep(0.1)
            ep = json.loads((run / "endpoints.json").read_text())["cmd"]
            ctx: zmq.Context[Any] = zmq.Context()
            sock = ctx.socket(zmq.REQ)
            secure_client(sock)  # the control socket is CURVE-authenticated (issue 13)
            sock.connect(ep)
            body = m.command("status")
            for _ in range(50):  # warm-up
                sock.send(body)
                sock.recv()
            lat = []
            for _ in range(rounds):
                t0 = time.perf_counter_ns()
                sock.send(body)
                if not sock.poll(5000):
                    raise RuntimeError("no reply in 5 s")
                reply = sock.recv()
                lat.append((time.perf_counter_ns() - t0) / 1000)
            assert m.parse_reply(reply)["ok"]
            sock.close(linger=0)
            ctx.term()
        finally:
            proc.kill()
            proc.wait(10)
            out.close()
            gw.stop()
    return {
        "command": "status",
        "rounds": rounds,
        "p50_us": pct(lat, 0.50),
        "p99_us": pct(lat, 0.99),
        "max_us": max(lat),
        "mean_us": statistics.fmean(lat),
    }


def telemetry_throughput(n: int) -> dict[str, Any]:
    ctx: zmq.Context[Any] = zmq.Context()
    pub = ctx.socket(zmq.PUB)
    pub.setsockopt(zmq.SNDHWM, 0)
    port = pub.bind_to_random_port("tcp://127.0.0.1")
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.RCVHWM, 0)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.connect(f"tcp://127.0.0.1:{port}")
    # slow joiner: publish probes until the subscriber sees one
    while True:
        pub.send_multipart(m.telemetry("state", 0, {"probe": True}))
        if sub.poll(50):
            sub.recv_multipart()
            break
    got = [0]
    first_last = [0, 0]

    def receive() -> None:
        while True:
            if not sub.poll(2000):
                return
            frames = sub.recv_multipart()
            if frames[0] == b"state":
                continue
            if got[0] == 0:
                first_last[0] = time.perf_counter_ns()
            got[0] += 1
            first_last[1] = time.perf_counter_ns()
            if got[0] == n:
                return

    t = threading.Thread(target=receive)
    t.start()
    data = {"client_order_id": 4, "symbol": "ESZ6", "side": "BUY", "qty": 1, "price": 5000.25}
    t0 = time.perf_counter_ns()
    for i in range(n):
        pub.send_multipart(m.telemetry("fill", i, data))
    t_sent = time.perf_counter_ns()
    t.join(30)
    pub.close(linger=0)
    sub.close(linger=0)
    ctx.term()
    elapsed = (first_last[1] - t0) / 1e9
    return {
        "messages": n,
        "received": got[0],
        "dropped": n - got[0],
        "msgs_per_s": got[0] / elapsed if elapsed > 0 else 0.0,
        "publish_only_msgs_per_s": n / ((t_sent - t0) / 1e9),
        "bytes_per_msg": sum(len(f) for f in m.telemetry("fill", 1, data)),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rounds", type=int, default=2000)
    ap.add_argument("--messages", type=int, default=200_000)
    args = ap.parse_args()
    rt = command_round_trip(args.rounds)
    tp = telemetry_throughput(args.messages)
    result = {
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "libzmq": zmq.zmq_version(),
        },
        "round_trip": rt,
        "telemetry": tp,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    out = REPO / "bench" / "results" / "session_zmq.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(
        f"command round trip ({rt['command']}, {rt['rounds']} rounds): "
        f"p50 {rt['p50_us']:.0f} us, p99 {rt['p99_us']:.0f} us, max {rt['max_us']:.0f} us"
    )
    print(
        f"telemetry PUB->SUB: {tp['msgs_per_s']:,.0f} msg/s received "
        f"({tp['received']:,}/{tp['messages']:,}, dropped {tp['dropped']}), "
        f"{tp['bytes_per_msg']} B/msg; publish alone {tp['publish_only_msgs_per_s']:,.0f} msg/s"
    )
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
