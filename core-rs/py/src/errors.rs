//! The one place where core errors become Python exceptions. The tree, rooted at
//! `CoreError`, mirrors `tradecore::CoreError`; each instance carries `path`, `record`
//! and `offset` attributes (None where not applicable).

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use tradecore::CoreError as E;

create_exception!(
    _core,
    CoreError,
    PyException,
    "Root of every error raised by the Rust core."
);
create_exception!(
    _core,
    CoreIOError,
    CoreError,
    "A file could not be opened or read."
);
create_exception!(
    _core,
    DecodeError,
    CoreError,
    "Input bytes are not valid for their format."
);
create_exception!(_core, EmptyFileError, DecodeError, "The file has no bytes.");
create_exception!(
    _core,
    BadMagicError,
    DecodeError,
    "The file is neither DBN nor zstd-compressed DBN."
);
create_exception!(
    _core,
    UnsupportedVersionError,
    DecodeError,
    "The DBN version is not 1-3."
);
create_exception!(
    _core,
    TruncatedError,
    DecodeError,
    "The file ends inside a header or record."
);
create_exception!(
    _core,
    CorruptCompressionError,
    DecodeError,
    "The zstd stream is corrupt."
);
create_exception!(
    _core,
    BadRecordError,
    DecodeError,
    "A record is malformed (e.g. bad length)."
);
create_exception!(
    _core,
    OutOfOrderError,
    DecodeError,
    "Records are not in time order."
);
create_exception!(
    _core,
    BadLineError,
    DecodeError,
    "A text input line is malformed."
);
create_exception!(
    _core,
    UnknownFormatError,
    DecodeError,
    "The input's format is unknown or unsupported here."
);
create_exception!(
    _core,
    SchemaMismatchError,
    DecodeError,
    "A record's type does not fit the file's declared schema, or a file of several record types is read as one."
);
create_exception!(
    _core,
    TooLargeError,
    DecodeError,
    "An input is larger or nested deeper than the reader accepts (refused before reading it whole)."
);
create_exception!(
    _core,
    BookIntegrityError,
    CoreError,
    "An order book invariant is broken."
);
create_exception!(
    _core,
    ConfigError,
    CoreError,
    "A configuration value is invalid."
);
create_exception!(
    _core,
    InvalidInputError,
    CoreError,
    "An argument is unusable (NaN probability, zero tick size, ...); the message names it."
);
create_exception!(
    _core,
    FeatureSetMismatchError,
    ConfigError,
    "A model's feature-set hash differs from the engine's."
);
create_exception!(
    _core,
    JsonLogicError,
    ConfigError,
    "A JSON-Logic rule (a promotion gate) is malformed or cannot be evaluated."
);

create_exception!(
    _core,
    ModelError,
    CoreError,
    "A model cannot be loaded or run."
);
create_exception!(
    _core,
    OnnxRuntimeUnavailableError,
    ModelError,
    "The ONNX Runtime shared library is missing or cannot be loaded."
);
create_exception!(
    _core,
    ModelContractError,
    ModelError,
    "A model's manifest, files and the engine disagree; `mismatches` lists every one."
);
create_exception!(
    _core,
    ModelFileError,
    ModelError,
    "A model file is corrupt or unreadable by its backend."
);
create_exception!(
    _core,
    UnsupportedModelError,
    ModelError,
    "A model uses something the engine does not evaluate (categorical splits, ...)."
);
create_exception!(
    _core,
    AuditChainError,
    ModelError,
    "The registry's audit chain is broken or does not vouch for the version an alias names."
);
create_exception!(
    _core,
    InputShapeError,
    ModelError,
    "An inference input has the wrong shape for the model."
);
create_exception!(
    _core,
    InferenceError,
    ModelError,
    "The runtime failed while running a model."
);

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("CoreError", py.get_type::<CoreError>())?;
    m.add("CoreIOError", py.get_type::<CoreIOError>())?;
    m.add("DecodeError", py.get_type::<DecodeError>())?;
    m.add("EmptyFileError", py.get_type::<EmptyFileError>())?;
    m.add("BadMagicError", py.get_type::<BadMagicError>())?;
    m.add(
        "UnsupportedVersionError",
        py.get_type::<UnsupportedVersionError>(),
    )?;
    m.add("TruncatedError", py.get_type::<TruncatedError>())?;
    m.add(
        "CorruptCompressionError",
        py.get_type::<CorruptCompressionError>(),
    )?;
    m.add("BadRecordError", py.get_type::<BadRecordError>())?;
    m.add("OutOfOrderError", py.get_type::<OutOfOrderError>())?;
    m.add("BadLineError", py.get_type::<BadLineError>())?;
    m.add("UnknownFormatError", py.get_type::<UnknownFormatError>())?;
    m.add("SchemaMismatchError", py.get_type::<SchemaMismatchError>())?;
    m.add("TooLargeError", py.get_type::<TooLargeError>())?;
    m.add("AuditChainError", py.get_type::<AuditChainError>())?;
    m.add("BookIntegrityError", py.get_type::<BookIntegrityError>())?;
    m.add("ConfigError", py.get_type::<ConfigError>())?;
    m.add("InvalidInputError", py.get_type::<InvalidInputError>())?;
    m.add(
        "FeatureSetMismatchError",
        py.get_type::<FeatureSetMismatchError>(),
    )?;
    m.add("ModelError", py.get_type::<ModelError>())?;
    m.add(
        "OnnxRuntimeUnavailableError",
        py.get_type::<OnnxRuntimeUnavailableError>(),
    )?;
    m.add("ModelContractError", py.get_type::<ModelContractError>())?;
    m.add("ModelFileError", py.get_type::<ModelFileError>())?;
    m.add(
        "UnsupportedModelError",
        py.get_type::<UnsupportedModelError>(),
    )?;
    m.add("InputShapeError", py.get_type::<InputShapeError>())?;
    m.add("InferenceError", py.get_type::<InferenceError>())?;
    m.add("JsonLogicError", py.get_type::<JsonLogicError>())?;
    Ok(())
}

