"""DBN files from Python: `dbn_info` summarises a file in one streaming pass, `read_dbn`
decodes it into a polars DataFrame whose columns match databento's `DBNStore.to_df()`.

Decoding runs in Rust (GIL released). Prices are floats in price units, null where DBN
has no price (UNDEF_PRICE); timestamps stay integers (ns since the UNIX epoch, UTC), as
`to_df(pretty_ts=False)` gives them. One-character codes (action, side, ...) are strings.
"""

from __future__ import annotations

from os import PathLike
from typing import Any, NoReturn

import numpy as np
import polars as pl

from pycontrol import _core

PathArg = str | PathLike[str]

# Byte -> one-character string; NUL (an unset code) is the empty string.
_CHARS = pl.Series("chars", ["" if i == 0 else chr(i) for i in range(256)], dtype=pl.String)
_NUMERIC = {
    "uint64": pl.UInt64,
    "int64": pl.Int64,
    "uint32": pl.UInt32,
    "int32": pl.Int32,
    "uint16": pl.UInt16,
    "int16": pl.Int16,
    "uint8": pl.UInt8,
    "int8": pl.Int8,
}


def dbn_info(path: PathArg) -> dict[str, Any]:
    """Summary of a `.dbn` / `.dbn.zst` file (DBN versions 1-3), read once in bounded memory.

    Keys: path, version, compressed, dataset, schema ("mixed" when the file declares none),
    stype_in, stype_out, start, end, limit, ts_out, symbols, partial, not_found, mappings
    (raw symbol -> [(start date, end date, symbol)]), records, record_counts (record type ->
    count), ts_event_min, ts_event_max, out_of_order (records whose ts_recv, or ts_event for
    bars, goes back in time), instrument_ids, instruments (one dict per instrument
    defined in the file: raw_symbol, instrument_id, tick_size (float) and tick_size_fixed
    (1e-9 fixed point), multiplier, unit_of_measure_qty, contract_multiplier, expiration,
    activation, currency, exchange, asset, security_type, instrument_class, ts_recv) and
    stream_bytes. Timestamps are ns since the UNIX epoch.

    A summary describes a damaged file rather than refusing it: records that
    :func:`read_dbn` refuses are counted in ``anomalies`` (out_of_order, unknown_rtype,
    schema_mismatch) and described, with the first record index and byte offset of each
    kind, in ``issues`` (empty for a clean file). Framing damage (truncation, bad lengths,
    corrupt compression) raises as it does everywhere.
    """
    return _core.scan_dbn(path)


def _series(name: str, kind: str, values: Any) -> pl.Series:
    if kind == "price":
        return pl.Series(name, values, dtype=pl.Float64).fill_nan(None)
    if kind == "char":
        codes = pl.Series(name, values, dtype=pl.UInt8).cast(pl.Int64)
        return _CHARS.gather(codes).alias(name)
    if kind == "str":
        return pl.Series(name, values, dtype=pl.String)
    return pl.Series(name, np.asarray(values), dtype=_NUMERIC[kind])


def _frame(frame: dict[str, Any]) -> pl.DataFrame:
    cols = frame["columns"]
    return pl.DataFrame([_series(name, kind, values) for name, (kind, values) in cols.items()])


def read_dbn_frames(path: PathArg) -> dict[str, pl.DataFrame]:
    """Every record type of a DBN file as its own DataFrame, keyed by schema name
    ("mbo", "mbp-1", "trades", "ohlcv-1m", "definition", "statistics", "status", ...;
    the file's declared schema where its records match it, so a TBBO file gives "tbbo"),
    in order of first appearance. A file without records gives one empty frame of its
    metadata schema. Record types without a column layout (error, system and
    symbol-mapping messages of live captures) are left out.
    """
    frames, _skipped = _core.read_dbn(path)
    return {f["schema"]: _frame(f) for f in frames}


def read_dbn(path: PathArg, schema: str | None = None) -> pl.DataFrame:
    """One DataFrame of a DBN file's records: `ts_recv` (where the record has one),
    `ts_event`, `rtype`, `publisher_id`, `instrument_id` and the schema's own fields, named
    as in databento's `DBNStore.to_df()`.

    A file that mixes record types (say definitions and MBO) has one frame per type: pass
    `schema` to choose one, or use :func:`read_dbn_frames` for all. Without `schema`, such a
    file raises :class:`pycontrol.SchemaMismatchError` naming the types it holds, rather
    than guessing. Records out of time order, of an unknown type, or of a type other than
    the header's schema raise their typed errors naming the record and byte offset.
    """
    frames = read_dbn_frames(path)
    if schema is not None:
        if schema not in frames:
            _schema_error(path, f"no {schema!r} records; the file holds {list(frames)}")
        return frames[schema]
    if not frames:
        return pl.DataFrame()
    if len(frames) != 1:
        _schema_error(
            path,
            f"holds record types {list(frames)}; read one with read_dbn(path, schema=...) "
            "(one of them) or all with read_dbn_frames(path)",
        )
    return next(iter(frames.values()))


def _schema_error(path: PathArg, why: str) -> NoReturn:
    err = _core.SchemaMismatchError(f"{path}: {why}")
    err.path, err.record, err.offset = str(path), None, None
    raise err
