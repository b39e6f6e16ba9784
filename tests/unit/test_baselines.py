"""Baselines: each one's rule, standardization fitted on training rows only, identical folds
for every model, and determinism (same config and seed -> identical metrics)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pycontrol.training import (
    LogisticBaseline,
    MajorityClass,
    Persistence,
    PurgedWalkForward,
    evaluate_baselines,
)


def _data(seed: int, n: int = 600) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3)) * [1.0, 50.0, 0.01]
    score = X[:, 0] + X[:, 1] / 50 + rng.normal(scale=0.3, size=n)
    y = np.where(score > 0.5, 1, np.where(score < -0.5, -1, 0)).astype(float)
    last_ret = rng.normal(size=n)
    return X, y, last_ret


def test_majority_class_rule_and_probabilities() -> None:
    m = MajorityClass().fit(np.zeros((6, 1)), np.array([1, 0, 1, -1, 1, 0]))
    assert m.classes_.tolist() == [-1, 0, 1]
    assert m.predict_proba(np.zeros((2, 1))).tolist() == [[1 / 6, 2 / 6, 3 / 6]] * 2


def test_persistence_is_sign_of_last_return() -> None:
    assert Persistence().predict(np.array([-0.2, 0.0, 3.0])).tolist() == [-1, 0, 1]


def test_standardization_fitted_on_train_only() -> None:
    X, y, _ = _data(1)
    m = LogisticBaseline(seed=0).fit(X[:200], y[:200].astype(int))
    assert m._pipe is not None
    np.testing.assert_allclose(m._pipe["scale"].mean_, X[:200].mean(axis=0))
    assert not np.allclose(m._pipe["scale"].mean_, X.mean(axis=0))


def test_evaluate_reports_baselines_and_model_on_identical_rows() -> None:
    X, y, lr = _data(2)
    y[::37] = np.nan  # unlabeled rows are skipped for every model alike
    s = PurgedWalkForward(4, 2, 3, 2, 150)
    rep = evaluate_baselines(
        X, y, s, last_return=lr, seed=0, models={"logit_again": lambda: LogisticBaseline(seed=1)}
    )
    pf = rep.per_fold
    assert set(pf["model"]) == {"majority", "persistence", "logistic", "logit_again"}
    per = pf.group_by("fold").agg(pl.col("n_test").n_unique(), pl.col("n_train").n_unique())
    assert per["n_test"].to_list() == [1] * 4 and per["n_train"].to_list() == [1] * 4
    agg = {r["model"]: r for r in rep.aggregate.iter_rows(named=True)}
    assert agg["persistence"]["log_loss"] is None
    assert agg["majority"]["log_loss"] is not None
    # the features carry the signal; majority and persistence cannot see it
    assert agg["logistic"]["accuracy"] > agg["majority"]["accuracy"] + 0.2
    assert agg["logistic"]["balanced_accuracy"] > 0.7
    assert 0.2 < agg["persistence"]["accuracy"] < 0.5
    # one constant class per fold: recall 1 on it, 0 on the other two
    maj = pf.filter(pl.col("model") == "majority")["balanced_accuracy"].to_list()
    assert maj == pytest.approx([1 / 3] * 4)
    assert rep.params["splitter"] == s.params()
    assert rep.params["classes"] == [-1, 0, 1]
    assert agg["logistic"]["n_test"] == int(np.isfinite(y[150 + 5 + 2 :]).sum())


def test_same_config_and_seed_give_identical_metrics() -> None:
    X, y, lr = _data(3)
    s = PurgedWalkForward(3, 1, 1, 1, 100)
    a = evaluate_baselines(X, y, s, last_return=lr, seed=5)
    b = evaluate_baselines(
        X.copy(),
        y.copy(),
        PurgedWalkForward(
            **{
                k: v
                for k, v in s.params().items()
                if k in ("n_folds", "label_horizon", "feature_lookback", "embargo", "min_train")
            }
        ),
        last_return=lr.copy(),
        seed=5,
    )
    assert_frame_equal(a.per_fold, b.per_fold)
    assert_frame_equal(a.aggregate, b.aggregate)
    assert a.params == b.params


def test_explicit_folds_and_polars_inputs() -> None:
    X, y, lr = _data(4, n=300)
    folds = [(np.arange(0, 100), np.arange(110, 200)), (np.arange(0, 190), np.arange(200, 300))]
    rep = evaluate_baselines(pl.DataFrame(X), pl.Series(y), folds, last_return=pl.Series(lr))
    assert rep.per_fold["n_test"].unique().sort().to_list() == [90, 100]
    assert rep.params["splitter"] == {"splitter": "explicit"}
