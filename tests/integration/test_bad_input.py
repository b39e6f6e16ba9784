"""The bad-input corpus: real DBN files broken in each way a file can be broken (built in
tmp_path, never stored). Each case raises its own `pycontrol.CoreError` subclass whose
`path`, `record` and `offset` point at the damage, and whose message says the same."""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import zstandard

import pycontrol
from pycontrol import (
    BadMagicError,
    BadRecordError,
    CoreError,
    CoreIOError,
    CorruptCompressionError,
    EmptyFileError,
    OutOfOrderError,
    SchemaMismatchError,
    TruncatedError,
    UnsupportedVersionError,
)

MBO_LEN = 56
TS_RECV_AT = 40  # byte offset of ts_recv inside an MBO record


def readers() -> list[Callable[[Path], Any]]:
    return [pycontrol.replay_book, pycontrol.read_dbn, pycontrol.dbn_info]


@pytest.fixture(scope="module")
def mbo_plain(esh4_mbo: Path) -> bytes:
    """The real ESH4 MBO day, decompressed (DBN v1, 68,792 records of 56 bytes)."""
    return zstandard.ZstdDecompressor().stream_reader(esh4_mbo.read_bytes()).read()


def meta_end(data: bytes) -> int:
    return 8 + struct.unpack_from("<I", data, 4)[0]


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


def raises(exc: type[CoreError], p: Path, call: Callable[[Path], Any]) -> CoreError:
    with pytest.raises(exc) as info:
        call(p)
    e = info.value
    assert e.path == str(p)
    assert str(p) in str(e)
    if e.record is not None and not isinstance(e, CorruptCompressionError):
        # (A zstd fault has a compressed byte offset but no record to point at.)
        assert f"record {e.record}" in str(e)
    if e.offset is not None:
        assert str(e.offset) in str(e)
    return e


def test_empty_file(tmp_path: Path) -> None:
    p = write(tmp_path, "empty.dbn", b"")
    for call in readers():
        e = raises(EmptyFileError, p, call)
        assert (e.record, e.offset) == (None, None)


def test_wrong_magic(tmp_path: Path, mbo_plain: bytes) -> None:
    p = write(tmp_path, "magic.dbn", b"XYZ" + mbo_plain[3:4096])
    for call in readers():
        raises(BadMagicError, p, call)


def test_unsupported_version(tmp_path: Path, mbo_plain: bytes) -> None:
    p = write(tmp_path, "v9.dbn", b"DBN\x09" + mbo_plain[4:4096])
    for call in readers():
        e = raises(UnsupportedVersionError, p, call)
        assert "9" in str(e)
    # The same inside a zstd frame: the version is checked after decompression.
    z = write(tmp_path, "v9.dbn.zst", zstandard.compress(b"DBN\x09" + mbo_plain[4:4096]))
    raises(UnsupportedVersionError, z, pycontrol.read_dbn)


def test_truncated_mid_record_uncompressed(tmp_path: Path, mbo_plain: bytes) -> None:
    end = meta_end(mbo_plain)
    p = write(tmp_path, "cut.dbn", mbo_plain[: end + 100 * MBO_LEN + 30])
    for call in readers():
        e = raises(TruncatedError, p, call)
        assert (e.record, e.offset) == (100, end + 100 * MBO_LEN)


