"""Features as polars DataFrames, computed by the Rust streaming engine the live core runs
(``pycontrol.compute_features``): Python never recomputes a feature.

- Bar features (the default :class:`FeatureSet`, >= 200 features over 1m, 5m, 30m, 1h):
  one row per base bar of one instrument, ``ts`` (the bar's open time; values are known at
  its close) then the features in set order. Coarser timeframes carry their latest
  *completed* bar, never the one in progress. Windows count bars that exist: a gap in
  time (no trades, a weekend) adds no bar, so returns span the gap.
- Microstructure features (``FeatureSet.default_micro()`` or any ``micro_`` set): one row
  per book event of a DBN MBO file, ``ts`` (ts_recv), ``instrument_id``, features.
- Cross features (``tf1m_corr_ref_20``, ``tf1m_beta_ref_20``, ...) need ``reference=``
  bars of the reference instrument (e.g. ES for NQ); rows align on ``ts``.

A feature is null until its window is full (its warm-up, see ``pycontrol features list``).
Bad bars (NaN or infinite prices, negative volume, timestamps that do not increase or are
less than one ``timeframe`` apart, i.e. finer bars than declared) raise
:class:`pycontrol.BadLineError` with ``record`` = the 0-based row.
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from pycontrol import _core
from pycontrol.bars import OHLCV, _raise, build_bars, load_bars

FeatureSet = _core.FeatureSet
FeatureEngine = _core.FeatureEngine

_TS = pl.Datetime("ns", "UTC")
_DBN_MAGIC = (b"DBN", b"\x28\xb5\x2f\xfd")


def _bars_from_path(p: Path, timeframe: str) -> pl.DataFrame:
    """Bars from a file: DBN OHLCV is read as bars, other DBN schemas are built into
    ``timeframe`` bars from their trades, everything else goes through ``load_bars``."""
    if p.is_file():
        with p.open("rb") as fh:
            head = fh.read(4)
        if head.startswith(_DBN_MAGIC):
            try:
                return load_bars(p)
            except _core.UnknownFormatError:
                built: pl.DataFrame = build_bars(p, timeframe)
                return built
    return load_bars(p)


def _ns(df: pl.DataFrame) -> np.ndarray[Any, Any]:
    ts = df["ts"]
    ns = ts.dt.epoch("ns") if ts.dtype == pl.Datetime else ts.cast(pl.Int64)
    if ns.null_count() or (ns.min() or 0) < 0:  # type: ignore[operator]
        _raise(_core.BadLineError, "<dataframe>", "ts must be set and not before 1970", 0)
    return ns.cast(pl.UInt64).to_numpy()


def _f64(df: pl.DataFrame, col: str) -> np.ndarray[Any, Any]:
    return df[col].cast(pl.Float64).fill_null(float("nan")).to_numpy().astype(np.float64)


def _check_bars(df: pl.DataFrame, what: str) -> None:
    missing = [c for c in OHLCV if c not in df.columns]
    if missing:
        _raise(_core.ConfigError, "<dataframe>", f"{what} need columns {missing}")
    if "instrument_id" in df.columns and df["instrument_id"].n_unique() > 1:
        _raise(
            _core.ConfigError,
            "<dataframe>",
            f"{what} hold several instruments; compute features per instrument "
            "(filter on instrument_id) and pass another one as reference=",
        )


def compute_features(
    bars_or_path: pl.DataFrame | str | PathLike[str],
    feature_set: _core.FeatureSet | None = None,
    timeframe: str = "1m",
    *,
    reference: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Computes ``feature_set`` (default: ``FeatureSet.default()``) in Rust, GIL released.

    ``bars_or_path`` is a bar frame (``ts, open, high, low, close, volume`` of one
    instrument, time-ordered, ``timeframe`` bars) or a file: bar files as
    :func:`pycontrol.load_bars` reads them, DBN trades/MBP/MBO files (built into
    ``timeframe`` bars), or, for a ``micro_`` set, a DBN MBO file (one row per book event).
    Every timeframe in the set must be a multiple of ``timeframe``. Null = not warmed up.
    """
    fs = feature_set if feature_set is not None else _core.FeatureSet.default()
    names = fs.names()
    if fs.is_micro:
        if isinstance(bars_or_path, pl.DataFrame):
            _raise(_core.ConfigError, "<dataframe>", "micro_ features need a DBN MBO file path")
        ts, ids, values = _core.compute_micro_features(fs, bars_or_path)
        head = pl.DataFrame({"ts": ts, "instrument_id": ids}).with_columns(pl.col("ts").cast(_TS))
        return pl.concat([head, _columns(names, values)], how="horizontal")
    if isinstance(bars_or_path, pl.DataFrame):
        df, source = bars_or_path, "<dataframe>"
    else:
        df, source = _bars_from_path(Path(bars_or_path), timeframe), str(bars_or_path)
    _check_bars(df, "bars")
    ref: dict[str, Any] = {}
    if fs.needs_reference:
        if reference is None:
            _raise(_core.ConfigError, source, "cross features need reference= bars")
        _check_bars(reference, "reference bars")
        r = reference.select(
            pl.col("ts").cast(df.schema["ts"]), *(pl.col(c).alias(f"ref_{c}") for c in OHLCV[1:])
        ).with_columns(pl.lit(True).alias("ref_mask"))
        joined = df.select("ts").join(r, on="ts", how="left", maintain_order="left")
        ref = {f"ref_{c}": _f64(joined, f"ref_{c}") for c in OHLCV[1:]}
        ref["ref_mask"] = joined["ref_mask"].fill_null(False).to_numpy()
    values = _core.compute_bar_features(
        fs,
        timeframe,
        _ns(df),
        _f64(df, "open"),
        _f64(df, "high"),
        _f64(df, "low"),
        _f64(df, "close"),
        _f64(df, "volume"),
        source=source,
        **ref,
    )
    return pl.concat([df.select("ts"), _columns(names, values)], how="horizontal")


def _columns(names: list[str], cols: list[tuple[Any, Any, int]]) -> pl.DataFrame:
    """Rust columns (values, Arrow validity bitmap, null count) -> a frame in set order
    with null where the value is NaN. Wrapped as Arrow arrays: no copy, no NaN scan."""
    arrays = [
        pa.Array.from_buffers(pa.float64(), len(v), [pa.py_buffer(b), pa.py_buffer(v)], z)
        for v, b, z in cols
    ]
    df = pl.from_arrow(pa.table(arrays, names=names), rechunk=False)
    assert isinstance(df, pl.DataFrame)
    return df
