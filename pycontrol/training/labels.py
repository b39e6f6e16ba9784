"""Labels that look only forward from the decision time: direction with a cost-aware dead
zone, triple barrier, and 5-class regime.

Conventions shared by every label here (bars are time-ordered rows of one instrument):

- The decision time of row ``t`` is the close of bar ``t`` (features of row ``t`` are known
  then). The label of row ``t`` uses ``close[t]`` (the price the decision is made at) and
  prices of bars ``t+1 .. t+h`` only, strictly after ``t``; ``label_end`` is the open time of
  bar ``t+h``, the end of the label window a splitter purges on.
- ``h`` counts bars that exist: a gap (weekend, no trades) adds no bar, as for features.
- The last ``h`` rows, and rows whose volatility estimate is not yet known, are null: a label
  is never fabricated from a shorter window.
- Volatility at ``t`` (:func:`trailing_volatility`) is the sample std (ddof 1) of the last
  ``vol_window`` one-bar close changes ending at ``t``, in price units, so it is known at
  ``t``. A zero volatility (a flat window) gives null triple-barrier and regime labels:
  barriers of zero width say nothing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal

import numpy as np
import polars as pl

from pycontrol.training.errors import LabelConfigError, fail, unknown_fields

# Ordered from most bearish to most bullish; the code of a name is its index minus 2.
REGIME_NAMES = ("STRONG_SELL", "SELL", "HOLD", "BUY", "STRONG_BUY")
_REGIME_ENUM = pl.Enum(list(REGIME_NAMES))

Unit = Literal["price", "ticks"]
F64 = np.ndarray[Any, np.dtype[np.float64]]


def _is_int(v: object) -> bool:
    return isinstance(v, int | np.integer) and not isinstance(v, bool)


def _finite(v: object) -> bool:
    return isinstance(v, int | float | np.number) and not isinstance(v, bool) and math.isfinite(v)


def _horizon(v: object, name: str = "horizon") -> list[str]:
    return [] if _is_int(v) and int(v) >= 1 else [f"{name} must be an int >= 1, got {v!r}"]  # type: ignore[call-overload]


def _from_dict(cls: type[Any], data: Mapping[str, Any]) -> Any:
    """Builds ``cls`` from a mapping, reporting unknown fields together with the value
    violations ``cls`` finds (so one error lists everything wrong)."""
    known = [f.name for f in fields(cls)]
    bad = unknown_fields(data, known)
    kwargs = {k: v for k, v in data.items() if k in known}
    try:
        obj = cls(**kwargs)
    except LabelConfigError as e:
        bad += e.violations
    except TypeError as e:  # a required field is missing
        bad.append(str(e))
    if bad:
        fail(LabelConfigError, cls.__name__, bad)
    return obj


@dataclass(frozen=True)
class DirectionConfig:
    """Forward-return direction at horizon ``horizon`` with a dead zone.

    ``dead_zone``, ``half_spread`` and ``fees`` (round trip, per contract) are in ``unit``:
    price units, or ticks of ``tick_size``. The dead zone must be at least
    ``half_spread + fees``: a smaller one would label as BUY/SELL moves that lose money
    after costs. Label: +1 if ``close[t+h] - close[t] > dead_zone``, -1 if it is
    ``< -dead_zone``, else 0 (a move that only pays the costs is not a signal).
    """

    horizon: int
    dead_zone: float
    half_spread: float
    fees: float
    unit: Unit = "price"
    tick_size: float | None = None

    def __post_init__(self) -> None:
        bad = _horizon(self.horizon)
        for name in ("dead_zone", "half_spread", "fees"):
            v = getattr(self, name)
            if not _finite(v) or v < 0:
                bad.append(f"{name} must be a finite number >= 0, got {v!r}")
        if self.unit not in ("price", "ticks"):
            bad.append(f"unit must be 'price' or 'ticks', got {self.unit!r}")
        tick_ok = _finite(self.tick_size) and float(self.tick_size) > 0  # type: ignore[arg-type]
        if self.unit == "ticks" and not tick_ok:
            bad.append(f"unit 'ticks' needs tick_size > 0, got {self.tick_size!r}")
        elif self.tick_size is not None and not tick_ok:
            bad.append(f"tick_size must be > 0 when given, got {self.tick_size!r}")
        costs_ok = all(_finite(getattr(self, n)) for n in ("dead_zone", "half_spread", "fees"))
        floor = self.half_spread + self.fees if costs_ok else 0.0
        # isclose: 0.1 + 0.2 written as a 0.3 dead zone is at the minimum, not below it
        if costs_ok and self.dead_zone < floor and not math.isclose(self.dead_zone, floor):
            bad.append(
                f"dead_zone {self.dead_zone:g} {self.unit} is below the minimum "
                f"half_spread + fees = {floor:g} {self.unit}"
            )
        if bad:
            fail(LabelConfigError, "DirectionConfig", bad)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DirectionConfig:
        out: DirectionConfig = _from_dict(cls, data)
        return out

    @property
    def threshold(self) -> float:
        """The dead zone in price units."""
        scale = self.tick_size if self.unit == "ticks" and self.tick_size is not None else 1.0
        return float(self.dead_zone) * float(scale)


def _horizon_and_vol_window(horizon: object, vol_window: object) -> list[str]:
    """Violations of the horizon and volatility window shared by the vol-scaled labels."""
    bad = _horizon(horizon) + _horizon(vol_window, "vol_window")
    if _is_int(vol_window) and int(vol_window) < 2:  # type: ignore[call-overload]
        bad.append(f"vol_window must be >= 2 (a std needs two changes), got {vol_window}")
    return bad


@dataclass(frozen=True)
class TripleBarrierConfig:
    """Triple barrier: upper ``close[t] + upper_mult * vol[t]``, lower
    ``close[t] - lower_mult * vol[t]``, vertical barrier ``horizon`` bars.

    With ``use_high_low`` a barrier is touched when a later bar's high (low) reaches it;
    otherwise closes are used. Label: +1 upper first, -1 lower first, 0 when the vertical
    barrier comes first, and also 0 when both are touched within the same bar (the order
    inside a bar is unknown, so no direction is claimed; ``tb_ambiguous`` marks those).
    """

    horizon: int
    upper_mult: float = 1.0
    lower_mult: float = 1.0
    vol_window: int = 20
    use_high_low: bool = True

    def __post_init__(self) -> None:
        bad = _horizon_and_vol_window(self.horizon, self.vol_window)
        for name in ("upper_mult", "lower_mult"):
            v = getattr(self, name)
            if not _finite(v) or v <= 0:
                bad.append(f"{name} must be a finite number > 0, got {v!r}")
        if not isinstance(self.use_high_low, bool):
            bad.append(f"use_high_low must be a bool, got {self.use_high_low!r}")
        if bad:
            fail(LabelConfigError, "TripleBarrierConfig", bad)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TripleBarrierConfig:
        out: TripleBarrierConfig = _from_dict(cls, data)
        return out


@dataclass(frozen=True)
class RegimeConfig:
    """5-class regime from the forward return in volatility units.

    ``z = (close[t+h] - close[t]) / (vol[t] * sqrt(h))`` (the move scaled by the volatility
    a random walk would have over ``h`` bars). Classes, with ``weak < strong``:
    STRONG_SELL ``z <= -strong``; SELL ``-strong < z <= -weak``; HOLD ``-weak < z < weak``;
    BUY ``weak <= z < strong``; STRONG_BUY ``z >= strong``. Defaults 0.5 and 1.5: under a
    Gaussian random walk about 38% HOLD, 24% each BUY/SELL and 7% each STRONG class.
    """

    horizon: int
    vol_window: int = 20
    weak: float = 0.5
    strong: float = 1.5

    def __post_init__(self) -> None:
        bad = _horizon_and_vol_window(self.horizon, self.vol_window)
        for name in ("weak", "strong"):
            v = getattr(self, name)
            if not _finite(v) or v <= 0:
                bad.append(f"{name} must be a finite number > 0, got {v!r}")
        if _finite(self.weak) and _finite(self.strong) and not self.weak < self.strong:
            bad.append(f"weak ({self.weak}) must be < strong ({self.strong})")
        if bad:
            fail(LabelConfigError, "RegimeConfig", bad)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RegimeConfig:
        out: RegimeConfig = _from_dict(cls, data)
        return out


def _col(bars: pl.DataFrame, name: str) -> F64:
    if name not in bars.columns:
        fail(LabelConfigError, "<bars>", [f"bars need a {name!r} column"])
    a: F64 = bars[name].cast(pl.Float64).fill_null(float("nan")).to_numpy().astype(np.float64)
    return a


def _check_bars(bars: pl.DataFrame, cols: tuple[str, ...]) -> None:
    bad = [f"bars need a {c!r} column" for c in ("ts", *cols) if c not in bars.columns]
    if not bad and bars.height > 1:
        ts = bars["ts"]
        steps = ts.to_physical().diff().drop_nulls()
        if ts.null_count() or not bool((steps > 0).all()):
            bad.append("ts must be set and strictly increasing (one instrument, time order)")
    if bad:
        fail(LabelConfigError, "<bars>", bad)


def _forward(a: F64, h: int) -> F64:
    """``a[t+h]`` at row ``t``, NaN for the last ``h`` rows."""
    out = np.full_like(a, np.nan)
    if h < len(a):
        out[: len(a) - h] = a[h:]
    return out


def _label_end(bars: pl.DataFrame, h: int) -> pl.Series:
    return bars["ts"].shift(-h).alias("label_end")


def trailing_volatility(bars: pl.DataFrame, window: int) -> pl.Series:
    """Sample std (ddof 1) of the last ``window`` one-bar close changes ending at each row,
    in price units; null until ``window`` changes exist. Known at the row's close."""
    bad = _horizon(window, "window")
    if bad:
        fail(LabelConfigError, "trailing_volatility", bad)
    _check_bars(bars, ("close",))
    return (
        bars["close"].cast(pl.Float64).diff().rolling_std(window, min_samples=window).alias("vol")
    )


