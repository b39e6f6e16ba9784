"""Out-of-sample evaluation of the sequence models (LSTM, GRU, Transformer) next to the
baselines on identical rows: 6E (Euro FX) minute bars, January 2024, cost-aware direction
labels, purged walk-forward with embargo, several seeds.

Produces the "Sequence models" table of docs/training.md. Rerun (from the repo root):

    SHARED_DATA=/work/shared/data .venv/bin/python bench/seq_eval.py

Every figure is pooled over all test rows of all folds; model figures are the mean and std
over seeds (the baselines are deterministic: one figure). Nothing is tuned on the test folds:
the configs are the library defaults except ``epochs`` (set here, the same for every arch).
"""

# ruff: noqa: E402  (the thread variables below must be set before numpy/torch import)
from __future__ import annotations

import os

# One BLAS/OpenMP thread before numpy/sklearn load: on a shared machine spinning worker
# threads only slow the logistic baseline down, and torch runs single-threaded anyway.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import torch
from sklearn.metrics import balanced_accuracy_score

import pycontrol
from pycontrol.training import (
    DirectionConfig,
    PurgedWalkForward,
    SequenceClassifier,
    SequenceConfig,
    direction_labels,
    evaluate_baselines,
    feature_lookback,
)
from pycontrol.training.sequence import ARCHS
from pycontrol.training.windows import make_windows

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SHARED_DATA", REPO.parent / "shared" / "data"))
BARS = SHARED / "bars" / "other" / "6EH4.XCME_1min_bars_20240101_20240131.csv.gz"
H, LOOKBACK = 5, 30
CLASSES = np.array([-1, 0, 1])
# Same labels as tests/integration/test_sequence_real.py: 6E tick $6.25, half-spread 0.5
# tick, ~$4.50 round trip = 0.72 tick; dead zone 1.5 ticks (moves of 2+ ticks are signals).
DIRECTION = DirectionConfig(
    horizon=H, dead_zone=1.5, half_spread=0.5, fees=0.72, unit="ticks", tick_size=0.00005
)


