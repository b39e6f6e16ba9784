"""Unit tests of pycontrol.bars on small hand-made inputs: bar rules through the binding,
resampling against a polars reference, loader format detection and row-level errors."""

from __future__ import annotations

import gzip
import io
import zipfile
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pytest

import pycontrol
from pycontrol import (
    BadLineError,
    ConfigError,
    UnknownFormatError,
    build_bars,
    load_bars,
    resample_bars,
)

CSV_HEAD = "timestamp_utc,open,high,low,close,volume\n"
CHICAGO = ZoneInfo("America/Chicago")


def _lobster(tmp_path: Path, rows: list[str]) -> Path:
    p = tmp_path / "TEST_2012-06-21_34200000_57600000_message_1.csv"
    p.write_text("".join(r + "\n" for r in rows))
    return p


def _csv(tmp_path: Path, body: str, name: str = "bars.csv") -> Path:
    p = tmp_path / name
    p.write_text(CSV_HEAD + body)
    return p


def test_bars_at_interval_edges_single_trades_and_gaps(tmp_path: Path) -> None:
    # 34200 s after midnight New York summer time = 13:30 UTC.
    p = _lobster(
        tmp_path,
        [
            "34200.000000000,4,1,10,1000000,-1",  # opens 13:30
            "34259.999999999,4,2,5,1010000,1",  # last ns of 13:30
            "34260.000000000,5,0,7,990000,-1",  # exactly on the edge: opens 13:31
            "34500.000000000,1,3,100,990000,1",  # a submission: not a trade
            "34500.000000000,4,4,1,995000,1",  # 13:35, after a 3-minute gap
        ],
    )
    df = build_bars(p, "1m")
    t0 = datetime(2012, 6, 21, 13, 30, tzinfo=UTC)
    assert df["ts"].to_list() == [
        t0,
        t0.replace(minute=31),
        t0.replace(minute=35),
    ]
    first = df.row(0, named=True)
    assert (first["open"], first["high"], first["low"], first["close"]) == (
        100.0,
        101.0,
        100.0,
        101.0,
    )
    assert (first["volume"], first["trades"]) == (15.0, 2)
    # A sell order executed (-1) is a buyer-initiated trade.
    assert (first["buy_volume"], first["sell_volume"]) == (10.0, 5.0)
    assert first["vwap"] == pytest.approx((100.0 * 10 + 101.0 * 5) / 15)
    single = df.row(1, named=True)
    assert single["open"] == single["high"] == single["low"] == single["close"] == 99.0
    assert df.columns[:6] == ["ts", "open", "high", "low", "close", "volume"]
    assert df.schema["ts"] == pl.Datetime("ns", "UTC")


@pytest.mark.parametrize(
    ("timeframe", "n_bars"),
    [("1s", 4), ("1m", 3), ("5m", 2), ("30m", 1), ("1h", 1), ("6h", 1), ("1d", 1)],
)
def test_each_timeframe(tmp_path: Path, timeframe: str, n_bars: int) -> None:
    p = _lobster(
        tmp_path,
        [
            "34200.1,4,1,1,1000000,1",
            "34200.2,4,1,1,1000000,1",
            "34201.0,4,1,1,1000000,1",
            "34260.0,4,1,1,1000000,1",
            "34500.0,4,1,1,1000000,1",
        ],
    )
    df = build_bars(p, timeframe)
    assert df.height == n_bars
    assert df["volume"].sum() == 5.0
    assert df.select((pl.col("ts") == _truncate(timeframe)).all()).item()


def test_decreasing_time_names_the_row(tmp_path: Path) -> None:
    p = _lobster(tmp_path, ["34200.5,4,1,1,1000000,1", "34200.4,4,1,1,1000000,1"])
    with pytest.raises(BadLineError) as e:
        build_bars(p)
    assert e.value.record == 2
    assert e.value.path == str(p)


def test_bad_timeframe_and_unknown_input_are_typed(tmp_path: Path) -> None:
    p = _lobster(tmp_path, ["34200.5,4,1,1,1000000,1"])
    with pytest.raises(ConfigError):
        build_bars(p, "7m")
    other = tmp_path / "notes.txt"
    other.write_text("hello\n")
    with pytest.raises(UnknownFormatError):
        build_bars(other)
    with pytest.raises(UnknownFormatError):
        load_bars(other)
    assert issubclass(UnknownFormatError, pycontrol.DecodeError)


