//! The native tree evaluator and the ONNX Runtime backend against LightGBM's own outputs on a
//! committed small model (tests/data/lgbm_small, written by tests/fixtures/make_lgbm_golden.py),
//! and the load-time contract against the engine's FeatureSet. ONNX Runtime comes from
//! `ORT_DYLIB_PATH` (the Makefile exports it from the virtualenv's onnxruntime wheel).

use std::path::{Path, PathBuf};

use common::runtime;
use tradecore::features::FeatureSet;
use tradecore::infer::{LoadOptions, Model, TreeEnsemble};
use tradecore::CoreError;

mod common;

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/lgbm_small")
}

struct Golden {
    names: Vec<String>,
    rows: Vec<f32>,
    probs: Vec<f64>,
}

fn golden() -> Golden {
    let text = std::fs::read_to_string(data().join("golden.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let names = v["feature_names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    let rows = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r.as_array().unwrap().iter())
        .map(|x| x.as_f64().map_or(f32::NAN, |f| f as f32))
        .collect();
    let probs = v["probabilities"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r.as_array().unwrap().iter())
        .map(|x| x.as_f64().unwrap())
        .collect();
    Golden { names, rows, probs }
}

fn max_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

#[test]
fn native_trees_match_lightgbm() {
    runtime();
    let g = golden();
    let n = g.rows.len() / 5;
    assert!(g.rows.iter().any(|v| v.is_nan()) && g.rows.contains(&0.0));
    let mut m = Model::load(&data(), &LoadOptions::default()).unwrap();
    assert_eq!(m.backend_name(), "native-trees");
    let mut out = vec![0.0; n * 3];
    m.predict_proba(&g.rows, n, &mut out).unwrap();
    assert!(
        max_diff(&out, &g.probs) <= 1e-12,
        "{}",
        max_diff(&out, &g.probs)
    );
    // The bare evaluator, row by row, gives the same.
    let t = TreeEnsemble::load(&data().join("model.lgbm.txt")).unwrap();
    assert_eq!((t.num_trees(), t.num_features, t.num_classes()), (24, 5, 3));
    let mut row_out = [0.0; 3];
    t.predict_row(&g.rows[..5], &mut row_out);
    assert_eq!(&row_out[..], &out[..3]);
}

#[test]
fn onnx_backend_matches_lightgbm_in_float32() {
    runtime();
    let g = golden();
    let n = g.rows.len() / 5;
    let opts = LoadOptions {
        prefer_native: false,
        ..LoadOptions::default()
    };
    let mut m = Model::load(&data(), &opts).unwrap();
    assert_eq!(m.backend_name(), "onnx");
    let mut out = vec![0.0; n * 3];
    m.predict_proba(&g.rows, n, &mut out).unwrap();
    assert!(
        max_diff(&out, &g.probs) <= 1e-5,
        "{}",
        max_diff(&out, &g.probs)
    );
    let mut one = [0.0; 3];
    m.predict_proba(&g.rows[5..10], 1, &mut one).unwrap();
    assert!(max_diff(&one, &out[3..6]) <= 1e-7);
}

#[test]
fn the_engine_feature_set_is_part_of_the_contract() {
    runtime();
    let g = golden();
    let same = LoadOptions {
        feature_set: Some(FeatureSet::from_names(&g.names).unwrap()),
        ..LoadOptions::default()
    };
    Model::load(&data(), &same).unwrap();
    let mut other_names = g.names.clone();
    other_names.swap(0, 1);
    let other = LoadOptions {
        feature_set: Some(FeatureSet::from_names(&other_names).unwrap()),
        ..LoadOptions::default()
    };
    let Err(CoreError::ModelContract { mismatches, .. }) = Model::load(&data(), &other) else {
        panic!("a reordered feature set must be refused");
    };
    assert_eq!(mismatches.len(), 2, "{mismatches:?}");
    assert!(mismatches[0].contains("feature_set.hash"));
    assert!(mismatches[1].contains("first difference at column 0"));
}

#[test]
fn wrong_input_length_is_typed() {
    runtime();
    let mut m = Model::load(&data(), &LoadOptions::default()).unwrap();
    let mut out = [0.0; 3];
    let err = m.predict_proba(&[0.0; 4], 1, &mut out).unwrap_err();
    assert!(matches!(err, CoreError::InputShape { .. }), "{err}");
}
