"""Signal quality of the training report: the rank IC of P(up) - P(down) against forward
returns is 1 at the horizon the signal knows and decays beyond it; rows outside the test
folds, without probabilities or without a bar ahead are left out; too few rows give None."""

from __future__ import annotations

import numpy as np

from pycontrol.training.report import MIN_IC_ROWS, signal_quality

CLASSES = np.array([-1, 0, 1])


def _proba(signal: np.ndarray) -> np.ndarray:
    """Probabilities whose P(1) - P(-1) equals ``signal`` (in (-0.5, 0.5))."""
    p = np.full((signal.size, 3), 1 / 3)
    p[:, 2] += signal / 2
    p[:, 0] -= signal / 2
    return p


def test_ic_is_one_where_the_signal_knows_and_decays() -> None:
    rng = np.random.default_rng(7)
    n = 4000
    close = 100 * np.exp(np.cumsum(rng.normal(0, 1e-3, n + 60)))
    bar = np.arange(n)
    nxt = close[bar + 1] / close[bar] - 1
    sig = 0.4 * np.tanh(nxt / np.std(nxt))  # a monotone function of the next return
    fold_of = np.where(bar < 400, -1, (bar - 400) * 3 // (n - 400))
    sq = signal_quality(_proba(sig), CLASSES, (1,), (-1,), close, bar, fold_of)
    assert sq["horizons"] == [1, 2, 5, 10, 20, 50]
    assert sq["pooled"][0] == 1.0
    assert all(abs(v - 1.0) < 1e-12 for v in (f[0] for f in sq["folds"].values()))
    assert sorted(sq["folds"]) == [0, 1, 2]
    pooled = np.array(sq["pooled"])
    assert np.all(np.diff(pooled) < 0)  # the edge decays with the horizon
    assert pooled[-1] < 0.25
    assert sq["n"][0] == n - 400


def test_rows_left_out_and_too_few_rows() -> None:
    close = np.linspace(100, 110, 30)
    bar = np.arange(25)
    p = _proba(np.linspace(-0.4, 0.4, 25))
    p[0] = np.nan  # no probabilities: left out
    fold_of = np.zeros(25, dtype=np.int64)
    sq = signal_quality(p, CLASSES, (1,), (-1,), close, bar, fold_of, horizons=(1, 5, 40))
    assert sq["horizons"] == [1, 5]  # 40 bars ahead is beyond the data
    assert sq["n"] == [24, 24] and MIN_IC_ROWS <= 24
    few = signal_quality(p[:10], CLASSES, (1,), (-1,), close, bar[:10], fold_of[:10])
    assert few["pooled"][0] is None
