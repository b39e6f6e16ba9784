"""Continuous contracts on the real Lean ES week (five contract months a day): the calendar
roll from the core's front-month rule, back- and ratio-adjusted prices, the rolls recorded;
the volume-crossover rule on per-contract series built from the same real bars."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest

from pycontrol import _core
from pycontrol.continuous import continuous
from pycontrol.data import lean


@pytest.fixture(scope="module")
def es(shared_data: Path) -> pl.DataFrame:
    src = shared_data / "bars" / "lean-es-minute"
    return pl.concat([lean.load(z) for z in sorted(src.glob("*_trade.zip"))])


def test_calendar_roll_back_and_ratio_adjusted(es: pl.DataFrame) -> None:
    # 50 business days before ESZ3's last trade (20 Dec 2013) is 11 Oct: the core's rule
    # rolls into ESH4 for trade date 11 Oct, whose session opened 10 Oct 22:00 UTC.
    assert _core.front_month("ES", "2013-10-11", 50)["symbol"] == "ESH4"
    series, rolls = continuous(es, "ES", roll_days=50, adjust="back")
    assert rolls.height == 1
    r = rolls.row(0, named=True)
    assert (r["from_contract"], r["to_contract"]) == ("201312", "201403")
    assert r["trade_date"] == date(2013, 10, 11)
    assert r["ts"] >= datetime(2013, 10, 10, 22, tzinfo=UTC)
    # The gap is measured on real closes: ESH4 trades below ESZ3 (carry), a few points.
    assert -20 < r["difference"] < 0 and r["ratio"] == pytest.approx(
        r["to_close"] / r["from_close"]
    )
    before = series.filter(pl.col("ts") < r["ts"])
    after = series.filter(pl.col("ts") >= r["ts"])
    assert set(before["contract"]) == {"201312"} and set(after["contract"]) == {"201403"}
    # Latest prices are real; earlier ones moved by the gap.
    # ESZ3's bars of the old days (the roll day's session opened 10 Oct 22:00 UTC).
    raw = es.filter(
        pl.col("contract") == "201312", pl.col("ts") < datetime(2013, 10, 10, 22, tzinfo=UTC)
    )
    assert before["close"].to_list() == pytest.approx((raw["close"] + r["difference"]).to_list())
    raw_after = es.filter(pl.col("contract") == "201403", pl.col("ts") >= r["ts"])
    assert after["close"].to_list() == raw_after["close"].to_list()
    # Across the roll the adjusted series has no jump larger than the real minute moves.
    closes = series["close"]
    jump = abs(float(after["open"][0]) - float(before["close"][-1]))
    assert jump < 5 * float(closes.diff().abs().quantile(0.999))  # type: ignore[arg-type]

    ratio, rolls_r = continuous(es, "ES", roll_days=50, adjust="ratio")
    assert rolls_r.equals(rolls)
    rb = ratio.filter(pl.col("ts") < r["ts"])
    assert rb["close"].to_list() == pytest.approx((raw["close"] * r["ratio"]).to_list())
    # Ratio adjustment keeps returns; back adjustment keeps differences.
    assert rb["close"].pct_change().drop_nulls().to_list() == pytest.approx(
        raw["close"].pct_change().drop_nulls().to_list()
    )
    # With the default 5 days the week stays on ESZ3: no roll, prices untouched.
    plain, none = continuous(es, "ES")
    assert none.height == 0 and set(plain["contract"]) == {"201312"}
    assert plain["adjustment"].unique().to_list() == [0.0]


def test_volume_crossover_rolls_the_day_after(es: pl.DataFrame) -> None:
    # The real ESZ3 and ESH4 bars, with ESH4's volume scaled up from 10 Oct (trade date) on:
    # the crossover shows on the 10 Oct session and the roll takes effect on 11 Oct.
    two = es.filter(pl.col("contract").is_in(["201312", "201403"]))
    start = datetime(2013, 10, 9, 22, tzinfo=UTC)
    boosted = two.with_columns(
        pl.when((pl.col("contract") == "201403") & (pl.col("ts") >= start))
        .then(pl.col("volume") * 1000)
        .otherwise(pl.col("volume"))
        .alias("volume")
    )
    series, rolls = continuous(boosted, "ES", roll="volume")
    assert rolls["to_contract"].to_list() == ["201403"]
    assert rolls["trade_date"].to_list() == [date(2013, 10, 11)]
    assert series.filter(pl.col("ts") < rolls["ts"][0])["contract"].unique().to_list() == ["201312"]
    # Without the boost ESZ3 dominates the whole week.
    _, none = continuous(two, "ES", roll="volume")
    assert none.height == 0


def test_bad_input_is_typed(es: pl.DataFrame) -> None:
    with pytest.raises(_core.ConfigError, match="need columns"):
        continuous(es.drop("contract"), "ES")
    with pytest.raises(_core.ConfigError, match="roll must be"):
        continuous(es, "ES", roll="oi")  # type: ignore[arg-type]
    # The rule picks ESH4 on 11 Oct but its bars are gone: named, not filled.
    gap = es.filter(
        ~(
            (pl.col("contract") == "201403")
            & (pl.col("ts") >= datetime(2013, 10, 10, 22, tzinfo=UTC))
        )
    )
    with pytest.raises(_core.ConfigError, match=r"2013-10-11.*201403.*no bars"):
        continuous(gap, "ES", roll_days=50)