def metrics(y: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    pred = CLASSES[proba.argmax(axis=1)]
    pt = proba[np.arange(len(y)), np.searchsorted(CLASSES, y)]
    return {
        "accuracy": float(np.mean(pred == y)),
        "balanced_accuracy": float(balanced_accuracy_score(y, pred)),
        "log_loss": float(-np.mean(np.log(np.clip(pt, 1e-15, 1.0)))),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--folds", type=int, default=3)
    ap.add_argument("--min-train", type=int, default=12_000)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--archs", nargs="+", default=list(ARCHS), choices=ARCHS)
    ap.add_argument("--json", type=Path, help="also write every figure here")
    ap.add_argument("--table-from", type=Path, help="only print the table of a --json file")
    args = ap.parse_args()
    if args.table_from:
        print(table(json.loads(args.table_from.read_text())))
        return
    torch.set_num_threads(1)

    bars = pycontrol.load_bars(BARS).select("ts", "open", "high", "low", "close", "volume")
    specs = pycontrol.FeatureSet.default().specs()
    fs = pycontrol.FeatureSet(
        [s["name"] for s in specs if s["timeframe"] == "1m" and int(s["warmup"]) <= 60]
    )
    feats = pycontrol.compute_features(bars, fs)
    X = feats.drop("ts").to_numpy().astype(np.float64)
    y = direction_labels(bars, DIRECTION)["label"].cast(pl.Float64).to_numpy()
    last = feats["tf1m_ret_1"].to_numpy().astype(np.float64)
    warm = int(np.argmax(np.isfinite(X).all(axis=1)))
    rows = np.arange(warm + LOOKBACK - 1, len(bars) - H, dtype=np.int64)
    fl = feature_lookback(fs.specs())
    # A window reads LOOKBACK - 1 rows further back than its last row's features.
    splitter = PurgedWalkForward(
        n_folds=args.folds,
        label_horizon=H,
        feature_lookback=fl + LOOKBACK,
        embargo=H,
        min_train=args.min_train,
    )
    folds = list(splitter.split(len(rows)))
    print(f"6E 1m bars {bars.height}, usable rows {len(rows)}, features {X.shape[1]}")
    print("splitter", splitter.params())
    print(splitter.describe(len(rows)))
    vals, counts = np.unique(y[rows], return_counts=True)
    print("labels", dict(zip(vals.astype(int).tolist(), counts.tolist(), strict=True)))

    base = evaluate_baselines(X[rows], y[rows], splitter, last_return=last[rows], seed=0)
    out: dict[str, Any] = {
        "splitter": splitter.params(),
        "epochs": args.epochs,
        "seeds": args.seeds,
        "baselines": base.aggregate.to_dicts(),
        "baselines_per_fold": base.per_fold.to_dicts(),
        "models": {},
    }
    y_test = np.concatenate([y[rows[te]] for _, te in folds]).astype(np.int64)
    assert base.aggregate["n_test"].to_list() == [len(y_test)] * 3
    with pl.Config(float_precision=4, tbl_rows=30):
        print(base.aggregate)
    print(f"baselines done at {time.perf_counter() - T0:.0f} s", flush=True)

    # Seed-major, JSON rewritten after every run: an interrupted run still has every arch.
    for seed in args.seeds:
        for arch in args.archs:
            probas, fold_acc, wall, cpu = [], [], [], []
            for tr, te in folds:
                cfg = SequenceConfig(arch, lookback=LOOKBACK, epochs=args.epochs)
                model = SequenceClassifier(cfg, X.shape[1], CLASSES.tolist(), seed=seed)
                W = make_windows(X, rows[tr], LOOKBACK)
                c0 = time.process_time()
                model.fit(W, y[rows[tr]].astype(np.int64))
                # per epoch per 10k windows (train sizes differ between folds); CPU time of
                # this single-threaded process is what the fit costs on an idle core, wall
                # time what it took on the shared machine
                cpu.append((time.process_time() - c0) / args.epochs * 1e4 / len(tr))
                wall.append(float(np.mean(model.epoch_seconds_)) * 1e4 / len(tr))
                p = model.predict_proba(make_windows(X, rows[te], LOOKBACK))
                probas.append(p)
                fold_acc.append(float(np.mean(CLASSES[p.argmax(1)] == y[rows[te]])))
            m = metrics(y_test, np.concatenate(probas))
            m |= {
                "seed": seed,
                "fold_accuracy": fold_acc,
                "cpu_s_per_epoch_per_10k": float(np.mean(cpu)),
                "wall_s_per_epoch_per_10k": float(np.mean(wall)),
            }
            out["models"].setdefault(arch, []).append(m)
            print(f"{arch} seed {seed}: {json.dumps(m)}", flush=True)
            if args.json:
                args.json.write_text(json.dumps(out, indent=1))
    print(table(out))


def table(out: dict[str, Any]) -> str:
    """The markdown table: baselines, then each arch as mean +- std over its seeds."""
    lines = [
        "| model | seeds | accuracy | balanced acc. | log-loss | CPU s / epoch / 10k windows |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in out["baselines"]:
        ll = "-" if r["log_loss"] is None else f"{r['log_loss']:.4f}"
        lines.append(
            f"| {r['model']} | - | {r['accuracy']:.4f} | {r['balanced_accuracy']:.4f} | {ll} | - |"
        )
    for arch, per_seed in out["models"].items():
        cells = []
        for k, d in (
            ("accuracy", 4),
            ("balanced_accuracy", 4),
            ("log_loss", 4),
            ("cpu_s_per_epoch_per_10k", 2),
        ):
            v = np.array([s[k] for s in per_seed])
            sd = v.std(ddof=1) if len(v) > 1 else 0.0
            cells.append(f"{v.mean():.{d}f} +- {sd:.{d}f}")
        lines.append(f"| {arch} | {len(per_seed)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


T0 = time.perf_counter()

if __name__ == "__main__":
    main()
    print(f"total {time.perf_counter() - T0:.0f} s")
