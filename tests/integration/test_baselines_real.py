"""Baselines on real bars: 5 days of Lean ES minute trades (Oct 7-11 2013), features from the
Rust engine, direction and regime labels, purged walk-forward. Checks the leakage proof with
the real feature engine, determinism, and that every model ran on the same rows; prints the
figures (run with -s to see them)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

import pycontrol
from pycontrol.training import (
    DirectionConfig,
    PurgedWalkForward,
    RegimeConfig,
    TripleBarrierConfig,
    direction_labels,
    evaluate_baselines,
    feature_lookback,
    regime_labels,
    triple_barrier_labels,
)

pytestmark = pytest.mark.slow

H = 5
# ES: tick 0.25 points; half-spread half a tick; ~$4.50 round-trip fees / $50 per point
# = 0.09 points = 0.36 ticks; the dead zone is one tick, above 0.5 + 0.36.
DIRECTION = DirectionConfig(
    horizon=H, dead_zone=1.0, half_spread=0.5, fees=0.36, unit="ticks", tick_size=0.25
)


@pytest.fixture(scope="module")
def es(shared_data: Path) -> pl.DataFrame:
    bars = pycontrol.load_bars(shared_data / "bars" / "lean-es-minute")
    assert bars["ts"].dt.date().n_unique() >= 5
    return bars.select("ts", "open", "high", "low", "close", "volume")


@pytest.fixture(scope="module")
def feature_set() -> pycontrol.FeatureSet:
    # 1m features with warm-ups under an hour: the 5-day sample cannot warm up 1h features.
    specs = pycontrol.FeatureSet.default().specs()
    names = [s["name"] for s in specs if s["timeframe"] == "1m" and int(s["warmup"]) <= 60]
    assert len(names) > 20
    return pycontrol.FeatureSet(names)


def _inputs(
    bars: pl.DataFrame, fs: pycontrol.FeatureSet
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    feats = pycontrol.compute_features(bars, fs)
    X = feats.drop("ts").to_numpy().astype(float)
    y_dir = direction_labels(bars, DIRECTION)["label"].cast(pl.Float64).to_numpy()
    y_reg = regime_labels(bars, RegimeConfig(horizon=H))["regime_code"].cast(pl.Float64).to_numpy()
    last = feats["tf1m_ret_1"].to_numpy().astype(float)
    return X, y_dir, y_reg, last


def _splitter(fs: pycontrol.FeatureSet) -> PurgedWalkForward:
    return PurgedWalkForward(
        n_folds=5,
        label_horizon=H,
        feature_lookback=feature_lookback(fs.specs()),
        embargo=H,
        min_train=1500,
    )


def test_real_bars_leakage_with_the_feature_engine(
    es: pl.DataFrame, feature_set: pycontrol.FeatureSet
) -> None:
    s = _splitter(feature_set)
    X0, y0, r0, _ = _inputs(es, feature_set)
    rng = np.random.default_rng(3)
    for train, test in list(s.split(es.height))[:2]:
        a = int(test[0])
        perm = np.concatenate([np.arange(a), a + rng.permutation(es.height - a)])
        # prices after the split point shuffled, timestamps kept in order
        shuffled = es.select("ts").hstack(es.drop("ts")[perm])
        X1, y1, r1, _ = _inputs(shuffled, feature_set)
        np.testing.assert_array_equal(X1[train], X0[train])
        np.testing.assert_array_equal(y1[train], y0[train])
        np.testing.assert_array_equal(r1[train], r0[train])
        assert not np.array_equal(X1[test], X0[test], equal_nan=True)


def test_real_bars_baselines_are_deterministic_and_reported(
    es: pl.DataFrame, feature_set: pycontrol.FeatureSet
) -> None:
    X, y_dir, y_reg, last = _inputs(es, feature_set)
    s = _splitter(feature_set)
    print("\nsplitter", s.params())
    print(s.describe(es.height))
    tb = triple_barrier_labels(es, TripleBarrierConfig(horizon=H, upper_mult=1.5, lower_mult=1.5))
    y_tb = tb["tb_label"].cast(pl.Float64).to_numpy()
    for name, y in (("direction", y_dir), ("regime", y_reg), ("triple_barrier", y_tb)):
        a = evaluate_baselines(X, y, s, last_return=last, seed=0)
        if name == "direction":  # one rerun proves determinism; three would only cost time
            b = evaluate_baselines(X, y, s, last_return=last, seed=0)
            assert_frame_equal(a.per_fold, b.per_fold)
            assert_frame_equal(a.aggregate, b.aggregate)
        agg = a.aggregate
        assert set(agg["model"]) == {"majority", "persistence", "logistic"}
        assert agg["n_test"].n_unique() == 1 and agg["n_test"][0] > 2000
        assert agg["n_folds"].to_list() == [5, 5, 5]
        ll = agg.filter(pl.col("model") == "logistic")["log_loss"][0]
        assert ll is not None and np.isfinite(ll)
        with pl.Config(tbl_rows=40, tbl_cols=12, float_precision=4):
            print(name, a.params["classes"])
            print(agg)
