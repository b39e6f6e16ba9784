//! The engine trading on a real model: the committed golden LightGBM export, published into
//! a registry with its five inputs declared as one-second bar returns, serves predictions
//! through `ModelPredictor` while the engine streams 1s bars of a synthetic MBO session. A
//! model trained on other features is refused at construction with every mismatch named.

use std::path::{Path, PathBuf};

use common::runtime;
use sha2::{Digest, Sha256};
use tradecore::bars::Timeframe;
use tradecore::engine::{
    specs_for_files, Backtest, Engine, EngineConfig, Predictor, Telemetry, Trade,
};
use tradecore::features::FeatureSet;
use tradecore::infer::predictor::ModelSource;
use tradecore::infer::{GateReason, LoadOptions, ModelPredictor};
use tradecore::synth::{synth_mbo, SynthConfig};
use tradecore::CoreError;

mod common;

const NAMES: [&str; 5] = [
    "tf1s_ret_1",
    "tf1s_ret_2",
    "tf1s_ret_3",
    "tf1s_ret_5",
    "tf1s_ret_10",
];

fn golden() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/lgbm_small")
}

fn scratch(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "tradecore-engine-model-{tag}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Copies the golden export to `<root>/demo/v1`, its feature set renamed to `names` (with
/// their real hash, in the manifest and the LightGBM dump, whose sha256 is updated) and
/// `class_values` replaced when given; sets the production alias.
fn publish(root: &Path, names: &[&str], class_values: Option<Vec<i64>>) -> PathBuf {
    let dest = publish_version(root, "v1", names, class_values);
    set_production(root, "v1");
    dest
}

fn set_production(root: &Path, version: &str) {
    common::set_production(root, "demo", version);
}

fn publish_version(
    root: &Path,
    version: &str,
    names: &[&str],
    class_values: Option<Vec<i64>>,
) -> PathBuf {
    let dest = root.join("demo").join(version);
    std::fs::create_dir_all(&dest).unwrap();
    std::fs::copy(golden().join("model.onnx"), dest.join("model.onnx")).unwrap();
    let dump = std::fs::read_to_string(golden().join("model.lgbm.txt")).unwrap();
    let dump: String = dump
        .lines()
        .map(|l| {
            if l.starts_with("feature_names=") {
                format!("feature_names={}\n", names.join(" "))
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(dest.join("model.lgbm.txt"), &dump).unwrap();
    let sha: String = Sha256::digest(dump.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(golden().join("manifest.json")).unwrap())
            .unwrap();
    let fs = FeatureSet::from_names(names).unwrap();
    m["model_id"] = version.into();
    m["feature_set"]["names"] = serde_json::json!(names);
    m["feature_set"]["hash"] = fs.hash().into();
    m["feature_set"]["timeframe"] = "1s".into();
    m["native"]["sha256"] = sha.into();
    if let Some(cv) = class_values {
        m["class_values"] = serde_json::json!(cv);
    }
    std::fs::write(dest.join("manifest.json"), m.to_string()).unwrap();
    dest
}

fn synth(dir: &Path) -> PathBuf {
    let path = dir.join("es.mbo.dbn.zst");
    let cfg = SynthConfig {
        events: 60_000,
        seed: 5,
        ..SynthConfig::default()
    };
    synth_mbo(&path, &cfg, None).unwrap();
    path
}

fn config(paths: &[PathBuf], features: FeatureSet) -> EngineConfig {
    EngineConfig {
        specs: specs_for_files(paths, None, 1.0)
            .unwrap()
            .into_iter()
            .map(|(s, _, _)| s)
            .collect(),
        features,
        bar_timeframe: Timeframe::parse("1s").unwrap(),
        vol_min_samples: 10,
        ..EngineConfig::default()
    }
}

fn run(paths: &[PathBuf], predictor: ModelPredictor) -> (Telemetry, Vec<Trade>) {
    let engine = Engine::new(
        config(paths, FeatureSet::from_names(&NAMES).unwrap()),
        Box::new(predictor),
    )
    .unwrap();
    let mut bt = Backtest::new(paths, engine).unwrap();
    bt.run().unwrap();
    (bt.engine.telemetry.clone(), bt.engine.trades.clone())
}

#[test]
fn the_production_model_drives_the_engine_and_gated_rows_are_counted() {
    runtime();
    let dir = scratch("serve");
    let dest = publish(&dir.join("registry"), &NAMES, None);
    let paths = vec![synth(&dir)];
    let fs = FeatureSet::from_names(&NAMES).unwrap();

    let p =
        ModelPredictor::from_registry(&dir.join("registry"), "demo", &fs, LoadOptions::default())
            .unwrap();
    assert_eq!(p.version(), "v1");
    assert!(p.control().is_some());
    let counters = p.counters();
    let (t, trades) = run(&paths, p);
    assert!(t.signals > 0, "no predictions: {t:?}");
    // Every signal the engine saw is a prediction the gate passed, and the warm-up rows
    // (NaN returns before ten bars) were withheld, not predicted.
    assert_eq!(t.signals, counters.passed());
    assert!(
        counters.gated(GateReason::NonFinite) > 0,
        "{:?}",
        counters.snapshot()
    );
    assert!(t.decisions + t.holds_by_reason.iter().map(|(_, n)| n).sum::<u64>() > 0);

    // The same model from its folder: the same run, bit for bit.
    let p = ModelPredictor::from_dir(&dest, &fs, LoadOptions::default()).unwrap();
    assert!(p.control().is_none());
    let (t2, trades2) = run(&paths, p);
    assert_eq!(t2.signals, t.signals);
    assert_eq!(t2.fills, t.fills);
    assert_eq!(format!("{trades2:?}"), format!("{trades:?}"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_model_trained_on_other_features_is_refused_with_each_mismatch() {
    runtime();
    let dir = scratch("mismatch");
    let dest = publish(&dir.join("registry"), &NAMES, None);
    let micro = FeatureSet::default_micro();
    let err = ModelPredictor::from_dir(&dest, &micro, LoadOptions::default())
        .err()
        .expect("refused");
    match &err {
        CoreError::ModelContract { mismatches, .. } => {
            let all = mismatches.join("; ");
            assert!(all.contains("feature_set.hash"), "{all}");
            assert!(all.contains("tf1s_ret_1"), "{all}");
        }
        other => panic!("expected ModelContract, got {other:?}"),
    }
    // Same names, another timeframe: other features, refused too (through the registry).
    let other = FeatureSet::from_names(&[
        "tf5s_ret_1",
        "tf5s_ret_2",
        "tf5s_ret_3",
        "tf5s_ret_5",
        "tf5s_ret_10",
    ])
    .unwrap();
    let err = ModelPredictor::from_registry(
        &dir.join("registry"),
        "demo",
        &other,
        LoadOptions::default(),
    )
    .err()
    .expect("refused");
    assert!(err.to_string().contains("feature_set.hash"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn class_values_outside_sell_hold_buy_are_refused() {
    runtime();
    let dir = scratch("classes");
    let dest = publish(&dir.join("registry"), &NAMES, Some(vec![-1, 0, 2]));
    let fs = FeatureSet::from_names(&NAMES).unwrap();
    let err = ModelPredictor::from_dir(&dest, &fs, LoadOptions::default())
        .err()
        .expect("refused");
    assert!(err.to_string().contains("class_values"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Serves one row at a time until `done` holds (bounded): the loader thread works while the
/// hot path keeps predicting, as in the engine.
fn serve_until(p: &mut ModelPredictor, done: impl Fn(&ModelPredictor) -> bool) -> u64 {
    let row = [0.1f32, -0.2, 0.3, 0.0, 1.0];
    let mut out = [0.0f32; 3];
    for n in 1..=20_000u64 {
        assert!(p.predict(1, 0, &row, &mut out).unwrap().is_some());
        if done(p) {
            return n;
        }
        std::thread::sleep(std::time::Duration::from_micros(200));
    }
    panic!("the swap request never settled");
}

#[test]
fn a_promotion_swaps_in_between_events_unless_its_features_differ() {
    runtime();
    let dir = scratch("swap");
    let root = dir.join("registry");
    publish(&root, &NAMES, None);
    let fs = FeatureSet::from_names(&NAMES).unwrap();
    let mut p = ModelPredictor::from_registry(&root, "demo", &fs, LoadOptions::default()).unwrap();
    let control = p.control().unwrap();
    let counters = p.counters();

    // v2 was trained on 5s bars: the loader refuses it, v1 keeps serving, an alert says why.
    let five_s = [
        "tf5s_ret_1",
        "tf5s_ret_2",
        "tf5s_ret_3",
        "tf5s_ret_5",
        "tf5s_ret_10",
    ];
    publish_version(&root, "v2", &five_s, None);
    set_production(&root, "v2");
    control.request_swap().unwrap();
    let mut served = serve_until(&mut p, |_| !control.alerts().is_empty());
    assert_eq!(p.version(), "v1");
    let alerts = control.alerts();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].version, "v2");
    assert!(
        alerts[0].error.contains("feature_set.hash"),
        "{}",
        alerts[0].error
    );

    // v3 streams the same features: it takes over between two events.
    publish_version(&root, "v3", &NAMES, None);
    set_production(&root, "v3");
    control.request_swap().unwrap();
    served += serve_until(&mut p, |p| p.version() == "v3");
    assert_eq!(control.alerts().len(), 1);
    // the run's counters span both versions
    assert_eq!(counters.passed(), served);
    drop(p);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn for_engine_streams_the_model_features_and_sources_are_checked() {
    runtime();
    let dir = scratch("source");
    let root = dir.join("registry");
    publish(&root, &NAMES, None);
    let src = ModelSource::from_parts(Some(root.clone()), Some("demo".into()), None)
        .unwrap()
        .unwrap();
    let mut cfg = EngineConfig::default();
    assert!(cfg.features.is_micro());
    let p = ModelPredictor::for_engine(&src, &mut cfg, LoadOptions::default()).unwrap();
    assert_eq!(p.version(), "v1");
    assert_eq!(cfg.features.names(), NAMES);
    assert_eq!(cfg.bar_timeframe, Timeframe::parse("1s").unwrap());

    assert_eq!(ModelSource::from_parts(None, None, None).unwrap(), None);
    for bad in [
        ModelSource::from_parts(Some(root.clone()), None, None),
        ModelSource::from_parts(None, Some("demo".into()), Some(root.clone())),
    ] {
        let e = bad.unwrap_err().to_string();
        assert!(e.contains("registry and family, or path"), "{e}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
