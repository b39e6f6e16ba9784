"""Databento Live into the engine, on loopback: how fast records go from the test gateway's
socket through the official Python client into the Rust engine's L3 book.

Three figures on the real ES MBO day (68,792 records, served as fast as the socket takes
them, with ``ts_out``):

1. client only: gateway -> official ``databento`` client -> a callback that counts (what the
   Python client can deliver at all);
2. the session's path: gateway -> client -> ``LiveFeed`` (de-duplication, gap check, bytes)
   -> batch -> ``LiveEngine.on_records`` (decode + ``on_mbo``: book, features, decision,
   gates). Records/s sustained, and per record the latency from the gateway stamping its
   ``ts_out`` (just before the send) to its batch having updated the book, p50/p99;
3. the core alone: ``on_records`` on the file's bytes in batches of 64 records, p50/p99 per
   record (in process, no kernel, no Python client): the part a Rust live client would keep.

The machine's load average is printed with the figures (a shared machine skews them).
``python bench/databento_live.py [--rounds 3]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

import databento as db
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pycontrol import _core  # noqa: E402
from pycontrol.backtest.config import BacktestConfig  # noqa: E402
from pycontrol.backtest.run import engine_kwargs  # noqa: E402
from pycontrol.feeds.databento_live import LiveFeed  # noqa: E402
from pycontrol.session.config import FeedConfig  # noqa: E402
from pycontrol.testing.databento_gateway import DatabentoGateway, load_records  # noqa: E402

KEY = "db-BENCHKEY000000000000000000000"
DATA = Path(os.environ.get("SHARED_DATA", REPO.parent / "shared" / "data"))
FILE = DATA / "dbn" / "nautilus" / "esh4-glbx-mdp3-20231225.mbo.dbn.zst"
N = 68_792


def engine() -> Any:
    bt = BacktestConfig.from_dict(
        {
            "name": "bench",
            "data": ["<databento>"],
            "signals": {"kind": "placebo", "interval_s": 1.0, "seed": 5},
        }
    )
    e = _core.LiveEngine([(1, "ES", 0.25, 50.0)], **engine_kwargs(bt, {1: "ES"}, None))
    e.map_feed_instrument(17077, 1)
    return e


def client_only() -> float:
    with DatabentoGateway(FILE, keys=(KEY,)) as gw:
        n = [0]

        def count(r: Any) -> None:
            n[0] += 1

        c = db.Live(key=KEY, gateway="127.0.0.1", port=gw.port, ts_out=True)
        c.add_callback(count)
        c.subscribe(dataset="GLBX.MDP3", schema="mbo", symbols=["ESH4"])
        t0 = time.perf_counter()
        c.start()
        while n[0] < N + 1 and time.perf_counter() - t0 < 60:
            time.sleep(0.0005)
        dt = time.perf_counter() - t0
        c.terminate()
    return N / dt


def session_path(paced: bool) -> tuple[float, np.ndarray]:
    """Records/s and per-record latency (ns) through the feed into the engine. ``paced``:
    the gateway sends 64 records every 2 ms (~30k rec/s, below what the client takes, so
    the latency is the path's and not a backlog's); else as fast as the socket takes them."""
    kw: dict[str, Any] = {"pace_s": 0.002, "chunk_bytes": 64 * 64} if paced else {}
    with DatabentoGateway(FILE, keys=(KEY,), **kw) as gw:
        cfg = FeedConfig(kind="databento", gateway="127.0.0.1", port=gw.port, ts_out=True)
        feed = LiveFeed(cfg, ["ESH4"], KEY)
        e = engine()
        lat: list[np.ndarray] = []
        fed = 0

        async def go() -> float:
            nonlocal fed
            stop = asyncio.Event()
            feed.connect()
            t0 = time.perf_counter()
            task = asyncio.ensure_future(feed.run(stop, poll_s=0.001))
            while fed < N and time.perf_counter() - t0 < 60:
                await asyncio.sleep(0)
                data, n, _, _ = feed.take()
                if not n:
                    await asyncio.sleep(0.0002)
                    continue
                e.on_records(data)
                done = time.time_ns()
                mbo = np.frombuffer(data, dtype=np.uint64).reshape(-1, 8)  # 64-byte MBO + ts_out
                lat.append(done - mbo[:, 7].astype(np.int64))
                fed += n
            dt = time.perf_counter() - t0
            stop.set()
            await asyncio.gather(task, return_exceptions=True)
            return dt

        dt = asyncio.run(go())
    return fed / dt, np.concatenate(lat)


def core_only(batch: int = 64) -> tuple[float, np.ndarray]:
    recs = load_records(FILE).records
    e = engine()
    per: list[float] = []
    t0 = time.perf_counter()
    for i in range(0, len(recs), batch):
        chunk = b"".join(recs[i : i + batch])
        s = time.perf_counter_ns()
        e.on_records(chunk)
        per.append((time.perf_counter_ns() - s) / 1e3 / (len(chunk) // 56))
    dt = time.perf_counter() - t0
    return len(recs) / dt, np.array(per)


def rust_client(exe: Path) -> float:
    """The Rust ``databento`` crate's live client (bench/peers/databento_rust_live) against
    the same gateway: records/s received and decoded (it sums the prices)."""
    import subprocess

    with DatabentoGateway(FILE, keys=(KEY,)) as gw:
        out = subprocess.run(
            [str(exe), str(gw.port), KEY, str(N)], capture_output=True, text=True, timeout=60
        )
    if out.returncode != 0:
        raise SystemExit(f"{exe}: {out.stderr.strip()}")
    got, rate, _ = out.stdout.split()
    assert int(got) == N, out.stdout
    return float(rate)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--rust-client", type=Path, default=None, help="built databento_rust_live")
    a = ap.parse_args()
    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    for r in range(a.rounds):
        c = client_only()
        s, _ = session_path(paced=False)
        _, lat = session_path(paced=True)
        k, per = core_only()
        us = lat / 1e3
        if a.rust_client is not None:
            print(f"round {r + 1}: Rust databento client {rust_client(a.rust_client):,.0f} rec/s")
        print(
            f"round {r + 1}: client only {c:,.0f} rec/s | session path {s:,.0f} rec/s | "
            f"paced ~30k rec/s: gateway send -> book updated p50 {np.percentile(us, 50):,.0f} us "
            f"p99 {np.percentile(us, 99):,.0f} us | core on_records {k:,.0f} rec/s, per record "
            f"p50 {np.percentile(per, 50):.3f} us p99 {np.percentile(per, 99):.3f} us "
            "(batches of 64)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
