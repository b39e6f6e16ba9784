"""Bars on the real fixtures in ../shared/data: built bars equal Databento's OHLCV bars,
MBP-1 'T' records equal the trades file, LOBSTER volume adds up, loaders return the shapes
the data README documents, and resampling Lean ES minutes equals a polars group_by."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from pycontrol import UnknownFormatError, build_bars, load_bars, resample_bars

ESU4 = 118
WINDOW = "2024-07-01T23-58_2024-07-02T00-02"


@pytest.fixture(scope="module")
def nautilus(shared_data: Path) -> Path:
    return shared_data / "dbn" / "nautilus"


def test_trade_bars_equal_databento_ohlcv_on_covered_minutes(nautilus: Path) -> None:
    ours = build_bars(nautilus / f"futures_trades_{WINDOW}.dbn.zst", "1m")
    theirs = load_bars(nautilus / "futures_ohlcv-1m_2024-07-01T23-40_2024-07-02T00-10.dbn.zst")
    assert theirs.height == 60
    assert theirs.group_by("instrument_id").len().sort("instrument_id")["len"].to_list() == [30, 30]
    # The trades file holds the trades of the request window [23:58, 00:02) named in its
    # file name (first trade 23:58:01.2, last 00:01:52.8): minutes 23:58 to 00:01.
    start = datetime(2024, 7, 1, 23, 58, tzinfo=UTC)
    end = datetime(2024, 7, 2, 0, 2, tzinfo=UTC)
    cols = ["ts", "open", "high", "low", "close", "volume"]
    want = theirs.filter(
        (pl.col("instrument_id") == ESU4) & pl.col("ts").is_between(start, end, closed="left")
    )
    assert want.height == 4
    assert ours["instrument_id"].unique().to_list() == [ESU4]
    assert ours.select(cols).equals(want.select(cols))
    # Sanity of the extras: every trade had a side, so buy + sell = volume.
    assert ours.select(
        (pl.col("buy_volume") + pl.col("sell_volume") == pl.col("volume")).all()
    ).item()
    assert ours["trades"].sum() == 120


def test_wrong_dbn_schema_for_each_api_is_typed(nautilus: Path) -> None:
    with pytest.raises(UnknownFormatError, match="ohlcv-1m"):
        build_bars(nautilus / "futures_ohlcv-1m_2024-07-01T23-40_2024-07-02T00-10.dbn.zst")
    with pytest.raises(UnknownFormatError, match="trades"):
        load_bars(nautilus / f"futures_trades_{WINDOW}.dbn.zst")


@pytest.mark.parametrize("timeframe", ["1s", "1m", "5m"])
def test_mbp1_trades_equal_trades_file(nautilus: Path, timeframe: str) -> None:
    a = build_bars(nautilus / f"futures_trades_{WINDOW}.dbn.zst", timeframe)
    b, stats = build_bars(nautilus / f"futures_mbp-1_{WINDOW}.dbn.zst", timeframe, with_stats=True)
    assert stats == {"records": 2288, "trades": 120}
    assert a.height > 0
    assert a.equals(b)


def test_lobster_bar_volume_equals_execution_sizes(shared_data: Path) -> None:
    path = shared_data / "lobster" / "AMZN_2012-06-21_34200000_57600000_message_1.csv.gz"
    bars = build_bars(path, "1m")
    msgs = pl.read_csv(
        path,
        has_header=False,
        new_columns=["time", "type", "order_id", "size", "price", "direction"],
    ).filter(pl.col("type").is_in([4, 5]))
    assert bars["volume"].sum() == msgs["size"].sum()
    assert bars["trades"].sum() == msgs.height == 8_974 + 2_445
    # Per minute too, with minutes counted from 09:30 New York = 13:30 UTC.
    per_minute = (
        msgs.group_by(((pl.col("time") - 34_200) // 60).cast(pl.Int64).alias("minute"))
        .agg(pl.col("size").sum())
        .sort("minute")
    )
    open_utc = datetime(2012, 6, 21, 13, 30, tzinfo=UTC)
    got_minutes = ((bars["ts"] - open_utc).dt.total_seconds() // 60).cast(pl.Int64)
    assert got_minutes.to_list() == per_minute["minute"].to_list()
    assert bars["volume"].to_list() == per_minute["size"].cast(pl.Float64).to_list()


@pytest.mark.parametrize(
    ("day", "rows"),
    [
        ("20131007", 1344),
        ("20131008", 1372),
        ("20131009", 1371),
        ("20131010", 1368),
        ("20131011", 1253),
    ],
)
def test_lean_front_month_rows(shared_data: Path, day: str, rows: int) -> None:
    df = load_bars(shared_data / "bars" / "lean-es-minute" / f"{day}_trade.zip")
    assert df.height == rows
    assert df["contract"].unique().to_list() == ["201312"]
    assert df.columns == ["ts", "open", "high", "low", "close", "volume", "contract"]
    assert df["ts"].dt.strftime("%Y%m%d").unique().to_list() == [day]
    assert 1600 < df["close"].min() <= df["close"].max() < 1800  # index points


def test_lean_contract_parameter(shared_data: Path) -> None:
    df = load_bars(
        shared_data / "bars" / "lean-es-minute" / "20131007_trade.zip", contract="201403"
    )
    assert df["contract"].unique().to_list() == ["201403"]
    assert 0 < df.height < 1344


def test_lean_folder_resampled_to_5m_equals_polars_group_by(shared_data: Path) -> None:
    minutes = load_bars(shared_data / "bars" / "lean-es-minute")
    assert minutes.height == 1344 + 1372 + 1371 + 1368 + 1253
    # 1d bars are CME sessions (17:00 Chicago = 22:00 UTC in October 2013, CDT).
    session = (pl.col("ts") - pl.duration(hours=22)).dt.truncate("1d") + pl.duration(hours=22)
    for every in ["5m", "1h", "1d"]:
        got = resample_bars(minutes, every)
        key = session if every == "1d" else pl.col("ts").dt.truncate(every)
        want = (
            minutes.group_by(key, "contract", maintain_order=True)
            .agg(
                pl.col("open").first(),
                pl.col("high").max(),
                pl.col("low").min(),
                pl.col("close").last(),
                pl.col("volume").sum(),
            )
            .sort("ts")
            .select(got.columns)
        )
        assert got.equals(want), every
    # Five UTC days of Lean data are five sessions, each from 22:00 UTC the evening before
    # (Sun 6 Oct 22:00 ... Thu 10 Oct 22:00; Friday evening does not trade).
    assert resample_bars(minutes, "1d")["ts"].dt.hour().to_list() == [22] * 5


def test_csv_loaders_shapes(shared_data: Path) -> None:
    other = shared_data / "bars" / "other"
    fx = load_bars(other / "6EH4.XCME_1min_bars_20240101_20240131.csv.gz")
    assert fx.shape == (29_996, 6)
    # Stamped at close upstream; the first bar is the 23:00 minute of the CME reopen.
    assert fx["ts"][0] == datetime(2024, 1, 1, 23, 0, tzinfo=UTC)
    assert fx["ts"][-1] == datetime(2024, 1, 31, 23, 58, tzinfo=UTC)
    # With open times, no bar falls in the daily 22:00-23:00 UTC break.
    assert fx.filter(pl.col("ts").dt.hour() == 22).is_empty()
    btc = load_bars(other / "btc-perp-20211231-20220201_1m.csv.gz")
    assert btc.shape == (45_031, 6)
    assert btc["volume"].max() > 1e6  # quote-currency volume, fractional
