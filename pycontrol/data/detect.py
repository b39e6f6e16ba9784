"""Facts about one market-data file for the manifest: format, schema, instruments, time
range and row count, read with the loaders that already exist (``dbn_info`` for DBN,
``load_bars`` for CSV bars) or from the file name and line counts (LOBSTER, Lean zips).

An input no reader recognises raises :class:`pycontrol.UnknownFormatError` naming the file;
the caller decides whether to record it as format ``"unknown"`` instead.
"""

from __future__ import annotations

import gzip
import re
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NoReturn
from zoneinfo import ZoneInfo

import polars as pl

from pycontrol import _core
from pycontrol.bars import brief, load_bars
from pycontrol.data import lean
from pycontrol.dbn import dbn_info

_DBN_MAGIC = b"DBN"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_LEAN_ZIP = re.compile(r"^(\d{8})_(trade|quote|openinterest)\.zip$")
_LOBSTER = re.compile(
    r"^([A-Za-z0-9.^-]+)_(\d{4}-\d{2}-\d{2})_(\d+)_(\d+)_(message|orderbook)_(\d+)"
    r"(?:\.[A-Za-z0-9]+)*?\.csv(?:\.gz)?$"
)
# Nautilus-style bar file names start with the instrument: "6EH4.XCME_1min_bars_...".
_CSV_INSTRUMENT = re.compile(r"^([A-Za-z0-9]+\.[A-Za-z]+)_")
# LOBSTER times are seconds after midnight, NASDAQ local time.
_NASDAQ_TZ = ZoneInfo("America/New_York")


@dataclass(frozen=True)
class FileFacts:
    """What the manifest records about a file's content (``None`` where unknown)."""

    format: str
    schema: str | None = None
    instruments: list[str] = field(default_factory=list)
    ts_start_ns: int | None = None  # ns since the UNIX epoch, UTC; ns so DBN loses nothing
    ts_end_ns: int | None = None
    rows: int | None = None


def unknown_format(path: Path, why: str) -> NoReturn:
    """Raises the core's UnknownFormatError with the attributes Rust sets on it."""
    err = _core.UnknownFormatError(f"{path}: {why}")
    err.path = str(path)
    err.record = None
    err.offset = None
    raise err


def _epoch_ns(dt: datetime) -> int:
    """Exact ns since the epoch of an aware datetime (no float rounding)."""
    delta = dt - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


def _span_ns(col: pl.Series) -> tuple[int | None, int | None]:
    ns = col.dt.epoch("ns")
    lo, hi = ns.min(), ns.max()
    return (None if lo is None else int(lo)), (None if hi is None else int(hi))  # type: ignore[arg-type]


def detect(path: Path) -> FileFacts:
    """Reads the facts of ``path``; raises UnknownFormatError when no reader knows it."""
    name = path.name
    if _LEAN_ZIP.match(name):
        return _lean(path)
    if m := _LOBSTER.match(name):
        return _lobster(path, m)
    with path.open("rb") as fh:
        head = fh.read(4)
    if head.startswith(_DBN_MAGIC) or (head == _ZSTD_MAGIC and ".dbn" in name):
        return _dbn(path)
    if name.endswith((".csv", ".csv.gz")):
        return _csv_bars(path)
    if name.endswith(".parquet"):
        return _parquet(path)
    unknown_format(
        path,
        "not a DBN file, Lean YYYYMMDD_<type>.zip, LOBSTER message/orderbook CSV, "
        "CSV bar file or Parquet file",
    )


def _dbn(path: Path) -> FileFacts:
    info = dbn_info(path)
    ids = [str(i) for i in info["instrument_ids"]]
    symbols = [s for s in info["symbols"] if s not in ids]
    return FileFacts(
        format="dbn",
        schema=str(info["schema"]),
        instruments=[*symbols, *ids],
        ts_start_ns=info["ts_event_min"],
        ts_end_ns=info["ts_event_max"],
        rows=int(info["records"]),
    )


def _csv_bars(path: Path) -> FileFacts:
    # load_bars moves close-stamped CSV bars to their open time; the range is of bar opens.
    bars = load_bars(path)
    m = _CSV_INSTRUMENT.match(path.name)
    start, end = _span_ns(bars["ts"])
    return FileFacts(
        format="csv",
        schema="ohlcv-bars",
        instruments=[m[1]] if m else [],
        ts_start_ns=start,
        ts_end_ns=end,
        rows=bars.height,
    )


