"""Momentum scores of a futures universe, from the same Rust features models train on.

For each instrument and each configured timeframe the scanner reads four features of the
latest bar (as of ``asof``, default the end of the data) and maps each to 0-100:

- ``rsi``: momentum either way, ``2 * |RSI14 - 50|`` (RSI 80 or 20 -> 60);
- ``rel_vol``: participation, ``50 * volume / SMA20(volume)`` capped at 100 (average -> 50);
- ``change``: the 20-bar percent change in units of its own volatility,
  ``100 * |ROC20| / (3 * 100 * std(returns, 20) * sqrt(20))`` capped at 100 (a 3-sigma
  move -> 100);
- ``trend``: ``2 * ADX14`` capped at 100 (ADX 50, a strong trend -> 100).

The instrument's score is the weighted mean of the components over the timeframes (weights
from the universe config, default equal); its direction is the sign of the 20-bar change on
the first timeframe. Instruments at or above the threshold (default 70) are kept. A
timeframe that is not warmed up yet (too few bars) leaves its components out and says so.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pycontrol._core import ConfigError

COMPONENTS = ("rsi", "rel_vol", "change", "trend")
TIMEFRAMES = ("1m", "5m", "30m", "1h")  # the bar timeframes the default feature set streams


class UniverseConfigError(ConfigError):
    """A universe config is invalid; ``violations`` lists every problem."""

    violations: list[str]


def _fail(where: str, bad: list[str]) -> UniverseConfigError:
    e = UniverseConfigError(f"{where}: " + "; ".join(bad))
    e.violations = bad
    return e


@dataclass(frozen=True)
class Member:
    name: str
    data: str
    contract: str | None = None  # Lean: a contract month; default the most traded


@dataclass(frozen=True)
class Universe:
    name: str
    members: tuple[Member, ...]
    timeframes: tuple[str, ...] = ("5m", "1h")
    threshold: float = 70.0
    weights: dict[str, float] = field(default_factory=lambda: dict.fromkeys(COMPONENTS, 1.0))

    @staticmethod
    def load(path: str | Path) -> Universe:
        p = Path(path)
        try:
            raw = tomllib.loads(p.read_text())
        except FileNotFoundError:
            raise _fail(str(p), ["file not found"]) from None
        except tomllib.TOMLDecodeError as e:
            raise _fail(str(p), [f"not valid TOML: {e}"]) from None
        return Universe.from_dict(raw, str(p))

    @staticmethod
    def from_dict(raw: dict[str, Any], where: str = "universe") -> Universe:
        bad: list[str] = []
        known = {"name", "instruments", "scan"}
        bad += [
            f"unknown field {k!r} (known: {', '.join(sorted(known))})"
            for k in raw
            if k not in known
        ]
        name = raw.get("name")
        if not isinstance(name, str) or not name:
            bad.append(f"name must be a non-empty string, got {name!r}")
        members: list[Member] = []
        insts = raw.get("instruments")
        if not isinstance(insts, list) or not insts:
            bad.append("instruments must be a non-empty array of tables ([[instruments]])")
            insts = []
        for i, m in enumerate(insts):
            w = f"instruments[{i}]"
            if not isinstance(m, dict):
                bad.append(f"{w}: expected a table")
                continue
            extra = sorted(set(m) - {"name", "data", "contract"})
            bad += [f"{w}: unknown field {k!r} (known: contract, data, name)" for k in extra]
            if not isinstance(m.get("name"), str) or not m.get("name"):
                bad.append(f"{w}: name must be a non-empty string")
            if not isinstance(m.get("data"), str) or not m.get("data"):
                bad.append(f"{w}: data must be a path to bars")
            c = m.get("contract")
            if c is not None and not isinstance(c, str):
                bad.append(f"{w}: contract must be a string such as '201312'")
            if not extra and isinstance(m.get("name"), str) and isinstance(m.get("data"), str):
                members.append(Member(m["name"], m["data"], c if isinstance(c, str) else None))
        names = [m.name for m in members]
        if len(names) != len(set(names)):
            bad.append(f"instruments: each name once, got {names}")
        scan = raw.get("scan", {})
        if not isinstance(scan, dict):
            bad.append("scan must be a table")
            scan = {}
        extra = sorted(set(scan) - {"timeframes", "threshold", "weights"})
        bad += [f"scan: unknown field {k!r} (known: threshold, timeframes, weights)" for k in extra]
        tfs = scan.get("timeframes", ["5m", "1h"])
        if not isinstance(tfs, list) or not tfs or any(t not in TIMEFRAMES for t in tfs):
            bad.append(
                f"scan.timeframes must be a non-empty list of {', '.join(TIMEFRAMES)}, got {tfs!r}"
            )
            tfs = ["5m"]
        thr = scan.get("threshold", 70.0)
        if isinstance(thr, bool) or not isinstance(thr, int | float) or not 0 <= thr <= 100:
            bad.append(f"scan.threshold must be a number in 0..100, got {thr!r}")
            thr = 70.0
        weights = dict.fromkeys(COMPONENTS, 1.0)
        wr = scan.get("weights", {})
        if not isinstance(wr, dict):
            bad.append("scan.weights must be a table")
            wr = {}
        for k, v in wr.items():
            if k not in COMPONENTS:
                bad.append(
                    f"scan.weights: unknown component {k!r} (known: {', '.join(COMPONENTS)})"
                )
            elif isinstance(v, bool) or not isinstance(v, int | float) or v < 0:
                bad.append(f"scan.weights.{k} must be a number >= 0, got {v!r}")
            else:
                weights[k] = float(v)
        if not any(weights.values()):
            bad.append("scan.weights: at least one weight must be > 0")
        if bad:
            raise _fail(where, bad)
        return Universe(str(name), tuple(members), tuple(tfs), float(thr), weights)


def components(row: dict[str, float | None], tf: str) -> dict[str, float] | None:
    """The four component scores of one timeframe from the latest feature row, or None
    when that timeframe is not warmed up."""
    p = f"tf{tf}_"
    rsi, rv = row.get(p + "rsi_14"), row.get(p + "rel_vol_20")
    roc, sd, adx = row.get(p + "roc_20"), row.get(p + "std_ret_20"), row.get(p + "adx_14")
    vals = (rsi, rv, roc, sd, adx)
    if any(v is None or not math.isfinite(v) for v in vals):
        return None
    assert rsi is not None and rv is not None and roc is not None and sd is not None
    assert adx is not None
    move = 3.0 * 100.0 * sd * math.sqrt(20.0)
    return {
        "rsi": min(100.0, 2.0 * abs(rsi - 50.0)),
        "rel_vol": min(100.0, 50.0 * rv),
        "change": min(100.0, 100.0 * abs(roc) / move) if move > 0 else 0.0,
        "trend": min(100.0, 2.0 * adx),
    }


def feature_names(timeframes: tuple[str, ...]) -> list[str]:
    return [
        f"tf{tf}_{f}"
        for tf in timeframes
        for f in ("rsi_14", "rel_vol_20", "roc_20", "std_ret_20", "adx_14")
    ]


def score(row: dict[str, float | None], u: Universe) -> dict[str, Any]:
    """One instrument's score from its latest feature row."""
    per_tf: dict[str, dict[str, float]] = {}
    cold: list[str] = []
    for tf in u.timeframes:
        c = components(row, tf)
        if c is None:
            cold.append(tf)
        else:
            per_tf[tf] = c
    total = sum(u.weights.values()) * len(per_tf)
    s = (
        sum(u.weights[k] * c[k] for c in per_tf.values() for k in COMPONENTS) / total
        if total
        else None
    )
    roc = row.get(f"tf{u.timeframes[0]}_roc_20")
    direction = (
        "-" if roc is None or not math.isfinite(roc) or roc == 0 else ("up" if roc > 0 else "down")
    )
    return {
        "score": None if s is None else round(s, 2),
        "direction": direction,
        "components": {tf: {k: round(v, 2) for k, v in c.items()} for tf, c in per_tf.items()},
        "not_warmed_up": cold,
    }


