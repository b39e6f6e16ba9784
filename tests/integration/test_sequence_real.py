"""Sequence models on real bars: one month of 6E (Euro FX) minute bars, features from the Rust
engine, cost-aware direction labels, lookback windows and one purged walk-forward fold.

Checks what could go wrong on real data: windows that leak test rows into training, invalid
probabilities, an ONNX export that drifts from torch on 10k held-out windows. Out-of-sample
accuracy is printed next to the baselines on the identical rows (run with -s); it is not
asserted to beat them (docs/training.md, "Sequence models", has the multi-seed figures)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import balanced_accuracy_score

import pycontrol
from pycontrol.training import (
    DirectionConfig,
    PurgedWalkForward,
    SequenceClassifier,
    SequenceConfig,
    direction_labels,
    evaluate_baselines,
    feature_lookback,
)
from pycontrol.training.sequence import ARCHS
from pycontrol.training.windows import make_windows

pytestmark = pytest.mark.slow

H, LOOKBACK = 5, 30
TICK = 0.00005
# 6E: 125,000 EUR x 0.00005 = $6.25 per tick; half-spread half a tick; ~$4.50 round trip
# = 0.72 ticks. The dead zone, 1.5 ticks, is above 0.5 + 0.72, so a BUY/SELL label is a move
# that pays its costs (moves are whole ticks: +-2 ticks or more).
DIRECTION = DirectionConfig(
    horizon=H, dead_zone=1.5, half_spread=0.5, fees=0.72, unit="ticks", tick_size=TICK
)
CLASSES = [-1, 0, 1]


@pytest.fixture(scope="module")
def data(shared_data: Path) -> dict[str, object]:
    path = shared_data / "bars" / "other" / "6EH4.XCME_1min_bars_20240101_20240131.csv.gz"
    bars = pycontrol.load_bars(path).select("ts", "open", "high", "low", "close", "volume")
    specs = pycontrol.FeatureSet.default().specs()
    fs = pycontrol.FeatureSet(
        [s["name"] for s in specs if s["timeframe"] == "1m" and int(s["warmup"]) <= 60]
    )
    feats = pycontrol.compute_features(bars, fs)
    X = feats.drop("ts").to_numpy().astype(np.float64)
    y = direction_labels(bars, DIRECTION)["label"].cast(pl.Float64).to_numpy()
    warm = int(np.argmax(np.isfinite(X).all(axis=1)))  # first row with every feature
    # usable rows: a full window of warmed-up features behind them and a label ahead
    rows = np.arange(warm + LOOKBACK - 1, len(bars) - H, dtype=np.int64)
    assert np.isfinite(X[warm:]).all() and np.isfinite(y[rows]).all()
    return {
        "X": X,
        "y": y,
        "rows": rows,
        "last": feats["tf1m_ret_1"].to_numpy().astype(np.float64),
        "feature_lookback": feature_lookback(fs.specs()),
    }


def test_sequence_models_on_6e_one_purged_fold(data: dict[str, object], tmp_path: Path) -> None:
    X, y, rows, last = (np.asarray(data[k]) for k in ("X", "y", "rows", "last"))
    fl = int(data["feature_lookback"])  # type: ignore[call-overload]
    # A window reaches LOOKBACK - 1 rows further back than its last row's features do.
    splitter = PurgedWalkForward(
        n_folds=3, label_horizon=H, feature_lookback=fl + LOOKBACK, embargo=H, min_train=6000
    )
    assert splitter.purge >= H + fl + LOOKBACK
    tr, te = next(iter(splitter.split(len(rows))))
    train_rows, test_rows = rows[tr], rows[te]
    # Leak proof in bar rows: the last training label ends before the first bar any test
    # window's features read.
    assert train_rows.max() + H < test_rows.min() - (LOOKBACK - 1) - fl
    assert not np.intersect1d(train_rows, test_rows).size
    held_out = rows[rows > train_rows.max() + splitter.purge]  # never seen in training
    assert len(held_out) >= 10_000

    base = evaluate_baselines(X[rows], y[rows], [(tr, te)], last_return=last[rows], seed=0)
    agg = base.aggregate
    assert agg["n_test"].to_list() == [len(te)] * 3
    y_tr, y_te = y[train_rows].astype(np.int64), y[test_rows].astype(np.int64)
    W_tr = make_windows(X, train_rows, LOOKBACK)
    # Held-out windows for parity; the test fold is a slice of them (saves a second pass).
    W_par = make_windows(X, held_out[:10_000], LOOKBACK)
    at = np.searchsorted(held_out[:10_000], test_rows)
    assert np.array_equal(held_out[at], test_rows)
    print(f"\ntrain {len(tr)} test {len(te)} purge {splitter.purge} embargo {splitter.embargo}")
    with pl.Config(float_precision=4):
        print(agg)
    for arch in ARCHS:
        cfg = SequenceConfig(arch, lookback=LOOKBACK, epochs=2)
        model = SequenceClassifier(cfg, X.shape[1], CLASSES, seed=0).fit(W_tr, y_tr)
        p_par = model.predict_proba(W_par)
        p = p_par[at]
        assert p.shape == (len(te), 3) and np.isfinite(p).all()
        np.testing.assert_allclose(p_par.sum(axis=1), 1.0, atol=1e-5)
        assert p.std(axis=0).max() > 0  # not a constant output
        pred = np.asarray(CLASSES)[p.argmax(axis=1)]
        ll = -np.mean(np.log(np.clip(p[np.arange(len(te)), y_te + 1], 1e-15, 1)))
        print(
            f"{arch}: acc {np.mean(pred == y_te):.4f} "
            f"bal {balanced_accuracy_score(y_te, pred):.4f} logloss {ll:.4f} "
            f"epoch {np.mean(model.epoch_seconds_):.1f}s"
        )
        assert np.isfinite(ll) and ll < 2.0  # a sane probabilistic model, not a blow-up

        path = tmp_path / f"{arch}.onnx"
        model.export_onnx(path)
        rec = model.onnx_parity(path, W_par, reference=p_par)
        print(f"{arch}: parity {rec}")
        assert rec["passed"], rec
