"""OHLCV time bars as polars DataFrames: built from trades in Rust, loaded from bar files,
resampled to coarser timeframes (in Rust, the code the live engine runs).

Every frame has one layout: ``ts`` (bar open time, UTC nanoseconds ``Datetime("ns", "UTC")``
from every source, so frames of different sources concatenate), ``open``,
``high``, ``low``, ``close`` (float price units), ``volume`` (float), then whatever extras
the source knows: ``instrument_id``, ``vwap``, ``trades``, ``buy_volume``, ``sell_volume``,
``contract``. Rows are in time order (then instrument). An interval without trades has no
row: nothing is forward-filled or invented. Bars longer than an hour (6h, 1d) are cut from
the CME trading-day open, 17:00 America/Chicago with DST (docs/data.md); shorter ones at
multiples of their length.

Formats read by :func:`load_bars`, detected from the path and content:

- Databento OHLCV DBN files (``.dbn``/``.dbn.zst``): per instrument, ``ts`` = ``ts_event``
  (the bar open time), plus ``instrument_id``.
- QuantConnect/Lean futures minute or second trade zips (``YYYYMMDD_trade.zip``, or a
  folder of them): one header-less CSV per contract month, ms since midnight UTC (Lean's
  data time zone for CME futures), index points. Tick, quote and open-interest zips are
  read by :func:`pycontrol.data.lean.load`. The contract is the one with the largest volume that day
  (ties go to the nearest expiry); ``contract="201312"`` picks one. Adds ``contract``.
- CSV bars (``.csv``/``.csv.gz``) with a ``timestamp_utc`` or ``timestamp`` column and
  ``open,high,low,close,volume``. Their timestamps are bar *close* times (the Nautilus test
  data convention: the 6E file has bars stamped 22:00 but none stamped 23:00, around the
  CME 22:00-23:00 UTC daily break), so ``ts`` is moved back one bar period, inferred as the
  smallest gap between timestamps. Pass ``ts_label="open"`` for files stamped at open.

Bad rows (unparsable or missing timestamp, NaN/inf/missing price, negative or non-finite
volume, timestamps that do not increase) raise :class:`pycontrol.BadLineError` naming the
file and line; an unrecognised input raises :class:`pycontrol.UnknownFormatError`.
"""

from __future__ import annotations

import re
from os import PathLike
from pathlib import Path
from typing import Any, Literal, NoReturn

import numpy as np
import polars as pl

from pycontrol import _core

PathArg = str | PathLike[str]
TsLabel = Literal["open", "close"]

OHLCV = ["ts", "open", "high", "low", "close", "volume"]
_EXTRAS = ["instrument_id", "vwap", "trades", "buy_volume", "sell_volume"]
_TS = pl.Datetime("ns", "UTC")
_LEAN_ZIP = re.compile(r"^(\d{8})_(trade|quote|openinterest)\.zip$")
_DBN_MAGIC = (b"DBN", b"\x28\xb5\x2f\xfd")


def _raise(cls: type[_core.CoreError], path: object, msg: str, line: int | None = None) -> NoReturn:
    """Raises a core error class from Python with the same attributes Rust sets."""
    where = f"{path}: line {line}: " if line is not None else f"{path}: "
    err = cls(where + msg)
    err.path = str(path)
    err.record = line
    err.offset = None
    raise err


def brief(e: BaseException) -> str:
    """The first line of an exception's text: polars errors run to a dozen lines of hints,
    and an error message should stay one line."""
    lines = str(e).strip().splitlines()
    return lines[0] if lines else type(e).__name__


def _frame(cols: dict[str, Any]) -> pl.DataFrame:
    """Rust bar columns (numpy, moved) -> the documented frame layout."""
    df = pl.DataFrame(cols).with_columns(pl.col("ts").cast(_TS))
    return df.select(OHLCV + _EXTRAS)


