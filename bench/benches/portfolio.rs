//! Portfolio benches (issue 12):
//! - `event_to_intent_5`: five instruments (ES, NQ, RTY, CL, GC) of the project's
//!   synthetic MBO generator stream through one engine at once, each instrument with its
//!   own real model (the golden LightGBM export served by the native tree evaluator on 1s
//!   bar features, one `PredictorSet` slot per instrument), on the simulated exchange with
//!   every gate. Each event's wall time from the start of its completing record to the
//!   intent is what the engine records (`Engine::latency_ns`); printed as p50/p99/p99.9
//!   over every decision that produced an intent, and the same for every event on which a
//!   model was evaluated. Target p99 < 20 us.
//! - `portfolio/gate_check_5_positions`: `RiskEngine::check` on an order that passes every
//!   gate with five open positions and a 5x5 correlation matrix (per-instrument position
//!   limits, global position limit, gross exposure, correlation screen). Target median
//!   < 200 ns.
//!
//! Run: `cargo bench -p tradecore-bench --bench portfolio`.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Instant;

use criterion::Criterion;
use sha2::{Digest, Sha256};
use tradecore::bars::Timeframe;
use tradecore::book::PRICE_SCALE;
use tradecore::engine::{resolve_specs, Engine, EngineConfig, Predictor, PredictorSet};
use tradecore::features::FeatureSet;
use tradecore::infer::{LoadOptions, ModelPredictor};
use tradecore::orders::{
    InstrumentId, IntentAction, OrderIntent, OrderSide, OrderType, SignalSource, TimeInForce,
};
use tradecore::risk::{
    AccountState, CorrelationMatrix, MarketState, PositionState, RiskContext, RiskEngine,
    RiskLimits,
};
use tradecore::synth::{Generator, SynthConfig};

const NAMES: [&str; 5] = [
    "tf1s_ret_1",
    "tf1s_ret_2",
    "tf1s_ret_3",
    "tf1s_ret_5",
    "tf1s_ret_10",
];

