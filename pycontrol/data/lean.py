"""QuantConnect/Lean futures zips (``YYYYMMDD_<trade|quote|openinterest>.zip``) of minute,
second or tick resolution, read defensively: the one reader behind ``load_bars``,
:func:`load` and ``data ingest``.

Lean's futures layout: one header-less CSV per contract month,
``YYYYMMDD_<root>_<minute|second|tick>_<trade|quote|openinterest>_<YYYYMM>.csv``
(``_<YYYYMMDD expiry>`` may follow the month), time = ms since midnight in the data time
zone (UTC for CME futures), actual prices. Columns (:data:`COLUMNS`):

- minute/second trade bars: ms, open, high, low, close, volume
- minute/second quote bars: ms, bid open/high/low/close, last bid size, ask open/high/
  low/close, last ask size
- tick trades: ms, price, quantity, exchange, sale condition, suspicious (0/1)
- tick quotes: ms, bid price, bid size, ask price, ask size, exchange, condition, suspicious
- open interest (any resolution): ms, open interest

One zip holds one resolution and type; members that disagree are refused. Bars must have
strictly increasing times; ticks non-decreasing (several trades share a millisecond).

Nothing in a zip is trusted. The file name must carry a real date; every member must be
stored or deflated (no other method, no encryption), at most :data:`MAX_MEMBER_BYTES`
uncompressed (checked against the header and again while reading, so a small zip cannot
inflate without bound), and intact (CRC). Every line must have its type's column count,
an integer ms-since-midnight inside the day, in time order, finite prices with
high >= low (and open/close inside them for bars) and sizes that are non-negative
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
MEMBER_NAME = re.compile(
    r"^(\d{8})_([a-z0-9]+)_(minute|second|tick)_(trade|quote|openinterest)_(\d{6})(?:_\d{8})?\.csv$"
)
# A day of minute bars is ~100 KiB; 16 MiB leaves room for any real member and caps a bomb.
MAX_MEMBER_BYTES = 16 << 20
MAX_MEMBERS = 256
DAY_MS = 86_400_000

BAR_COLUMNS: dict[str, list[str]] = {
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
TICK_COLUMNS: dict[str, list[str]] = {
    "trade": ["ms", "price", "quantity", "exchange", "condition", "suspicious"],
    "quote": [
        "ms",
        "bid_price",
        "bid_size",
        "ask_price",
        "ask_size",
        "exchange",
        "condition",
        "suspicious",
    ],
    "openinterest": ["ms", "open_interest"],
}
# Kept for callers that know only minute bars.
COLUMNS = BAR_COLUMNS
_SIZES = {"volume", "bid_size", "ask_size", "open_interest", "quantity"}
_TEXT = {"exchange", "condition"}
_FLAGS = {"suspicious"}
# Quotes may leave one side empty (no bid or no ask in that minute or tick): its prices
# read as null (never invented), an empty size as 0. A side's bar prices are all empty or
# none are.
_SIDE_PRICES = {
    f"{side}_{p}" for side in ("bid", "ask") for p in ("open", "high", "low", "close", "price")
}
_SIDE_SIZES = {"bid_size", "ask_size"}


def columns(resolution: str, kind: str) -> list[str]:
    """The CSV columns of a Lean member of this resolution and type."""
    return (TICK_COLUMNS if resolution == "tick" else BAR_COLUMNS)[kind]


@dataclass(frozen=True)
class LeanMember:
    """One contract month of a Lean zip: ``frame`` has the type's columns (``ms`` Int64,
    the rest Float64); ``where`` is ``<zip>:<member>`` for messages."""

    symbol: str
    contract: str
    frame: pl.DataFrame
    where: str
    resolution: str = "minute"


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


def _parse(body: bytes, kind: str, where: str, resolution: str = "minute") -> pl.DataFrame:
    names = columns(resolution, kind)
    tick = resolution == "tick"
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
    vals: dict[str, list[float | None]] = {n: [] for n in names[1:] if n not in _TEXT | _FLAGS}
    texts: dict[str, list[str]] = {n: [] for n in names[1:] if n in _TEXT}
    flags: dict[str, list[bool]] = {n: [] for n in names[1:] if n in _FLAGS}
    prev = -1
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split(",")
        if len(parts) != len(names):
            _raise(
                _core.BadLineError,
                where,
                f"{len(parts)} columns, a Lean {resolution} {kind} line has {len(names)} "
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
        # Bars have one row per interval; ticks may share a millisecond.
        if t < prev or (t == prev and not tick):
            _raise(_core.BadLineError, where, f"time {t} ms does not increase (previous {prev})", n)
        prev = t
        row: dict[str, float | None] = {}
        for name, raw in zip(names[1:], parts[1:], strict=True):
            if name in _TEXT:
                texts[name].append(raw.strip())
                continue
            if name in _FLAGS:
                flag = raw.strip().lower()
                if flag not in ("0", "1", "true", "false", ""):
                    _raise(_core.BadLineError, where, f"{name} {raw!r} is not 0/1", n)
                flags[name].append(flag in ("1", "true"))
                continue
            if raw.strip() == "" and name in _SIDE_PRICES | _SIDE_SIZES:
                if name in _SIDE_PRICES:
                    row[name] = None
                    continue
                v = 0.0
            else:
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
            if name == "price" and v <= 0:
                _raise(_core.BadLineError, where, f"trade price {raw!r} is not positive", n)
            row[name] = v
        if not tick:
            _check_ohlc(kind, row, where, n)
        ms.append(t)
        for name, value in row.items():
            vals[name].append(value)
    return pl.DataFrame(
        {"ms": np.asarray(ms, dtype=np.int64)}
        | {name: pl.Series(name, col, dtype=pl.Float64) for name, col in vals.items()}
        | {name: pl.Series(name, col, dtype=pl.String) for name, col in texts.items()}
        | {name: pl.Series(name, col, dtype=pl.Boolean) for name, col in flags.items()}
    ).select(names)


def _check_ohlc(kind: str, r: dict[str, float | None], where: str, n: int) -> None:
    sides = {"trade": [""], "quote": ["bid_", "ask_"], "openinterest": []}[kind]
    for s in sides:
        px = [r[f"{s}{k}"] for k in ("open", "high", "low", "close")]
        if all(v is None for v in px):
            continue  # an empty quote side
        if any(v is None for v in px):
            _raise(_core.BadLineError, where, f"{s}open/high/low/close are partly empty", n)
        o, h, lo, c = (float(v) for v in px)  # type: ignore[arg-type]
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
            resolution: tuple[str, str] | None = None
            for info in infos:
                m = MEMBER_NAME.match(info.filename)
                if m is None or m[4] != zkind:
                    _raise(
                        _core.UnknownFormatError,
                        path,
                        f"member {info.filename!r} is not a Lean minute, second or tick "
                        f"{zkind} CSV",
                    )
                if m[1] != path.name[:8]:
                    _raise(
                        _core.UnknownFormatError,
                        path,
                        f"member {info.filename!r} is dated {m[1]}, the zip {path.name[:8]}",
                    )
                if resolution is None:
                    resolution = (m[3], info.filename)
                elif resolution[0] != m[3]:
                    # One zip, one timeframe: never mix minute bars with ticks or seconds.
                    _raise(
                        _core.SchemaMismatchError,
                        path,
                        f"mixed resolutions: member {info.filename!r} is {m[3]} data, "
                        f"{resolution[1]!r} is {resolution[0]}",
                    )
                where = f"{path}:{info.filename}"
                frame = _parse(_member_bytes(zf, info, path), zkind, where, m[3])
                out.append(LeanMember(m[2], m[5], frame, where, m[3]))
    except (zipfile.BadZipFile, zlib.error, EOFError) as e:
        _raise(_core.CorruptCompressionError, path, f"not a readable zip: {brief(e)}")
    except OSError as e:
        _raise(_core.CoreIOError, path, f"cannot read: {brief(e)}")
    if not out:
        _raise(
            _core.UnknownFormatError,
            path,
            f"zip holds no *_<minute|second|tick>_{zkind}_YYYYMM.csv members",
        )
    return day, zkind, out


_TS = pl.Datetime("ns", "UTC")


def load(path: str | Path, contract: str | None = None) -> pl.DataFrame:
    """Every row of a Lean zip (any resolution, trade, quote or open interest) as one frame:
    ``ts`` (UTC ns, like DBN: the day plus the ms offset; for bars, the bar's open time),
    the member's columns without ``ms``, then ``contract`` (``YYYYMM``). Rows are in time
    order, then contract. ``contract`` keeps one month (ConfigError naming the ones the zip
    has if it is absent)."""
    p = Path(path)
    day, _, members = read_zip(p)
    if contract is not None:
        have = sorted(m.contract for m in members)
        members = [m for m in members if m.contract == contract]
        if not members:
            _raise(_core.ConfigError, p, f"contract {contract} not in zip (have {have})")
    frames = [
        m.frame.select(
            (pl.lit(day, dtype=_TS) + pl.duration(milliseconds=pl.col("ms"))).cast(_TS).alias("ts"),
            pl.exclude("ms"),
            pl.lit(m.contract).alias("contract"),
        )
        for m in members
    ]
    return pl.concat(frames).sort(["ts", "contract"], maintain_order=True)
