"""Single-row inference latency from Python, on the models and rows the Rust bench uses
(build/bench/models/, from make_infer_models.py): Python onnxruntime (1 intra-op thread, as
the core's sessions), LightGBM `Booster.predict`, and `pycontrol.Model.predict_proba` (the
core called from Python: includes the binding's array conversion). Each call is timed alone;
median and p99 are printed in microseconds.

    .venv/bin/python bench/peers/infer_peers.py [--models build/bench/models] [--calls 20000]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import onnxruntime as ort

from pycontrol import Model


def _timed(fn: Callable[[Any], Any], rows: list[Any], calls: int) -> tuple[float, float]:
    for r in rows[:500]:
        fn(r)
    ns = np.empty(calls, dtype=np.int64)
    clock = time.perf_counter_ns
    for i in range(calls):
        r = rows[i % len(rows)]
        t = clock()
        fn(r)
        ns[i] = clock() - t
    return float(np.median(ns)) / 1e3, float(np.percentile(ns, 99)) / 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--models", type=Path, default=Path("build/bench/models"))
    ap.add_argument("--calls", type=int, default=20_000)
    args = ap.parse_args()
    print(f"{'model':<10} {'runner':<34} {'median us':>10} {'p99 us':>10}")
    for name in ("gbt100", "gbt3x100", "lstm"):
        d = args.models / name
        manifest = json.loads((d / "manifest.json").read_text())
        lookback = (manifest.get("sequence") or {}).get("lookback")
        n_feat = len(manifest["feature_set"]["names"])
        shape = (1, lookback, n_feat) if lookback else (1, n_feat)
        flat = np.fromfile(d / "bench_rows.f32", dtype="<f4")
        rows = list(flat.reshape((-1, *shape[1:]))[:, None])
        rows = [np.ascontiguousarray(r.reshape(shape)) for r in rows]
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        sess = ort.InferenceSession(str(d / "model.onnx"), opts, providers=["CPUExecutionProvider"])
        runners: list[tuple[str, Callable[[Any], Any]]] = [
            ("python onnxruntime", lambda r, s=sess: s.run(["probabilities"], {"input": r})),
        ]
        if manifest.get("native"):
            booster = lgb.Booster(model_file=str(d / "model.lgbm.txt"))
            runners.append(
                ("lightgbm Booster.predict", lambda r, b=booster: b.predict(r, num_threads=1))
            )
            native = Model.load(d)
            runners.append(("pycontrol.Model (native-trees)", native.predict_proba))
        onnx = Model.load(d, prefer_native=False)
        runners.append(("pycontrol.Model (onnx)", onnx.predict_proba))
        for label, fn in runners:
            med, p99 = _timed(fn, rows, args.calls)
            print(f"{name:<10} {label:<34} {med:>10.2f} {p99:>10.2f}", flush=True)


if __name__ == "__main__":
    main()
