"""pycontrol: the Python control plane of the trading system.

The per-event work happens in the Rust core (`pycontrol._core`); this package converts
arguments, calls the core, and shapes results (polars DataFrames). Every error raised by
the core is a subclass of :class:`CoreError`.
"""

from pycontrol._core import (
    PRICE_SCALE,
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
    OrderBook,
    OutOfOrderError,
    TruncatedError,
    UnknownFormatError,
    UnsupportedVersionError,
)
from pycontrol.bars import build_bars, load_bars, resample_bars
from pycontrol.book import replay_book
from pycontrol.features import FeatureEngine, FeatureSet, compute_features

__all__ = [
    "PRICE_SCALE",
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
    "OrderBook",
    "OutOfOrderError",
    "TruncatedError",
    "UnknownFormatError",
    "UnsupportedVersionError",
    "build_bars",
    "compute_features",
    "load_bars",
    "replay_book",
    "resample_bars",
]
