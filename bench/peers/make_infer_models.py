"""Builds the models the inference benches run (`make bench` calls it) into
build/bench/models/<name>/, each an export folder (docs/model-manifest.md) plus
`bench_rows.f32`: 1,000 input rows (raw little-endian float32) that every bench, Rust and
Python, cycles through, so all backends see the same inputs.

- gbt100: LightGBM binary, 100 trees of up to 31 leaves, 32 features (the "100-tree model")
- gbt3x100: LightGBM 3-class, 100 iterations = 300 trees, 32 features
- lstm: torch LSTM (lookback 16, 8 features, hidden 32) -> linear -> softmax, 3 classes

    .venv/bin/python bench/peers/make_infer_models.py [--out build/bench/models]
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np

from pycontrol.testing import models as testing


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=Path("build/bench/models"))
    out: Path = ap.parse_args().out
    if out.exists():
        shutil.rmtree(out)
    gbt = testing.make_lightgbm(
        out / "gbt100",
        model_id="bench-gbt100",
        n_classes=2,
        n_features=32,
        n_trees=100,
        num_leaves=31,
        n_rows=20_000,
    )
    gbt3 = testing.make_lightgbm(
        out / "gbt3x100",
        model_id="bench-gbt3x100",
        n_classes=3,
        n_features=32,
        n_trees=100,
        num_leaves=31,
        n_rows=20_000,
    )
    lstm = testing.make_lstm(
        out / "lstm", model_id="bench-lstm", n_features=8, lookback=16, hidden=32
    )
    rng = np.random.default_rng(1)
    for exp in (gbt, gbt3, lstm):
        rows = exp.x[rng.integers(0, len(exp.x), size=1000)]
        # The benches time the model, not NaN routing through gates: finite rows only.
        rows = np.nan_to_num(rows).astype("<f4")
        rows.tofile(exp.path / "bench_rows.f32")
        print(f"{exp.path}: {exp.model_id}")


if __name__ == "__main__":
    main()
