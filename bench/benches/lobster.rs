//! LOBSTER replay throughput: parse both files (gzip), rebuild the book and verify it
//! against the orderbook file, on the real AMZN level-5 sample (155,935 rows); with and
//! without building the per-row frame.
//! Run: `cargo bench -p tradecore-bench --bench lobster`.

use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tradecore::lobster::{replay_lobster, verify_lobster};

fn data() -> PathBuf {
    std::env::var_os("SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"))
        .join("lobster")
}

fn bench(c: &mut Criterion) {
    let stem = "AMZN_2012-06-21_34200000_57600000";
    let m = data().join(format!("{stem}_message_5.csv.gz"));
    let o = data().join(format!("{stem}_orderbook_5.csv.gz"));
    let rows = verify_lobster(&m, &o, 5).expect("LOBSTER sample").rows;
    let mut g = c.benchmark_group("lobster");
    g.sample_size(10);
    g.throughput(Throughput::Elements(rows));
    g.bench_function("verify_amzn_level5_gz", |b| {
        b.iter(|| verify_lobster(&m, &o, 5).expect("LOBSTER sample"))
    });
    g.bench_function("replay_frame_amzn_level5_gz", |b| {
        b.iter(|| replay_lobster(&m, &o, 5).expect("LOBSTER sample"))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
