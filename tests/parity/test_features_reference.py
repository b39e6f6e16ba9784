"""Every technical/regime bar feature against an independent textbook implementation
(numpy/pandas, written here from the definitions in the formula text) on the real ES
minute bars (Lean/AlgoSeek, 2013-10-07..11), within 1e-9 relative. Also checks the coarse
timeframes against the same reference run on resampled bars, aligned to completed bars."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from numpy.lib.stride_tricks import sliding_window_view as windows

from pycontrol import FeatureSet, compute_features, load_bars

Arr = np.ndarray
NAN = np.nan


@pytest.fixture(scope="module")
def es(shared_data: Path) -> pl.DataFrame:
    return load_bars(shared_data / "bars" / "lean-es-minute")


def _pad(vals: Arr, n: int, total: int) -> Arr:
    """Right-aligned rolling results -> full length with NaN in front."""
    out = np.full(total, NAN)
    out[n - 1 :] = vals
    return out


def roll(x: Arr, n: int, f: Callable[[Arr], Arr]) -> Arr:
    if len(x) < n:
        return np.full(len(x), NAN)
    return _pad(f(windows(x, n)), n, len(x))


def shift(x: Arr, k: int) -> Arr:
    out = np.full(len(x), NAN)
    out[k:] = x[:-k]
    return out


def sma(x: Arr, n: int) -> Arr:
    return roll(x, n, lambda w: w.mean(axis=1))


def seeded(x: Arr, n: int, alpha: float) -> Arr:
    """Recursive average seeded with the mean of the first n valid inputs (NaN skipped at
    the front)."""
    out = np.full(len(x), NAN)
    start = int(np.argmax(~np.isnan(x))) if np.any(~np.isnan(x)) else len(x)
    if len(x) - start < n:
        return out
    v = float(np.mean(x[start : start + n]))
    out[start + n - 1] = v
    for i in range(start + n, len(x)):
        v = v + alpha * (x[i] - v)
        out[i] = v
    return out


def ema(x: Arr, n: int) -> Arr:
    return seeded(x, n, 2.0 / (n + 1))


def wilder(x: Arr, n: int) -> Arr:
    return seeded(x, n, 1.0 / n)


def reference(df: pl.DataFrame) -> dict[str, Arr]:
    """All default bar kinds, by name without the timeframe prefix."""
    o, h, lo, c, v = (
        df[k].to_numpy().astype(float) for k in ("open", "high", "low", "close", "volume")
    )
    n = len(c)
    r: dict[str, Arr] = {}
    for k in (1, 2, 3, 5, 10, 20):
        r[f"ret_{k}"] = c / shift(c, k) - 1
    for k in (10, 20):
        r[f"roc_{k}"] = 100 * (c / shift(c, k) - 1)
    for k in (5, 10, 20, 50, 200):
        r[f"sma_{k}"] = sma(c, k)
        r[f"dist_sma_{k}"] = c / r[f"sma_{k}"] - 1
    for k in (12, 26):
        r[f"ema_{k}"] = ema(c, k)
        r[f"dist_ema_{k}"] = c / r[f"ema_{k}"] - 1
    macd = r["ema_12"] - r["ema_26"]
    sig = ema(macd, 9)
    r["macd_12_26_9"] = macd
    r["macd_signal_12_26_9"] = sig
    r["macd_hist_12_26_9"] = macd - sig
    d = c - shift(c, 1)
    for k in (7, 14, 21):
        g, loss = wilder(np.maximum(d, 0), k), wilder(np.maximum(-d, 0), k)
        with np.errstate(divide="ignore", invalid="ignore"):
            rsi = 100 - 100 / (1 + g / loss)
        rsi = np.where(loss == 0, np.where(g == 0, 50.0, 100.0), rsi)
        r[f"rsi_{k}"] = np.where(np.isnan(g), NAN, rsi)
    hh, ll = roll(h, 14, lambda w: w.max(axis=1)), roll(lo, 14, lambda w: w.min(axis=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        k_ = np.where(hh == ll, 50.0, 100 * (c - ll) / (hh - ll))
        wr = np.where(hh == ll, -50.0, -100 * (hh - c) / (hh - ll))
    r["stoch_k_14"] = np.where(np.isnan(hh), NAN, k_)
    r["willr_14"] = np.where(np.isnan(hh), NAN, wr)
    kk = r["stoch_k_14"]
    r["stoch_d_14_3"] = np.concatenate([np.full(13, NAN), sma(kk[13:], 3)])
    tp = (h + lo + c) / 3
    flow = tp * v
    dtp = tp - shift(tp, 1)
    pos = np.where(dtp > 0, flow, 0.0)[1:]
    neg = np.where(dtp < 0, flow, 0.0)[1:]
    ps, ns = roll(pos, 14, lambda w: w.sum(axis=1)), roll(neg, 14, lambda w: w.sum(axis=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        mfi = np.where(ps + ns == 0, 50.0, 100 * ps / (ps + ns))
    r["mfi_14"] = np.concatenate([[NAN], np.where(np.isnan(ps), NAN, mfi)])
    pc = shift(c, 1)
    tr = np.maximum.reduce([h - lo, np.abs(h - pc), np.abs(lo - pc)])
    tr[0] = NAN
    r["atr_14"] = wilder(tr, 14)
    r["natr_14"] = 100 * r["atr_14"] / c
    mid = sma(c, 20)
    sd = roll(c, 20, lambda w: w.std(axis=1, ddof=0))
    r["bb_width_20_2"] = 4 * sd / mid
    with np.errstate(divide="ignore", invalid="ignore"):
        r["bb_pctb_20_2"] = np.where(sd == 0, 0.5, (c - (mid - 2 * sd)) / (4 * sd))
        r["zscore_20"] = np.where(sd == 0, 0.0, (c - mid) / sd)
    r["bb_pctb_20_2"][np.isnan(sd)] = NAN
    r["zscore_20"][np.isnan(sd)] = NAN
    ret1 = c / shift(c, 1) - 1
    for k in (20, 50):
        r[f"std_ret_{k}"] = np.concatenate(
            [[NAN], roll(ret1[1:], k, lambda w: w.std(axis=1, ddof=1))]
        )
    r["std_close_20"] = roll(c, 20, lambda w: w.std(axis=1, ddof=1))
    # On-balance volume of the CME trading day (from 17:00 Chicago): 0 at a day's first
    # bar, null through the first (partial) day.
    local = df["ts"].dt.convert_time_zone("America/Chicago")
    day = (local - timedelta(hours=17)).dt.date().to_numpy()
    step = np.concatenate([[0.0], np.sign(np.diff(c)) * v[1:]])
    new_day = np.concatenate([[True], day[1:] != day[:-1]])
    obv = np.full(n, NAN)
    acc = 0.0
    seen = 0
    for i in range(n):
        if new_day[i]:
            seen += 1
            acc = 0.0
        else:
            acc += step[i]
        if seen >= 2:
            obv[i] = acc
    r["obv"] = obv
    for k in (20, 50):
        pv = roll(tp * v, k, lambda w: w.sum(axis=1))
        vs = roll(v, k, lambda w: w.sum(axis=1))
        with np.errstate(divide="ignore", invalid="ignore"):
            r[f"vwap_dist_{k}"] = np.where(vs == 0, NAN, c / (pv / vs) - 1)
    for k in (20, 50):
        vm = sma(v, k)
        with np.errstate(divide="ignore", invalid="ignore"):
            r[f"rel_vol_{k}"] = np.where(vm == 0, NAN, v / vm)
        if k == 20:
            r["vol_sma_20"] = vm
    ph, pl_, pcl = shift(h, 1), shift(lo, 1), shift(c, 1)
    p = (ph + pl_ + pcl) / 3
    levels = {
        "p": p,
        "r1": 2 * p - pl_,
        "s1": 2 * p - ph,
        "r2": p + (ph - pl_),
        "s2": p - (ph - pl_),
    }
    for name, lvl in levels.items():
        r[f"pivot_{name}"] = c / lvl - 1
    for k in (20, 50):
        r[f"dist_support_{k}"] = c / roll(lo, k, lambda w: w.min(axis=1)) - 1
        r[f"dist_resistance_{k}"] = c / roll(h, k, lambda w: w.max(axis=1)) - 1
    r["range_pct"] = (h - lo) / c
    r["body_pct"] = (c - o) / o
    r["upper_wick"] = (h - np.maximum(o, c)) / c
    r["lower_wick"] = (np.minimum(o, c) - lo) / c
    up, down = h - shift(h, 1), shift(lo, 1) - lo
    pdm = np.where((up > down) & (up > 0), up, 0.0)
    mdm = np.where((down > up) & (down > 0), down, 0.0)
    pdm[0] = mdm[0] = NAN
    str_, sp, sm = wilder(tr, 14), wilder(pdm, 14), wilder(mdm, 14)
    with np.errstate(divide="ignore", invalid="ignore"):
        pdi = np.where(str_ == 0, 0.0, 100 * sp / str_)
        mdi = np.where(str_ == 0, 0.0, 100 * sm / str_)
        dx = np.where(pdi + mdi == 0, 0.0, 100 * np.abs(pdi - mdi) / (pdi + mdi))
    pdi[np.isnan(str_)] = mdi[np.isnan(str_)] = dx[np.isnan(str_)] = NAN
    r["plus_di_14"], r["minus_di_14"], r["adx_14"] = pdi, mdi, wilder(dx, 14)
    vol = r["std_ret_20"]
    pct = np.full(n, NAN)
    for i in range(20 + 199, n):
        w = vol[i - 199 : i + 1]
        pct[i] = 100 * np.sum(w <= vol[i] * (1 + 1e-9)) / 200
    r["vol_pctile_20_200"] = pct
    r["vol_regime_20_200"] = np.where(
        np.isnan(pct), NAN, np.where(pct <= 25, 0, np.where(pct > 75, 2, 1))
    )
    rv = np.where(np.isnan(r["rel_vol_20"]), 1.0, r["rel_vol_20"])
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(vol == 0, 0.0, r["ret_10"] / (vol * math.sqrt(10)))
    score = 0.4 * r["rsi_14"] + 0.3 * 100 * rv / (1 + rv) + 0.3 * 100 / (1 + np.exp(-z))
    r["momentum_score"] = np.where(np.isnan(vol) | np.isnan(r["rsi_14"]), NAN, score)
    return r


def settled(ref: dict[str, Arr], tf: str) -> dict[str, Arr]:
    """The reference with each feature nulled before its declared warm-up (EMA/Wilder
    features declare the bars after which their start weighs < 1e-8; the textbook values
    exist earlier, the engine's do not)."""
    specs = {s["name"]: s for s in FeatureSet.default().specs()}
    out = {}
    for k, v in ref.items():
        w = int(specs[f"tf{tf}_{k}"]["warmup"])
        v = v.copy()
        if k != "obv":  # OBV's warm-up is an upper bound (the first trading-day open)
            v[: w - 1] = NAN
        out[k] = v
    return out


def _assert_close(name: str, got: Arr, want: Arr) -> None:
    gn, wn = np.isnan(got), np.isnan(want)
    bad_null = np.flatnonzero(gn != wn)
    assert bad_null.size == 0, f"{name}: null pattern differs first at row {bad_null[:3]}"
    g, w = got[~gn], want[~wn]
    # 1e-9 relative. Values that are a difference of nearly equal operands (x/y - 1
    # returns and distances, MACD = EMA - EMA of ~1700 prices) also get an absolute
    # allowance of a few ulps of those operands: their rounding, not the window's.
    operand = 1e-9 * 1700 if "macd" in name else 1e-14
    tol = 1e-9 * np.abs(w) + operand * 1e-3 if "macd" in name else 1e-9 * np.abs(w) + operand
    err = np.abs(g - w)
    worst = int(np.argmax(err - tol)) if err.size else 0
    assert np.all(err <= tol), f"{name}: {g[worst]!r} vs {w[worst]!r} (err {err[worst]:.3g})"


def test_1m_features_match_textbook_references(es: pl.DataFrame) -> None:
    names = [n for n in FeatureSet.default().names() if n.startswith("tf1m_")]
    got = compute_features(es, FeatureSet(names), "1m")
    assert got.height == es.height > 6_000
    ref = settled(reference(es), "1m")
    assert set(ref) == {n.removeprefix("tf1m_") for n in names}
    for n in names:
        _assert_close(n, got[n].fill_null(NAN).to_numpy(), ref[n.removeprefix("tf1m_")])


@pytest.mark.parametrize("tf", ["5m", "30m", "1h"])
def test_coarse_features_are_the_reference_of_completed_coarse_bars(
    es: pl.DataFrame, tf: str
) -> None:
    names = [n for n in FeatureSet.default().names() if n.startswith(f"tf{tf}_")]
    got = compute_features(es, FeatureSet(names), "1m")
    coarse = es.group_by_dynamic("ts", every=tf, label="left").agg(
        pl.col("open").first(),
        pl.col("high").max(),
        pl.col("low").min(),
        pl.col("close").last(),
        pl.col("volume").sum(),
    )
    ref = settled(reference(coarse), tf)
    step = pl.duration(minutes=1)
    period = pl.duration(minutes={"5m": 5, "30m": 30, "1h": 60}[tf])
    # The value a 1m row may see: the latest coarse bar that ended by the 1m bar's end.
    idx = coarse.select((pl.col("ts") + period).alias("end")).with_row_index("k")
    rows = es.select((pl.col("ts") + step).alias("end")).join_asof(idx, on="end")
    k = rows["k"].to_numpy()
    has = ~rows["k"].is_null().to_numpy()
    for n in names:
        want = np.full(es.height, NAN)
        want[has] = ref[n.removeprefix(f"tf{tf}_")][k[has].astype(int)]
        _assert_close(n, got[n].fill_null(NAN).to_numpy(), want)