/// Maps a core error to its Python class, with location attributes attached.
pub fn to_py(e: E) -> PyErr {
    let msg = e.to_string();
    let err = match &e {
        E::Io { .. } => CoreIOError::new_err(msg),
        E::EmptyFile { .. } => EmptyFileError::new_err(msg),
        E::BadMagic { .. } => BadMagicError::new_err(msg),
        E::UnsupportedVersion { .. } => UnsupportedVersionError::new_err(msg),
        E::Truncated { .. } => TruncatedError::new_err(msg),
        E::CorruptCompression { .. } => CorruptCompressionError::new_err(msg),
        E::BadRecord { .. } => BadRecordError::new_err(msg),
        E::OutOfOrder { .. } => OutOfOrderError::new_err(msg),
        E::BadLine { .. } => BadLineError::new_err(msg),
        E::UnknownFormat { .. } => UnknownFormatError::new_err(msg),
        E::SchemaMismatch { .. } => SchemaMismatchError::new_err(msg),
        E::TooLarge { .. } => TooLargeError::new_err(msg),
        E::AuditChain { .. } => AuditChainError::new_err(msg),
        E::BookIntegrity(_) => BookIntegrityError::new_err(msg),
        E::Config(_) => ConfigError::new_err(msg),
        E::FeatureSetMismatch { .. } => FeatureSetMismatchError::new_err(msg),
        E::InvalidInput { .. } => InvalidInputError::new_err(msg),
        E::OnnxRuntimeUnavailable { .. } => OnnxRuntimeUnavailableError::new_err(msg),
        E::ModelContract { .. } => ModelContractError::new_err(msg),
        E::ModelFile { .. } => ModelFileError::new_err(msg),
        E::UnsupportedModel { .. } => UnsupportedModelError::new_err(msg),
        E::InputShape { .. } => InputShapeError::new_err(msg),
        E::Inference { .. } => InferenceError::new_err(msg),
        E::JsonLogic { .. } => JsonLogicError::new_err(msg),
    };
    Python::attach(|py| {
        let value = err.value(py);
        let path = e.path().map(|p| p.display().to_string());
        let pos = e.position();
        let line = match &e {
            E::BadLine { line, .. } => Some(*line),
            _ => None,
        };
        let _ = value.setattr("path", path);
        let _ = value.setattr("record", pos.map(|p| p.record).or(line));
        let _ = value.setattr("offset", pos.map(|p| p.offset));
        if let E::ModelContract { mismatches, .. } = &e {
            let _ = value.setattr("mismatches", mismatches.clone());
        }
    });
    err
}

/// Keys of `kw` not in `known`, in the caller's order: a binding taking keyword settings
/// refuses a typo instead of silently falling back to a default.
pub fn unknown_keys(kw: &Bound<'_, pyo3::types::PyDict>, known: &[&str]) -> PyResult<Vec<String>> {
    let mut out = Vec::new();
    for k in kw.keys() {
        let k: String = k.extract()?;
        if !known.contains(&k.as_str()) {
            out.push(k);
        }
    }
    Ok(out)
}

/// An integer argument converted to `T`, or `InvalidInputError` naming the argument and its
/// value: bindings take counts and ids as i128 so that a negative or oversized value is a
/// typed error, not pyo3's `OverflowError`.
pub fn int_arg<T: TryFrom<i128>>(what: &str, v: i128) -> PyResult<T> {
    T::try_from(v).map_err(|_| {
        to_py(E::invalid(
            what,
            format!(
                "{v} is out of range (an unsigned {}-bit integer)",
                std::mem::size_of::<T>() * 8
            ),
        ))
    })
}
