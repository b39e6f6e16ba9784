"""The core's predictions against the libraries that made the models: LightGBM's own
`Booster.predict` and Python onnxruntime, on >= 10k rows with NaNs and exact zeros."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import onnxruntime as ort
import pytest

from pycontrol import Model
from pycontrol.testing import models as testing

ROWS = 12_000


def _ort_python(path: Path, x: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    s = ort.InferenceSession(str(path / "model.onnx"), providers=["CPUExecutionProvider"])
    (probs,) = s.run(["probabilities"], {"input": x})
    return np.asarray(probs)


@pytest.fixture(scope="module", params=[2, 3, 5], ids=["binary", "3class", "5class"])
def gbt(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> testing.Export:
    k = int(request.param)
    return testing.make_lightgbm(
        tmp_path_factory.mktemp(f"gbt{k}"), n_classes=k, n_features=12, n_trees=60, seed=k
    )


def _rows(n_features: int) -> np.ndarray[Any, Any]:
    x = testing.synthetic_rows(ROWS, n_features, seed=99)
    x[:50] = 0.0  # whole rows of exact zeros
    x[50:100] = np.nan  # and of NaNs
    return x


def test_native_trees_match_lightgbm(gbt: testing.Export) -> None:
    x = _rows(len(gbt.feature_names))
    model = Model.load(gbt.path)
    assert model.backend == "native-trees"
    ours = model.predict_proba(x)
    ref = lgb.Booster(model_file=str(gbt.path / "model.lgbm.txt")).predict(x)
    if ref.ndim == 1:  # binary: P(class 1)
        ref = np.column_stack([1 - ref, ref])
    assert ours.shape == (ROWS, model.n_classes)
    assert np.max(np.abs(ours - ref)) <= 1e-6
    assert (model.predict(x) == ref.argmax(axis=1)).mean() == 1.0


def test_onnx_backend_matches_python_onnxruntime_and_lightgbm(gbt: testing.Export) -> None:
    x = _rows(len(gbt.feature_names))
    model = Model.load(gbt.path, prefer_native=False)
    assert model.backend == "onnx"
    ours = model.predict_proba(x)
    assert np.max(np.abs(ours - _ort_python(gbt.path, x))) <= 1e-6
    native = Model.load(gbt.path).predict_proba(x)
    # The ONNX graph computes in float32: LightGBM-level agreement, not bit equality.
    assert np.max(np.abs(ours - native)) <= 1e-5


def test_single_row_equals_batch_row(gbt: testing.Export) -> None:
    x = _rows(len(gbt.feature_names))[:200]
    for backend in (True, False):
        model = Model.load(gbt.path, prefer_native=backend)
        batch = model.predict_proba(x)
        singles = np.vstack([model.predict_proba(r) for r in x])
        assert np.array_equal(batch, singles) or np.max(np.abs(batch - singles)) <= 1e-7


def test_lstm_matches_python_onnxruntime(tmp_path: Path) -> None:
    exp = testing.make_lstm(tmp_path / "lstm", n_features=6, lookback=10, hidden=12)
    model = Model.load(exp.path)
    assert model.backend == "onnx" and model.row_shape == (10, 6)
    x = np.random.default_rng(5).normal(size=(ROWS, 10, 6)).astype(np.float32)
    ours = model.predict_proba(x)
    assert np.max(np.abs(ours - _ort_python(exp.path, x))) <= 1e-6
    one = model.predict_proba(x[0])
    assert one.shape == (1, 3) and np.allclose(one[0], ours[0], atol=1e-6)
