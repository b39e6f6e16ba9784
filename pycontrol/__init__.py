"""pycontrol: the Python control plane of the trading system.

The per-event work happens in the Rust core (`pycontrol._core`); this package converts
arguments, calls the core, and shapes results (polars DataFrames). Every error raised by
the core is a subclass of :class:`CoreError`.
"""

from typing import TYPE_CHECKING, Any

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
    InferenceError,
    InputShapeError,
    InvalidInputError,
    JsonLogicError,
    ModelContractError,
    ModelError,
    ModelFileError,
    OnnxRuntimeUnavailableError,
    OrderBook,
    OutOfOrderError,
    RiskEngine,
    TruncatedError,
    UnknownFormatError,
    UnsupportedModelError,
    UnsupportedVersionError,
    decide,
    size,
)

if TYPE_CHECKING:
    from pycontrol.bars import build_bars, load_bars, resample_bars
    from pycontrol.book import replay_book
    from pycontrol.dbn import dbn_info, read_dbn, read_dbn_frames
    from pycontrol.features import FeatureEngine, FeatureSet, compute_features
    from pycontrol.inference import Ensemble, Gated, Model, ModelSlot
    from pycontrol.lobster import replay_lobster, verify_lobster

# The Python helpers import polars (about a second): they load on first use, so a command
# that needs none of them (`pycontrol ctl halt`, the emergency stop) starts in milliseconds.
_LAZY = {
    "build_bars": "bars", "load_bars": "bars", "resample_bars": "bars",
    "replay_book": "book",
    "dbn_info": "dbn", "read_dbn": "dbn", "read_dbn_frames": "dbn",
    "FeatureEngine": "features", "FeatureSet": "features", "compute_features": "features",
    "Ensemble": "inference", "Gated": "inference", "Model": "inference", "ModelSlot": "inference",
    "replay_lobster": "lobster", "verify_lobster": "lobster",
}  # fmt: skip


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pycontrol' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"pycontrol.{module}"), name)
    globals()[name] = value
    return value


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
    "Ensemble",
    "FeatureEngine",
    "FeatureSet",
    "FeatureSetMismatchError",
    "Gated",
    "InferenceError",
    "InputShapeError",
    "InvalidInputError",
    "JsonLogicError",
    "Model",
    "ModelContractError",
    "ModelError",
    "ModelFileError",
    "ModelSlot",
    "OnnxRuntimeUnavailableError",
    "OrderBook",
    "OutOfOrderError",
    "RiskEngine",
    "TruncatedError",
    "UnknownFormatError",
    "UnsupportedModelError",
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
