"""Continuous futures series from per-contract bars: which contract each CME trading day
uses (the roll rule), where the rolls fall, and the back- or ratio-adjusted prices that make
the series continuous across them.

Input: bars of several contract months of one root, one frame with a ``contract`` column
(``YYYYMM``, as Lean loads name them) and the bar layout of :mod:`pycontrol.bars`. Rules:

- The unit is the CME trading day (17:00 Chicago open, :func:`pycontrol._core.trading_day_start`),
  named by its trade date (the Chicago date it closes on). A day uses one contract.
- ``roll="calendar"``: the day's contract is the core's front month for the trade date
  (:func:`pycontrol._core.front_month`: ``roll_days`` business days before first notice or
  last trade, the rule sessions trade by).
- ``roll="volume"``: the contract moves to a later month the day after that month's
  volume exceeded the current one's over a whole trading day (no look-ahead; never back).
- ``adjust="back"`` adds, to every bar before a roll, the difference between the new and the
  old contract's last close before the roll (the latest prices stay real);
  ``adjust="ratio"`` multiplies them by the ratio instead (returns are preserved);
  ``adjust="none"`` splices raw prices.

:func:`continuous` returns the series (bar columns, ``contract`` and ``adjustment``, the
amount added or the factor applied) and the rolls (``ts`` of the first bar on the new
contract, ``trade_date``, ``from_contract``, ``to_contract``, ``from_close``, ``to_close``,
``difference``, ``ratio``). A day whose contract has no bars while others have some raises
:class:`pycontrol.ConfigError` naming the day: a gap is never filled silently.
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime
from typing import Literal, NoReturn

import polars as pl

from pycontrol import _core

Roll = Literal["calendar", "volume"]
Adjust = Literal["back", "ratio", "none"]

_PRICES = ["open", "high", "low", "close"]
_WHERE = "<continuous>"
_DAY_NS = 86_400 * 1_000_000_000
_HOUR_NS = 3_600 * 1_000_000_000


def _raise(cls: type[_core.CoreError], msg: str) -> NoReturn:
    err = cls(f"{_WHERE}: {msg}")
    err.path, err.record, err.offset = _WHERE, None, None
    raise err


def _trade_date(ts_ns: int) -> date:
    """The trade date of the CME day holding ``ts_ns``: the UTC date one day after its
    open (17:00 Chicago is 22:00/23:00 UTC, the evening before the trade date)."""
    start = _core.trading_day_start(ts_ns)
    return datetime.fromtimestamp((start + _DAY_NS) // 1_000_000_000, tz=UTC).date()


def _calendar_choice(root: str, days: list[date], roll_days: int) -> dict[date, str]:
    out = {}
    for d in days:
        fm = _core.front_month(root, d.isoformat(), roll_days)
        out[d] = f"{fm['year']}{fm['month']:02d}"
    return out


def _volume_choice(daily: pl.DataFrame, days: list[date]) -> dict[date, str]:
    vol: dict[date, dict[str, float]] = {}
    for d, c, v in daily.select("trade_date", "contract", "volume").iter_rows():
        vol.setdefault(d, {})[c] = v
    out: dict[date, str] = {}
    current: str | None = None
    for d in days:
        if current is None:
            # First day: the most traded contract (ties: the nearest month).
            current = min(vol[d], key=lambda c: (-vol[d][c], c))
        out[d] = current
        # Decide for tomorrow from today's whole-day volumes, forward only.
        later = {c: v for c, v in vol[d].items() if c > current}
        if later:
            best = min(later, key=lambda c: (-later[c], c))
            if later[best] > vol[d].get(current, 0.0):
                current = best
    return out


def continuous(
    bars: pl.DataFrame,
    root: str,
    *,
    roll: Roll = "calendar",
    roll_days: int = 5,
    adjust: Adjust = "back",
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(series, rolls) of ``root`` from per-contract ``bars`` (module docstring)."""
    missing = [c for c in ["ts", *_PRICES, "volume", "contract"] if c not in bars.columns]
    if missing:
        _raise(_core.ConfigError, f"per-contract bars need columns {missing}")
    if roll not in ("calendar", "volume"):
        _raise(_core.ConfigError, f"roll must be 'calendar' or 'volume', got {roll!r}")
    if adjust not in ("back", "ratio", "none"):
        _raise(_core.ConfigError, f"adjust must be 'back', 'ratio' or 'none', got {adjust!r}")
    if bars.height == 0:
        _raise(_core.ConfigError, "no bars")
    df = bars.sort("ts", "contract", maintain_order=True)
    # Sessions open on whole UTC hours: one core call per distinct hour, not per bar.
    hour = df["ts"].dt.epoch("ns") // _HOUR_NS * _HOUR_NS
    dates = {h: _trade_date(h) for h in hour.unique().to_list()}
    df = df.with_columns(hour.replace_strict(dates, return_dtype=pl.Date).alias("trade_date"))
    days = sorted(set(df["trade_date"].to_list()))
    if roll == "calendar":
        choice = _calendar_choice(root, days, roll_days)
    else:
        daily = df.group_by("trade_date", "contract").agg(pl.col("volume").sum())
        choice = _volume_choice(daily, days)
    pick = pl.DataFrame(
        {"trade_date": list(choice), "_pick": list(choice.values())},
        schema={"trade_date": pl.Date, "_pick": pl.String},
    )
    chosen = df.join(pick, on="trade_date", how="left", maintain_order="left").filter(
        pl.col("contract") == pl.col("_pick")
    )
    have = set(chosen["trade_date"].unique().to_list())
    for d in days:
        if d not in have:
            others = sorted(df.filter(pl.col("trade_date") == d)["contract"].unique().to_list())
            _raise(
                _core.ConfigError,
                f"trade date {d}: the roll rule picks {root} {choice[d]}, which has no bars "
                f"that day (bars of {others})",
            )
    rolls = _rolls(df, chosen, days, choice)
    series = _adjusted(chosen, rolls, adjust)
    return series, rolls


