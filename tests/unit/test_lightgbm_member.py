"""The LightGBM member: float32 thresholds change no prediction on float32 inputs and make
the ONNX export exact; a seed gives identical models, another seed another one."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pycontrol.training.export import onnx_proba
from pycontrol.training.models import LightGBMMember, float32_thresholds
from pycontrol.training.parity import parity

CLASSES = np.array([-2, -1, 0, 1, 2])


def _data(n: int = 3000, f: int = 8) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    # continuous features at float32 precision, as the dataset stores them
    X = rng.normal(size=(n, f)).astype(np.float32).astype(np.float64)
    z = X[:, 0] + 0.5 * X[:, 1] + rng.normal(scale=0.8, size=n)
    y = np.digitize(z, [-1.5, -0.5, 0.5, 1.5]) - 2
    return X, y


def test_float32_thresholds_keep_predictions_and_are_float32() -> None:
    X, y = _data()
    m = LightGBMMember({"n_estimators": 30}, CLASSES, seed=0)
    m.fit(X, np.arange(len(X)), y)
    rounded = m.model.booster_
    thresholds = []

    def walk(node: dict) -> None:
        if "threshold" in node:
            thresholds.append(node["threshold"])
            walk(node["left_child"])
            walk(node["right_child"])

    for t in rounded.dump_model()["tree_info"]:
        walk(t["tree_structure"])
    assert thresholds and all(float(np.float32(t)) == t for t in thresholds)
    # the original (double-threshold) trees predict the same on float32 inputs
    import lightgbm as lgb

    orig = lgb.LGBMClassifier(n_estimators=30, num_leaves=15, learning_rate=0.05,
                              subsample=0.8, subsample_freq=1, colsample_bytree=0.8,
                              random_state=0, deterministic=True, force_row_wise=True,
                              verbose=-1, n_jobs=1).fit(X, y)  # fmt: skip
    x = np.random.default_rng(9).normal(size=(20_000, X.shape[1])).astype(np.float32)
    np.testing.assert_array_equal(
        float32_thresholds(orig.booster_).predict(x.astype(float)),
        orig.booster_.predict(x.astype(float)),
    )
    np.testing.assert_allclose(rounded.predict(x.astype(float)), orig.predict_proba(x), 1e-12)


def test_export_parity_on_ten_thousand_rows(tmp_path: Path) -> None:
    X, y = _data()
    m = LightGBMMember({"n_estimators": 30}, CLASSES, seed=1)
    m.fit(X, np.arange(len(X)), y)
    info = m.export(tmp_path)
    assert info["native"] == "model.lgbm.txt" and (tmp_path / "model.lgbm.txt").is_file()
    x = np.random.default_rng(4).normal(size=(12_000, X.shape[1])).astype(np.float32)
    got, label = onnx_proba(tmp_path / "model.onnx", "input", x)
    res = parity(m.proba_from_inputs(x), got, "lightgbm")
    assert res["passed"] and res["max_abs_diff"] <= 1e-5, res
    assert set(np.unique(label)) <= set(CLASSES.tolist())


def test_same_seed_same_model_other_seed_other_model() -> None:
    X, y = _data()
    rows = np.arange(len(X))
    p = [LightGBMMember({"n_estimators": 20}, CLASSES, seed=s) for s in (7, 7, 8)]
    for m in p:
        m.fit(X, rows, y)
    a, b, c = (m.predict_proba(X, rows) for m in p)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
