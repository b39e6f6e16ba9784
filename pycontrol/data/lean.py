"""QuantConnect/Lean futures minute zips (``YYYYMMDD_<trade|quote|openinterest>.zip``), read
defensively: the one reader behind ``load_bars`` and ``data ingest``.

Nothing in a zip is trusted. The file name must carry a real date; every member must be
stored or deflated (no other method, no encryption), at most :data:`MAX_MEMBER_BYTES`
uncompressed (checked against the header and again while reading, so a small zip cannot
inflate without bound), and intact (CRC). Every line must have its type's column count,
an integer ms-since-midnight inside the day, strictly increasing, finite prices with
high >= low (and open/close inside them for trade bars) and sizes that are non-negative
integers. The first bad line raises :class:`pycontrol.BadLineError` naming
``<zip>:<member>`` and the line; a damaged archive raises
:class:`pycontrol.CorruptCompressionError`, an unsupported one
:class:`pycontrol.UnknownFormatError`, an oversized member :class:`pycontrol.TooLargeError`.
"""

from __future__ import annotations

import math
import re
import zipfile
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn

import numpy as np
import polars as pl

from pycontrol import _core
from pycontrol.bars import brief

ZIP_NAME = re.compile(r"^(\d{8})_(trade|quote|openinterest)\.zip$")
MEMBER_NAME = re.compile(r"^(\d{8})_([a-z0-9]+)_minute_(trade|quote|openinterest)_(\d{6})\.csv$")
# A day of minute bars is ~100 KiB; 16 MiB leaves room for any real member and caps a bomb.
MAX_MEMBER_BYTES = 16 << 20
MAX_MEMBERS = 256
DAY_MS = 86_400_000

COLUMNS: dict[str, list[str]] = {
    "trade": ["ms", "open", "high", "low", "close", "volume"],
    "quote": [
        "ms",
        "bid_open",
        "bid_high",
        "bid_low",
        "bid_close",
        "bid_size",
        "ask_open",
        "ask_high",
        "ask_low",
        "ask_close",
        "ask_size",
    ],
    "openinterest": ["ms", "open_interest"],
}
_SIZES = {"volume", "bid_size", "ask_size", "open_interest"}


@dataclass(frozen=True)
class LeanMember:
    """One contract month of a Lean zip: ``frame`` has the type's columns (``ms`` Int64,
    the rest Float64); ``where`` is ``<zip>:<member>`` for messages."""

    symbol: str
    contract: str
    frame: pl.DataFrame
    where: str


def _raise(
    cls: type[_core.CoreError], where: object, msg: str, line: int | None = None
) -> NoReturn:
    text = f"{where}: line {line}: {msg}" if line is not None else f"{where}: {msg}"
    err = cls(text)
    err.path, err.record, err.offset = str(where), line, None
    raise err


def zip_day(path: Path) -> tuple[datetime, str]:
    """The UTC day and the bar type a Lean zip's name gives; a name without a real
    calendar date raises UnknownFormatError."""
    m = ZIP_NAME.match(path.name)
    if m is None:
        _raise(
            _core.UnknownFormatError,
            path,
            "Lean zips are named YYYYMMDD_<trade|quote|openinterest>.zip",
        )
    try:
        day = datetime.strptime(m[1], "%Y%m%d").replace(tzinfo=UTC)
    except ValueError:
        _raise(_core.UnknownFormatError, path, f"file name date {m[1]} is not a calendar date")
    return day, m[2]


def _member_bytes(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path) -> bytes:
    where = f"{path}:{info.filename}"
    if info.flag_bits & 0x1:
        _raise(_core.UnknownFormatError, where, "member is encrypted (Lean zips are not)")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        _raise(
            _core.UnknownFormatError,
            where,
            f"compression method {info.compress_type} is not supported (stored or deflate)",
        )
    if info.file_size > MAX_MEMBER_BYTES:
        _raise(
            _core.TooLargeError,
            where,
            f"member is {info.file_size} bytes uncompressed, over the {MAX_MEMBER_BYTES} cap",
        )
    try:
        with zf.open(info) as fh:
            body = fh.read(MAX_MEMBER_BYTES + 1)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as e:
        _raise(_core.CorruptCompressionError, where, f"damaged member: {brief(e)}")
    except (NotImplementedError, RuntimeError) as e:
        _raise(_core.UnknownFormatError, where, f"member cannot be read: {brief(e)}")
    if len(body) > MAX_MEMBER_BYTES:
        # The header understated the size: stop at the cap rather than trust it.
        _raise(_core.TooLargeError, where, f"member inflates past the {MAX_MEMBER_BYTES}-byte cap")
    return body


