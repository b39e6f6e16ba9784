//! Single-row inference latency of the bench models (built by
//! `bench/peers/make_infer_models.py` into build/bench/models/, see the Makefile's `bench`):
//! ONNX Runtime through `ort` and the native LightGBM evaluator, each call one row of
//! `bench_rows.f32` (cycled). Before criterion runs, each case is timed call by call
//! (100k calls after 5k warm-up) and its median/p99/p99.9 printed, since criterion reports
//! means and medians only. ONNX Runtime comes from `$ORT_DYLIB_PATH` (the Makefile exports it
//! from the virtualenv's onnxruntime wheel).
//!
//! Run: `make bench`, or after building the models:
//! `ORT_DYLIB_PATH=... cargo bench -p tradecore-bench --bench infer`.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};
use tradecore::infer::{init_onnxruntime, LoadOptions, Model};

fn models_dir() -> PathBuf {
    std::env::var_os("TRADECORE_BENCH_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../build/bench/models"))
}

fn rows(dir: &Path) -> Vec<f32> {
    let bytes = std::fs::read(dir.join("bench_rows.f32")).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; build the models first: .venv/bin/python bench/peers/make_infer_models.py",
            dir.display()
        )
    });
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// (label, model folder, use native trees)
const CASES: &[(&str, &str, bool)] = &[
    ("gbt100/native-trees", "gbt100", true),
    ("gbt100/ort", "gbt100", false),
    ("gbt3x100/native-trees", "gbt3x100", true),
    ("gbt3x100/ort", "gbt3x100", false),
    ("lstm/ort", "lstm", false),
];

fn load(name: &str, native: bool) -> (Model, Vec<f32>) {
    let dir = models_dir().join(name);
    let opts = LoadOptions {
        prefer_native: native,
        ..LoadOptions::default()
    };
    let model = Model::load(&dir, &opts).unwrap_or_else(|e| panic!("{e}"));
    (model, rows(&dir))
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Per-call latency, timed call by call; the timer's own cost is measured and subtracted.
fn print_percentiles() {
    let timer = {
        let mut v: Vec<u64> = (0..10_000)
            .map(|_| {
                let t = Instant::now();
                black_box(());
                t.elapsed().as_nanos() as u64
            })
            .collect();
        v.sort_unstable();
        v[v.len() / 2]
    };
    eprintln!("single-row latency (ns, timer overhead {timer} ns subtracted):");
    eprintln!(
        "{:<24} {:>8} {:>8} {:>8} {:>8}",
        "case", "median", "p99", "p99.9", "mean"
    );
    for &(label, name, native) in CASES {
        let (mut m, x) = load(name, native);
        let len = m.row_len();
        let mut out = vec![0.0; m.n_classes()];
        let n_rows = x.len() / len;
        for i in 0..5_000 {
            let r = &x[(i % n_rows) * len..][..len];
            m.predict_proba(r, 1, &mut out).unwrap();
        }
        let mut ns: Vec<u64> = (0..100_000)
            .map(|i| {
                let r = &x[(i % n_rows) * len..][..len];
                let t = Instant::now();
                m.predict_proba(black_box(r), 1, &mut out).unwrap();
                black_box(&out);
                (t.elapsed().as_nanos() as u64).saturating_sub(timer)
            })
            .collect();
        ns.sort_unstable();
        let mean = ns.iter().sum::<u64>() as f64 / ns.len() as f64;
        eprintln!(
            "{label:<24} {:>8} {:>8} {:>8} {mean:>8.0}",
            percentile(&ns, 0.5),
            percentile(&ns, 0.99),
            percentile(&ns, 0.999)
        );
    }
}

fn bench(c: &mut Criterion) {
    init_onnxruntime(None).unwrap_or_else(|e| panic!("{e}"));
    print_percentiles();
    let mut g = c.benchmark_group("infer_single_row");
    for &(label, name, native) in CASES {
        let (mut m, x) = load(name, native);
        let len = m.row_len();
        let n_rows = x.len() / len;
        let mut out = vec![0.0; m.n_classes()];
        let mut i = 0;
        g.bench_function(label, |b| {
            b.iter(|| {
                let r = &x[(i % n_rows) * len..][..len];
                i += 1;
                m.predict_proba(black_box(r), 1, &mut out).unwrap();
                black_box(&out);
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
