"""Webhook POST to order on the wire, on loopback.

A real paper session (subprocess, `pycontrol session --mode paper`) against the TWS test
gateway in this process, trading a real LightGBM model whose probability for BUY is known
(0.926, over the 0.87 minimum), with a ``[webhook]``. Each round POSTs a TradingView-shaped
buy alert over HTTP; the model confirms it, the engine sizes a bracket, the IB adapter
sends it. Timed with CLOCK_MONOTONIC (one clock for every process of the host):

- total: the client starts the POST -> the gateway has decoded the entry's placeOrder;
- http: the POST -> the alert desk's handler starts (HTTP parsing, uvicorn, Starlette);
- desk: checks (auth, schema, limits), journaling the alert (fsync), the engine (push,
  model confirmation, decision, sizing, gates), journaling the intent and the decision;
- adapter: the handler is done -> placeOrder at the gateway (the asyncio task that
  journals the order and encodes it with ib_async, the socket, the gateway's decoding).

Between rounds the position is flattened and trading resumed over the control socket
(not timed). Writes bench/results/webhook_latency.json. Run with `make bench` or
`.venv/bin/python bench/webhook_latency.py [--alerts N]`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402

from pycontrol.commands.ctl_cmd import request  # noqa: E402
from pycontrol.session import messages as m  # noqa: E402
from pycontrol.testing.ib_gateway import BboVenue, TestGateway  # noqa: E402
from pycontrol.testing.models import make_prior_lightgbm  # noqa: E402

SECRET = "bench-secret"
STRATEGY = """
name = "webhook-bench"
data = ["<broker feed>"]
seed = 1
fee_per_contract = 2.0
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
kind = "model"
path = "{model}"
[decision]
min_confidence_ensemble = 0.99
[sizing]
max_qty = 1
"""


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


def wait(cond: Any, timeout: float, what: str) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.001)
    raise SystemExit(f"timed out waiting for {what}")


def run(alerts: int) -> dict[str, Any]:
    gw = TestGateway(account="DU0000001", venue=BboVenue(enabled=True)).start()
    front = gw.front("ES")
    gw.set_quote(front.con_id, 5000.0, 5000.25)
    placed: list[int] = []
    place = gw._place_order

    def stamped(conn: Any, f: list[str]) -> None:
        placed.append(time.monotonic_ns())
        place(conn, f)

    gw._place_order = stamped  # type: ignore[method-assign]
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        model = d / "model"
        make_prior_lightgbm(
            model,
            prior=[0.03, 0.04, 0.93],
            names=["micro_spread", "micro_mid", "micro_imb_1"],
            low=[0.0, 0.0, -1.0],
            high=[10.0, 20000.0, 1.0],
        )
        (d / "strategy.toml").write_text(STRATEGY.format(model=model))
        cfg = d / "bench.toml"
        cfg.write_text(
            f'name = "bench"\nmode = "paper"\nrun_dir = "{d}/run"\n'
            f'[instrument]\nroot = "ES"\n[ib]\nport = {gw.port}\nclient_id = 32\n'
            f'[engine]\nstrategy = "{d}/strategy.toml"\n'
            "[risk]\nmax_order_qty = 5\nmax_position = 10\nsubmit_rate_per_sec = 1000\n"
            "submit_burst = 1000\nmax_daily_exposure = 1e12\ndaily_loss_limit = 1e9\n"
            "max_drawdown = 0.99\n"
            '[webhook]\nsecret_env = "BENCH_SECRET"\nrate_per_min = 100000.0\nburst = 1000\n'
        )
        out = open(d / "out.txt", "w+")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-m", "pycontrol.cli", "session", "--config", str(cfg)],
            stdout=out, stderr=subprocess.STDOUT, cwd=REPO,
            env={**os.environ, "BENCH_SECRET": SECRET, "IB_ACCOUNT": "DU0000001"},
        )  # fmt: skip
        try:
            try:
                wait(lambda: "session ready" in (d / "out.txt").read_text(), 60, "session ready")
            except SystemExit:
                print((d / "out.txt").read_text()[-3000:], file=sys.stderr)
                raise
            eps = json.loads((d / "run" / "endpoints.json").read_text())
            for i in range(16):  # quotes over 3 s: a volatility forecast
                gw.set_quote(front.con_id, 5000.0 + 0.25 * (i % 2), 5000.75)
                time.sleep(0.2)

            def ctl(name: str, **kw: Any) -> None:
                r = request(eps["cmd"], m.command(name, **kw), 10.0)
                assert r is not None and r["ok"], r

            rows = []
            with httpx.Client(timeout=10.0) as http:
                for k in range(alerts):
                    body = {
                        "secret": SECRET, "alert_id": f"b-{k}", "strategy": "bench",
                        "instrument": "ES", "side": "buy", "price": 5000.75,
                        "time": time.time(),
                    }  # fmt: skip
                    # a fresh quote (the gate refuses data older than max_data_age_ns)
                    gw.set_quote(front.con_id, 5000.0 + 0.25 * (k % 2), 5000.75)
                    time.sleep(0.01)
                    n = len(placed)
                    t0 = time.monotonic_ns()
                    r = http.post(eps["webhook"], json=body)
                    got = r.json()
                    if r.status_code != 202 or got["outcome"] != "SENT":
                        print((d / "out.txt").read_text()[-2000:], file=sys.stderr)
                        raise SystemExit(f"alert {k}: {got}")
                    wait(lambda n=n: len(placed) >= n + 1, 10, "the entry at the gateway")
                    t_wire = placed[n]
                    tu = got["timing_us"]
                    rows.append(
                        {
                            "total": (t_wire - t0) / 1e3,
                            "http": (got["received_mono_ns"] - t0) / 1e3,
                            "desk": sum(tu.values()),
                            "engine": tu["engine"],
                            "journal": tu["journal_alert"] + tu["journal_decision"],
                            "checks": tu["checks"],
                            "adapter": (t_wire - got["handled_mono_ns"]) / 1e3,
                        }
                    )
                    # back to flat for the next round (not timed)
                    wait(lambda: gw.position_map(), 10, "the entry's fill")
                    ctl("flatten")
                    wait(lambda: not gw.position_map(), 10, "flat")
                    wait(lambda: not [o for o in gw.order_list() if o.working], 10, "no orders")
                    time.sleep(0.02)
                    ctl("resume", override="bench: next round")
        finally:
            proc.kill()
            proc.wait(10)
            out.close()
            gw.stop()
    keys = ["total", "http", "checks", "journal", "engine", "adapter"]
    p50 = {key: pct([r[key] for r in rows], 0.5) for key in keys}
    return {
        "alerts": len(rows),
        "p50_us": p50,
        "p99_us": {key: pct([r[key] for r in rows], 0.99) for key in keys},
        "max_us": {key: max(r[key] for r in rows) for key in keys},
        "share_of_p50_total": {
            key: round(p50[key] / p50["total"], 3) for key in keys if key != "total"
        },
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--alerts", type=int, default=500)
    args = ap.parse_args()
    if not 1 <= args.alerts <= 5000:
        raise SystemExit("--alerts must be 1..5000")
    res = {
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "loadavg_before": os.getloadavg(),
        },
        "webhook_to_wire": run(args.alerts),
    }
    res["machine"]["loadavg_after"] = os.getloadavg()
    out = REPO / "bench" / "results" / "webhook_latency.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2))
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
