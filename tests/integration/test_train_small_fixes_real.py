"""Issue 16, defect 7 on real 6E bars: triple-barrier labels selectable in `pycontrol train`,
the seeds' accuracy std is the sample std (ddof 1), and `code_commit` is found when training
runs outside the repository's directory."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import pycontrol
from pycontrol.cli import main
from pycontrol.training.labels import TripleBarrierConfig, triple_barrier_labels

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SIXE = "bars/other/6EH4.XCME_1min_bars_20240101_20240131.csv.gz"

# Hourly 6E, triple-barrier labels, 3 seeds, tiny trees: a few seconds.
CONFIG = f"""
family = "bar_timing"
seeds = [0, 1, 2]

[data]
path = "{SIXE}"
resample = "1h"

[features]
timeframes = ["1h"]
max_warmup = 26

[labels]
kind = "triple_barrier"
horizon = 4
upper_mult = 1.5
lower_mult = 1.5
vol_window = 20

[split]
n_folds = 3
min_train = 150
embargo = 4

[costs]
half_spread = 0.000025
fees = 0.000036

[[models]]
name = "lgbm"
kind = "lightgbm"
params = {{ n_estimators = 10, num_leaves = 4, max_depth = 2, min_child_samples = 10 }}

[stacking]
enabled = false

[tracking]
enabled = false

[export]
enabled = false
"""


@pytest.fixture(scope="module")
def tb_run(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One run from a directory outside the repository (cwd = a temp dir)."""
    where = tmp_path_factory.mktemp("elsewhere")
    cfg = where / "tb.toml"
    cfg.write_text(CONFIG)
    old = Path.cwd()
    os.chdir(where)
    try:
        rc = main(
            ["train", "--config", str(cfg), "--runs", str(where / "runs"),
             "--data-root", str(shared_data), "--no-progress"]
        )  # fmt: skip
    finally:
        os.chdir(old)
    assert rc == 0
    (folder,) = [p for p in (where / "runs" / "bar_timing").iterdir() if p.is_dir()]
    return folder


def test_triple_barrier_labels_train_from_the_cli(tb_run: Path, shared_data: Path) -> None:
    bars = pycontrol.resample_bars(pycontrol.load_bars(shared_data / SIXE), "1h")
    want = triple_barrier_labels(
        bars, TripleBarrierConfig(horizon=4, upper_mult=1.5, lower_mult=1.5, vol_window=20)
    )["tb_label"].to_numpy()
    oof = pl.read_parquet(tb_run / "oof.parquet").filter(pl.col("seed") == 0)
    assert oof.height > 200
    np.testing.assert_array_equal(oof["y"].to_numpy(), want[oof["bar"].to_numpy()])
    resolved = json.loads((tb_run / "resolved.json").read_text())
    assert resolved["label_kind"] == "triple_barrier"


def test_seed_accuracy_std_is_the_sample_std(tb_run: Path) -> None:
    oof = pl.read_parquet(tb_run / "oof.parquet")
    classes = np.array([-1, 0, 1])
    acc = []
    for seed in (0, 1, 2):
        d = oof.filter(pl.col("seed") == seed)
        p = d.select("p_-1", "p_0", "p_1").to_numpy()
        acc.append(float(np.mean(classes[p.argmax(axis=1)] == d["y"].to_numpy())))
    agg = json.loads((tb_run / "metrics.json").read_text())["models"]["lgbm"]["aggregate"]
    assert np.std(acc, ddof=1) != np.std(acc)  # the seeds differ, so the two formulas do
    assert agg["model"]["accuracy_std"] == pytest.approx(np.std(acc, ddof=1), rel=1e-12)


def test_code_commit_is_found_outside_the_repository(tmp_path: Path) -> None:
    from pycontrol.training.export import code_commit

    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    old = Path.cwd()
    os.chdir(tmp_path)  # not a checkout: `git rev-parse` here fails
    try:
        assert subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True).returncode != 0
        assert code_commit() == head
    finally:
        os.chdir(old)