def build_bars(path: PathArg, timeframe: str = "1m", *, with_stats: bool = False) -> Any:
    """Builds time bars from the trades in ``path``, in Rust with the GIL released.

    ``path`` is a DBN file of schema trades, mbp-1, mbp-10 or mbo (trades are the trade
    records, or the 'T' actions; bars are timed by ``ts_recv``, like Databento's OHLCV) or a
    LOBSTER message file (executions, types 4 and 5; NASDAQ local time converted to UTC;
    ``instrument_id`` 0). ``timeframe`` is ``<n><s|m|h|d>`` dividing a day: 1s, 1m, 5m, 30m,
    1h, 6h, 1d, ... One row per bar per instrument, with ``vwap``, ``trades`` and
    ``buy_volume``/``sell_volume`` by aggressor side (trades with no aggressor count in
    neither). The last bar of each instrument is emitted as the file leaves it and may cover
    only part of its interval; all earlier bars are complete. With ``with_stats=True``
    returns ``(frame, {"records": ..., "trades": ...})``.
    """
    cols, stats = _core.build_bars(path, timeframe)
    df = _frame(cols)
    return (df, stats) if with_stats else df


def resample_bars(df: pl.DataFrame, timeframe: str) -> pl.DataFrame:
    """Resamples bars to a coarser ``timeframe`` (in Rust, the streaming resampler).

    The input's timeframe must divide the target (1m -> 5m, 30m, 1h, 6h, 1d); a target
    finer than the input's bar spacing raises :class:`pycontrol.ConfigError`. Bars are
    grouped per ``instrument_id`` and ``contract`` when those columns exist, and must be in
    time order within a group. Open is the first open, high the max, low the min, close the
    last close; volumes and trade counts add up; VWAP is volume-weighted (NaN if an input
    bar lacks one). Output columns are the input's known columns; ``ts`` is the open time
    of the coarse interval; coarse intervals without input bars have no row. A bad input
    row (NaN price, negative volume, time going back) raises :class:`pycontrol.BadLineError`
    with ``path`` ``"<dataframe>"`` and ``record`` = the 0-based row index.
    """
    missing = [c for c in OHLCV if c not in df.columns]
    if missing:
        _raise(_core.ConfigError, "<dataframe>", f"bars need columns {missing}")
    keys = [c for c in ("instrument_id", "contract") if c in df.columns]
    if keys:
        codes = df.select(keys).unique(maintain_order=True).with_row_index("_gid")
        gid = df.select(keys).join(codes, on=keys, how="left", maintain_order="left")["_gid"]
    else:
        gid = pl.Series("_gid", np.zeros(df.height, dtype=np.uint32))
    n = df.height

    def f64(name: str, default: float) -> np.ndarray[Any, Any]:
        if name not in df.columns:
            return np.full(n, default, dtype=np.float64)
        return df[name].cast(pl.Float64).to_numpy().astype(np.float64, copy=False)

    ts = df["ts"]
    ts_ns = ts.dt.epoch("ns") if ts.dtype == pl.Datetime else ts.cast(pl.Int64)
    if ts_ns.null_count() or (ts_ns.min() or 0) < 0:  # type: ignore[operator]
        _raise(_core.BadLineError, "<dataframe>", "ts must be set and not before 1970", 0)
    trades = (
        df["trades"].cast(pl.UInt64).to_numpy()
        if "trades" in df.columns
        else np.zeros(n, dtype=np.uint64)
    )
    cols = _core.resample_bars(
        timeframe,
        ts_ns.cast(pl.UInt64).to_numpy(),
        gid.cast(pl.UInt32).to_numpy(),
        f64("open", np.nan),
        f64("high", np.nan),
        f64("low", np.nan),
        f64("close", np.nan),
        f64("volume", np.nan),
        f64("vwap", np.nan),
        trades,
        f64("buy_volume", 0.0),
        f64("sell_volume", 0.0),
    )
    out = pl.DataFrame(cols).with_columns(pl.col("ts").cast(_TS))
    out = out.rename({"instrument_id": "_gid"})
    present = [c for c in ("vwap", "trades", "buy_volume", "sell_volume") if c in df.columns]
    if keys:
        out = out.join(codes, on="_gid", how="left", maintain_order="left")
        out = out.with_columns(*(pl.col(k).cast(df.schema[k]) for k in keys))
    return out.select([*OHLCV, *keys, *present])


