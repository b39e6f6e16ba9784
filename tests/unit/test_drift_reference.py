"""The exporter's drift reference (``pycontrol.training.drift_reference``): decile edges and
shares with the core's binning rule (``searchsorted(..., side="right")``, open ends), NaN
apart, degenerate features (constant, all NaN, infinities) still a valid reference, and the
OOS calibration summary's arithmetic."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pycontrol.training import drift_reference as dref


def test_deciles_of_a_uniform_feature() -> None:
    x = np.arange(1000, dtype=np.float64)
    f = dref.feature_reference("a", x)
    assert len(f["edges"]) == 9 and f["edges"] == sorted(f["edges"])
    assert f["shares"] == pytest.approx([0.1] * 10, abs=2e-3)
    assert f["nan_share"] == 0.0


def test_edge_values_fall_in_the_upper_bin() -> None:
    # the core's rule: bin = number of edges <= x
    x = np.array([0.0, 1.0, 1.0, 2.0])
    f = dref.feature_reference("a", x, n_bins=2)
    assert f["edges"] == [1.0]
    assert f["shares"] == [0.25, 0.75]


def test_degenerate_features_stay_valid() -> None:
    const = dref.feature_reference("c", np.full(50, 3.0))
    assert const["edges"] == [3.0] and const["shares"] == [0.0, 1.0]
    nan = dref.feature_reference("n", np.full(10, np.nan))
    assert nan["edges"] == [] and nan["shares"] == [1.0] and nan["nan_share"] == 1.0
    mixed = dref.feature_reference("m", np.array([np.nan, -np.inf, 0.0, 1.0, np.inf]))
    assert all(math.isfinite(e) for e in mixed["edges"])
    assert sum(mixed["shares"]) == pytest.approx(1.0)
    assert mixed["nan_share"] == pytest.approx(0.2)


def test_build_checks_the_shape_and_calibration_summarises() -> None:
    with pytest.raises(ValueError, match="3 names"):
        dref.build(np.zeros((5, 2)), ["a", "b", "c"], None)
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [np.nan, np.nan]])
    y = np.array([-1, 1, 1, 1])
    cal = dref.calibration_summary(probs, y, np.array([-1, 1]))
    assert cal is not None
    assert cal["rows"] == 3 and cal["accuracy"] == pytest.approx(2 / 3)
    assert cal["log_loss"] == pytest.approx(-(np.log(0.9) + np.log(0.8) + np.log(0.4)) / 3)
    assert sum(b["count"] for b in cal["reliability"]) == 3
    assert dref.calibration_summary(probs[3:], y[3:], np.array([-1, 1])) is None
    ref = dref.build(np.zeros((4, 1)), ["a"], cal)
    assert ref["schema"] == "tradecore.drift_reference/1" and ref["rows"] == 4