def _parse(body: bytes, kind: str, where: str) -> pl.DataFrame:
    names = COLUMNS[kind]
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError as e:
        _raise(
            _core.BadLineError,
            where,
            f"not ASCII text at byte {e.start}",
            body.count(b"\n", 0, e.start) + 1,
        )
    ms: list[int] = []
    vals: list[list[float]] = [[] for _ in names[1:]]
    prev = -1
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split(",")
        if len(parts) != len(names):
            _raise(
                _core.BadLineError,
                where,
                f"{len(parts)} columns, a Lean minute {kind} line has {len(names)} "
                f"({','.join(names)})",
                n,
            )
        try:
            t = int(parts[0])
        except ValueError:
            _raise(
                _core.BadLineError, where, f"ms since midnight {parts[0]!r} is not an integer", n
            )
        if not 0 <= t < DAY_MS:
            _raise(_core.BadLineError, where, f"ms since midnight {t} is outside the day", n)
        if t <= prev:
            _raise(_core.BadLineError, where, f"time {t} ms does not increase (previous {prev})", n)
        prev = t
        row: list[float] = []
        for name, raw in zip(names[1:], parts[1:], strict=True):
            try:
                v = float(raw)
            except ValueError:
                _raise(_core.BadLineError, where, f"{name} {raw!r} is not a number", n)
            if not math.isfinite(v):
                _raise(_core.BadLineError, where, f"{name} {raw!r} is not finite", n)
            if name in _SIZES and (v < 0 or v != int(v)):
                _raise(
                    _core.BadLineError, where, f"{name} {raw!r} is not a non-negative integer", n
                )
            row.append(v)
        _check_ohlc(kind, dict(zip(names[1:], row, strict=True)), where, n)
        ms.append(t)
        for col, v in zip(vals, row, strict=True):
            col.append(v)
    return pl.DataFrame(
        {"ms": np.asarray(ms, dtype=np.int64)}
        | {
            name: np.asarray(col, dtype=np.float64)
            for name, col in zip(names[1:], vals, strict=True)
        }
    )


def _check_ohlc(kind: str, r: dict[str, float], where: str, n: int) -> None:
    sides = {"trade": [""], "quote": ["bid_", "ask_"], "openinterest": []}[kind]
    for s in sides:
        o, h, lo, c = r[f"{s}open"], r[f"{s}high"], r[f"{s}low"], r[f"{s}close"]
        if h < lo:
            _raise(_core.BadLineError, where, f"{s}high {h} is below {s}low {lo}", n)
        if not (lo <= o <= h and lo <= c <= h):
            _raise(
                _core.BadLineError, where, f"{s}open {o} or {s}close {c} is outside [{lo}, {h}]", n
            )


def read_zip(path: Path, kind: str | None = None) -> tuple[datetime, str, list[LeanMember]]:
    """(day, bar type, members) of a Lean zip, every member checked (module docstring).
    ``kind`` insists on a bar type (e.g. ``"trade"`` for bars)."""
    day, zkind = zip_day(path)
    if kind is not None and zkind != kind:
        _raise(
            _core.UnknownFormatError,
            path,
            f"Lean {zkind} zips hold no {kind} bars (load the YYYYMMDD_{kind}.zip file)",
        )
    out: list[LeanMember] = []
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            if len(infos) > MAX_MEMBERS:
                _raise(
                    _core.TooLargeError, path, f"{len(infos)} members, over the {MAX_MEMBERS} cap"
                )
            for info in infos:
                m = MEMBER_NAME.match(info.filename)
                if m is None or m[3] != zkind:
                    _raise(
                        _core.UnknownFormatError,
                        path,
                        f"member {info.filename!r} is not a Lean minute {zkind} CSV",
                    )
                if m[1] != path.name[:8]:
                    _raise(
                        _core.UnknownFormatError,
                        path,
                        f"member {info.filename!r} is dated {m[1]}, the zip {path.name[:8]}",
                    )
                where = f"{path}:{info.filename}"
                frame = _parse(_member_bytes(zf, info, path), zkind, where)
                out.append(LeanMember(m[2], m[4], frame, where))
    except (zipfile.BadZipFile, zlib.error, EOFError) as e:
        _raise(_core.CorruptCompressionError, path, f"not a readable zip: {brief(e)}")
    except OSError as e:
        _raise(_core.CoreIOError, path, f"cannot read: {brief(e)}")
    if not out:
        _raise(_core.UnknownFormatError, path, f"zip holds no *_minute_{zkind}_YYYYMM.csv members")
    return day, zkind, out