def _minute_bars() -> pl.DataFrame:
    # Crosses midnight UTC, with gaps, so daily and hourly edges are exercised.
    t0 = datetime(2024, 1, 2, 23, 58, tzinfo=UTC)
    minutes = [0, 1, 2, 3, 4, 9, 10, 11, 30]
    return pl.DataFrame(
        {
            "ts": [t0 + timedelta(minutes=m) for m in minutes],
            "open": [float(10 + m % 7) for m in minutes],
            "high": [float(20 + m % 5) for m in minutes],
            "low": [float(1 + m % 3) for m in minutes],
            "close": [float(10 + m % 4) for m in minutes],
            "volume": [float(m + 1) for m in minutes],
        }
    ).with_columns(pl.col("ts").cast(pl.Datetime("ns", "UTC")))


def _session_open(ts: datetime) -> datetime:
    """The CME day's 17:00 Chicago open by the tz database (an oracle apart from the core)."""
    local = ts.astimezone(CHICAGO)
    day = local.date() if local.hour >= 17 else local.date() - timedelta(days=1)
    return datetime.combine(day, time(17), tzinfo=CHICAGO).astimezone(UTC)


def _truncate(every: str) -> pl.Expr:
    """Bar open times: epoch multiples up to 1h, CME-session multiples above."""
    hours = {"6h": 6, "1d": 24}.get(every)
    if hours is None:
        return pl.col("ts").dt.truncate(every)

    def bucket(ts: datetime) -> datetime:
        start = _session_open(ts)
        return start + (ts - start) // timedelta(hours=hours) * timedelta(hours=hours)

    # Python datetimes are microseconds; the bars' ts are nanoseconds.
    return (
        pl.col("ts")
        .map_elements(bucket, return_dtype=pl.Datetime("us", "UTC"))
        .cast(pl.Datetime("ns", "UTC"))
    )


def _reference(df: pl.DataFrame, every: str) -> pl.DataFrame:
    return (
        df.group_by(_truncate(every), maintain_order=True)
        .agg(
            pl.col("open").first(),
            pl.col("high").max(),
            pl.col("low").min(),
            pl.col("close").last(),
            pl.col("volume").sum(),
        )
        .sort("ts")
    )


@pytest.mark.parametrize("timeframe", ["5m", "30m", "1h", "6h", "1d"])
def test_resample_equals_polars_group_by(timeframe: str) -> None:
    df = _minute_bars()
    got = resample_bars(df, timeframe)
    assert got.columns == ["ts", "open", "high", "low", "close", "volume"]
    assert got.equals(_reference(df, timeframe))


def test_resample_keeps_known_extras_and_groups_instruments() -> None:
    df = _minute_bars()
    two = pl.concat(
        [
            df.with_columns(
                pl.lit(7, pl.UInt32).alias("instrument_id"),
                pl.lit(1.0).alias("vwap"),
                pl.lit(3, pl.UInt64).alias("trades"),
            ),
            df.with_columns(
                pl.lit(9, pl.UInt32).alias("instrument_id"),
                pl.lit(2.0).alias("vwap"),
                pl.lit(1, pl.UInt64).alias("trades"),
            ),
        ]
    ).sort("ts", "instrument_id", maintain_order=True)
    got = resample_bars(two, "1h")  # 23:00 and 00:00 UTC
    assert got.columns == [
        "ts",
        "open",
        "high",
        "low",
        "close",
        "volume",
        "instrument_id",
        "vwap",
        "trades",
    ]
    assert got["instrument_id"].to_list() == [7, 9, 7, 9]
    assert got["vwap"].to_list() == [1.0, 2.0, 1.0, 2.0]
    assert got["trades"].sum() == 3 * df.height + df.height