def scan(u: Universe, asof: int | None = None, root: Path | None = None) -> list[dict[str, Any]]:
    """Every member of ``u`` scored on its bars up to ``asof`` (UTC ns, inclusive), ranked
    best first (instruments without a score last); ``selected`` marks those at or above the
    threshold."""
    import polars as pl

    from pycontrol._core import FeatureSet
    from pycontrol.backtest.config import expand
    from pycontrol.bars import OHLCV, load_bars
    from pycontrol.features import compute_features

    fs = FeatureSet(feature_names(u.timeframes))
    out: list[dict[str, Any]] = []
    for m in u.members:
        path = expand(m.data)
        if root is not None and not path.is_absolute():
            path = root / path
        bars = load_bars(path, contract=m.contract).select(OHLCV)
        ns = bars["ts"].dt.epoch("ns") if bars.schema["ts"] != pl.Int64 else bars["ts"]
        if asof is not None:
            bars = bars.filter(ns <= asof)
            ns = ns.filter(ns <= asof)
        if bars.height == 0:
            out.append(
                {
                    "name": m.name,
                    "score": None,
                    "direction": "-",
                    "bars": 0,
                    "last_bar": None,
                    "components": {},
                    "not_warmed_up": list(u.timeframes),
                }
            )
            continue
        feats = compute_features(bars, fs, "1m")
        row = feats.row(-1, named=True)
        res = score(row, u)
        out.append({"name": m.name, "bars": bars.height, "last_bar": int(ns[-1]), **res})
    out.sort(key=lambda r: (r["score"] is None, -(r["score"] or 0.0), r["name"]))
    for r in out:
        r["selected"] = r["score"] is not None and r["score"] >= u.threshold
    return out
