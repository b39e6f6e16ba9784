//! Helpers for integration tests: the real market data beside the repo.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use tradecore::infer::init_onnxruntime;

/// `../shared/data` (or `$SHARED_DATA`), where the real DBN/LOBSTER fixtures live.
pub fn shared_data() -> PathBuf {
    std::env::var_os("SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"))
}

pub fn esh4_mbo() -> PathBuf {
    shared_data().join("dbn/nautilus/esh4-glbx-mdp3-20231225.mbo.dbn.zst")
}

/// Loads ONNX Runtime once per test binary: `$ORT_DYLIB_PATH` (what `make test-rust`
/// exports), else the repo virtualenv's onnxruntime wheel, so a bare `cargo test` works in a
/// checkout where `make setup` ran.
pub fn runtime() {
    if std::env::var_os("ORT_DYLIB_PATH").is_some() {
        init_onnxruntime(None).expect("ORT_DYLIB_PATH must name libonnxruntime.so.*");
        return;
    }
    let capi = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../.venv/lib/python3.11/site-packages/onnxruntime/capi");
    let lib = std::fs::read_dir(&capi)
        .unwrap_or_else(|e| panic!("set ORT_DYLIB_PATH (no {}: {e})", capi.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("libonnxruntime.so."))
        })
        .expect("libonnxruntime.so.* in the onnxruntime wheel");
    init_onnxruntime(Some(&lib)).unwrap();
}