def direction_labels(bars: pl.DataFrame, config: DirectionConfig) -> pl.DataFrame:
    """``ts``, ``fwd_ret`` (``close[t+h] - close[t]``, price units), ``label`` (Int8
    -1/0/+1, see :class:`DirectionConfig`), ``label_end``; one row per bar, null where the
    window is incomplete."""
    _check_bars(bars, ("close",))
    h = config.horizon
    close = _col(bars, "close")
    ret = _forward(close, h) - close
    thr = config.threshold
    lab = np.where(ret > thr, 1.0, np.where(ret < -thr, -1.0, 0.0))
    lab[np.isnan(ret)] = np.nan
    return pl.DataFrame(
        {
            "ts": bars["ts"],
            "fwd_ret": pl.Series(ret).fill_nan(None),
            "label": pl.Series(lab).fill_nan(None).cast(pl.Int8),
            "label_end": _label_end(bars, h),
        }
    )


def triple_barrier_labels(bars: pl.DataFrame, config: TripleBarrierConfig) -> pl.DataFrame:
    """``ts``, ``vol``, ``tb_upper``, ``tb_lower``, ``tb_label`` (Int8 +1/-1/0),
    ``tb_touch_offset`` (bars after ``t`` of the first touch, ``h`` at the vertical barrier),
    ``tb_touch_ts``, ``tb_ambiguous``, ``label_end`` (``t+h``, the longest the label can
    look, which is what purging needs)."""
    cols = ("close", "high", "low") if config.use_high_low else ("close",)
    _check_bars(bars, cols)
    h, n = config.horizon, bars.height
    close = _col(bars, "close")
    high = _col(bars, "high") if config.use_high_low else close
    low = _col(bars, "low") if config.use_high_low else close
    vol = trailing_volatility(bars, config.vol_window).fill_null(float("nan")).to_numpy()
    upper = close + config.upper_mult * vol
    lower = close - config.lower_mult * vol
    label = np.full(n, np.nan)
    offset = np.full(n, np.nan)
    ambiguous = np.zeros(n, dtype=bool)
    valid = np.zeros(n, dtype=bool)
    valid[: max(n - h, 0)] = True
    valid &= np.isfinite(vol) & (vol > 0)
    rows = np.flatnonzero(valid)
    if rows.size:
        # (rows, h) windows of the bars strictly after t: t+1 .. t+h.
        idx = rows[:, None] + np.arange(1, h + 1)[None, :]
        up = high[idx] >= upper[rows, None]
        dn = low[idx] <= lower[rows, None]
        hit = up | dn
        any_hit = hit.any(axis=1)
        first = np.where(any_hit, hit.argmax(axis=1), h - 1)
        up_first = up[np.arange(rows.size), first] & any_hit
        dn_first = dn[np.arange(rows.size), first] & any_hit
        both = up_first & dn_first
        label[rows] = np.where(both, 0, np.where(up_first, 1, np.where(dn_first, -1, 0)))
        offset[rows] = first + 1
        ambiguous[rows] = both
    off_series = pl.Series("tb_touch_offset", offset).fill_nan(None).cast(pl.Int32)
    touch_idx = np.arange(n) + np.nan_to_num(offset, nan=0).astype(np.int64)
    touch_ts = bars["ts"].gather(np.minimum(touch_idx, max(n - 1, 0)))
    df = pl.DataFrame(
        {
            "ts": bars["ts"],
            "vol": pl.Series(vol).fill_nan(None),
            "tb_upper": pl.Series(np.where(valid, upper, np.nan)).fill_nan(None),
            "tb_lower": pl.Series(np.where(valid, lower, np.nan)).fill_nan(None),
            "tb_label": pl.Series(label).fill_nan(None).cast(pl.Int8),
            "tb_touch_offset": off_series,
            "tb_touch_ts": touch_ts,
            "tb_ambiguous": ambiguous,
            "label_end": _label_end(bars, h),
        }
    )
    known = pl.col("tb_label").is_not_null()
    return df.with_columns(
        pl.when(known).then(pl.col(c)).otherwise(None).alias(c)
        for c in ("tb_touch_ts", "tb_ambiguous")
    )


