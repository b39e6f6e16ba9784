"""Benchmarks of the operator's surface (pytest-benchmark), against a real replay session
(Rust engine, synthetic ES MBO, paced at 2000 records/s so telemetry keeps flowing) and a
real `pycontrol serve` on loopback:

1. REST ``GET /api/status`` round trip (httpx, keep-alive, bearer token).
2. Engine event to dashboard stream: a telemetry message's publish time (``ts``, stamped by
   the session) to its arrival at an SSE client of ``/api/stream``; p50 / p99.
3. ``POST /predict`` with one row (a LightGBM production model in a registry): p50 / p99.
4. ``ctl halt``: process start to acknowledgement, ``python -m pycontrol.commands.ctl_cmd``
   (the direct path) and ``python -m pycontrol.cli ctl`` (through the whole CLI).

Run: ``.venv/bin/python -m pytest bench/ops_surface.py --benchmark-only -p no:warnings``
(figures in bench/BENCHMARKS.md; JSON with ``--benchmark-json``).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))

from sessionkit import SessionProc, wait_for  # noqa: E402
from test_session_rust import cli, rust_config  # noqa: E402

from pycontrol.session.control_auth import KEYS_ENV  # noqa: E402
from pycontrol.testing import models as testing  # noqa: E402


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


class Stack:
    def __init__(self, tmp: Path) -> None:
        self.keys = tmp / "keys"
        os.environ[KEYS_ENV] = str(self.keys)
        data = tmp / "synth.mbo.dbn.zst"
        r = cli("data", "synth", "--out", str(data), "--events", "400000", "--seed", "5")
        assert r.returncode == 0, r.stderr
        self.run_dir = tmp / "run"
        cfg = rust_config(tmp, self.run_dir, data, exit_at_end=False, rate_hz=2000, chunk=64)
        self.session = SessionProc(cfg, self.run_dir, env={KEYS_ENV: str(self.keys)}, mode="replay")
        self.session.wait_ready(90)
        self.registry = tmp / "registry"
        exp = testing.make_lightgbm(tmp / "export", n_features=6, n_trees=20)
        testing.publish(self.registry, exp.path, "bench_family", "v1")
        testing.set_alias(self.registry, "bench_family", "production", "v1")
        x = exp.x.astype(np.float32)
        self.row = x[np.isfinite(x).all(axis=1)][0].astype(float).tolist()
        self.log = open(tmp / "serve.txt", "w+")  # noqa: SIM115
        self.serve = subprocess.Popen(
            [sys.executable, "-m", "pycontrol.cli", "serve", "--run-dir", str(self.run_dir),
             "--port", "0", "--registry", str(self.registry), "--poll", "1.0"],
            stdout=self.log, stderr=subprocess.STDOUT, cwd=REPO,
        )  # fmt: skip

        def url() -> str | None:
            lines = Path(self.log.name).read_text().splitlines()
            hits = [x for x in lines if "ops service on" in x]
            return hits[0].split()[3].rstrip("/") if hits else None

        self.url: str = wait_for(url, 120, "serve")
        token = (self.keys / "service.token").read_text().strip()
        self.client = httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
        wait_for(lambda: self.client.get("/api/status").status_code == 200, 60, "status")

    def close(self) -> None:
        self.client.close()
        self.serve.terminate()
        self.serve.wait(10)
        self.log.close()
        self.session.stop()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    s = Stack(tmp_path_factory.mktemp("ops-bench"))
    try:
        yield s
    finally:
        s.close()


def test_rest_status_round_trip(benchmark: Any, stack: Stack) -> None:
    r = benchmark(stack.client.get, "/api/status")
    assert r.status_code == 200


def test_engine_event_to_stream(benchmark: Any, stack: Stack) -> None:
    lat_us: list[float] = []
    with stack.client.stream("GET", "/api/stream") as r:
        lines = r.iter_lines()

        def next_telemetry() -> None:
            for line in lines:
                if line.startswith("data: ") and '"kind": "telemetry"' in line:
                    now = time.time_ns()
                    lat_us.append((now - json.loads(line[6:])["data"]["ts"]) / 1000)
                    return

        benchmark.pedantic(next_telemetry, rounds=200, iterations=1, warmup_rounds=10)
    p50, p99 = pct(lat_us, 0.5), pct(lat_us, 0.99)
    benchmark.extra_info.update(
        {"p50_us": p50, "p99_us": p99, "n": len(lat_us), "mean_us": statistics.fmean(lat_us)}
    )


def test_predict_one_row(benchmark: Any, stack: Stack) -> None:
    body = {"family": "bench_family", "rows": [stack.row]}
    lat: list[float] = []

    def one() -> None:
        t0 = time.perf_counter_ns()
        r = stack.client.post("/predict", json=body)
        lat.append((time.perf_counter_ns() - t0) / 1000)
        assert r.status_code == 200 and "probabilities" in r.json()["predictions"][0]

    benchmark.pedantic(one, rounds=500, iterations=1, warmup_rounds=20)
    benchmark.extra_info.update({"p50_us": pct(lat, 0.5), "p99_us": pct(lat, 0.99)})


@pytest.mark.parametrize("entry", ["pycontrol.commands.ctl_cmd", "pycontrol.cli ctl"])
def test_ctl_halt_process_start_to_ack(benchmark: Any, stack: Stack, entry: str) -> None:
    argv = [sys.executable, "-m", *entry.split(), "--run-dir", str(stack.run_dir), "halt"]

    def halt() -> None:
        r = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, timeout=60)
        assert r.returncode == 0 and '"HALTED"' in r.stdout, r.stderr

    benchmark.pedantic(halt, rounds=10, iterations=1, warmup_rounds=1)
