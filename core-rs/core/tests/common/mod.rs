//! Helpers for integration tests: the real market data beside the repo.
#![allow(dead_code)]

use std::path::PathBuf;

/// `../shared/data` (or `$SHARED_DATA`), where the real DBN/LOBSTER fixtures live.
pub fn shared_data() -> PathBuf {
    std::env::var_os("SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"))
}

pub fn esh4_mbo() -> PathBuf {
    shared_data().join("dbn/nautilus/esh4-glbx-mdp3-20231225.mbo.dbn.zst")
}
