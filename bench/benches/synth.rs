//! Criterion bench of the synthetic MBO generator, in events per second: in memory (flow,
//! book and record building) and to a zstd DBN file (plus encoding and compression).
//! Run: `cargo bench -p tradecore-bench --bench synth`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tradecore::synth::{synth_mbo, Generator, SynthConfig};

const EVENTS: u64 = 200_000;

fn synth(c: &mut Criterion) {
    let cfg = SynthConfig {
        events: EVENTS,
        seed: 1,
        instruments: vec!["ES".into(), "NQ".into()],
        ..Default::default()
    };
    let mut g = c.benchmark_group("synth");
    g.throughput(Throughput::Elements(EVENTS));
    g.sample_size(10);
    g.bench_function("generate_in_memory", |b| {
        b.iter(|| {
            let mut gen = Generator::new(&cfg).unwrap();
            let mut records = 0usize;
            while let Some(r) = gen.next_event() {
                records += r.len();
            }
            records
        })
    });
    let dir = std::env::temp_dir().join(format!("synth-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("bench.mbo.dbn.zst");
    g.bench_function("write_dbn_zst", |b| {
        b.iter(|| synth_mbo(&out, &cfg, None).unwrap())
    });
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, synth);
criterion_main!(benches);
