"""The momentum scanner's scoring (pycontrol.scan.score): each component's mapping to 0-100,
the weighted mean over timeframes, warm-up left out and said, and a universe config that
reports every violation at once."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from pycontrol.scan.score import Universe, UniverseConfigError, components, score


def _row(tf: str, rsi: float, rv: float, roc: float, sd: float, adx: float) -> dict[str, float]:
    p = f"tf{tf}_"
    return {
        p + "rsi_14": rsi,
        p + "rel_vol_20": rv,
        p + "roc_20": roc,
        p + "std_ret_20": sd,
        p + "adx_14": adx,
    }


def test_components_map_to_0_100() -> None:
    c = components(_row("5m", 80.0, 1.0, 1.0, 0.001, 25.0), "5m")
    assert c is not None
    assert c["rsi"] == pytest.approx(60.0)  # 2 * |80 - 50|
    assert c["rel_vol"] == pytest.approx(50.0)  # average volume
    # a 1 % move against a 3-sigma 20-bar move of 3 * 0.1 % * sqrt(20)
    assert c["change"] == pytest.approx(100.0 / (3 * 0.1 * math.sqrt(20)))
    assert c["trend"] == pytest.approx(50.0)
    capped = components(_row("5m", 0.0, 9.0, -50.0, 0.001, 80.0), "5m")
    assert capped == {"rsi": 100.0, "rel_vol": 100.0, "change": 100.0, "trend": 100.0}
    assert components({**_row("5m", 50, 1, 0, 0.001, 10), "tf5m_adx_14": None}, "5m") is None
    assert components(_row("5m", float("nan"), 1, 0, 0.001, 10), "5m") is None


def test_score_is_the_weighted_mean_over_warm_timeframes() -> None:
    u = Universe.from_dict(
        {
            "name": "u",
            "instruments": [{"name": "X", "data": "x.csv"}],
            "scan": {"timeframes": ["5m", "1h"], "weights": {"rel_vol": 0}},
        }
    )
    row = _row("5m", 80.0, 1.0, 1.0, 0.001, 25.0)
    r = score(row, u)
    assert r["not_warmed_up"] == ["1h"] and list(r["components"]) == ["5m"]
    c = r["components"]["5m"]
    assert r["score"] == pytest.approx((c["rsi"] + c["change"] + c["trend"]) / 3, abs=0.01)
    assert r["direction"] == "up"
    both = score({**row, **_row("1h", 50.0, 1.0, -2.0, 0.002, 10.0)}, u)
    assert both["not_warmed_up"] == [] and both["direction"] == "up"  # the first timeframe's
    assert score({}, u)["score"] is None


def test_a_trend_scores_above_a_random_walk() -> None:
    from pycontrol._core import FeatureSet
    from pycontrol.features import compute_features
    from pycontrol.scan.score import feature_names

    n = 3000
    rng = np.random.default_rng(7)
    ts = np.arange(n, dtype=np.int64) * 60_000_000_000 + 1_700_000_000_000_000_000
    walk = 100 + np.cumsum(rng.normal(0, 0.05, n))
    trend = 100 + np.cumsum(rng.normal(0.02, 0.05, n))
    u = Universe.from_dict(
        {"name": "u", "instruments": [{"name": "X", "data": "x"}], "scan": {"timeframes": ["5m"]}}
    )
    fs = FeatureSet(feature_names(u.timeframes))
    scores = {}
    for name, close in (("walk", walk), ("trend", trend)):
        vol = (
            np.where(np.arange(n) > n - 40, 3000.0, 1000.0)
            if name == "trend"
            else np.full(n, 1000.0)
        )
        bars = pl.DataFrame(
            {
                "ts": ts,
                "open": close,
                "high": close + 0.02,
                "low": close - 0.02,
                "close": close,
                "volume": vol,
            }
        )
        row = compute_features(bars, fs, "1m").row(-1, named=True)
        scores[name] = score(row, u)["score"]
    assert scores["trend"] > scores["walk"] + 15, scores


def test_universe_violations_reported_at_once() -> None:
    with pytest.raises(UniverseConfigError) as e:
        Universe.from_dict(
            {
                "name": "",
                "instruments": [{"name": "A", "data": "a"}, {"name": "A", "data": 3, "x": 1}],
                "scan": {"timeframes": ["2m"], "threshold": 120, "weights": {"rsi": -1, "foo": 1}},
                "extra": True,
            }
        )
    text = "; ".join(e.value.violations)
    for needle in (
        "name must be",
        "unknown field 'x'",
        "timeframes",
        "threshold",
        "rsi must",
        "unknown component 'foo'",
        "unknown field 'extra'",
    ):
        assert needle in text, (needle, text)