/// The golden LightGBM export with its feature set renamed to 1s bar returns (hash and
/// dump checksum updated) and its class values permuted (see below), in a scratch folder.
fn model_dir() -> PathBuf {
    let golden =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../core-rs/core/tests/data/lgbm_small");
    let dest =
        std::env::temp_dir().join(format!("tradecore-bench-portfolio-{}", std::process::id()));
    std::fs::create_dir_all(&dest).unwrap();
    std::fs::copy(golden.join("model.onnx"), dest.join("model.onnx")).unwrap();
    let dump: String = std::fs::read_to_string(golden.join("model.lgbm.txt"))
        .unwrap()
        .lines()
        .map(|l| {
            if l.starts_with("feature_names=") {
                format!("feature_names={}\n", NAMES.join(" "))
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
        serde_json::from_str(&std::fs::read_to_string(golden.join("manifest.json")).unwrap())
            .unwrap();
    m["feature_set"]["names"] = serde_json::json!(NAMES);
    m["feature_set"]["hash"] = FeatureSet::from_names(&NAMES).unwrap().hash().into();
    m["feature_set"]["timeframe"] = "1s".into();
    m["native"]["sha256"] = sha.into();
    // The golden model's usual argmax is its middle class; mapped to BUY here (the model is
    // evaluated as trained, only the meaning of its outputs changes) so that most
    // evaluations become decisions and intents: the bench times the path, not a strategy.
    m["class_values"] = serde_json::json!([-1, 1, 0]);
    std::fs::write(dest.join("manifest.json"), m.to_string()).unwrap();
    dest
}

fn pct(v: &mut [i64], q: f64) -> f64 {
    v.sort_unstable();
    let i = ((v.len() as f64 - 1.0) * q).round() as usize;
    v[i] as f64 / 1e3
}

fn event_to_intent_5() {
    let cfg = SynthConfig {
        events: 400_000,
        seed: 12,
        instruments: ["ES", "NQ", "RTY", "CL", "GC"].map(String::from).to_vec(),
        ..SynthConfig::default()
    };
    let mut gen = Generator::new(&cfg).unwrap();
    let mut records = Vec::new();
    while let Some(ev) = gen.next_event() {
        records.extend_from_slice(ev);
    }
    let ids = gen.instrument_ids();
    let syms: Vec<(InstrumentId, String)> = ids
        .iter()
        .zip(&cfg.instruments)
        .map(|(id, r)| (*id, format!("{r}Z6")))
        .collect();
    let specs = resolve_specs(&syms, &[], 1.0).unwrap();
    let fs = FeatureSet::from_names(&NAMES).unwrap();
    let dir = model_dir();
    let opts = LoadOptions {
        prefer_native: true,
        ..LoadOptions::default()
    };
    let routes: Vec<(InstrumentId, Box<dyn Predictor + Send>)> = ids
        .iter()
        .map(|id| {
            let p = ModelPredictor::from_dir(&dir, &fs, opts.clone()).unwrap();
            (*id, Box::new(p) as Box<dyn Predictor + Send>)
        })
        .collect();
    let set = PredictorSet::new(routes, None).unwrap();
    let mut ecfg = EngineConfig {
        specs: specs.iter().map(|(s, _)| *s).collect(),
        features: fs,
        bar_timeframe: Timeframe::parse("1s").unwrap(),
        vol_min_samples: 10,
        ..EngineConfig::default()
    };
    // Low bars so that most model outputs become decisions and intents (the latency of
    // the whole path is what is measured, not the strategy).
    ecfg.decision.min_confidence_ensemble = 0.34;
    ecfg.risk.min_confidence_ensemble = 0.34;
    ecfg.decision.max_risk_score = 10;
    ecfg.risk.max_risk_score = 10;
    let mut e = Engine::new(ecfg, Box::new(set)).unwrap();
    let mut per_signal: Vec<i64> = Vec::new();
    let t0 = Instant::now();
    for m in &records {
        let before = e.telemetry.signals;
        let start = Instant::now();
        e.on_mbo(m).unwrap();
        if e.telemetry.signals > before {
            per_signal.push(start.elapsed().as_nanos() as i64);
        }
    }
    e.finish();
    let wall = t0.elapsed();
    let mut lat = e.latency_ns.clone();
    println!(
        "event_to_intent_5: {} records, {} events of 5 instruments in {:.2} s; {} model evaluations, {} decisions, {} intents, {} orders; holds {:?}",
        records.len(),
        e.telemetry.events,
        wall.as_secs_f64(),
        e.telemetry.signals,
        e.telemetry.decisions,
        e.telemetry.intents,
        e.telemetry.orders,
        e.telemetry.holds_by_reason
    );
    if !lat.is_empty() {
        println!(
            "  event -> order intent (n={}): p50 {:.2} us, p99 {:.2} us, p99.9 {:.2} us",
            lat.len(),
            pct(&mut lat, 0.5),
            pct(&mut lat, 0.99),
            pct(&mut lat, 0.999)
        );
    }
    if !per_signal.is_empty() {
        println!(
            "  event -> decision, every model evaluation (n={}): p50 {:.2} us, p99 {:.2} us, p99.9 {:.2} us",
            per_signal.len(),
            pct(&mut per_signal, 0.5),
            pct(&mut per_signal, 0.99),
            pct(&mut per_signal, 0.999)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

const P: i64 = PRICE_SCALE;

fn gate_check(c: &mut Criterion) {
    let ids: [InstrumentId; 5] = [1, 2, 3, 4, 5];
    let marks = [5000 * P, 20000 * P, 2200 * P, 70 * P, 2650 * P];
    let mults = [50.0, 20.0, 50.0, 1000.0, 100.0];
    let qty = [2i64, -1, 1, 2, -1];
    let positions: Vec<PositionState> = (0..5)
        .map(|i| PositionState {
            instrument_id: ids[i],
            qty: qty[i],
            mark: marks[i],
            multiplier: mults[i],
        })
        .collect();
    let mut values = vec![0.3; 25];
    for i in 0..5 {
        values[i * 5 + i] = 1.0;
    }
    let corr = CorrelationMatrix::new(ids.to_vec(), values).unwrap();
    let limits = RiskLimits {
        submit_rate_per_sec: 1_000_000,
        submit_burst: 1_000_000,
        ..RiskLimits::default()
    };
    let mut eng = RiskEngine::new(limits).unwrap();
    eng.set_position_limit(1, Some(5)).unwrap();
    eng.set_position_limit(4, Some(3)).unwrap();
    let account = AccountState {
        equity: 1_000_000.0,
        equity_peak: 1_000_000.0,
        realized_pnl_today: 0.0,
        unrealized_pnl: 0.0,
        traded_notional_today: 0.0,
    };
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
    let mut now = 1_000_000_000u64;
    c.bench_function("portfolio/gate_check_5_positions", |b| {
        b.iter(|| {
            now += 1_000;
            let market = MarketState {
                instrument_id: 1,
                mid: Some(5000 * P),
                last_trade: Some(5000 * P),
                last_update_ns: now - 500,
                book_trusted: true,
                crossed: false,
            };
            let ctx = RiskContext {
                now_ns: now,
                market: &market,
                positions: &positions,
                account: &account,
                working_qty: 0,
                correlations: Some(&corr),
            };
            let mut it = intent;
            it.ts = now;
            eng.check(black_box(&it), black_box(&ctx)).is_ok()
        })
    });
    assert_eq!(eng.denials().total(), 0, "the accept-path bench was denied");
}

fn main() {
    event_to_intent_5();
    let mut c = Criterion::default().configure_from_args();
    gate_check(&mut c);
    c.final_summary();
}
