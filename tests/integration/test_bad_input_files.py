"""Bad input beyond DBN, built from the real files in tmp_path: Lean zips (impossible dates,
corrupt deflate, other compression methods, encryption, bombs, bad bars), LOBSTER (negative
levels, time going back) and the book's anomaly counters. Each is a typed
`pycontrol.CoreError` naming the file (and member, line) or a visible count."""

from __future__ import annotations

import gzip
import shutil
import struct
import zipfile
from pathlib import Path

import pytest

import pycontrol
from pycontrol import (
    BadLineError,
    CoreError,
    CorruptCompressionError,
    InvalidInputError,
    TooLargeError,
    UnknownFormatError,
)
from pycontrol.data import Manifest

LEAN = "bars/lean-es-minute"
TRADE = "20131007_trade.zip"
FRONT = "20131007_es_minute_trade_201312.csv"


@pytest.fixture()
def lean_zip(shared_data: Path) -> Path:
    return shared_data / LEAN / TRADE


def members(p: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(p) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def rezip(dest: Path, files: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(dest, "w", compression=method) as zf:
        for n, b in files.items():
            zf.writestr(n, b)
    return dest


def both(p: Path, tmp_path: Path) -> list[CoreError]:
    """The error of load_bars and of ingesting into a data manifest; nothing is ingested."""
    out = []
    with pytest.raises(CoreError) as a:
        pycontrol.load_bars(p)
    out.append(a.value)
    m = Manifest(tmp_path / "manifest")
    with pytest.raises(CoreError) as b:
        m.ingest([p])
    out.append(b.value)
    assert m.entries().height == 0
    return out


def test_real_lean_zips_still_load(shared_data: Path) -> None:
    df = pycontrol.load_bars(shared_data / LEAN)
    assert df.height == 1344 + 1372 + 1371 + 1368 + 1253


def test_impossible_date_in_the_name(tmp_path: Path, lean_zip: Path) -> None:
    p = shutil.copy(lean_zip, tmp_path / "20131399_trade.zip")
    for e in both(Path(p), tmp_path):
        assert isinstance(e, UnknownFormatError) and "20131399 is not a calendar date" in str(e)


def test_corrupt_deflate_stream(tmp_path: Path, lean_zip: Path) -> None:
    raw = bytearray(lean_zip.read_bytes())
    with zipfile.ZipFile(lean_zip) as zf:
        info = zf.getinfo(FRONT)
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    raw[start + 100 : start + 400] = bytes(range(256)) + bytes(44)
    p = tmp_path / TRADE
    p.write_bytes(bytes(raw))
    for e in both(p, tmp_path):
        assert isinstance(e, CorruptCompressionError), e
        assert FRONT in str(e)


def test_unsupported_compression_method(tmp_path: Path, lean_zip: Path) -> None:
    p = rezip(tmp_path / TRADE, members(lean_zip), zipfile.ZIP_BZIP2)
    for e in both(p, tmp_path):
        assert isinstance(e, UnknownFormatError) and "compression method 12" in str(e)


def test_encrypted_member(tmp_path: Path, lean_zip: Path) -> None:
    p = rezip(tmp_path / TRADE, members(lean_zip), zipfile.ZIP_STORED)
    raw = bytearray(p.read_bytes())
    # Set the "encrypted" flag bit in every local and central header.
    for sig, flag_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        i = raw.find(sig)
        while i >= 0:
            raw[i + flag_at] |= 1
            i = raw.find(sig, i + 4)
    p.write_bytes(bytes(raw))
    for e in both(p, tmp_path):
        assert isinstance(e, UnknownFormatError) and "encrypted" in str(e)


def test_zip_bomb_member_is_capped(tmp_path: Path) -> None:
    p = rezip(tmp_path / TRADE, {FRONT: b"0" * (100 << 20)})
    assert p.stat().st_size < 200 << 10  # a ~100 KiB zip ...
    for e in both(p, tmp_path):  # ... with a 100 MiB member is refused, not read whole
        assert isinstance(e, TooLargeError) and "cap" in str(e)


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("120000,1676.75,1676.25,1676.75,1676.25,60", "high 1676.25 is below low 1676.75"),
        ("120000,1676.75,1676.75,1676.25,1676.25,-60", "volume '-60' is not a non-negative"),
        ("120000,1676.75,1676.75,1676.25,1676.25", "5 columns"),
        ("60000,1676.75,1676.75,1676.25,1676.25,60", "does not increase"),
        ("120000,1677.75,1676.75,1676.25,1676.25,60", "outside [1676.25, 1676.75]"),
        ("999999999,1676.75,1676.75,1676.25,1676.25,60", "outside the day"),
    ],
)
def test_bad_bars_are_refused_naming_member_and_line(
    tmp_path: Path, lean_zip: Path, line: str, why: str
) -> None:
    files = members(lean_zip)
    rows = files[FRONT].decode().splitlines()
    rows[2] = line  # the third line
    files[FRONT] = ("\n".join(rows) + "\n").encode()
    p = rezip(tmp_path / TRADE, files)
    for e in both(p, tmp_path):
        assert isinstance(e, BadLineError), e
        assert why in str(e) and f"{FRONT}: line 3" in str(e) and e.record == 3


