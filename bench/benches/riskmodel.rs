//! Criterion bench of the streaming GARCH/copula risk model (budget: streaming feature
//! update < 1 us). `garch_update_forecast_score` is one bar's work plus one decision's read:
//! a mid-bar return into the GARCH(1,1)-t filter with the rolling correlation/beta to the
//! reference, the 15-step horizon forecast with VaR/CVaR 95/99, and the 1-10 risk score;
//! `egarch_...` the same with EGARCH (its horizon sum is 15 exps); `filter_update` the
//! variance recursion alone. Inputs cycle through 1024 precomputed prices so the branch
//! predictor cannot learn one path.
//! Run: `cargo bench -p tradecore-bench --bench riskmodel -- --warm-up-time 1 --measurement-time 3`.

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use tradecore::decision::risk_score;
use tradecore::riskmodel::{
    CopulaParams, GarchParams, Innovations, RiskModel, RiskModelConfig, VolFilter, VolKind,
};

fn cfg(kind: VolKind) -> RiskModelConfig {
    let (omega, alpha, gamma, beta) = match kind {
        VolKind::Garch => (0.02, 0.06, 0.0, 0.92),
        VolKind::Egarch => (0.01, 0.12, -0.03, 0.97),
    };
    RiskModelConfig {
        garch: GarchParams {
            kind,
            dist: Innovations::StudentT(5.5),
            mu: 0.001,
            omega,
            alpha,
            gamma,
            beta,
            scale: 1e4,
            backcast: 1.0,
            interval_ns: 60_000_000_000,
            regime_lo: 5e-5,
            regime_hi: 2e-4,
        },
        reference_instrument_id: Some(2),
        corr_window: 500,
        copula: Some(CopulaParams { rho: 0.8, nu: 4.0 }),
        min_bars: 0,
    }
}

fn prices() -> Vec<(f64, f64)> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let (mut a, mut b) = (5000.0f64, 17000.0f64);
    (0..1024)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let u = (x >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
            a *= 1.0 + 4e-4 * u;
            b *= 1.0 + 5e-4 * u + 1e-4 * (u * 7.0).sin();
            (a, b)
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let px = prices();
    for (name, kind) in [("garch", VolKind::Garch), ("egarch", VolKind::Egarch)] {
        let mut m = RiskModel::new(&cfg(kind)).unwrap();
        for &(a, b) in &px {
            m.on_bar(a, Some(b));
        }
        let mut i = 0usize;
        c.bench_function(&format!("riskmodel/{name}_update_forecast_score"), |bn| {
            bn.iter(|| {
                let (a, b) = px[i & 1023];
                i = i.wrapping_add(1);
                m.on_bar(black_box(a), Some(black_box(b)));
                let f = m.forecast(black_box(15)).unwrap();
                black_box((risk_score(&f.inputs), f.var95, f.cvar95))
            })
        });
    }
    let mut f = VolFilter::new(&cfg(VolKind::Garch).garch).unwrap();
    let mut i = 0usize;
    c.bench_function("riskmodel/garch_filter_update", |bn| {
        bn.iter(|| {
            let r = (px[i & 1023].0 / px[(i + 1) & 1023].0).ln();
            i = i.wrapping_add(1);
            f.update(black_box(r));
            black_box(f.next_variance())
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
