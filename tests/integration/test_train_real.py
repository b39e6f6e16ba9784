"""The research pipeline on real bars (6E Euro FX futures, January 2024, 1m resampled to 1h):
leakage through the pipeline's own dataset building, purge and embargo on its rows, and
`pycontrol train` end to end (run folder, manifest contract, parity, native dump, report,
tracking) plus determinism of a whole run."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import polars as pl
import pytest
from polars.testing import assert_frame_equal

import pycontrol
from pycontrol.cli import main
from pycontrol.registry.contract import check_export
from pycontrol.training import run
from pycontrol.training.config import TrainConfig
from pycontrol.training.dataset import build_dataset, model_bars

pytestmark = pytest.mark.slow

SIXE = "bars/other/6EH4.XCME_1min_bars_20240101_20240131.csv.gz"

# A small regime_hourly run: few trees, 3 folds, 5 seeds (bagging < 1, so seeds differ).
CONFIG = f"""
family = "regime_hourly"
seeds = [0, 1, 2, 3, 4]

[data]
path = "{SIXE}"
resample = "1h"

[features]
timeframes = ["1h"]
max_warmup = 26

[labels]
kind = "regime"
horizon = 4
vol_window = 20

[split]
n_folds = 3
min_train = 150
embargo = 4

[costs]
half_spread = 0.000025
fees = 0.000036
threshold = 0.45

[[models]]
name = "lgbm_a"
kind = "lightgbm"
params = {{ n_estimators = 20, num_leaves = 4, max_depth = 2, min_child_samples = 10 }}

[[models]]
name = "lgbm_b"
kind = "lightgbm"
params = {{ n_estimators = 20, num_leaves = 8, max_depth = 3, min_child_samples = 10 }}