def _rolls(
    df: pl.DataFrame, chosen: pl.DataFrame, days: list[date], choice: dict[date, str]
) -> pl.DataFrame:
    rows = []
    for prev, d in itertools.pairwise(days):
        if choice[d] == choice[prev]:
            continue
        first_ts = chosen.filter(pl.col("trade_date") == d)["ts"][0]
        before = df.filter(pl.col("ts") < first_ts)

        def last_close(c: str, before: pl.DataFrame = before, d: date = d) -> float:
            rows_c = before.filter(pl.col("contract") == c)
            if rows_c.height == 0:
                _raise(
                    _core.ConfigError,
                    f"roll on {d} into {c}: {c} has no bar before the roll to measure the gap",
                )
            return float(rows_c["close"][-1])

        old, new = last_close(choice[prev]), last_close(choice[d])
        rows.append(
            {
                "ts": first_ts,
                "trade_date": d,
                "from_contract": choice[prev],
                "to_contract": choice[d],
                "from_close": old,
                "to_close": new,
                "difference": new - old,
                "ratio": new / old,
            }
        )
    schema: dict[str, pl.DataType] = {
        "ts": pl.Datetime("ns", "UTC"),
        "trade_date": pl.Date(),
        "from_contract": pl.String(),
        "to_contract": pl.String(),
        "from_close": pl.Float64(),
        "to_close": pl.Float64(),
        "difference": pl.Float64(),
        "ratio": pl.Float64(),
    }
    return pl.DataFrame(rows, schema=schema)


def _adjusted(chosen: pl.DataFrame, rolls: pl.DataFrame, adjust: Adjust) -> pl.DataFrame:
    # The adjustment of a bar accumulates over every roll after it.
    if adjust == "ratio":
        factor = pl.lit(1.0)
        for ts, r in rolls.select("ts", "ratio").iter_rows():
            factor = factor * pl.when(pl.col("ts") < ts).then(pl.lit(r)).otherwise(1.0)
        out = chosen.with_columns(factor.alias("adjustment"))
        out = out.with_columns(*(pl.col(c) * pl.col("adjustment") for c in _PRICES))
    else:
        add = pl.lit(0.0)
        if adjust == "back":
            for ts, diff in rolls.select("ts", "difference").iter_rows():
                add = add + pl.when(pl.col("ts") < ts).then(pl.lit(diff)).otherwise(0.0)
        out = chosen.with_columns(add.alias("adjustment"))
        out = out.with_columns(*(pl.col(c) + pl.col("adjustment") for c in _PRICES))
    keep = [c for c in out.columns if c not in ("_pick", "trade_date")]
    return out.select(keep)