def _parquet(path: Path) -> FileFacts:
    try:
        lf = pl.scan_parquet(path)
        schema = lf.collect_schema()
        rows = int(lf.select(pl.len()).collect().item())
    except pl.exceptions.PolarsError as e:
        unknown_format(path, f"not a readable Parquet file: {brief(e)}")
    start = end = None
    ts_col = next((c for c in ("ts", "ts_event", "ts_recv") if c in schema), None)
    if ts_col is not None and isinstance(schema[ts_col], pl.Datetime) and rows:
        start, end = _span_ns(lf.select(ts_col).collect()[ts_col])
    return FileFacts(
        format="parquet",
        schema=",".join(schema.names()),
        ts_start_ns=start,
        ts_end_ns=end,
        rows=rows,
    )


def _lean(path: Path) -> FileFacts:
    # The one Lean reader checks the name, the archive and every line (pycontrol.data.lean).
    day, kind, members = lean.read_zip(path)
    instruments = [f"{m.symbol.upper()} {m.contract}" for m in members]
    rows = sum(m.frame.height for m in members)
    spans = [(int(m.frame["ms"][0]), int(m.frame["ms"][-1])) for m in members if m.frame.height]
    ms_lo = min((a for a, _ in spans), default=None)
    ms_hi = max((b for _, b in spans), default=None)
    # Lean's data time zone for CME futures is UTC: file date plus ms since midnight.
    day_ns = _epoch_ns(day)
    return FileFacts(
        format="lean-zip",
        schema=f"{members[0].resolution}-{kind}",
        instruments=sorted(instruments),
        ts_start_ns=None if ms_lo is None else day_ns + ms_lo * 1_000_000,
        ts_end_ns=None if ms_hi is None else day_ns + ms_hi * 1_000_000,
        rows=rows,
    )


def _lines(path: Path) -> tuple[int, str | None, str | None]:
    """Non-empty line count, first and last line (gzip-aware, streamed)."""
    opener = gzip.open if path.name.endswith(".gz") else open
    count = 0
    first = last = None
    with opener(path, "rt", encoding="ascii", newline="") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            count += 1
            if first is None:
                first = line
            last = line
    return count, first, last


def _lobster(path: Path, m: re.Match[str]) -> FileFacts:
    symbol, date, kind, levels = m[1], m[2], m[5], m[6]
    try:
        day = datetime.strptime(date, "%Y-%m-%d")
    except ValueError:
        unknown_format(path, f"file name date {date} is not a calendar date")
    try:
        rows, first, last = _lines(path)
    except (OSError, UnicodeDecodeError, EOFError, zlib.error) as e:
        unknown_format(path, f"not a readable LOBSTER {kind} CSV: {brief(e)}")

    def at(sec: int, frac_ns: int) -> int:
        # Wall-clock seconds after local midnight; the zone gives that moment's UTC offset.
        local = (day + timedelta(seconds=sec)).replace(tzinfo=_NASDAQ_TZ)
        return _epoch_ns(local.astimezone(UTC)) + frac_ns

    def parse(text: str) -> int:
        whole, _, frac = text.strip().partition(".")
        if not whole.isdigit() or (frac and not frac.isdigit()):
            unknown_format(path, f"LOBSTER message time {text!r} is not seconds after midnight")
        return at(int(whole), int(frac[:9].ljust(9, "0")) if frac else 0)

    if kind == "message" and first is not None and last is not None:
        start, end = parse(first.split(",")[0]), parse(last.split(",")[0])
    else:
        # Orderbook rows carry no time; the name's window (ms after midnight) bounds them.
        lo_ms, hi_ms = int(m[3]), int(m[4])
        start = at(lo_ms // 1000, lo_ms % 1000 * 1_000_000)
        end = at(hi_ms // 1000, hi_ms % 1000 * 1_000_000)
    return FileFacts(
        format=f"lobster-{kind}",
        schema=f"{int(levels)}-level",
        instruments=[symbol],
        ts_start_ns=start,
        ts_end_ns=end,
        rows=rows,
    )