def regime_labels(bars: pl.DataFrame, config: RegimeConfig) -> pl.DataFrame:
    """``ts``, ``vol``, ``z`` (forward move in volatility units), ``regime`` (Enum of
    :data:`REGIME_NAMES`), ``regime_code`` (Int8 -2..+2), ``label_end``."""
    _check_bars(bars, ("close",))
    h = config.horizon
    close = _col(bars, "close")
    vol = trailing_volatility(bars, config.vol_window).fill_null(float("nan")).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (_forward(close, h) - close) / (vol * math.sqrt(h))
    z[~(np.isfinite(vol) & (vol > 0))] = np.nan
    w, s = config.weak, config.strong
    code = np.select([z <= -s, z <= -w, z < w, z < s], [-2.0, -1.0, 0.0, 1.0], default=2.0)
    code[np.isnan(z)] = np.nan
    code_s = pl.Series("regime_code", code).fill_nan(None).cast(pl.Int8)
    names = pl.Series([None if np.isnan(c) else REGIME_NAMES[int(c) + 2] for c in code])
    return pl.DataFrame(
        {
            "ts": bars["ts"],
            "vol": pl.Series(vol).fill_nan(None),
            "z": pl.Series(z).fill_nan(None),
            "regime": names.cast(_REGIME_ENUM),
            "regime_code": code_s,
            "label_end": _label_end(bars, h),
        }
    )
