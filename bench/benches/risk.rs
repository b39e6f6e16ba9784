//! Criterion bench of the decision step and the pre-trade risk gates (hot-path budget:
//! decision + risk gate < 200 ns). `check_accept` runs every gate on an order that passes
//! them all (the most work a check does: three positions, a correlation matrix, the
//! throttle); `decide_size_check` is the whole per-signal path from probabilities to an
//! approved, sized, bracketed intent; `decide` and `size` are its first two steps alone.
//! The inputs are `tradecore_bench::risk_fixture` (shared with `examples/risk_cpu.rs`).
//! Run: `cargo bench -p tradecore-bench --bench risk -- --warm-up-time 1 --measurement-time 3`.

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use tradecore::sizing::size;
use tradecore_bench::risk_fixture::{RiskFixture, ENTRY, EQUITY};

fn risk(c: &mut Criterion) {
    let fx = RiskFixture::new();
    let mut g = c.benchmark_group("risk");

    let mut eng = RiskFixture::engine();
    let mut now = 0u64;
    g.bench_function("check_accept", |b| {
        b.iter(|| {
            now += 1_000;
            let m = fx.market_at(now);
            let ctx = fx.context(&m, now);
            let r = eng.check(black_box(&fx.intent), black_box(&ctx));
            debug_assert!(r.is_ok());
            r.is_ok()
        })
    });
    assert_eq!(eng.denials().total(), 0, "the accept-path bench was denied");

    g.bench_function("decide", |b| b.iter(|| fx.decide()));

    let d0 = fx.decide();
    g.bench_function("size", |b| {
        b.iter(|| {
            size(black_box(&d0), ENTRY, EQUITY, &fx.spec, &fx.scfg)
                .unwrap()
                .unwrap()
        })
    });

    let mut eng = RiskFixture::engine();
    let mut now = 0u64;
    g.bench_function("decide_size_check", |b| {
        b.iter(|| {
            now += 1_000;
            fx.decide_size_check(&mut eng, now)
        })
    });
    assert_eq!(eng.denials().total(), 0, "the end-to-end bench was denied");
    g.finish();
}

criterion_group!(benches, risk);
criterion_main!(benches);
