//! `ModelSlot` hot-swap from Rust: a registry of copies of the committed golden model under
//! different versions (one with a corrupt ONNX file); events stream through the slot while
//! the production alias moves. Each event is served by exactly one version, swaps land in
//! alias order, the broken version never serves and becomes an alert.

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::runtime;
use tradecore::infer::{LoadOptions, ModelSlot};

mod common;

fn golden() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/lgbm_small")
}

/// Copies the golden export to `<root>/fam/<version>` with its model_id set to `version`.
fn publish(root: &Path, version: &str) -> PathBuf {
    let dest = root.join("fam").join(version);
    std::fs::create_dir_all(&dest).unwrap();
    for f in ["model.onnx", "model.lgbm.txt"] {
        std::fs::copy(golden().join(f), dest.join(f)).unwrap();
    }
    let mut m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(golden().join("manifest.json")).unwrap())
            .unwrap();
    m["model_id"] = version.into();
    std::fs::write(dest.join("manifest.json"), m.to_string()).unwrap();
    dest
}

fn set_production(root: &Path, version: &str) {
    common::set_production(root, "fam", version);
}

#[test]
fn swaps_land_between_events_and_a_failed_load_is_an_alert() {
    runtime();
    let root = std::env::temp_dir().join(format!("tradecore-swap-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    for v in ["v1", "v2", "v4"] {
        publish(&root, v);
    }
    let broken = publish(&root, "v3");
    std::fs::write(broken.join("model.onnx"), b"not onnx").unwrap();
    set_production(&root, "v1");

    let mut slot = ModelSlot::open(&root, "fam", LoadOptions::default()).unwrap();
    let control = slot.control();
    let row = [0.1f32, -0.2, 0.3, 0.0, 1.0];
    let mut out = [0.0; 3];
    let mut served: Vec<String> = Vec::new();
    // One event on v1 before any swap is requested: on a loaded machine the loader can
    // otherwise finish the first swap before the first event is served.
    assert!(slot.infer_row(&row, 0, &mut out).unwrap().is_none());
    served.push(slot.version().to_string());
    for target in ["v2", "v3", "v4"] {
        set_production(&root, target);
        control.request_swap().unwrap();
        let alerts_before = control.alerts().len();
        // Keep serving events until the request settles (swap or alert), bounded.
        for _ in 0..20_000 {
            let r = slot.infer_row(&row, 0, &mut out).unwrap();
            assert!(r.is_none());
            served.push(slot.version().to_string());
            if slot.version() == target || control.alerts().len() > alerts_before {
                break;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    let mut runs: Vec<&str> = served.iter().map(String::as_str).collect();
    runs.dedup();
    assert_eq!(runs, ["v1", "v2", "v4"]);
    assert_eq!(slot.swaps(), 2);
    assert_eq!(slot.events() as usize, served.len());
    assert_eq!(control.events() as usize, served.len());
    let alerts = control.alerts();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].version, "v3");
    assert!(
        alerts[0].error.contains("model.onnx"),
        "{}",
        alerts[0].error
    );
    drop(slot);
    let _ = std::fs::remove_dir_all(&root);
}