[stacking]
recent = 50
"""

# Every top-level key of docs/model-manifest.md, and of its nested blocks.
MANIFEST_KEYS = {
    "schema_version", "family", "model_id", "created_at", "kind", "classes", "class_values",
    "feature_set", "onnx", "native", "sequence", "members", "input_bounds", "max_age_days",
    "metrics", "seeds", "lineage", "parity", "drift_reference",
}  # fmt: skip


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("cfg") / "regime_small.toml"
    p.write_text(CONFIG)
    return p


@pytest.fixture(scope="module")
def minute_bars(shared_data: Path) -> pl.DataFrame:
    return pycontrol.load_bars(shared_data / SIXE)


def test_dataset_leakage_permuting_the_future_changes_nothing_before_it(
    config: Path, minute_bars: pl.DataFrame
) -> None:
    cfg = TrainConfig.load(config)
    ds0 = build_dataset(model_bars(minute_bars, cfg.data), cfg)
    splitter = ds0.splitter(cfg)
    assert ds0.bars.height > 450  # ~500 hourly bars in January
    rng = np.random.default_rng(11)
    for train, test in list(splitter.split(len(ds0.rows)))[1:]:
        start_ts = ds0.bars["ts"][int(ds0.rows[test[0]])]
        p = int(minute_bars["ts"].search_sorted(start_ts))  # first 1m bar of the test hour
        n = minute_bars.height
        perm = np.concatenate([np.arange(p), p + rng.permutation(n - p)])
        shuffled = minute_bars.select("ts").hstack(minute_bars.drop("ts")[perm])
        ds1 = build_dataset(model_bars(shuffled, cfg.data), cfg)
        tr0, tr1 = ds0.rows[train], ds1.rows[train]
        np.testing.assert_array_equal(tr1, tr0)
        np.testing.assert_array_equal(ds1.features[tr1], ds0.features[tr0])
        np.testing.assert_array_equal(ds1.y[train], ds0.y[train])
        # the permutation did reach the test rows: the check could have failed
        te = ds0.rows[test]
        assert not np.array_equal(ds1.features[te], ds0.features[te], equal_nan=True)


def test_purge_and_embargo_remove_exactly_the_overlapping_rows(
    config: Path, minute_bars: pl.DataFrame
) -> None:
    cfg = TrainConfig.load(config)
    ds = build_dataset(model_bars(minute_bars, cfg.data), cfg)
    s = ds.splitter(cfg)
    h, lookback = cfg.labels.horizon, s.feature_lookback
    assert s.purge == h + lookback and s.embargo == 4
    for train, test in s.split(len(ds.rows)):
        # exactly purge + embargo rows between the last training row and the test fold
        assert test[0] - train[-1] - 1 == s.purge + s.embargo
        # the last training label window ends before the first bar test features read
        first_read = int(ds.rows[test[0]]) - lookback
        assert int(ds.rows[train[-1]]) + h < first_read
        assert ds.label_end[train].max() < ds.bars["ts"].to_numpy()[first_read]
        # the purge is exactly the overlap: the row `purge` before the test fold has a label
        # reaching the first bar test features read, the one before it does not
        assert int(ds.rows[test[0] - s.purge]) + h >= first_read
        assert int(ds.rows[test[0] - s.purge - 1]) + h < first_read


def test_train_cli_end_to_end_on_real_bars(
    config: Path, shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = tmp_path / "runs"
    rc = main(
        ["train", "--config", str(config), "--runs", str(runs), "--data-root", str(shared_data),
         "--no-progress"]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert rc == 0, out
    (folder,) = [p for p in (runs / "regime_hourly").iterdir() if p.is_dir()]
    assert (runs / "regime_hourly" / "trials.jsonl").is_file()  # the family's trial ledger
    for f in ("config.toml", "resolved.json", "metrics.json", "oof.parquet", "report.html",
              "tracking.json"):  # fmt: skip
        assert (folder / f).is_file(), f
    assert sorted(p.name for p in (folder / "export").iterdir()) == [
        "lgbm_a", "lgbm_b", "stacking",
    ]  # fmt: skip
    data_sha = hashlib.sha256((shared_data / SIXE).read_bytes()).hexdigest()
    manifests = {}
    for name in ("lgbm_a", "lgbm_b", "stacking"):
        d = folder / "export" / name
        man = json.loads((d / "manifest.json").read_text())
        manifests[name] = man
        assert set(man) == MANIFEST_KEYS, set(man) ^ MANIFEST_KEYS
        check_export(d)  # the registry's JSON Schema, cross-field rules and file hashes
        assert man["schema_version"] == 1 and man["family"] == "regime_hourly"
        # the drift reference of the training inputs (listed, hashed by check_export above):
        # the bar features the engine streams (for stacking, its members')
        ref = json.loads((d / man["drift_reference"]["file"]).read_text())
        fed = manifests["lgbm_a"] if name == "stacking" else man
        assert [f["name"] for f in ref["features"]] == fed["feature_set"]["names"]
        assert ref["rows"] > 0 and 0 < ref["calibration"]["accuracy"] <= 1
        assert man["classes"] == ["STRONG_SELL", "SELL", "HOLD", "BUY", "STRONG_BUY"]
        assert man["class_values"] == [-2, -1, 0, 1, 2]
        assert man["feature_set"]["timeframe"] == "1h"
        assert len(man["feature_set"]["hash"]) == 16
        assert man["onnx"]["sha256"] == hashlib.sha256((d / "model.onnx").read_bytes()).hexdigest()
        assert [o["name"] for o in man["onnx"]["outputs"]] == ["label", "probabilities"]
        par = json.loads((d / "parity.json").read_text())
        assert par == man["parity"]
        assert par["passed"] and par["rows"] >= 10_000 and par["max_abs_diff"] <= 1e-5
        assert par["class_agreement"] == 1.0
        assert par["source"] == "held-out-resampled-perturbed"  # < 10k hourly test rows
        agg = man["metrics"]["aggregate"]
        assert set(agg["baselines"]) == {"majority", "persistence", "logistic"}
        assert agg["accuracy_over_best_baseline"] == pytest.approx(
            agg["model"]["accuracy"] - agg["best_baseline_accuracy"]
        )
        assert 0 <= agg["model"]["accuracy_std"] < 0.2
        assert man["seeds"] == [0, 1, 2, 3, 4]
        lin = man["lineage"]
        assert lin["data"] == [data_sha]
        assert lin["code_commit"] and lin["trial_count"] == 3  # the ledger: 2 members + stacking
        assert (
            lin["splitter"]["splitter"] == "PurgedWalkForward" and lin["splitter"]["n_folds"] == 3
        )
        assert len(man["input_bounds"]["min"]) == man["onnx"]["inputs"][0]["shape"][1]
    # trees: the calibrator is in the ONNX graph, so no (uncalibrated) native dump ships
    a = manifests["lgbm_a"]
    n_features = len(a["feature_set"]["names"])
    assert a["onnx"]["inputs"] == [{"name": "input", "dtype": "float32", "shape": [-1, n_features]}]
    assert a["native"] is None and a["sequence"] is None
    assert a["metrics"]["aggregate"]["calibration"]["method"] in ("platt", "isotonic")
    assert not (folder / "export/lgbm_a/model.lgbm.txt").exists()
    lo, hi = np.array(a["input_bounds"]["min"]), np.array(a["input_bounds"]["max"])
    x = (lo + np.random.default_rng(0).uniform(size=(500, n_features)) * (hi - lo)).astype("f4")
    sess = ort.InferenceSession(str(folder / "export/lgbm_a/model.onnx"))
    label, proba = sess.run(["label", "probabilities"], {"input": x})
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    assert set(label.tolist()) <= {-2, -1, 0, 1, 2}
    # the meta-learner takes both members' probabilities
    st = manifests["stacking"]
    assert st["kind"] == "stacking" and st["native"] is None
    assert st["members"] == [
        {"model_id": manifests[m]["model_id"], "kind": "lightgbm"} for m in ("lgbm_a", "lgbm_b")
    ]
    weights = json.loads((folder / "export/stacking/stacking.json").read_text())
    assert weights["members"] == ["lgbm_a", "lgbm_b"]
    assert sum(weights["weights"]) == pytest.approx(1.0)
    assert st["onnx"]["inputs"][0]["name"] == "member_probabilities"
    assert st["onnx"]["inputs"][0]["shape"] == [-1, 10]
    # its feature names are its input columns; its hash, the FeatureSet the members read
    assert st["feature_set"]["names"][:2] == ["lgbm_a:STRONG_SELL", "lgbm_a:SELL"]
    assert len(st["feature_set"]["names"]) == 10
    assert st["feature_set"]["hash"] == a["feature_set"]["hash"]
    assert [f["fold"] for f in st["metrics"]["folds"]] == [1, 2]  # fold 0: nothing before it
    # report: per-fold metrics beside every baseline, figures embedded
    html = (folder / "report.html").read_text()
    needles = ["baseline: majority", "baseline: persistence", "baseline: logistic"]
    needles += ["Calibration", "Feature importance", "net of costs", "PcCharts", "rank IC"]
    for needle in needles:
        assert needle in html, needle
    oof = pl.read_parquet(folder / "oof.parquet")
    assert set(oof["model"]) == {"lgbm_a", "lgbm_b", "stacking"}
    assert set(oof["seed"]) == {0, 1, 2, 3, 4}
    # tracking: a local MLflow file store under the runs root, holding this run's metrics
    tr = json.loads((folder / "tracking.json").read_text())
    assert tr["uri"].startswith("file:")
    (run_dir,) = list((runs / "mlruns").glob(f"*/{tr['run_id']}"))
    assert (run_dir / "metrics" / "lgbm_a.accuracy").is_file()
    assert "parity passed" in out


def test_same_config_and_seeds_give_identical_results(
    config: Path, shared_data: Path, tmp_path: Path
) -> None:
    cfg = TrainConfig.from_dict(
        {**TrainConfig.load(config).raw, "seeds": [3], "export": {"enabled": False}}
    )
    a = run.train(cfg, tmp_path / "a", data_root=shared_data, progress=False, tracking=False)
    b = run.train(cfg, tmp_path / "b", data_root=shared_data, progress=False, tracking=False)
    assert a.metrics["models"] == b.metrics["models"]
    assert_frame_equal(
        pl.read_parquet(a.folder / "oof.parquet"), pl.read_parquet(b.folder / "oof.parquet")
    )
    other = TrainConfig.from_dict({**cfg.raw, "seeds": [4]})
    c = run.train(other, tmp_path / "c", data_root=shared_data, progress=False, tracking=False)
    # seeds matter (bagging and feature fraction < 1): a different seed, other predictions
    assert c.metrics["models"]["lgbm_a"] != a.metrics["models"]["lgbm_a"]


def test_sequence_windows_drop_short_history_and_widen_the_purge(
    config: Path, minute_bars: pl.DataFrame
) -> None:
    cfg = TrainConfig.load(config)
    bars = model_bars(minute_bars, cfg.data)
    flat = build_dataset(bars, cfg)
    seq = build_dataset(bars, cfg, lookback=30)
    finite = np.isfinite(seq.features).all(axis=1)
    # every window of 30 rows ending at a usable row is fully warmed up
    assert all(finite[r - 29 : r + 1].all() for r in seq.rows)
    assert seq.rows[0] == flat.rows[0] + 29
    assert seq.splitter(cfg).feature_lookback == flat.splitter(cfg).feature_lookback + 29
