"""Order round trips at the Tradovate test double on loopback, through the real venue.

The venue (``TradovateVenue``, in process, with a real journal) sends ``--orders`` resting
limit orders (``order/placeorder``) and as many bracket entries (``order/placeOSO``, three
orders), one at a time, each journaled (sqlite, synchronous=FULL) before it is sent; then
modifies and cancels each single order. Timed per command: ``submit`` from the call until it
returns (journal commit + HTTP round trip + the answer's id journaled), and for new orders
until the ``executionReport New`` reached the session's sinks (the ack). p50 / p99 / max.

Writes bench/results/tradovate_orders.json. Run:
`.venv/bin/python bench/tradovate_orders.py [--orders N]`.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pycontrol.session.config import SessionConfig  # noqa: E402
from pycontrol.session.journal import Journal  # noqa: E402
from pycontrol.session.orders import Bracket, OrderIntent  # noqa: E402
from pycontrol.session.venue import VenueSinks  # noqa: E402
from pycontrol.testing.tradovate_gateway import TradovateGateway, credential_env  # noqa: E402
from pycontrol.tradovate.venue import TradovateVenue  # noqa: E402


def pct(xs: list[float]) -> dict[str, float]:
    s = sorted(xs)
    return {
        "n": len(s),
        "p50_ms": round(statistics.median(s) * 1e3, 3),
        "p99_ms": round(s[min(len(s) - 1, int(len(s) * 0.99))] * 1e3, 3),
        "max_ms": round(s[-1] * 1e3, 3),
    }


async def measure(gw: TradovateGateway, n: int, journal: Path) -> dict[str, Any]:
    es = gw.front("ES").name
    acks: dict[int, float] = {}

    def on_report(r: Any, src: str) -> None:
        if r.kind == "ack":
            acks.setdefault(r.client_order_id, time.perf_counter())

    sinks = VenueSinks(on_report, lambda *a: None, lambda m: None, lambda k, d: None)
    cfg = SessionConfig.from_dict(
        {"name": "bench", "venue": {"broker": "tradovate"}, "tradovate": gw.config()}
    )
    j = Journal(journal)
    now = dt.datetime.combine(gw.today, dt.time(15), dt.UTC)
    v = TradovateVenue(cfg, "paper", j, sinks, clock=lambda: now, env=credential_env())
    await v.start()
    out: dict[str, Any] = {}
    try:
        for kind in ("placeorder", "placeOSO"):
            sent: list[float] = []
            acked: list[float] = []
            for i in range(n):
                iid = 1 + i + (0 if kind == "placeorder" else n)
                br = Bracket(4000.0, 6000.0) if kind == "placeOSO" else None
                intent = OrderIntent(
                    iid, 0, es, "BUY", 1, "LMT", price=4000.0 + i * 0.25, bracket=br
                )
                cid = intent.client_order_id()
                t0 = time.perf_counter()
                await v.submit(intent)
                sent.append(time.perf_counter() - t0)
                for _ in range(500):
                    if cid in acks:
                        break
                    await asyncio.sleep(0.0005)
                acked.append(acks[cid] - t0)
            out[kind] = {"submit": pct(sent), "ack": pct(acked)}
        for kind, action in (("modifyorder", "MODIFY"), ("cancelorder", "CANCEL")):
            times = []
            for i in range(n):
                target = OrderIntent(1 + i, 0, es, "BUY", 1).client_order_id()
                intent = OrderIntent(
                    10 * n + i + (0 if action == "MODIFY" else n),
                    0,
                    es,
                    "BUY",
                    1,
                    "LMT",
                    action,
                    price=3999.0,
                    target_client_order_id=target,
                )
                t0 = time.perf_counter()
                await v.submit(intent)
                times.append(time.perf_counter() - t0)
            out[kind] = {"submit": pct(times)}
        out["orders_at_double"] = len(gw.order_list())
    finally:
        await v.stop()
        j.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--orders", type=int, default=200)
    a = ap.parse_args()
    gw = TradovateGateway(auto_fill=False).start()
    try:
        with tempfile.TemporaryDirectory() as d:
            res = asyncio.run(measure(gw, a.orders, Path(d) / "journal.sqlite"))
    finally:
        gw.stop()
    res["machine"] = {"python": platform.python_version(), "cpus": __import__("os").cpu_count()}
    res["when"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    print(json.dumps(res, indent=2))
    out = REPO / "bench" / "results" / "tradovate_orders.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
