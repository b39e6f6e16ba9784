//! Typed errors of the core. Every variant names the input (file) and the place
//! (record index and/or byte offset, or row) so a user can find the bad bytes.
//! The PyO3 crate maps each variant to one class of the `pycontrol.CoreError` tree.

use std::path::{Path, PathBuf};

/// Where in a file an error happened. `record` counts records from 0 (after the
/// metadata header); `offset` is the byte offset in the decompressed DBN stream,
/// or in the compressed file for compression errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Position {
    pub record: u64,
    pub offset: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: empty file (0 bytes)")]
    EmptyFile { path: PathBuf },
    #[error("{path}: not a DBN file: magic bytes {found:02x?} are neither 'DBN' nor zstd")]
    BadMagic { path: PathBuf, found: Vec<u8> },
    #[error("{path}: unsupported DBN version {version} (supported: 1-3)")]
    UnsupportedVersion { path: PathBuf, version: u8 },
    #[error("{path}: truncated at record {} (byte offset {}): {detail}", .at.record, .at.offset)]
    Truncated {
        path: PathBuf,
        at: Position,
        detail: String,
    },
    #[error(
        "{path}: corrupt zstd stream near compressed byte offset {compressed_offset}: {detail}"
    )]
    CorruptCompression {
        path: PathBuf,
        compressed_offset: u64,
        detail: String,
    },
    #[error("{path}: bad record at record {} (byte offset {}): {detail}", .at.record, .at.offset)]
    BadRecord {
        path: PathBuf,
        at: Position,
        detail: String,
    },
    #[error(
        "{path}: record {} (byte offset {}) is out of time order: ts_recv {ts} < previous {prev}",
        .at.record, .at.offset
    )]
    OutOfOrder {
        path: PathBuf,
        at: Position,
        prev: u64,
        ts: u64,
    },
    /// A record's type does not fit the file: the header declares one schema and a record
    /// of another type follows, or a file of several types is read as one.
    #[error("{path}: record {} (byte offset {}): {detail}", .at.record, .at.offset)]
    SchemaMismatch {
        path: PathBuf,
        at: Position,
        detail: String,
    },
    /// An input is larger (or nested deeper) than the reader accepts: refused before it is
    /// read whole, so a small file cannot make the process allocate without bound.
    #[error("{path}: too large: {detail}")]
    TooLarge { path: PathBuf, detail: String },
    #[error("{path}: line {line}: {detail}")]
    BadLine {
        path: PathBuf,
        line: u64,
        detail: String,
    },
    #[error("{path}: unknown or unsupported format: {detail}")]
    UnknownFormat { path: PathBuf, detail: String },
    #[error("book integrity: {0}")]
    BookIntegrity(String),
    #[error("invalid config: {0}")]
    Config(String),
    #[error("feature set mismatch: the model was trained on feature set {model}, the engine computes {engine}")]
    FeatureSetMismatch { model: String, engine: String },
    /// A value handed to a decision, sizing or risk function is unusable (NaN probability,
    /// zero tick size, ...). `what` names the argument or field, so the caller knows which.
    #[error("invalid input {what}: {detail}")]
    InvalidInput { what: String, detail: String },
    /// The ONNX Runtime shared library could not be found or loaded.
    #[error("ONNX Runtime unavailable: {detail} (looked at: {looked})")]
    OnnxRuntimeUnavailable { looked: String, detail: String },
    /// A model folder's manifest, files and the engine disagree; every mismatch is listed.
    #[error("{path}: model contract violated ({} mismatch(es)): {}", .mismatches.len(), .mismatches.join("; "))]
    ModelContract {
        path: PathBuf,
        mismatches: Vec<String>,
    },
    /// A model file (ONNX, LightGBM text dump) is corrupt or cannot be read by its backend.
    #[error("{path}: bad model file: {detail}")]
    ModelFile { path: PathBuf, detail: String },
    /// A well-formed model uses something this engine does not evaluate (categorical
    /// splits, an unknown objective): refused rather than evaluated wrongly.
    #[error("{path}: unsupported model: {detail}")]
    UnsupportedModel { path: PathBuf, detail: String },
    /// An inference input has the wrong shape or length for the loaded model.
    #[error("bad inference input for model {model}: {detail}")]
    InputShape { model: String, detail: String },
    /// The runtime failed while running a loaded model.
    #[error("inference failed in model {model}: {detail}")]
    Inference { model: String, detail: String },
    #[error("json-logic rule {rule}: {detail}")]
    JsonLogic { rule: String, detail: String },
    /// The model registry's hash-chained audit trail is broken, or does not vouch for the
    /// version an alias names (a hand-edited `aliases.json`, a manifest changed after it
    /// was registered): the version is refused rather than served.
    #[error("{path}: audit chain refuses it: {detail}")]
    AuditChain { path: PathBuf, detail: String },
}

pub type Result<T> = std::result::Result<T, CoreError>;

impl CoreError {
    pub fn invalid(what: impl Into<String>, detail: impl Into<String>) -> Self {
        CoreError::InvalidInput {
            what: what.into(),
            detail: detail.into(),
        }
    }

    pub fn io(path: &Path, source: std::io::Error) -> Self {
        CoreError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// The file this error is about, when it is about one.
    pub fn path(&self) -> Option<&Path> {
        match self {
            CoreError::Io { path, .. }
            | CoreError::EmptyFile { path }
            | CoreError::BadMagic { path, .. }
            | CoreError::UnsupportedVersion { path, .. }
            | CoreError::Truncated { path, .. }
            | CoreError::CorruptCompression { path, .. }
            | CoreError::BadRecord { path, .. }
            | CoreError::OutOfOrder { path, .. }
            | CoreError::BadLine { path, .. }
            | CoreError::SchemaMismatch { path, .. }
            | CoreError::TooLarge { path, .. }
            | CoreError::AuditChain { path, .. }
            | CoreError::UnknownFormat { path, .. }
            | CoreError::ModelContract { path, .. }
            | CoreError::ModelFile { path, .. }
            | CoreError::UnsupportedModel { path, .. } => Some(path),
            CoreError::BookIntegrity(_)
            | CoreError::Config(_)
            | CoreError::FeatureSetMismatch { .. }
            | CoreError::InvalidInput { .. }
            | CoreError::OnnxRuntimeUnavailable { .. }
            | CoreError::InputShape { .. }
            | CoreError::Inference { .. }
            | CoreError::JsonLogic { .. } => None,
        }
    }

    /// Record index and byte offset, when the error has them.
    pub fn position(&self) -> Option<Position> {
        match self {
            CoreError::Truncated { at, .. }
            | CoreError::BadRecord { at, .. }
            | CoreError::OutOfOrder { at, .. }
            | CoreError::SchemaMismatch { at, .. } => Some(*at),
            CoreError::CorruptCompression {
                compressed_offset, ..
            } => Some(Position {
                record: 0,
                offset: *compressed_offset,
            }),
            _ => None,
        }
    }
}
