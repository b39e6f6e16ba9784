"""Futures data done right, on the real files: bars cut at the CME session open (17:00
Chicago, DST included), mixed timeframes refused or split, UTC-nanosecond timestamps from
every loader, Lean quote/open-interest/tick zips, and MBO files that never set F_LAST."""

from __future__ import annotations

import struct
import warnings
import zipfile
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
import pytest
import zstandard

from pycontrol import _core
from pycontrol.bars import OHLCV, load_bars, resample_bars
from pycontrol.book import MissingBoundaryWarning, replay_book
from pycontrol.data import lean
from pycontrol.session.operator_state import trading_day_start

CHICAGO = ZoneInfo("America/Chicago")
NS = 1_000_000_000
HOUR = 3600 * NS
OHLCV_1M = "futures_ohlcv-1m_2024-07-01T23-40_2024-07-02T00-10.dbn.zst"


def calendar_open(ts_ns: int) -> int:
    """The oracle: the CME day's 17:00 Chicago open by the tz database (not the core)."""
    # Whole seconds (opens are whole seconds; ts_ns / NS as a float would round up).
    t = datetime.fromtimestamp(ts_ns // NS, tz=UTC).astimezone(CHICAGO)
    day = t.date() if t.time() >= time(17) else t.date() - timedelta(days=1)
    return int(datetime.combine(day, time(17), tzinfo=CHICAGO).timestamp()) * NS


def session_buckets(df: pl.DataFrame, hours: int) -> list[int]:
    """Open time of each row's session bar (``hours`` long, from the calendar open)."""
    out = []
    for ts in df["ts"].dt.epoch("ns").to_list():
        start = calendar_open(ts)
        out.append(start + (ts - start) // (hours * HOUR) * hours * HOUR)
    return out


@pytest.fixture(scope="module")
def fx(shared_data: Path) -> pl.DataFrame:
    return load_bars(
        shared_data / "bars" / "other" / "6EH4.XCME_1min_bars_20240101_20240131.csv.gz"
    )


def test_core_trading_day_start_matches_the_tz_calendar_hour_by_hour() -> None:
    # Every hour (and the minute either side of the open) of 2013-2026: all DST switches.
    start = int(datetime(2013, 1, 1, tzinfo=UTC).timestamp()) * NS
    end = int(datetime(2027, 1, 1, tzinfo=UTC).timestamp()) * NS
    hours = np.arange(start, end, HOUR, dtype=np.int64)
    checked = 0
    for h in hours[::7]:  # a prime stride still lands on every hour of the day
        for ts in (int(h), int(h) - 1):
            assert _core.trading_day_start(ts) == calendar_open(ts), ts
            checked += 1
    assert checked > 30_000
    # The operator's day (session code) is the same function.
    assert trading_day_start(int(hours[1234])) == calendar_open(int(hours[1234]))


@pytest.mark.parametrize(("timeframe", "hours"), [("1d", 24), ("6h", 6)])
def test_6e_session_bars_follow_the_calendar(fx: pl.DataFrame, timeframe: str, hours: int) -> None:
    got = resample_bars(fx, timeframe)
    want = (
        fx.with_columns(pl.Series("ts", session_buckets(fx, hours)).cast(pl.Datetime("ns", "UTC")))
        .group_by("ts", maintain_order=True)
        .agg(
            pl.col("open").first(),
            pl.col("high").max(),
            pl.col("low").min(),
            pl.col("close").last(),
            pl.col("volume").sum(),
        )
        .sort("ts")
    )
    assert got.equals(want)
    if timeframe == "1d":
        # The first daily bar opens Mon 1 Jan 2024 23:00 UTC (17:00 CST) and holds the
        # whole Tuesday session, not the 58 minutes before 00:00 UTC.
        first = got.row(0, named=True)
        assert first["ts"] == datetime(2024, 1, 1, 23, tzinfo=UTC)
        n_first = fx.filter(pl.col("ts") < datetime(2024, 1, 2, 23, tzinfo=UTC)).height
        assert n_first > 1000
        # One bar per CME session: 22 trading days (Jan 2 - 31, holidays aside).
        assert got["ts"].dt.hour().unique().to_list() == [23]


def test_6e_moved_across_the_march_dst_switch(fx: pl.DataFrame) -> None:
    # The real January bars moved 9 weeks later (4 March - 1 April 2024: Chicago switches
    # to CDT on 10 March), so sessions open at 23:00 UTC before and 22:00 UTC after.
    moved = fx.with_columns(pl.col("ts") + pl.duration(weeks=9))
    got = resample_bars(moved, "1d")
    assert got["ts"].to_list() == sorted(
        {datetime.fromtimestamp(b / NS, tz=UTC) for b in session_buckets(moved, 24)}
    )
    opens = {t.hour for t in got["ts"].to_list() if t < datetime(2024, 3, 10, tzinfo=UTC)}
    after = {t.hour for t in got["ts"].to_list() if t > datetime(2024, 3, 11, tzinfo=UTC)}
    assert (opens, after) == ({23}, {22})
    six = resample_bars(moved, "6h")
    assert six.height == len(set(session_buckets(moved, 6)))


def test_lean_es_daily_bars_are_cme_sessions(shared_data: Path) -> None:
    minutes = load_bars(shared_data / "bars" / "lean-es-minute")
    days = resample_bars(minutes, "1d")
    # Lean days are UTC days; Oct 2013 is CDT, so the sessions open at 22:00 UTC the evening
    # before: trade dates 7-11 Oct open Sun 6 Oct 22:00 ... Thu 10 Oct 22:00 UTC.
    assert days["ts"].dt.hour().unique().to_list() == [22]
    want = sorted(set(session_buckets(minutes, 24)))
    assert days["ts"].dt.epoch("ns").to_list() == want
    assert days["ts"][0] == datetime(2013, 10, 6, 22, tzinfo=UTC) and days.height == 5
    # The 22:00-23:59 UTC minutes of 7 Oct open the 8 Oct session, not the 7 Oct bar.
    evening = minutes.filter(
        pl.col("ts") >= datetime(2013, 10, 7, 22, tzinfo=UTC),
        pl.col("ts") < datetime(2013, 10, 8, 22, tzinfo=UTC),
    )
    assert days["volume"][1] == evening["volume"].sum()
    assert days["volume"].sum() == minutes["volume"].sum()


def test_resampling_finer_than_the_input_is_a_typed_error(fx: pl.DataFrame) -> None:
    with pytest.raises(_core.ConfigError, match=r"1s.*finer.*spaced 1m"):
        resample_bars(fx, "1s")
    with pytest.raises(_core.ConfigError, match=r"30m.*spaced 1h"):
        resample_bars(resample_bars(fx, "1h"), "30m")
    assert resample_bars(fx, "1m").height == fx.height


def _dbn_records(path: Path) -> tuple[bytearray, int]:
    raw = bytearray(zstandard.ZstdDecompressor().stream_reader(path.open("rb")).read())
    assert raw[:3] == b"DBN"
    return raw, 8 + struct.unpack_from("<I", raw, 4)[0]


def _walk(raw: bytearray, first: int) -> list[int]:
    offs, off = [], first
    while off < len(raw):
        offs.append(off)
        off += raw[off] * 4
    return offs


@pytest.fixture
def mixed_capture(shared_data: Path, tmp_path: Path) -> Path:
    """The real ESU4/NQU4 1-minute file as a mixed live capture: no single schema in the
    metadata, and NQU4's records (instrument 4358) typed as ohlcv-1s bars."""
    raw, first = _dbn_records(shared_data / "dbn" / "nautilus" / OHLCV_1M)
    struct.pack_into("<H", raw, 24, 0xFFFF)  # metadata schema: none (mixed)
    for off in _walk(raw, first):
        if struct.unpack_from("<I", raw, off + 4)[0] == 4358:
            raw[off + 1] = 0x20  # rtype OHLCV_1S
    out = tmp_path / "live-capture.dbn"
    out.write_bytes(bytes(raw))
    return out


def test_mixed_timeframes_are_refused_naming_both_and_where(mixed_capture: Path) -> None:
    with pytest.raises(_core.SchemaMismatchError) as e:
        load_bars(mixed_capture)
    msg = str(e.value)
    assert "mixed bar timeframes" in msg and "1s" in msg and "1m" in msg
    assert str(mixed_capture) in msg and "record" in msg
    one_m = load_bars(mixed_capture, timeframe="1m")
    one_s = load_bars(mixed_capture, timeframe="1s")
    assert one_m["instrument_id"].unique().to_list() == [118]
    assert one_s["instrument_id"].unique().to_list() == [4358]
    assert one_m.height == one_s.height == 30
    with pytest.raises(_core.ConfigError, match="1s, 1m, 1h, 1d or eod"):
        load_bars(mixed_capture, timeframe="5m")


def test_lean_folder_mixing_minute_and_second_zips_is_refused(
    shared_data: Path, tmp_path: Path
) -> None:
    src = shared_data / "bars" / "lean-es-minute"
    (tmp_path / "20131007_trade.zip").write_bytes((src / "20131007_trade.zip").read_bytes())
    # The next day's real minute rows, filed as Lean second data.
    out = tmp_path / "20131008_trade.zip"
    with (
        zipfile.ZipFile(src / "20131008_trade.zip") as zin,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z,
    ):
        for info in zin.infolist():
            z.writestr(info.filename.replace("_minute_", "_second_"), zin.read(info))
    with pytest.raises(_core.SchemaMismatchError, match=r"1s bars here, 1m bars in .*20131007"):
        load_bars(tmp_path)
    assert load_bars(tmp_path, timeframe="1m").height == 1344
    assert load_bars(tmp_path, timeframe="1s").height == 1372


def test_lean_and_dbn_loads_concatenate(shared_data: Path) -> None:
    es_lean = load_bars(shared_data / "bars" / "lean-es-minute" / "20131007_trade.zip")
    es_dbn = load_bars(shared_data / "dbn" / "nautilus" / OHLCV_1M).filter(
        pl.col("instrument_id") == 118
    )
    fx = load_bars(shared_data / "bars" / "other" / "6EH4.XCME_1min_bars_20240101_20240131.csv.gz")
    for df in (es_lean, es_dbn, fx):
        assert df.schema["ts"] == pl.Datetime("ns", "UTC")
    both = pl.concat([es_lean.select(OHLCV), es_dbn.select(OHLCV)])
    assert both.height == es_lean.height + 30
    assert both["ts"].is_sorted()
    # Nanoseconds survive: the first Lean bar is 2013-10-07 00:00 UTC exactly.
    assert both["ts"].dt.epoch("ns")[0] == 1_381_104_000 * NS


def test_lean_quote_and_open_interest_zips_load(shared_data: Path) -> None:
    src = shared_data / "bars" / "lean-es-minute"
    q = lean.load(src / "20131007_quote.zip")
    assert 3_511 <= q.height <= 4_028
    assert q.columns[:3] == ["ts", "bid_open", "bid_high"] and q.columns[-1] == "contract"
    assert q.schema["ts"] == pl.Datetime("ns", "UTC")
    front = q.filter(pl.col("contract") == "201312")
    assert (front["ask_close"] >= front["bid_close"]).mean() > 0.99  # type: ignore[operator]
    oi = lean.load(src / "20131007_openinterest.zip")
    assert oi.height == 15 and oi.columns == ["ts", "open_interest", "contract"]
    assert oi.filter(pl.col("contract") == "201312")["open_interest"].min() > 1e6  # type: ignore[operator]
    trades = lean.load(src / "20131007_trade.zip", contract="201312")
    assert trades.height == 1344
    with pytest.raises(_core.ConfigError, match=r"201399 not in zip"):
        lean.load(src / "20131007_trade.zip", contract="201399")
    with pytest.raises(_core.UnknownFormatError, match="quote zips hold no trade bars"):
        load_bars(src / "20131007_quote.zip")


def _tick_zip(path: Path, kind: str, lines: list[str], member: str | None = None) -> Path:
    name = member or f"{path.name[:8]}_es_tick_{kind}_201312.csv"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(name, "\n".join(lines) + "\n")
    return path


def test_lean_tick_zips_load_in_the_documented_layout(shared_data: Path, tmp_path: Path) -> None:
    # Prices from the real first ESZ3 minute of 2013-10-07, laid out as Lean tick files:
    # trades ms,price,quantity,exchange,condition,suspicious; quotes ms,bid,bid size,ask,
    # ask size,exchange,condition,suspicious; open interest ms,open interest.
    bar = load_bars(shared_data / "bars" / "lean-es-minute" / "20131007_trade.zip").row(
        0, named=True
    )
    px = bar["close"]
    trades = _tick_zip(
        tmp_path / "20131007_trade.zip",
        "trade",
        [f"1000,{px},3,,,0", f"1000,{px + 0.25},1,,,0", f"1500,{px},2,,,1"],
    )
    t = lean.load(trades)
    assert t.columns == [
        "ts",
        "price",
        "quantity",
        "exchange",
        "condition",
        "suspicious",
        "contract",
    ]
    assert t["quantity"].to_list() == [3.0, 1.0, 2.0]
    assert t["suspicious"].to_list() == [False, False, True]
    assert t["ts"][0] == datetime(2013, 10, 7, 0, 0, 1, tzinfo=UTC)
    assert t.schema["ts"] == pl.Datetime("ns", "UTC")
    quotes = _tick_zip(
        tmp_path / "20131007_quote.zip",
        "quote",
        [f"1000,{px},12,{px + 0.25},7,,,0", f"1200,{px},10,,0,,,0"],
    )
    q = lean.load(quotes)
    assert q["bid_size"].to_list() == [12.0, 10.0]
    assert q["ask_price"].to_list() == [px + 0.25, None]  # no ask: null, not invented
    oi = _tick_zip(tmp_path / "20131008_openinterest.zip", "openinterest", ["0,2746271"])
    assert lean.load(oi)["open_interest"].to_list() == [2746271.0]
    # Ticks are not bars: load_bars says where to read them.
    with pytest.raises(_core.UnknownFormatError, match="tick data are trades, not bars"):
        load_bars(trades)
    # The same defensive checks name the line.
    bad = _tick_zip(
        tmp_path / "20131009_trade.zip", "trade", [f"1000,{px},3,,,0", f"900,{px},1,,,0"]
    )
    with pytest.raises(_core.BadLineError, match=r"line 2: time 900 ms does not increase"):
        lean.load(bad)
    neg = _tick_zip(tmp_path / "20131010_trade.zip", "trade", ["1000,-1,3,,,0"])
    with pytest.raises(_core.BadLineError, match="price '-1' is not positive"):
        lean.load(neg)
    flag = _tick_zip(tmp_path / "20131011_trade.zip", "trade", [f"1000,{px},3,,,maybe"])
    with pytest.raises(_core.BadLineError, match="suspicious 'maybe' is not 0/1"):
        lean.load(flag)
    mixed = tmp_path / "m" / "20131007_trade.zip"
    mixed.parent.mkdir()
    with zipfile.ZipFile(mixed, "w") as z:
        z.writestr("20131007_es_tick_trade_201312.csv", f"1000,{px},3,,,0\n")
        z.writestr("20131007_es_minute_trade_201403.csv", f"0,{px},{px},{px},{px},1\n")
    with pytest.raises(_core.SchemaMismatchError, match="mixed resolutions"):
        lean.load(mixed)


@pytest.fixture
def mbo_without_f_last(esh4_mbo: Path, tmp_path: Path) -> Path:
    """The real ESH4 MBO day with F_LAST (128) cleared on every record: a venue that never
    marks event boundaries."""
    raw, first = _dbn_records(esh4_mbo)
    n = 0
    for off in _walk(raw, first):
        if raw[off + 1] == 0xA0:  # MBO
            raw[off + 36] &= 0x7F
            n += 1
    assert n == 68_792
    out = tmp_path / "no-f-last.mbo.dbn"
    out.write_bytes(bytes(raw))
    return out


def test_mbo_without_f_last_warns_with_counts_or_emits_per_record(
    esh4_mbo: Path, mbo_without_f_last: Path
) -> None:
    with pytest.warns(MissingBoundaryWarning, match=r"68792 of 68792 book records.*0 boundaries"):
        df, stats = replay_book(mbo_without_f_last, 5, with_stats=True)
    assert df.height == 0 and stats["unflushed"] == 68_792
    per_record, stats = replay_book(mbo_without_f_last, 5, flush="record", with_stats=True)
    assert per_record.height == stats["book_records"] == 68_792
    assert stats["unflushed"] == 0
    # Per record, the book after the last record equals the real file's last event book.
    real = replay_book(esh4_mbo, 5)
    cols = [c for c in real.columns if c.startswith(("bid_", "ask_"))]
    assert per_record.select(cols).row(-1) == real.select(cols).row(-1)
    # The real file closes every event: no warning.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        replay_book(esh4_mbo, 5)
    with pytest.raises(_core.ConfigError, match="flush must be"):
        replay_book(esh4_mbo, 5, flush="tick")  # type: ignore[arg-type]
