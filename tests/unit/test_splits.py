"""Purged walk-forward: exact purge/embargo removal on a hand-computed case, validation, and
the leakage proof (permuting every row from the test fold on leaves training untouched)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from pycontrol import ConfigError
from pycontrol.training import (
    DirectionConfig,
    PurgedWalkForward,
    SplitConfigError,
    direction_labels,
    feature_lookback,
)


def test_hand_computed_folds() -> None:
    # h=2, L=3 -> purge 5; embargo 2; gap 7; first test row 10 + 7 = 17; 13 rows -> 7 + 6.
    s = PurgedWalkForward(n_folds=2, label_horizon=2, feature_lookback=3, embargo=2, min_train=10)
    folds = list(s.split(30))
    assert len(folds) == 2
    (tr0, te0), (tr1, te1) = folds
    assert tr0.tolist() == list(range(10)) and te0.tolist() == list(range(17, 24))
    assert tr1.tolist() == list(range(17)) and te1.tolist() == list(range(24, 30))
    assert tr0.dtype == np.int64 and te1.dtype == np.int64
    d = s.describe(30)
    assert d["n_train"].to_list() == [10, 17]
    assert d["n_test"].to_list() == [7, 6]
    assert d["n_purged"].to_list() == [5, 5] and d["n_embargoed"].to_list() == [2, 2]


def test_purge_and_embargo_remove_exactly_the_overlapping_rows() -> None:
    h, lookback, emb, n = 3, 4, 3, 200
    s = PurgedWalkForward(
        n_folds=4, label_horizon=h, feature_lookback=lookback, embargo=emb, min_train=50
    )
    for train, test in s.split(n):
        a = int(test[0])
        before = set(range(a))
        dropped = before - set(train.tolist())
        # label window of i is rows i+1..i+h; a test row's features read rows >= a - lookback
        overlapping = {i for i in before if i + h >= a - lookback}
        embargoed = {i for i in before - overlapping if i >= a - len(overlapping) - emb}
        assert dropped == overlapping | embargoed
        assert len(overlapping) == h + lookback and len(embargoed) == emb
        assert max(train) + h < a - lookback


def test_rolling_window_keeps_train_size_rows() -> None:
    s = PurgedWalkForward(3, 1, 0, 1, 20, window="rolling", train_size=25)
    sizes = [len(tr) for tr, _ in s.split(120)]
    assert sizes == [20, 25, 25]
    assert s.params()["window"] == "rolling" and s.params()["train_size"] == 25


def test_params_name_every_setting() -> None:
    s = PurgedWalkForward(5, 10, 20, 10, 100)
    assert s.params() == {
        "splitter": "PurgedWalkForward",
        "n_folds": 5,
        "label_horizon": 10,
        "feature_lookback": 20,
        "purge": 30,
        "embargo": 10,
        "min_train": 100,
        "window": "expanding",
        "train_size": None,
    }


def test_validation_lists_every_violation() -> None:
    with pytest.raises(SplitConfigError) as ei:
        PurgedWalkForward(5, 10, 20, 5, 100, purge=12, window="sliding")  # type: ignore[arg-type]
    v = ei.value.violations
    assert isinstance(ei.value, ConfigError)
    assert len(v) == 3, v
    assert any("purge 12 < label_horizon + feature_lookback = 30" in x for x in v)
    assert any("embargo 5 < label_horizon 10" in x for x in v)
    assert any("window" in x for x in v)


def test_too_few_rows_is_a_typed_error() -> None:
    s = PurgedWalkForward(5, 2, 2, 2, 10)
    with pytest.raises(SplitConfigError, match="too few"):
        list(s.split(17))


def _bars(close: np.ndarray) -> pl.DataFrame:
    t0 = datetime(2024, 1, 2, tzinfo=UTC)
    return pl.DataFrame(
        {"ts": [t0 + timedelta(minutes=i) for i in range(len(close))], "close": close}
    )


def _features(bars: pl.DataFrame, lookback: int) -> np.ndarray:
    """Trailing returns over 1..lookback bars: row i reads rows i-lookback..i."""
    c = bars["close"]
    return np.column_stack([(c / c.shift(k) - 1).to_numpy() for k in range(1, lookback + 1)])


@pytest.mark.parametrize("window", ["expanding", "rolling"])
def test_permuting_after_split_point_leaves_training_unchanged(window: str) -> None:
    rng = np.random.default_rng(11)
    n, h, lookback = 400, 5, 8
    close = 100 + np.cumsum(rng.normal(size=n))
    cfg = DirectionConfig(horizon=h, dead_zone=0.5, half_spread=0.125, fees=0.25)
    s = PurgedWalkForward(4, h, lookback, h, 100, window=window)  # type: ignore[arg-type]
    y0 = direction_labels(_bars(close), cfg)["label"].to_numpy()
    x0 = _features(_bars(close), lookback)
    teeth = 0
    for train, test in s.split(n):
        a = int(test[0])
        permuted = close.copy()
        permuted[a:] = rng.permutation(close[a:]) + 7.0
        y1 = direction_labels(_bars(permuted), cfg)["label"].to_numpy()
        x1 = _features(_bars(permuted), lookback)
        train_p, _ = next((tr, te) for tr, te in s.split(n) if te[0] == a)
        assert np.array_equal(train, train_p)
        np.testing.assert_array_equal(y1[train], y0[train])
        np.testing.assert_array_equal(x1[train], x0[train])
        # without the purge some rows just before the test fold would change: the test bites
        teeth += int(not np.array_equal(y1[a - h : a], y0[a - h : a]))
    assert teeth > 0


def test_feature_lookback_from_specs_counts_base_bars() -> None:
    specs = [
        {"timeframe": "1m", "warmup": 21},  # ret_20 reads 20 bars back
        {"timeframe": "5m", "warmup": 5},  # 5 completed 5m bars + up to 4 in progress
    ]
    assert feature_lookback(specs[:1]) == 20
    assert feature_lookback(specs) == 29
    assert feature_lookback([{"timeframe": "1h", "warmup": 2}], "5m") == 35
