//! Criterion bench of the decision step and the pre-trade risk gates (hot-path budget:
//! decision + risk gate < 200 ns). `check_accept` runs every gate on an order that passes
//! them all (the most work a check does: three positions, a correlation matrix, the
//! throttle); `decide_size_check` is the whole per-signal path from probabilities to an
//! approved, sized, bracketed intent; `decide` and `size` are its first two steps alone.
//! Run: `cargo bench -p tradecore-bench --bench risk -- --warm-up-time 1 --measurement-time 3`.

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use tradecore::decision::{decide, DecisionConfig, RiskInputs};
use tradecore::orders::{
    InstrumentSpec, IntentAction, OrderIntent, OrderSide, OrderType, SignalSource, TimeInForce,
};
use tradecore::risk::{
    AccountState, CorrelationMatrix, MarketState, PositionState, RiskContext, RiskEngine,
    RiskLimits,
};
use tradecore::sizing::{size, SizingConfig};

const P: i64 = 1_000_000_000;

fn limits() -> RiskLimits {
    // Throttles wide open so every iteration takes the accept path (the bench advances event
    // time too, so this is belt and braces).
    RiskLimits {
        submit_rate_per_sec: 1_000_000,
        submit_burst: 1_000_000,
        ..Default::default()
    }
}

fn risk(c: &mut Criterion) {
    let market = MarketState {
        instrument_id: 1,
        mid: Some(5000 * P),
        last_trade: Some(5000 * P),
        last_update_ns: 0,
        book_trusted: true,
        crossed: false,
    };
    let positions = [
        PositionState {
            instrument_id: 1,
            qty: 2,
            mark: 5000 * P,
            multiplier: 50.0,
        },
        PositionState {
            instrument_id: 2,
            qty: -1,
            mark: 20000 * P,
            multiplier: 20.0,
        },
        PositionState {
            instrument_id: 3,
            qty: 3,
            mark: 2000 * P,
            multiplier: 50.0,
        },
    ];
    let account = AccountState {
        equity: 1_000_000.0,
        equity_peak: 1_010_000.0,
        realized_pnl_today: -1_500.0,
        unrealized_pnl: 400.0,
        traded_notional_today: 2_000_000.0,
    };
    let corr = CorrelationMatrix::new(
        vec![1, 2, 3],
        vec![1.0, 0.9, 0.6, 0.9, 1.0, 0.55, 0.6, 0.55, 1.0],
    )
    .unwrap();
    let intent = OrderIntent {
        intent_id: 1,
        ts: 0,
        instrument_id: 1,
        action: IntentAction::New,
        side: OrderSide::Buy,
        qty: 1,
        order_type: OrderType::Limit,
        price: Some(5000 * P),
        stop_price: None,
        tif: TimeInForce::Day,
        reduce_only: false,
        bracket: None,
        source: SignalSource::Ensemble,
        confidence: 0.8,
        risk_score: 3,
    };
    let mut g = c.benchmark_group("risk");

    let mut eng = RiskEngine::new(limits()).unwrap();
    let mut now = 0u64;
    g.bench_function("check_accept", |b| {
        b.iter(|| {
            now += 1_000;
            let m = MarketState {
                last_update_ns: now,
                ..market
            };
            let ctx = RiskContext {
                now_ns: now,
                market: &m,
                positions: &positions,
                account: &account,
                working_qty: 0,
                correlations: Some(&corr),
            };
            let r = eng.check(black_box(&intent), black_box(&ctx));
            debug_assert!(r.is_ok());
            r.is_ok()
        })
    });
    assert_eq!(eng.denials().total(), 0, "the accept-path bench was denied");

    let probs: [f32; 5] = [0.02, 0.03, 0.1, 0.45, 0.4];
    let classes: [i8; 5] = [-2, -1, 0, 1, 2];
    let ri = RiskInputs {
        vol_forecast: 0.0008,
        var99: 0.0019,
        cvar99: 0.0022,
        corr_to_index: 0.3,
        beta_to_index: 0.8,
        tail_dependence: 0.1,
    };
    let dcfg = DecisionConfig::default();
    g.bench_function("decide", |b| {
        b.iter(|| {
            decide(
                black_box(&probs),
                &classes,
                black_box(&ri),
                SignalSource::Ensemble,
                &dcfg,
            )
            .unwrap()
        })
    });

    let spec = InstrumentSpec {
        instrument_id: 1,
        tick_size: P / 4,
        multiplier: 50.0,
        fee_per_contract: 2.0,
    };
    let scfg = SizingConfig::default();
    let d0 = decide(&probs, &classes, &ri, SignalSource::Ensemble, &dcfg).unwrap();
    g.bench_function("size", |b| {
        b.iter(|| {
            size(black_box(&d0), 5000 * P, 1_000_000.0, &spec, &scfg)
                .unwrap()
                .unwrap()
        })
    });
    let mut eng = RiskEngine::new(limits()).unwrap();
    let mut now = 0u64;
    g.bench_function("decide_size_check", |b| {
        b.iter(|| {
            now += 1_000;
            let d = decide(
                black_box(&probs),
                &classes,
                black_box(&ri),
                SignalSource::Ensemble,
                &dcfg,
            )
            .unwrap();
            let s = size(&d, 5000 * P, 1_000_000.0, &spec, &scfg)
                .unwrap()
                .unwrap();
            let it = OrderIntent {
                qty: s.qty.min(5),
                bracket: Some(s.bracket),
                confidence: d.confidence,
                risk_score: d.risk_score,
                ..intent
            };
            let m = MarketState {
                last_update_ns: now,
                ..market
            };
            let ctx = RiskContext {
                now_ns: now,
                market: &m,
                positions: &positions,
                account: &account,
                working_qty: 0,
                correlations: Some(&corr),
            };
            eng.check(&it, &ctx).is_ok()
        })
    });
    assert_eq!(eng.denials().total(), 0, "the end-to-end bench was denied");
    g.finish();
}

criterion_group!(benches, risk);
criterion_main!(benches);