def test_lobster_negative_levels_is_typed(shared_data: Path) -> None:
    d = shared_data / "lobster"
    msg = d / "AAPL_2012-06-21_34200000_57600000_message_10.first999.csv"
    book = d / "AAPL_2012-06-21_34200000_57600000_orderbook_10.first999.csv"
    for call in (pycontrol.replay_lobster, pycontrol.verify_lobster):
        with pytest.raises(InvalidInputError, match="levels: -1 is out of range"):
            call(msg, book, -1)
        with pytest.raises(InvalidInputError):
            call(msg, book, 1 << 70)


def test_lobster_time_going_back_is_an_error(tmp_path: Path, shared_data: Path) -> None:
    d = shared_data / "lobster"
    msg = (d / "AAPL_2012-06-21_34200000_57600000_message_10.first999.csv").read_text()
    lines = msg.splitlines()
    t = lines[499].split(",")
    t[0] = "34200.000000001"  # before the first message
    lines[499] = ",".join(t)
    bad = tmp_path / "AAPL_2012-06-21_34200000_57600000_message_10.csv"
    bad.write_text("\n".join(lines) + "\n")
    book = d / "AAPL_2012-06-21_34200000_57600000_orderbook_10.first999.csv"
    with pytest.raises(BadLineError) as info:
        pycontrol.verify_lobster(bad, book, 10)
    assert info.value.record == 500 and "goes back" in str(info.value)
    assert str(bad) in str(info.value)


def test_replay_book_negative_levels_is_typed(esh4_mbo: Path) -> None:
    with pytest.raises(InvalidInputError, match="levels"):
        pycontrol.replay_book(esh4_mbo, levels=-1)
    replay = pycontrol.BookReplay(esh4_mbo)
    replay.step()
    for call in (
        lambda: replay.levels("bid", -1),
        lambda: replay.bbo(instrument_id=-1),
        lambda: replay.queue_position(-1),
        lambda: pycontrol.OrderBook().queue_position(-1),
        lambda: pycontrol.OrderBook().levels("ask", 1 << 80),
    ):
        with pytest.raises(InvalidInputError):
            call()


def test_book_anomalies_are_counted_and_change_nothing() -> None:
    book = pycontrol.OrderBook()
    book.apply("A", "B", 100.0, 5, 1)
    before = (book.bbo(), book.levels("bid"))
    book.apply("X", "B", 100.0, 5, 2)  # unknown action
    book.apply("A", "B", 101.0, 0, 3)  # add of size 0
    book.apply("A", "B", -9.3e9, 1, 4)  # price i64::MIN after scaling
    book.apply("A", "B", 102.0, 2**32 - 1, 5)  # size u32::MAX
    assert (book.bbo(), book.levels("bid")) == before
    a = book.anomalies()
    assert (a["unknown_action"], a["zero_size_add"], a["bad_price"], a["bad_size"]) == (1, 1, 1, 1)
    for bad in ({"size": -1}, {"order_id": -5}, {"flags": 256}):
        args = {"action": "A", "side": "B", "price": 1.0, "size": 1, "order_id": 9} | bad
        with pytest.raises(InvalidInputError, match=next(iter(bad))):
            book.apply(**args)


def test_replay_stats_show_unknown_actions(tmp_path: Path, esh4_mbo: Path) -> None:
    import zstandard

    plain = bytearray(zstandard.ZstdDecompressor().stream_reader(esh4_mbo.read_bytes()).read())
    end = 8 + struct.unpack_from("<I", plain, 4)[0]
    for i in (9000, 9100):
        plain[end + i * 56 + 38] = ord("Z")  # the action byte
    p = tmp_path / "actions.dbn"
    p.write_bytes(bytes(plain))
    _, stats = pycontrol.replay_book(p, levels=1, with_stats=True)
    assert stats["anomalies"]["unknown_action"] == 2


def test_lobster_detect_with_impossible_date(tmp_path: Path) -> None:
    p = tmp_path / "AAPL_2012-13-45_34200000_57600000_message_1.csv.gz"
    p.write_bytes(gzip.compress(b"34200.1,1,1,10,1000000,1\n"))
    m = Manifest(tmp_path / "manifest")
    with pytest.raises(UnknownFormatError, match="not a calendar date"):
        m.ingest([p])


def test_unreadable_csv_is_one_line(tmp_path: Path) -> None:
    p = tmp_path / "bars.csv"
    p.write_bytes(b'timestamp_utc,open\n"unterminated,1\n\xff\xfe,2\n')
    with pytest.raises(CoreError) as info:
        pycontrol.load_bars(p)
    assert "\n" not in str(info.value) and str(p) in str(info.value)
