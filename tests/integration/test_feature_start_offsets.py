"""Train/serve contract on real bars: a feature's value at time t does not depend on where the
history starts, beyond the feature's declared warm-up (issue 16, defect 1).

Training computes features from the start of a file; a backtest or live engine from its
own start. Every feature of every shipped FeatureSet (``configs/features/*.json``, which
``tests/unit/test_family_feature_sets.py`` ties to the families' training configs), the
whole default set (every bar kind at 1m/5m/30m/1h) and the cross features are computed
from the first bar and again from random later start offsets; on the overlap:

- a feature's first value from the later start comes no later than its declared warm-up
  (in base bars: ``w - 1`` for the base timeframe, ``(w + 1) k - 1`` for a timeframe of
  ``k`` base bars, as ``splits.feature_lookback`` counts it);
- from there on both runs agree: nulls in the same rows, values within 1e-7 of the
  column's largest magnitude (float32 resolution of the column, what models are fed;
  recursive averages settle to 1e-8 of their start, window features differ by rounding).

Before the fix, on-balance volume counted from the first bar it saw, so ``tf1m_obv`` and
``tf1h_obv`` differed by the volume before the start, forever (and EMA/Wilder features
were declared usable after their seed, while their start still weighed up to 100%).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

import pycontrol
from pycontrol import compute_features, load_bars

ROOT = Path(__file__).resolve().parents[2]
SIXE = "bars/other/6EH4.XCME_1min_bars_20240101_20240131.csv.gz"
LEAN = "bars/lean-es-minute"
ESH4 = "dbn/nautilus/esh4-glbx-mdp3-20231225.mbo.dbn.zst"
TOL = 1e-7
_MIN = {"s": 1 / 60, "m": 1, "h": 60, "d": 1440}


def _minutes(tf: str) -> float:
    return int(tf[:-1]) * _MIN[tf[-1]]


def _shipped(name: str) -> Any:
    return pycontrol.FeatureSet.from_json((ROOT / "configs" / "features" / name).read_text())


def _bound(spec: dict[str, Any], base: str) -> int:
    """Base rows after the start by which the feature must have its first value."""
    w = int(spec["warmup"])
    k = max(1, round(_minutes(spec["timeframe"]) / _minutes(base)))
    return w - 1 if k == 1 else (w + 1) * k - 1


def check_offsets(
    bars: pl.DataFrame,
    fs: Any,
    base: str,
    offsets: list[int],
    reference: pl.DataFrame | None = None,
) -> dict[str, int]:
    """Asserts the contract for every feature of ``fs``; returns, per feature, the most
    rows any start needed before its values matched (for the report)."""
    full = compute_features(bars, fs, base, reference=reference)
    specs = {s["name"]: s for s in fs.specs()}
    needed: dict[str, int] = {}
    for off in offsets:
        part = compute_features(bars[off:], fs, base, reference=reference)
        assert part["ts"].to_list() == full["ts"][off:].to_list()
        for name, spec in specs.items():
            a = full[name].to_numpy()[off:].astype(np.float64)
            b = part[name].to_numpy().astype(np.float64)
            valid = np.flatnonzero(np.isfinite(b))
            bound = _bound(spec, base)
            if spec["group"] == "cross" and reference is not None:
                # warm-up counts aligned bars (both traded): the row of the w-th one
                aligned = np.cumsum(np.isin(part["ts"].to_numpy(), reference["ts"].to_numpy()))
                reached = np.flatnonzero(aligned >= int(spec["warmup"]))
                bound = int(reached[0]) if reached.size else len(b)
            if bound >= len(b):  # the data end before its warm-up: nothing to compare
                assert not valid.size, f"{name}: valid before its warm-up from offset {off}"
                continue
            assert valid.size, f"{name}: never valid from offset {off}"
            first = int(valid[0])
            assert first <= bound, (
                f"{name}: first value {first} rows after a start at {off}, declared warm-up "
                f"allows {bound}"
            )
            a, b = a[first:], b[first:]
            assert np.array_equal(np.isfinite(a), np.isfinite(b)), (
                f"{name}: nulls differ after the warm-up (start {off})"
            )
            ok = np.isfinite(a)
            scale = float(np.nanmax(np.abs(full[name].to_numpy()))) or 1.0
            diff = np.abs(a[ok] - b[ok])
            worst = int(np.argmax(diff)) if diff.size else 0
            assert not diff.size or diff[worst] <= TOL * scale, (
                f"{name}: start {off} differs by {diff[worst]:.3g} (scale {scale:.3g}) "
                f"{first + int(np.flatnonzero(ok)[worst])} rows after the start"
            )
            needed[name] = max(needed.get(name, 0), first)
    return needed


@pytest.fixture(scope="module")
def sixe(shared_data: Path) -> pl.DataFrame:
    return load_bars(shared_data / SIXE)


@pytest.fixture(scope="module")
def es_front(shared_data: Path) -> pl.DataFrame:
    return load_bars(shared_data / LEAN, contract="201312")


def _offsets(n: int, hi: int, seed: int) -> list[int]:
    return sorted(int(x) for x in np.random.default_rng(seed).integers(1, hi, size=n))


def test_bar_timing_set_is_start_independent_on_6e_and_es(
    sixe: pl.DataFrame, es_front: pl.DataFrame
) -> None:
    fs = _shipped("bar_timing.json")
    needed = check_offsets(sixe, fs, "1m", _offsets(3, 8000, 1))
    check_offsets(es_front, fs, "1m", _offsets(2, 2000, 2))
    print(f"\nbar_timing: most rows before agreement {max(needed.values())}")


def test_regime_hourly_set_is_start_independent_on_6e_hours(sixe: pl.DataFrame) -> None:
    hours = pycontrol.resample_bars(sixe, "1h")
    check_offsets(hours, _shipped("regime_hourly.json"), "1h", _offsets(3, 150, 3))


def test_demo_set_is_start_independent_on_es_trade_seconds(shared_data: Path) -> None:
    seconds = pycontrol.build_bars(shared_data / ESH4, "1s")
    assert seconds.height > 900
    check_offsets(seconds, _shipped("demo.json"), "1s", _offsets(3, 500, 4))


def test_every_default_and_cross_feature_is_start_independent(
    sixe: pl.DataFrame, es_front: pl.DataFrame, shared_data: Path
) -> None:
    """Every bar kind at every default timeframe (the shipped sets are subsets of these
    kinds), plus correlation/beta against a reference (ES Dec 2013 against Mar 2014; their
    warm-up counts bars where both traded)."""
    fs = pycontrol.FeatureSet.default()
    needed = check_offsets(sixe, fs, "1m", _offsets(2, 8000, 5))
    worst = sorted(needed.items(), key=lambda kv: -kv[1])[:5]
    print(f"\ndefault set: rows before agreement, largest: {worst}")
    cross = pycontrol.FeatureSet.from_json(
        json.dumps({"features": ["tf1m_corr_ref_20", "tf1m_beta_ref_20"]})
    )
    ref = load_bars(shared_data / LEAN, contract="201403")
    check_offsets(es_front, cross, "1m", _offsets(2, 2000, 6), reference=ref)
