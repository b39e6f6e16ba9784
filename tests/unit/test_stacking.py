"""The stacking meta-learner: recent accuracy sets the weights, it never sees a label that
was not complete before the fold it predicts, and its ONNX graph matches it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pycontrol.training.evaluate import stack_walk_forward
from pycontrol.training.export import input_bounds, onnx_proba, parity_inputs
from pycontrol.training.parity import parity
from pycontrol.training.splits import PurgedWalkForward
from pycontrol.training.stacking import Stacker

CLASSES = np.array([-1, 0, 1])


def _members(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Member 0 knows the label (0.7 on it), member 1 is noise."""
    n = len(y)
    good = np.full((n, 3), 0.15)
    good[np.arange(n), np.searchsorted(CLASSES, y)] = 0.7
    noise = rng.dirichlet(np.ones(3), n)
    return np.stack([good, noise])


def test_weights_follow_recent_accuracy() -> None:
    rng = np.random.default_rng(0)
    y = rng.choice(CLASSES, 600)
    p = _members(y, rng)
    meta = Stacker(CLASSES, recent=100).fit(p, y)
    assert np.isclose(meta.weights.sum(), 1.0)
    assert meta.weights[0] > 0.7  # accuracy 1.0 vs ~1/3
    # only the last `recent` rows count: make member 0 wrong there and it loses its weight
    p2 = p.copy()
    p2[0, -100:] = np.roll(p2[0, -100:], 1, axis=1)
    assert Stacker(CLASSES, recent=100).fit(p2, y).weights[0] < 0.2
    acc = (CLASSES[meta.predict_proba(p).argmax(axis=1)] == y).mean()
    assert acc > 0.95


def test_walk_forward_stacking_uses_only_labels_before_each_fold() -> None:
    rng = np.random.default_rng(1)
    n = 900
    y = rng.choice(CLASSES, n)
    s = PurgedWalkForward(n_folds=4, label_horizon=5, feature_lookback=10, embargo=5,
                          min_train=200)  # fmt: skip
    folds = list(s.split(n))
    p = _members(y, rng)
    oof = np.full_like(p, np.nan)
    for _, te in folds:  # member probabilities exist on test folds only, as in a run
        oof[:, te] = p[:, te]
    out, scored = stack_walk_forward(list(oof), y, CLASSES, folds, recent=100, C=1.0)
    assert scored == (1, 2, 3)
    assert np.isnan(out[folds[0][1]]).all()
    for k in scored:
        train, test = folds[k]
        y2 = y.copy()
        y2[train[-1] + 1 :] = rng.choice(CLASSES, n - train[-1] - 1)  # the future relabelled
        out2, _ = stack_walk_forward(list(oof), y2, CLASSES, folds, recent=100, C=1.0)
        np.testing.assert_array_equal(out2[test], out[test])
        y3 = y.copy()
        y3[: train[-1] + 1] = rng.choice(CLASSES, train[-1] + 1)  # the past relabelled
        out3, _ = stack_walk_forward(list(oof), y3, CLASSES, folds, recent=100, C=1.0)
        assert not np.array_equal(out3[test], out[test])  # so the check above could fail


def test_onnx_export_matches_on_ten_thousand_rows(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    y = rng.choice(CLASSES, 400)
    p = _members(y, rng)
    meta = Stacker(CLASSES, recent=100).fit(p, y)
    info = meta.export_onnx(tmp_path / "model.onnx")
    assert info["inputs"][0] == {"name": "member_probabilities", "dtype": "float32",
                                 "shape": [-1, 6]}  # fmt: skip
    flat = p.transpose(1, 0, 2).reshape(400, 6)
    x, source = parity_inputs(flat, input_bounds(flat), renormalise=3)
    assert source == "held-out-resampled-perturbed" and x.shape == (10_000, 6)
    np.testing.assert_allclose(x.reshape(-1, 2, 3).sum(axis=2), 1.0, atol=1e-6)
    got, label = onnx_proba(tmp_path / "model.onnx", "member_probabilities", x)
    ref = meta.proba_from_inputs(x)
    res = parity(ref, got, "numpy-stacker", source=source)
    assert res["passed"], res
    np.testing.assert_array_equal(label, CLASSES[ref.argmax(axis=1)])


def test_absent_classes_get_zero_probability() -> None:
    rng = np.random.default_rng(3)
    y = rng.choice(np.array([-1, 1]), 300)  # class 0 never seen by the calibration
    p = _members(y, rng)
    out = Stacker(CLASSES).fit(p, y).predict_proba(p)
    assert out[:, 1].max() < 1e-9
    np.testing.assert_allclose(out.sum(axis=1), 1.0)
