"""pycontrol: the Python control plane of the trading system.

The per-event work happens in the Rust core (`pycontrol._core`); this package converts
arguments, calls the core, and shapes results (polars DataFrames). Every error raised by
the core is a subclass of :class:`CoreError`.

The Python wrappers (bars, book, dbn, features, inference, lobster) load on first use, so
``import pycontrol`` (and the command line's start-up) does not pay for numpy, polars and
pyarrow until something needs them.
"""

from typing import TYPE_CHECKING, Any

from pycontrol._core import (
    PRICE_SCALE,
    REASON_CODES,
    AuditChainError,
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
    SchemaMismatchError,
    TooLargeError,
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

# name -> module of the wrappers loaded on first attribute access (PEP 562).
_LAZY = {
    "build_bars": "pycontrol.bars",
    "load_bars": "pycontrol.bars",
    "resample_bars": "pycontrol.bars",
    "replay_book": "pycontrol.book",
    "dbn_info": "pycontrol.dbn",
    "read_dbn": "pycontrol.dbn",
    "read_dbn_frames": "pycontrol.dbn",
    "FeatureEngine": "pycontrol.features",
    "FeatureSet": "pycontrol.features",
    "compute_features": "pycontrol.features",
    "Ensemble": "pycontrol.inference",
    "Gated": "pycontrol.inference",
    "Model": "pycontrol.inference",
    "ModelSlot": "pycontrol.inference",
    "replay_lobster": "pycontrol.lobster",
    "verify_lobster": "pycontrol.lobster",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pycontrol' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "PRICE_SCALE",
    "REASON_CODES",
    "AuditChainError",
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
    "SchemaMismatchError",
    "TooLargeError",
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
