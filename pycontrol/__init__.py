"""pycontrol: the Python control plane of the trading system.

The per-event work happens in the Rust core (`pycontrol._core`); this package converts
arguments, calls the core, and shapes results (polars DataFrames). Every error raised by
the core is a subclass of :class:`CoreError`.
"""

from pycontrol._core import (
    PRICE_SCALE,
    REASON_CODES,
    BadLineError,
    BadMagicError,
    BadRecordError,
    BookIntegrityError,
    BookReplay,
    ConfigError,
    CoreError,
    CoreIOError,
    CorruptCompressionError,
    DecodeError,
    EmptyFileError,
    FeatureSetMismatchError,
    InvalidInputError,
    JsonLogicError,
    OrderBook,
    OutOfOrderError,
    RiskEngine,
    TruncatedError,
    UnknownFormatError,
    UnsupportedVersionError,
    decide,
    size,
)
from pycontrol.bars import build_bars, load_bars, resample_bars
from pycontrol.book import replay_book
from pycontrol.dbn import dbn_info, read_dbn, read_dbn_frames
from pycontrol.features import FeatureEngine, FeatureSet, compute_features
from pycontrol.lobster import replay_lobster, verify_lobster

__all__ = [
    "PRICE_SCALE",
    "REASON_CODES",
    "BadLineError",
    "BadMagicError",
    "BadRecordError",
    "BookIntegrityError",
    "BookReplay",
    "ConfigError",
    "CoreError",
    "CoreIOError",
    "CorruptCompressionError",
    "DecodeError",
    "EmptyFileError",
    "FeatureEngine",
    "FeatureSet",
    "FeatureSetMismatchError",
    "InvalidInputError",
    "JsonLogicError",
    "OrderBook",
    "OutOfOrderError",
    "RiskEngine",
    "TruncatedError",
    "UnknownFormatError",
    "UnsupportedVersionError",
    "build_bars",
    "compute_features",
    "dbn_info",
    "decide",
    "load_bars",
    "read_dbn",
    "read_dbn_frames",
    "replay_book",
    "replay_lobster",
    "resample_bars",
    "size",
    "verify_lobster",
]
