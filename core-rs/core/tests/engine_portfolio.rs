//! A portfolio in one engine: two instruments with their own predictors (a `PredictorSet`),
//! per-instrument and global position limits, and the correlation screen fed by the
//! engine's own streaming correlations of mid returns.

use tradecore::book::{BookView, PRICE_SCALE};
use tradecore::engine::broker::BrokerVenue;
use tradecore::engine::{Engine, EngineConfig, ExternalSignals, Predictor, PredictorSet};
use tradecore::orders::{client_order_id, InstrumentId, InstrumentSpec, IntentAction, Leg};
use tradecore::risk::RiskLimits;
use tradecore::sizing::SizingConfig;

const S: u64 = 1_000_000_000;
const T0: u64 = 1_700_000_000 * S;
const TICK: i64 = PRICE_SCALE / 4;
const ES: InstrumentId = 1;
const NQ: InstrumentId = 2;

fn specs() -> Vec<InstrumentSpec> {
    vec![
        InstrumentSpec {
            instrument_id: ES,
            tick_size: TICK,
            multiplier: 50.0,
            fee_per_contract: 0.0,
        },
        InstrumentSpec {
            instrument_id: NQ,
            tick_size: TICK,
            multiplier: 20.0,
            fee_per_contract: 0.0,
        },
    ]
}

/// External signals of one instrument at the given seconds after T0 (+1 buy, -1 sell).
fn signals(id: InstrumentId, at: &[(u64, i8)]) -> Box<dyn Predictor + Send> {
    let mut probs = Vec::new();
    for (_, c) in at {
        probs.extend(if *c > 0 {
            [0.02, 0.03, 0.95]
        } else {
            [0.95, 0.03, 0.02]
        });
    }
    Box::new(
        ExternalSignals::new(
            vec![-1, 0, 1],
            at.iter().map(|(s, _)| T0 + s * S).collect(),
            vec![id; at.len()],
            probs,
            10 * S,
        )
        .unwrap(),
    )
}

fn engine(cfg: EngineConfig, es: &[(u64, i8)], nq: &[(u64, i8)]) -> Engine<BrokerVenue> {
    let set = PredictorSet::new(vec![(ES, signals(ES, es)), (NQ, signals(NQ, nq))], None).unwrap();
    let venue = BrokerVenue::new(cfg.specs.clone()).unwrap();
    Engine::with_venue(cfg, Box::new(set), venue).unwrap()
}

fn config() -> EngineConfig {
    EngineConfig {
        specs: specs(),
        sizing: SizingConfig {
            max_qty: 2,
            ..SizingConfig::default()
        },
        vol_min_samples: 5,
        corr_min_samples: 20,
        flatten_at_end: false,
        ..EngineConfig::default()
    }
}

/// Both markets move together (`together`) or independently, one quote per second each.
fn quotes(e: &mut Engine<BrokerVenue>, secs: std::ops::Range<u64>, together: bool) {
    for s in secs {
        let a = [0i64, 1, 3, 2, 0, -2, -1, 1, 4, 2, -1, 0][(s % 12) as usize];
        let b = if together {
            a
        } else {
            [0i64, -1, 0, 2, 1, -2, 0, 3, 1, -1, 2, 0][(s % 12) as usize]
        };
        for (id, base, k) in [(ES, 4_000, a), (NQ, 16_000, b)] {
            let bid = base * PRICE_SCALE + k * TICK;
            // Sizes change every second: each quote is an event, even at an unchanged mid.
            let size = 10 + (s % 3) as u32;
            e.on_quote(id, T0 + s * S, Some((bid, size)), Some((bid + TICK, size)))
                .unwrap();
        }
    }
}

fn fill_entry(e: &mut Engine<BrokerVenue>, sec: u64) -> InstrumentId {
    let out = e.venue_mut().take_outbox();
    let entry = *out
        .iter()
        .find(|i| i.action == IntentAction::New)
        .unwrap_or_else(|| panic!("no entry: {:?} {:?}", e.denials, e.telemetry));
    let coid = client_order_id(entry.intent_id, Leg::Entry);
    let px = e.book(entry.instrument_id).unwrap().bbo().1.unwrap().price;
    e.venue_update(|v| v.fill(coid, entry.qty, px, T0 + sec * S, 0.0))
        .unwrap();
    entry.instrument_id
}

#[test]
fn each_instrument_trades_on_its_own_predictor() {
    let mut cfg = config();
    cfg.corr_min_samples = 100_000; // no correlation screen here: routing only
    let mut e = engine(cfg, &[(30, 1)], &[(40, -1)]);
    quotes(&mut e, 0..31, false);
    assert_eq!(fill_entry(&mut e, 31), ES);
    quotes(&mut e, 31..41, false);
    let out = e.venue_mut().take_outbox();
    assert_eq!(out.len(), 1, "{out:?} {:?}", e.telemetry);
    assert_eq!(
        (out[0].instrument_id, out[0].side),
        (NQ, tradecore::orders::OrderSide::Sell)
    );
    // A set whose members disagree on classes is refused, naming the instrument.
    let bad: Box<dyn Predictor + Send> =
        Box::new(ExternalSignals::new(vec![-1, 1], vec![], vec![], vec![], S).unwrap());
    let err = PredictorSet::new(vec![(ES, signals(ES, &[])), (NQ, bad)], None)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("instrument 2"), "{err}");
}

#[test]
fn correlated_markets_block_adding_the_same_direction_but_not_a_hedge() {
    let mut e = engine(config(), &[(60, 1)], &[(70, 1), (80, -1)]);
    quotes(&mut e, 0..61, true);
    let c = e.correlation(ES, NQ).unwrap();
    assert!(c > 0.95, "moving together: {c}");
    assert_eq!(fill_entry(&mut e, 61), ES);
    quotes(&mut e, 61..71, true);
    let d = e
        .denials
        .last()
        .expect("a second long in a correlated market");
    assert_eq!(d.reason, "CORRELATED_EXPOSURE");
    assert_eq!(d.intent.instrument_id, NQ);
    quotes(&mut e, 71..81, true);
    let out = e.venue_mut().take_outbox();
    assert!(
        out.iter()
            .any(|i| i.instrument_id == NQ && i.action == IntentAction::New),
        "a short NQ against a long ES hedges: {out:?} {:?}",
        e.denials
    );
}

#[test]
fn per_instrument_position_limits_reach_the_gate() {
    let mut cfg = config();
    cfg.position_limits = vec![(NQ, 1)];
    let mut e = engine(cfg, &[], &[]);
    assert_eq!(e.max_position(NQ), 1);
    assert_eq!(e.max_position(ES), RiskLimits::default().max_position);
    e.set_position_limit(ES, Some(3)).unwrap();
    assert_eq!(e.max_position(ES), 3);
    assert_eq!(e.config().position_limits, vec![(NQ, 1), (ES, 3)]);
    e.set_position_limit(NQ, None).unwrap();
    assert!(e.set_position_limit(NQ, Some(0)).is_err());
    assert_eq!(e.max_position(NQ), RiskLimits::default().max_position);
    let mut bad = config();
    bad.position_limits = vec![(NQ, 0), (NQ, 2)];
    let err = Engine::with_venue(bad, signals(ES, &[]), BrokerVenue::new(specs()).unwrap())
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("max_position 0") && err.contains("twice"),
        "{err}"
    );
}