def test_resample_refuses_unordered_and_nan_rows() -> None:
    df = _minute_bars()
    with pytest.raises(BadLineError) as e:
        resample_bars(df.reverse(), "5m")
    assert e.value.record == 1
    bad = df.with_columns(
        pl.when(pl.int_range(pl.len()) == 3)
        .then(float("nan"))
        .otherwise(pl.col("high"))
        .alias("high")
    )
    with pytest.raises(BadLineError) as e:
        resample_bars(bad, "5m")
    assert e.value.record == 3


@pytest.mark.parametrize(
    ("row", "why"),
    [
        ("2024-01-01 23:03:00,1.1,1.2,nan,1.1,5\n", "price"),
        ("2024-01-01 23:03:00,1.1,inf,1.0,1.1,5\n", "price"),
        ("2024-01-01 23:03:00,1.1,1.2,1.0,1.1,-5\n", "volume"),
        ("2024-01-01 23:02:00,1.1,1.2,1.0,1.1,5\n", "increase"),
        ("2024-01-01 23:01:30,1.1,1.2,1.0,1.1,5\n", "increase"),
        ("yesterday,1.1,1.2,1.0,1.1,5\n", "timestamp"),
    ],
)
def test_csv_bad_rows_are_named(tmp_path: Path, row: str, why: str) -> None:
    good = "2024-01-01 23:01:00,1.1,1.2,1.0,1.1,5\n2024-01-01 23:02:00,1.1,1.2,1.0,1.1,5\n"
    p = _csv(tmp_path, good + row)
    with pytest.raises(BadLineError) as e:
        load_bars(p)
    # Header is line 1, so the third data row is line 4.
    assert e.value.record == 4
    assert why in str(e.value)


def test_csv_close_stamps_become_open_times(tmp_path: Path) -> None:
    body = "2024-01-01 23:01:00,1.1,1.2,1.0,1.1,5\n2024-01-01 23:02:00,1.1,1.3,1.0,1.2,6\n"
    p = tmp_path / "bars.csv.gz"
    p.write_bytes(gzip.compress((CSV_HEAD + body).encode()))
    df = load_bars(p)
    assert df["ts"].to_list()[0] == datetime(2024, 1, 1, 23, 0, tzinfo=UTC)
    opened = load_bars(p, ts_label="open")
    assert opened["ts"].to_list()[0] == datetime(2024, 1, 1, 23, 1, tzinfo=UTC)
    assert df.drop("ts").equals(opened.drop("ts"))
    one = _csv(tmp_path, body.splitlines(keepends=True)[0], name="one.csv")
    with pytest.raises(ConfigError):
        load_bars(one)
    assert load_bars(one, ts_label="open").height == 1


def _lean_zip(tmp_path: Path, kind: str, members: dict[str, str]) -> Path:
    p = tmp_path / f"20131007_{kind}.zip"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for month, body in members.items():
            zf.writestr(f"20131007_es_minute_{kind}_{month}.csv", body)
    p.write_bytes(buf.getvalue())
    return p


def test_lean_contract_choice_and_errors(tmp_path: Path) -> None:
    p = _lean_zip(
        tmp_path,
        "trade",
        {
            "201312": "0,1676.5,1676.5,1676.5,1676.5,9\n60000,1676.5,1676.75,1676.5,1676.75,19\n",
            "201403": "0,1670,1670,1670,1670,100\n",
        },
    )
    df = load_bars(p)
    assert df["contract"].unique().to_list() == ["201403"]  # most traded that day
    dec = load_bars(p, contract="201312")
    assert dec.height == 2
    assert dec["ts"].to_list()[1] == datetime(2013, 10, 7, 0, 1, tzinfo=UTC)
    with pytest.raises(ConfigError):
        load_bars(p, contract="201406")
    bad = _lean_zip(tmp_path, "trade", {"201312": "0,1,1,1,1,1\n0,1,1,1,1,1\n"})
    with pytest.raises(BadLineError) as e:
        load_bars(bad)
    assert e.value.record == 2
    assert e.value.path is not None and e.value.path.endswith("_201312.csv")
    quote = _lean_zip(tmp_path, "quote", {"201312": "0,1,1,1,1,1,1,1,1,1,1\n"})
    with pytest.raises(UnknownFormatError):
        load_bars(quote)
