//! Loading ONNX Runtime. The core links nothing at build time (`ort` with `load-dynamic`):
//! the shared library is the one inside the installed `onnxruntime` Python wheel, whose path
//! the control plane passes in ([`init_onnxruntime`]) or tests and benches give through
//! `ORT_DYLIB_PATH`. `ort` itself panics when it has to find the library on its own, so every
//! session is created through [`ensure_onnxruntime`], which loads it first or returns a typed
//! error saying where it looked.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use crate::error::{CoreError, Result};

/// The library `ort` was initialised from; set once per process (ort cannot reload).
static LOADED: OnceLock<PathBuf> = OnceLock::new();
/// Serialises first initialisation so two threads cannot race `ort::init_from`.
static INIT: Mutex<()> = Mutex::new(());

/// The environment variable read when no path is passed in.
pub const ORT_DYLIB_ENV: &str = "ORT_DYLIB_PATH";

/// Loads ONNX Runtime from `path`, or from `$ORT_DYLIB_PATH` when `path` is None, and
/// returns the library in use. A path that does not exist is always an error, even after
/// the runtime is loaded; once loaded, later calls with another existing path keep the
/// first library (one runtime per process) and return its path.
pub fn init_onnxruntime(path: Option<&Path>) -> Result<PathBuf> {
    let path = match path {
        Some(p) => p.to_path_buf(),
        None => match std::env::var_os(ORT_DYLIB_ENV) {
            Some(v) if !v.is_empty() => PathBuf::from(v),
            _ => {
                if let Some(p) = LOADED.get() {
                    return Ok(p.clone());
                }
                return Err(CoreError::OnnxRuntimeUnavailable {
                    looked: format!("${ORT_DYLIB_ENV} (unset)"),
                    detail: "no library path given; pass the path of the onnxruntime wheel's \
                             capi/libonnxruntime.so.* or set ORT_DYLIB_PATH"
                        .into(),
                });
            }
        },
    };
    if !path.is_file() {
        return Err(CoreError::OnnxRuntimeUnavailable {
            looked: path.display().to_string(),
            detail: "no such file".into(),
        });
    }
    let _guard = INIT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = LOADED.get() {
        return Ok(p.clone());
    }
    let builder = ort::init_from(&path).map_err(|e| CoreError::OnnxRuntimeUnavailable {
        looked: path.display().to_string(),
        detail: e.to_string(),
    })?;
    // Our own sessions pick their thread counts; the global environment stays default.
    let _ = builder.with_name("tradecore").commit();
    let _ = LOADED.set(path.clone());
    Ok(path)
}

/// The runtime in use, loading it from `$ORT_DYLIB_PATH` if nothing loaded it yet.
pub fn ensure_onnxruntime() -> Result<&'static Path> {
    if let Some(p) = LOADED.get() {
        return Ok(p);
    }
    init_onnxruntime(None)?;
    Ok(LOADED.get().expect("set by init_onnxruntime"))
}

/// The path of the loaded runtime library, if one is loaded.
pub fn onnxruntime_path() -> Option<&'static Path> {
    LOADED.get().map(PathBuf::as_path)
}