def load_bars(
    path: PathArg,
    *,
    contract: str | None = None,
    ts_label: TsLabel | None = None,
    timeframe: str | None = None,
) -> pl.DataFrame:
    """Loads bars from a file in one of the formats in this module's docstring.

    ``contract`` (Lean only) selects a contract month, e.g. ``"201312"``; by default the
    most traded contract of each day. ``ts_label`` overrides how a CSV's timestamps are
    read (``"close"`` by default for CSV; Lean and DBN bars are stamped at open).

    One load holds one timeframe. An input mixing several (a Databento live capture with
    ``ohlcv-1s`` and ``ohlcv-1m`` records, a folder of Lean minute and second zips) raises
    :class:`pycontrol.SchemaMismatchError` naming both timeframes and where the second
    starts; ``timeframe="1m"`` (or ``"1s"``, ``"1h"``, ``"1d"``, ``"eod"`` for DBN) keeps
    that one and leaves the others out.
    """
    p = Path(path)
    if p.is_dir():
        zips = sorted(z for z in p.iterdir() if (m := _LEAN_ZIP.match(z.name)) and m[2] == "trade")
        if not zips:
            _raise(_core.UnknownFormatError, p, "folder holds no Lean YYYYMMDD_trade.zip files")
        seen: _LeanSeen = {}
        frames = [_load_lean(z, contract, timeframe, seen) for z in zips]
        kept = [(z, f) for z, f in zip(zips, frames, strict=True) if f is not None]
        if not kept:
            _raise(_core.ConfigError, p, f"no Lean {timeframe} trade zips in the folder")
        return pl.concat([f for _, f in kept])
    if not p.exists():
        _raise(_core.CoreIOError, p, "no such file")
    if _LEAN_ZIP.match(p.name):
        df = _load_lean(p, contract, timeframe)
        if df is None:
            _raise(_core.ConfigError, p, f"holds no {timeframe} bars")
        return df
    with p.open("rb") as fh:
        head = fh.read(4)
    if not head:
        _raise(_core.EmptyFileError, p, "empty file (0 bytes)")
    if head.startswith(_DBN_MAGIC):
        cols = _core.load_dbn_ohlcv(p, timeframe)
        return _frame(cols).select([*OHLCV, "instrument_id"])
    if p.name.endswith((".csv", ".csv.gz")):
        return _load_csv(p, ts_label or "close")
    _raise(
        _core.UnknownFormatError,
        p,
        "expected a DBN OHLCV file, a Lean YYYYMMDD_trade.zip (or folder of them), "
        "or a .csv/.csv.gz with timestamp_utc or timestamp and open,high,low,close,volume",
    )


def _check_rows(df: pl.DataFrame, where: object, first_line: int) -> None:
    """Names the first bad row: missing ts, NaN/inf/missing price, bad volume, ts order."""
    ts_ns = pl.col("ts").dt.epoch("ns")
    checks: list[tuple[pl.Expr, str]] = [
        (pl.col("ts").is_null(), "timestamp is missing or unparsable"),
        *(
            (pl.col(c).is_null() | ~pl.col(c).is_finite(), f"{c} price is missing, NaN or infinite")
            for c in ("open", "high", "low", "close")
        ),
        (
            pl.col("volume").is_null() | ~pl.col("volume").is_finite() | (pl.col("volume") < 0),
            "volume is missing, negative or not finite",
        ),
        (ts_ns <= ts_ns.shift(1), "timestamp does not increase"),
    ]
    for expr, why in checks:
        bad = df.select(expr.fill_null(False).arg_true().first()).item()
        if bad is not None:
            _raise(_core.BadLineError, where, why, first_line + int(bad))


