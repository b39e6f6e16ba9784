//! The decision and risk-gate stages timed in CPU time as well as wall time, interleaved
//! (each round runs every stage once). On the shared 2-core machine criterion's wall-clock
//! figures include the time our thread waits for a core; the thread's own CPU time (from
//! `/proc/thread-self/schedstat`, Linux) does not, so it approaches what the code costs when
//! it has a core. Same inputs as `benches/risk.rs`.
//! `cargo run --release -p tradecore-bench --example risk_cpu -- [rounds] [iterations]`

use std::hint::black_box;
use std::time::Instant;

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

/// CPU nanoseconds this thread has run, or None where the kernel does not report it.
fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rounds: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(30);
    let iters: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(200_000);

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
    let spec = InstrumentSpec {
        instrument_id: 1,
        tick_size: P / 4,
        multiplier: 50.0,
        fee_per_contract: 2.0,
    };
    let scfg = SizingConfig::default();
    let limits = RiskLimits {
        submit_rate_per_sec: 1_000_000,
        submit_burst: 1_000_000,
        ..Default::default()
    };
    let mut eng = RiskEngine::new(limits).unwrap();
    let mut now = 0u64;
    let d0 = decide(&probs, &classes, &ri, SignalSource::Ensemble, &dcfg).unwrap();

    let names = ["check_accept", "decide", "size", "decide_size_check"];
    let mut cpu: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    let mut wall: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    for _ in 0..rounds {
        for (k, name) in names.iter().enumerate() {
            let c0 = thread_cpu_ns();
            let t0 = Instant::now();
            let mut ok = 0u64;
            for _ in 0..iters {
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
                match *name {
                    "check_accept" => {
                        ok += eng.check(black_box(&intent), black_box(&ctx)).is_ok() as u64
                    }
                    "decide" => {
                        let d = decide(
                            black_box(&probs),
                            &classes,
                            black_box(&ri),
                            SignalSource::Ensemble,
                            &dcfg,
                        )
                        .unwrap();
                        ok += (d.risk_score > 0) as u64;
                    }
                    "size" => {
                        let s = size(black_box(&d0), 5000 * P, 1_000_000.0, &spec, &scfg).unwrap();
                        ok += s.is_some() as u64;
                    }
                    _ => {
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
                        ok += eng.check(&it, &ctx).is_ok() as u64;
                    }
                }
            }
            let w = t0.elapsed().as_nanos() as f64 / iters as f64;
            assert_eq!(
                ok, iters,
                "{name}: not every iteration took the accept path"
            );
            wall[k].push(w);
            if let (Some(a), Some(b)) = (c0, thread_cpu_ns()) {
                cpu[k].push((b - a) as f64 / iters as f64);
            }
        }
    }
    println!("{rounds} interleaved rounds x {iters} iterations, ns per call");
    println!(
        "{:<20} {:>9} {:>9} {:>9} {:>9}",
        "stage", "cpu best", "cpu med", "wall best", "wall med"
    );
    for (k, name) in names.iter().enumerate() {
        let wb = wall[k].iter().copied().fold(f64::INFINITY, f64::min);
        let wm = median(&mut wall[k]);
        let (cb, cm) = if cpu[k].is_empty() {
            (f64::NAN, f64::NAN)
        } else {
            (
                cpu[k].iter().copied().fold(f64::INFINITY, f64::min),
                median(&mut cpu[k]),
            )
        };
        println!("{name:<20} {cb:>9.1} {cm:>9.1} {wb:>9.1} {wm:>9.1}");
    }
    assert_eq!(eng.denials().total(), 0);
}
