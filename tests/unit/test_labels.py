"""Labels: forward-only windows, the cost-aware dead zone and its validated minimum, triple
barrier on a hand-made series, regime class boundaries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from pycontrol import ConfigError
from pycontrol.training import (
    DirectionConfig,
    LabelConfigError,
    RegimeConfig,
    TripleBarrierConfig,
    direction_labels,
    regime_labels,
    triple_barrier_labels,
)

T0 = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)


def bars_from(
    close: list[float], high: list[float] | None = None, low: list[float] | None = None
) -> pl.DataFrame:
    n = len(close)
    return pl.DataFrame(
        {
            "ts": [T0 + timedelta(minutes=i) for i in range(n)],
            "open": close,
            "high": high if high is not None else close,
            "low": low if low is not None else close,
            "close": close,
            "volume": [1.0] * n,
        }
    ).with_columns(pl.col("ts").cast(pl.Datetime("ns", "UTC")))


def test_direction_hand_case_dead_zone_is_strict_and_tail_is_null() -> None:
    bars = bars_from([100.0, 101.0, 100.5, 103.0, 99.0])
    cfg = DirectionConfig(horizon=1, dead_zone=0.5, half_spread=0.125, fees=0.25)
    out = direction_labels(bars, cfg)
    # -0.5 equals the dead zone: a move that only pays the costs is no signal.
    assert out["label"].to_list() == [1, 0, 1, -1, None]
    assert out["fwd_ret"].to_list() == [1.0, -0.5, 2.5, -4.0, None]
    assert out["label_end"].to_list()[:4] == bars["ts"].to_list()[1:]
    assert out["label_end"][4] is None


def test_direction_label_uses_only_rows_after_t_up_to_h() -> None:
    rng = np.random.default_rng(7)
    close = list(100 + np.cumsum(rng.normal(size=60)))
    cfg = DirectionConfig(horizon=3, dead_zone=0.3, half_spread=0.1, fees=0.2)
    base = direction_labels(bars_from(close), cfg)["label"]
    t = 30
    changed = close[: t + 3 + 1] + list(rng.permutation(close[t + 4 :]) + 50)
    after = direction_labels(bars_from(changed), cfg)["label"]
    assert after[: t + 1].to_list() == base[: t + 1].to_list()
    assert after.null_count() == 3


def test_dead_zone_ticks_and_minimum_in_ticks() -> None:
    cfg = DirectionConfig(
        horizon=2, dead_zone=3, half_spread=1, fees=2, unit="ticks", tick_size=0.25
    )
    assert cfg.threshold == 0.75
    with pytest.raises(LabelConfigError, match="below the minimum"):
        DirectionConfig(horizon=2, dead_zone=2, half_spread=1, fees=2, unit="ticks", tick_size=0.25)


def test_dead_zone_minimum_reports_every_violation() -> None:
    with pytest.raises(LabelConfigError) as ei:
        DirectionConfig(horizon=0, dead_zone=0.1, half_spread=0.125, fees=0.25, unit="ticks")
    err = ei.value
    assert isinstance(err, ConfigError)
    v = err.violations
    assert len(v) == 3, v
    assert any("horizon" in s for s in v)
    assert any("tick_size" in s for s in v)
    assert any("below the minimum half_spread + fees = 0.375" in s for s in v)
    assert "DirectionConfig" in str(err)


def test_from_dict_rejects_unknown_fields_with_value_errors() -> None:
    with pytest.raises(LabelConfigError) as ei:
        DirectionConfig.from_dict(
            {"horizon": 5, "dead_zone": 0.1, "half_spread": 0.25, "fees": 0.0, "deadzone": 1}
        )
    v = ei.value.violations
    assert any("unknown field 'deadzone'" in s for s in v)
    assert any("below the minimum" in s for s in v)
    ok = DirectionConfig.from_dict(
        {"horizon": 5, "dead_zone": 0.5, "half_spread": 0.25, "fees": 0.25}
    )
    assert ok.threshold == 0.5


def test_triple_barrier_hand_made_series_on_closes() -> None:
    close = [100.0, 101.0, 100.0, 101.0, 102.0, 99.0, 98.0, 100.0, 100.5, 100.2]
    bars = bars_from(close)
    cfg = TripleBarrierConfig(
        horizon=3, upper_mult=1.0, lower_mult=1.0, vol_window=2, use_high_low=False
    )
    out = triple_barrier_labels(bars, cfg)
    # t=2: vol sqrt(2), up 101.41 touched by 102 at t+2; t=3: low 99.59 touched by 99 at t+2;
    # t=4: flat vol window (0) -> null; t=5: nothing touched in 3 bars -> 0 at the vertical
    # barrier; t=6: 100 >= 99.41 at t+1; the last 3 rows and the vol warm-up are null.
    assert out["tb_label"].to_list() == [None, None, 1, -1, None, 0, 1, None, None, None]
    assert out["tb_touch_offset"].to_list() == [None, None, 2, 2, None, 3, 1, None, None, None]
    ts = bars["ts"].to_list()
    assert out["tb_touch_ts"].to_list() == [
        None,
        None,
        ts[4],
        ts[5],
        None,
        ts[8],
        ts[7],
        None,
        None,
        None,
    ]
    assert out["vol"][2] == pytest.approx(np.sqrt(2))
    assert out["tb_upper"][2] == pytest.approx(100 + np.sqrt(2))
    assert out["label_end"][2] == ts[5]


def test_triple_barrier_same_bar_touch_is_ambiguous_zero() -> None:
    close = [100.0, 101.0, 100.0, 100.0, 100.0]
    high = [100.0, 101.0, 100.0, 102.0, 100.0]
    low = [100.0, 101.0, 100.0, 98.0, 100.0]
    out = triple_barrier_labels(
        bars_from(close, high, low), TripleBarrierConfig(horizon=1, vol_window=2)
    )
    assert out["tb_label"][2] == 0
    assert out["tb_ambiguous"][2] is True
    assert out["tb_touch_offset"][2] == 1
    # the same bar seen through closes only touches nothing: vertical barrier
    cl = triple_barrier_labels(
        bars_from(close, high, low),
        TripleBarrierConfig(horizon=1, vol_window=2, use_high_low=False),
    )
    assert cl["tb_label"][2] == 0 and cl["tb_ambiguous"][2] is False


def test_triple_barrier_upper_via_high() -> None:
    close = [100.0, 101.0, 100.0, 100.0, 100.0]
    high = [100.0, 101.0, 100.0, 101.5, 100.0]
    out = triple_barrier_labels(
        bars_from(close, high, close), TripleBarrierConfig(horizon=1, vol_window=2)
    )
    assert out["tb_label"][2] == 1


@pytest.mark.parametrize(
    ("z", "name", "code"),
    [
        (-2.0, "STRONG_SELL", -2),
        (-1.5, "STRONG_SELL", -2),
        (-1.0, "SELL", -1),
        (-0.5, "SELL", -1),
        (-0.25, "HOLD", 0),
        (0.0, "HOLD", 0),
        (0.25, "HOLD", 0),
        (0.5, "BUY", 1),
        (1.0, "BUY", 1),
        (1.5, "STRONG_BUY", 2),
        (2.0, "STRONG_BUY", 2),
    ],
)
def test_regime_class_boundaries(z: float, name: str, code: int) -> None:
    # one-bar changes -1, 0, +1 have sample std exactly 1, so z = the next move in price units
    close = [100.0, 99.0, 99.0, 100.0, 100.0 + z]
    out = regime_labels(bars_from(close), RegimeConfig(horizon=1, vol_window=3))
    assert out["vol"][3] == 1.0
    assert out["z"][3] == z
    assert out["regime"][3] == name
    assert out["regime_code"][3] == code
    assert out["regime"][:3].null_count() == 3 and out["regime"][4] is None


def test_regime_scales_by_sqrt_horizon() -> None:
    close = [100.0, 99.0, 99.0, 100.0, 100.5, 101.0]
    out = regime_labels(bars_from(close), RegimeConfig(horizon=2, vol_window=3))
    assert out["z"][3] == pytest.approx(1.0 / np.sqrt(2))
    assert out["regime"][3] == "BUY"


def test_regime_config_violations_listed() -> None:
    with pytest.raises(LabelConfigError) as ei:
        RegimeConfig(horizon=-1, vol_window=1, weak=2.0, strong=1.0)
    assert len(ei.value.violations) == 3


def test_bars_must_be_time_ordered() -> None:
    bars = bars_from([1.0, 2.0, 3.0]).reverse()
    with pytest.raises(LabelConfigError, match="strictly increasing"):
        direction_labels(bars, DirectionConfig(horizon=1, dead_zone=0, half_spread=0, fees=0))