def _some(names: list[str], n: int = 8) -> str:
    """At most ``n`` names (a wide file's header would otherwise fill the screen)."""
    return str(names[:n])[:-1] + f", ... {len(names) - n} more]" if len(names) > n else str(names)


def _load_csv(p: Path, ts_label: TsLabel) -> pl.DataFrame:
    try:
        raw = pl.read_csv(p, infer_schema=False)
    except pl.exceptions.PolarsError as e:
        # polars' message runs over many lines (hints, a backtrace note): its first says why
        _raise(_core.UnknownFormatError, p, f"not a readable CSV: {str(e).splitlines()[0]}")
    ts_col = next((c for c in ("timestamp_utc", "timestamp") if c in raw.columns), None)
    missing = [c for c in OHLCV[1:] if c not in raw.columns]
    if ts_col is None or missing:
        _raise(
            _core.UnknownFormatError,
            p,
            f"CSV columns {_some(raw.columns)} lack timestamp_utc/timestamp or {missing}",
        )
    df = raw.select(
        pl.col(ts_col)
        .str.strip_chars()
        .str.to_datetime(time_unit="ns", time_zone="UTC", strict=False)
        .alias("ts"),
        *(pl.col(c).str.strip_chars().cast(pl.Float64, strict=False) for c in OHLCV[1:]),
    )
    _check_rows(df, p, first_line=2)
    if ts_label == "close" and df.height > 0:
        if df.height == 1:
            _raise(
                _core.ConfigError,
                p,
                "one bar stamped at close gives no bar period to find its open time; "
                "pass ts_label='open' if it is stamped at open",
            )
        period = df.select(pl.col("ts").diff().min()).item()
        df = df.with_columns(pl.col("ts") - period)
    # UTC nanoseconds, like DBN loads, whatever unit the arithmetic above left.
    return df.with_columns(pl.col("ts").cast(_TS))


# Lean resolutions that hold bars, and the timeframe each stands for.
_LEAN_TF = {"minute": "1m", "second": "1s"}
# The first Lean bar timeframe a load met, and where, to refuse a mix across zips.
_LeanSeen = dict[str, str]


def _load_lean(
    p: Path, contract: str | None, timeframe: str | None, seen: _LeanSeen | None = None
) -> pl.DataFrame | None:
    # Every member is checked line by line by the one Lean reader (pycontrol.data.lean).
    from pycontrol.data import lean

    day, _, members = lean.read_zip(p, "trade")
    res = members[0].resolution
    tf = _LEAN_TF.get(res)
    if tf is None:
        _raise(
            _core.UnknownFormatError,
            p,
            f"Lean {res} data are trades, not bars: read them with "
            "pycontrol.data.lean.load (or build bars from a DBN trades file)",
        )
    if timeframe is not None and tf != timeframe:
        return None
    if seen is not None:
        first = seen.setdefault("tf", tf)
        seen.setdefault("where", str(p))
        if first != tf:
            _raise(
                _core.SchemaMismatchError,
                p,
                f"mixed bar timeframes: {tf} bars here, {first} bars in {seen['where']}; "
                f"pass timeframe={tf!r} or timeframe={first!r} to load one",
            )
    frames = {m.contract: m for m in members}
    if contract is None:
        # Most traded that day; ties go to the nearest expiry (smallest YYYYMM).
        contract = min(frames, key=lambda k: (-float(frames[k].frame["volume"].sum()), k))
    elif contract not in frames:
        _raise(_core.ConfigError, p, f"contract {contract} not in zip (have {sorted(frames)})")
    member = frames[contract]
    df = member.frame.select(
        (pl.lit(day, dtype=_TS) + pl.duration(milliseconds=pl.col("ms"))).cast(_TS).alias("ts"),
        *OHLCV[1:],
    )
    _check_rows(df, member.where, first_line=1)
    return df.with_columns(pl.lit(contract).alias("contract"))
