"""Risk score: bounds and monotonicity of the documented formula; walk-forward risk features
on synthetic bars: layout, no look-ahead, and bad input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl
import pytest

from pycontrol.risk import RiskInputError
from pycontrol.risk.score import risk_features, risk_score


def test_score_bounds_and_monotonicity() -> None:
    assert risk_score(0.0, 0.0, 1.0, 0.0) == pytest.approx(1.0)
    assert risk_score(1.0, 5.0, 1.0, 1.0) == pytest.approx(10.0)
    assert risk_score(0.5, 1.0, 1.0, 0.0) == pytest.approx(1 + 9 * (0.25 + 0.15))
    grid = np.linspace(0, 1, 11)
    assert np.all(np.diff(risk_score(grid, 1.0, 1.0, 0.2)) > 0)
    assert np.all(np.diff(risk_score(0.5, grid * 2, 1.0, 0.2)) > 0)
    assert np.all(np.diff(risk_score(0.5, 1.0, 1.0, grid)) > 0)


def _bars(n: int, seed: int, ts0: datetime) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.standard_t(5, n) * 1e-3))
    ts = [ts0 + timedelta(minutes=i) for i in range(n)]
    return pl.DataFrame({"ts": ts, "close": close})


@pytest.fixture(scope="module")
def pair() -> tuple[pl.DataFrame, pl.DataFrame]:
    t0 = datetime(2024, 1, 2, tzinfo=UTC)
    a = _bars(2400, 1, t0)
    noise = _bars(2400, 2, t0)["close"].to_numpy()
    b = a.with_columns(close=pl.Series(a["close"].to_numpy() * noise / 100))
    return a, b.filter(pl.int_range(pl.len()) % 3 != 0)  # the reference misses some bars


def test_features_layout_and_ranges(pair: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    a, b = pair
    # Correlation and beta are rolling over ref_window aligned bars (the core's, as live):
    # 300 fill well before row 1200 (about 800 aligned bars by then).
    f = risk_features(a, b, start=1200, refit_every=400, window=None, ref_window=300)
    assert f.height == a.height
    assert f["risk_vol_fcst_1"][:1200].null_count() == 1200
    live = f[1200:]
    assert live.null_count().sum_horizontal()[0] == 0
    assert (live["risk_cvar_99"] >= live["risk_var_99"]).all()
    assert (live["risk_var_99"] >= live["risk_var_95"]).all()
    assert live["risk_score"].min() >= 1 and live["risk_score"].max() <= 10  # type: ignore[operator]
    assert set(live["risk_regime"].unique()) <= {"low", "normal", "high"}
    assert live["risk_corr_ref"].min() > 0.3  # type: ignore[operator]
    assert (live["risk_tail_lower"] == live["risk_tail_upper"]).all()


def _num(df: pl.DataFrame) -> Any:
    return df.drop("ts", "risk_regime").to_numpy().astype(float)


def test_features_have_no_look_ahead(pair: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    a, b = pair
    kw: dict[str, Any] = {"start": 1200, "refit_every": 400, "window": None}
    full = risk_features(a, b, **kw)
    cut_ts = a["ts"][1900]
    cut = risk_features(a[:1901], b.filter(pl.col("ts") <= cut_ts), **kw)
    assert np.allclose(_num(full[:1901]), _num(cut), rtol=1e-9, atol=0, equal_nan=True)
    assert full["risk_regime"][:1901].to_list() == cut["risk_regime"].to_list()


def test_features_reject_bad_bars(pair: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    a, _ = pair
    bad = a.with_columns(
        close=pl.when(pl.int_range(pl.len()) == 77).then(None).otherwise(pl.col("close"))
    )
    with pytest.raises(RiskInputError, match="row 77"):
        risk_features(bad, start=1200)
    with pytest.raises(RiskInputError, match="missing columns"):
        risk_features(a.drop("close"))
    with pytest.raises(RiskInputError, match="start"):
        risk_features(a[:500], start=1000)