def test_truncated_mid_record_compressed(tmp_path: Path, esh4_mbo: Path, mbo_plain: bytes) -> None:
    raw = esh4_mbo.read_bytes()
    p = write(tmp_path, "cut.dbn.zst", raw[: len(raw) // 2])
    end = meta_end(mbo_plain)
    for call in readers():
        e = raises(TruncatedError, p, call)
        assert e.record is not None and 1000 < e.record < 68_792
        assert e.offset == end + e.record * MBO_LEN


def test_truncated_in_metadata(tmp_path: Path, mbo_plain: bytes) -> None:
    assert meta_end(mbo_plain) > 60
    p = write(tmp_path, "meta.dbn", mbo_plain[:60])
    for call in readers():
        e = raises(TruncatedError, p, call)
        assert e.record == 0
        assert e.offset is not None and e.offset <= 60
    short = write(tmp_path, "prelude.dbn", mbo_plain[:5])
    raises(TruncatedError, short, pycontrol.read_dbn)
    z = write(tmp_path, "meta.dbn.zst", zstandard.compress(mbo_plain[:60]))
    e = raises(TruncatedError, z, pycontrol.read_dbn)
    assert e.record == 0


def test_corrupt_zstd(tmp_path: Path, esh4_mbo: Path) -> None:
    raw = bytearray(esh4_mbo.read_bytes())
    mid = len(raw) // 2
    # Zeroed bytes break the zstd block structure itself. (A few flipped bits inside a
    # literal run decode to garbage that only the frame checksum, at the end, catches.)
    raw[mid : mid + 256] = bytes(256)
    p = write(tmp_path, "corrupt.dbn.zst", bytes(raw))
    for call in readers():
        e = raises(CorruptCompressionError, p, call)
        # The offset is in the compressed file, just past the damage: zstd reads its input
        # in blocks of up to 128 KiB.
        assert e.offset is not None and mid < e.offset <= mid + 256 * 1024
        assert "compressed byte offset" in str(e)


def test_record_length_zero(tmp_path: Path, mbo_plain: bytes) -> None:
    end = meta_end(mbo_plain)
    data = bytearray(mbo_plain[: end + 200 * MBO_LEN])
    data[end + 50 * MBO_LEN] = 0  # the length byte (in 4-byte words) of record 50
    p = write(tmp_path, "len0.dbn", bytes(data))
    for call in readers():
        e = raises(BadRecordError, p, call)
        assert (e.record, e.offset) == (50, end + 50 * MBO_LEN)


def test_record_length_past_the_end(tmp_path: Path, mbo_plain: bytes) -> None:
    end = meta_end(mbo_plain)
    data = bytearray(mbo_plain[: end + 200 * MBO_LEN])
    data[end + 199 * MBO_LEN] = 254  # 1016 bytes claimed, 56 left
    p = write(tmp_path, "longlen.dbn", bytes(data))
    for call in readers():
        # An MBO record is 56 bytes in every version: the length is wrong before it is short.
        e = raises(BadRecordError, p, call)
        assert (e.record, e.offset) == (199, end + 199 * MBO_LEN)
        assert "says it is 1016 bytes" in str(e)


def test_record_shorter_than_its_layout(tmp_path: Path, mbo_plain: bytes) -> None:
    """An MBO record claiming 24 bytes: long enough for a header, too short for MBO."""
    end = meta_end(mbo_plain)
    data = bytearray(mbo_plain[: end + 200 * MBO_LEN])
    data[end + 120 * MBO_LEN] = 6
    p = write(tmp_path, "shortlen.dbn", bytes(data))
    for call in readers():
        e = raises(BadRecordError, p, call)
        assert (e.record, e.offset) == (120, end + 120 * MBO_LEN)
        assert "0xa0" in str(e)


def test_records_out_of_time_order(tmp_path: Path, mbo_plain: bytes) -> None:
    end = meta_end(mbo_plain)
    ts = [
        struct.unpack_from("<Q", mbo_plain, end + i * MBO_LEN + TS_RECV_AT)[0]
        for i in range(9000, 9400)
    ]
    i = 9000 + next(k for k in range(len(ts) - 1) if ts[k] < ts[k + 1])
    data = bytearray(mbo_plain[: end + 10_000 * MBO_LEN])
    a, b = end + i * MBO_LEN, end + (i + 1) * MBO_LEN
    data[a:b], data[b : b + MBO_LEN] = data[b : b + MBO_LEN], data[a:b]
    p = write(tmp_path, "swapped.dbn", bytes(data))
    for call in (pycontrol.replay_book, pycontrol.read_dbn):
        e = raises(OutOfOrderError, p, call)
        assert (e.record, e.offset) == (i + 1, end + (i + 1) * MBO_LEN)
    # The summary describes the damage instead: counted, with the first place named.
    info = pycontrol.dbn_info(p)
    assert info["out_of_order"] == 1 and info["anomalies"]["out_of_order"] == 1
    assert f"first at record {i + 1} (byte offset {end + (i + 1) * MBO_LEN})" in info["issues"][0]


def test_missing_file(tmp_path: Path) -> None:
    p = tmp_path / "nope.dbn.zst"
    for call in readers():
        e = raises(CoreIOError, p, call)
        assert (e.record, e.offset) == (None, None)


def test_unknown_record_type_is_refused_not_dropped(tmp_path: Path, mbo_plain: bytes) -> None:
    """The adversarial run: one record of an unknown rtype gave 68,791 rows from 68,792."""
    end = meta_end(mbo_plain)
    data = bytearray(mbo_plain)
    data[end + 100 * MBO_LEN + 1] = 0x7F  # rtype byte of record 100
    p = write(tmp_path, "unknown.dbn", bytes(data))
    for call in (pycontrol.read_dbn, pycontrol.replay_book):
        e = raises(BadRecordError, p, call)
        assert (e.record, e.offset) == (100, end + 100 * MBO_LEN)
        assert "unknown record type (rtype 0x7f)" in str(e)
    info = pycontrol.dbn_info(p)
    assert info["records"] == 68_792 and info["anomalies"]["unknown_rtype"] == 1
    assert "first at record 100" in info["issues"][0]
    assert pycontrol.dbn_info(write(tmp_path, "clean.dbn", mbo_plain))["issues"] == []


def test_trades_record_inside_an_mbo_stream(tmp_path: Path, mbo_plain: bytes) -> None:
    end = meta_end(mbo_plain)
    at = end + 100 * MBO_LEN
    rec = bytearray(mbo_plain[at : at + 48])
    rec[0], rec[1] = 12, 0x00  # a 48-byte trades (mbp-0) record, same header
    data = mbo_plain[:at] + bytes(rec) + mbo_plain[at + MBO_LEN :]
    p = write(tmp_path, "trade_in_mbo.dbn", data)
    for call in (pycontrol.read_dbn, pycontrol.replay_book):
        e = raises(SchemaMismatchError, p, call)
        assert (e.record, e.offset) == (100, at)
        assert "trades record" in str(e) and "schema mbo" in str(e)
    assert pycontrol.dbn_info(p)["anomalies"]["schema_mismatch"] == 1


def test_header_schema_that_disagrees_with_its_records(tmp_path: Path, shared_data: Path) -> None:
    trades = shared_data / "dbn/nautilus/futures_trades_2024-07-01T23-58_2024-07-02T00-02.dbn.zst"
    plain = bytearray(zstandard.ZstdDecompressor().stream_reader(trades.read_bytes()).read())
    assert struct.unpack_from("<H", plain, 24)[0] == 4  # schema trades, after the dataset
    struct.pack_into("<H", plain, 24, 0)  # now it claims mbo
    p = write(tmp_path, "claims_mbo.dbn", bytes(plain))
    e = raises(SchemaMismatchError, p, pycontrol.read_dbn)
    assert e.record == 0 and "declares schema mbo" in str(e)
    assert pycontrol.dbn_info(p)["anomalies"]["schema_mismatch"] == 120


@pytest.mark.parametrize(
    ("name", "lie"),
    [
        ("nautilus/esh4-glbx-mdp3-20231225.mbo.dbn.zst", 3),  # v1 claiming v3
        ("nautilus/esh4-glbx-mdp3-20231225.mbo.dbn.zst", 2),
        ("dbn-test-corpus/test_data.mbo.v3.dbn.zst", 1),  # v3 claiming v1
        ("dbn-test-corpus/test_data.statistics.v3.dbn.zst", 1),
        ("dbn-test-corpus/test_data.statistics.v1.dbn.zst", 3),
    ],
)
def test_version_byte_that_lies(tmp_path: Path, shared_data: Path, name: str, lie: int) -> None:
    raw = (shared_data / "dbn" / name).read_bytes()
    plain = bytearray(zstandard.ZstdDecompressor().stream_reader(raw).read())
    assert plain[3] != lie
    plain[3] = lie
    p = write(tmp_path, "lie.dbn", bytes(plain[:200_000]))
    for call in readers():
        e = raises(BadRecordError, p, call)
        assert f"version {lie}" in str(e)


def test_mixed_schema_file_names_its_types(tmp_path: Path, shared_data: Path) -> None:
    """A valid file of MBO and definition records (schema: none): read_dbn asks which."""
    nautilus = shared_data / "dbn/nautilus"
    mbo = (
        zstandard.ZstdDecompressor()
        .stream_reader((nautilus / "esh4-glbx-mdp3-20231225.mbo.dbn.zst").read_bytes())
        .read()
    )
    defs = (
        zstandard.ZstdDecompressor()
        .stream_reader((nautilus / "futures_definition_2024-07-01.dbn.zst").read_bytes())
        .read()
    )
    head = bytearray(mbo[: meta_end(mbo)])
    struct.pack_into("<H", head, 24, 0xFFFF)  # no schema: a mixed file
    data = bytes(head) + mbo[meta_end(mbo) : meta_end(mbo) + 50 * MBO_LEN] + defs[meta_end(defs) :]
    p = write(tmp_path, "mixed.dbn", data)
    e = raises(SchemaMismatchError, p, pycontrol.read_dbn)
    assert "['mbo', 'definition']" in str(e) and "schema=" in str(e)
    assert len(pycontrol.read_dbn(p, schema="mbo")) == 50
    assert len(pycontrol.read_dbn(p, schema="definition")) == 2
    raises(SchemaMismatchError, p, lambda q: pycontrol.read_dbn(q, schema="trades"))
    assert pycontrol.dbn_info(p)["issues"] == []
