//! Criterion benches of feature drift (`tradecore::drift`) on a 260-feature set:
//! - `drift_row_watch`: one row into the engine's `DriftWatch` (window 500, checked every 50
//!   rows: the checks' PSI/KS over 260 features x 10 bins are amortised into the figure).
//! - `drift_row_push`: the monitor's ring-buffer update alone (binning + counts).
//! - `drift_check`: one check of every feature (PSI and KS from the counts).
//!
//! Before criterion runs, rows are timed one by one through the watch and the median / p99
//! per row printed (timer overhead subtracted). Run with `make bench` (or `cargo bench -p
//! tradecore-bench --bench drift`).

use std::hint::black_box;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};
use tradecore::drift::{DriftMonitor, DriftReference, DriftSettings, DriftWatch, FeatureReference};

const FEATURES: usize = 260;
const ROWS: usize = 4096;

/// Deterministic standard normals (xorshift + Box-Muller).
fn normals(seed: u64, n: usize) -> Vec<f64> {
    let mut s = seed.max(1);
    let mut u = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        ((s >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    (0..n)
        .map(|_| (-2.0 * u().ln()).sqrt() * (2.0 * std::f64::consts::PI * u()).cos())
        .collect()
}

/// Decile reference of standard normals for every feature (the exporter's binning).
fn reference() -> DriftReference {
    let mut s = normals(1, 20_000);
    s.sort_by(|a, b| a.total_cmp(b));
    let edges: Vec<f64> = (1..10).map(|k| s[k * s.len() / 10]).collect();
    let features = (0..FEATURES)
        .map(|i| FeatureReference {
            name: format!("f{i}"),
            edges: edges.clone(),
            shares: vec![0.1; 10],
            nan_share: 0.0,
        })
        .collect();
    DriftReference {
        features,
        rows: 20_000,
        calibration: None,
    }
}

/// Live rows: normals shifted by a quarter sigma, 1% NaN (as warm-up features are).
fn rows() -> Vec<Vec<f64>> {
    let xs = normals(2, ROWS * FEATURES);
    xs.chunks(FEATURES)
        .enumerate()
        .map(|(r, c)| {
            c.iter()
                .enumerate()
                .map(|(f, x)| {
                    if (r * 31 + f) % 100 == 0 {
                        f64::NAN
                    } else {
                        x + 0.25
                    }
                })
                .collect()
        })
        .collect()
}

fn per_row_median() {
    let mut w = DriftWatch::new(DriftSettings::new(reference()));
    let rows = rows();
    for r in &rows {
        w.on_row(0, 1, 0, r).unwrap();
    }
    let n = 100_000;
    let mut overhead: Vec<u64> = (0..n)
        .map(|_| {
            let t = Instant::now();
            black_box(());
            t.elapsed().as_nanos() as u64
        })
        .collect();
    overhead.sort_unstable();
    let o = overhead[n / 2];
    let mut t: Vec<u64> = (0..n)
        .map(|i| {
            let r = &rows[i % ROWS];
            let s = Instant::now();
            black_box(w.on_row(0, 1, i as u64, black_box(r)).unwrap());
            (s.elapsed().as_nanos() as u64).saturating_sub(o)
        })
        .collect();
    t.sort_unstable();
    println!(
        "drift row ({FEATURES} features, window 500, check every 50): median {} ns, p99 {} ns, max {} ns",
        t[n / 2],
        t[n * 99 / 100],
        t[n - 1]
    );
}

fn bench(c: &mut Criterion) {
    per_row_median();
    let reference = reference();
    let rows = rows();
    let mut g = c.benchmark_group("drift");
    g.bench_function("drift_row_watch", |b| {
        let mut w = DriftWatch::new(DriftSettings::new(reference.clone()));
        let mut i = 0usize;
        b.iter(|| {
            i += 1;
            black_box(w.on_row(0, 1, i as u64, &rows[i % ROWS]).unwrap())
        })
    });
    g.bench_function("drift_row_push", |b| {
        let mut m = DriftMonitor::new(&reference, 500).unwrap();
        let mut i = 0usize;
        b.iter(|| {
            i += 1;
            m.push(&reference, black_box(&rows[i % ROWS])).unwrap()
        })
    });
    g.bench_function("drift_check", |b| {
        let mut m = DriftMonitor::new(&reference, 500).unwrap();
        for r in &rows {
            m.push(&reference, r).unwrap();
        }
        let mut out = Vec::with_capacity(FEATURES);
        b.iter(|| {
            m.check(&reference, &mut out);
            black_box(out.len())
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
