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

/// Points `family`'s production alias at `version` the way the registry does: writes
/// `aliases.json` and appends audited moves to `<root>/audit.jsonl` (a registration with the
/// manifest's sha256 the first time a version is seen, then the alias move), so the core's
/// audit check vouches for it.
pub fn set_production(root: &Path, family: &str, version: &str) {
    use sha2::{Digest, Sha256};
    let hex = |b: &[u8]| -> String {
        Sha256::digest(b)
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect()
    };
    let audit = root.join("audit.jsonl");
    let text = std::fs::read_to_string(&audit).unwrap_or_default();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let mut append = |entry: serde_json::Value| {
        let mut e = entry;
        e["seq"] = lines.len().into();
        e["prev"] = lines
            .last()
            .map_or("0".repeat(64), |l| hex(l.as_bytes()))
            .into();
        lines.push(e.to_string());
    };
    let registered = text.lines().any(|l| {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        v["action"] == "register" && v["family"] == family && v["to"] == version
    });
    if !registered {
        let manifest =
            std::fs::read(root.join(family).join(version).join("manifest.json")).unwrap();
        append(
            serde_json::json!({"action": "register", "family": family, "alias": "candidate",
            "to": version, "moved": true, "evaluation": {"manifest_sha256": hex(&manifest)}}),
        );
    }
    append(
        serde_json::json!({"action": "promote", "family": family, "alias": "production",
        "to": version, "moved": true}),
    );
    std::fs::write(&audit, lines.join("\n") + "\n").unwrap();
    let tmp = root.join(family).join("aliases.json.tmp");
    std::fs::write(&tmp, format!(r#"{{"production": "{version}"}}"#)).unwrap();
    std::fs::rename(tmp, root.join(family).join("aliases.json")).unwrap();
}
