//! Decision -> sizing -> risk gate, end to end, and properties of sizing over random inputs:
//! whatever the probabilities, volatility, price and tick, an entry's bracket is on the tick
//! grid, its stop is at least the configured distance away on the losing side, its take-profit
//! at least `reward_risk` times the realised stop distance on the winning side, its quantity
//! within `max_qty`, and its Kelly fraction at most `kelly_fraction` of full Kelly.

use proptest::prelude::*;
use tradecore::decision::{decide, Action, DecisionConfig, HoldReason, RiskInputs};
use tradecore::orders::{
    InstrumentSpec, IntentAction, OrderIntent, OrderSide, OrderType, SignalSource, TimeInForce,
};
use tradecore::risk::{
    AccountState, MarketState, PositionState, RiskContext, RiskEngine, RiskLimits,
};
use tradecore::sizing::{size, SizingConfig};

const P: i64 = 1_000_000_000;

fn calm() -> RiskInputs {
    RiskInputs {
        vol_forecast: 0.0008,
        var99: 0.0019,
        cvar99: 0.0022,
        corr_to_index: 0.3,
        beta_to_index: 0.8,
        tail_dependence: 0.1,
    }
}

#[test]
fn a_confident_ensemble_signal_becomes_an_approved_bracketed_order() {
    let d = decide(
        &[0.02, 0.03, 0.1, 0.45, 0.4],
        &[-2, -1, 0, 1, 2],
        &calm(),
        SignalSource::Ensemble,
        &DecisionConfig::default(),
    )
    .unwrap();
    assert_eq!(d.action, Action::Buy);
    let spec = InstrumentSpec {
        instrument_id: 7,
        tick_size: P / 4,
        multiplier: 50.0,
        fee_per_contract: 2.0,
    };
    let s = size(
        &d,
        5000 * P + P / 8,
        250_000.0,
        &spec,
        &SizingConfig::default(),
    )
    .unwrap()
    .unwrap();
    let intent = OrderIntent {
        intent_id: 1,
        ts: 10,
        instrument_id: 7,
        action: IntentAction::New,
        side: OrderSide::Buy,
        qty: s.qty,
        order_type: OrderType::Limit,
        price: Some(5000 * P + P / 4),
        stop_price: None,
        tif: TimeInForce::Day,
        reduce_only: false,
        bracket: Some(s.bracket),
        source: d.source,
        confidence: d.confidence,
        risk_score: d.risk_score,
    };
    let market = MarketState {
        instrument_id: 7,
        mid: Some(5000 * P + P / 8),
        last_trade: None,
        last_update_ns: 10,
        book_trusted: true,
        crossed: false,
    };
    let positions = [PositionState {
        instrument_id: 7,
        qty: 0,
        mark: 5000 * P,
        multiplier: 50.0,
    }];
    let account = AccountState {
        equity: 250_000.0,
        equity_peak: 250_000.0,
        realized_pnl_today: 0.0,
        unrealized_pnl: 0.0,
        traded_notional_today: 0.0,
    };
    let ctx = RiskContext {
        now_ns: 10,
        market: &market,
        positions: &positions,
        account: &account,
        working_qty: 0,
        correlations: None,
    };
    let mut eng = RiskEngine::new(RiskLimits::default()).unwrap();
    assert_eq!(eng.check(&intent, &ctx), Ok(()));

    // The same probabilities from an external source stay below 0.87: nothing to size.
    let ext = decide(
        &[0.02, 0.03, 0.1, 0.45, 0.4],
        &[-2, -1, 0, 1, 2],
        &calm(),
        SignalSource::External,
        &DecisionConfig::default(),
    )
    .unwrap();
    assert_eq!(ext.hold_reason, Some(HoldReason::LowConfidence));
    assert_eq!(
        size(&ext, 5000 * P, 250_000.0, &spec, &SizingConfig::default()).unwrap(),
        None
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn brackets_and_quantities_respect_the_rules(
        up in 0.0f32..1.0,
        down_share in 0.0f32..1.0,
        sell in any::<bool>(),
        vol in 1e-5f64..0.05,
        entry_ticks in 1i64..4_000_000,
        entry_off in 0i64..1_000_000,
        tick in prop_oneof![Just(P / 4), Just(P / 100), Just(P / 32), Just(5 * P), Just(1i64)],
        equity in 1e3f64..1e8,
        kelly_fraction in 0.01f64..=0.5,
        stop_k in 0.1f64..5.0,
        reward_risk in 2.0f64..5.0,
        max_qty in 1u32..50,
    ) {
        let rest = 1.0 - up;
        let (p_up, p_down) = (up, rest * down_share);
        let p_flat = 1.0 - p_up - p_down;
        let probs = if sell { [p_up, p_flat.max(0.0), p_down] } else { [p_down, p_flat.max(0.0), p_up] };
        let cfg = DecisionConfig { min_confidence_ensemble: 0.3, max_risk_score: 10, ..Default::default() };
        let risk = RiskInputs { vol_forecast: vol, ..calm() };
        let d = match decide(&probs, &[-1, 0, 1], &risk, SignalSource::Ensemble, &cfg) {
            Ok(d) => d,
            // float32 sums can land just outside the tolerance only if the generator is wrong
            Err(e) => return Err(TestCaseError::fail(format!("decide failed: {e}"))),
        };
        let entry = entry_ticks * (P / 100) + entry_off % (P / 100).max(1);
        let spec = InstrumentSpec { instrument_id: 1, tick_size: tick, multiplier: 50.0, fee_per_contract: 1.5 };
        let scfg = SizingConfig { kelly_fraction, vol_target: 0.02, stop_k, reward_risk, max_qty };
        let Some(s) = size(&d, entry, equity, &spec, &scfg).unwrap() else { return Ok(()) };
        prop_assert!(d.action != Action::Hold);
        let side = if d.action == Action::Buy { 1i64 } else { -1 };
        let b = s.bracket;
        prop_assert_eq!(b.stop_loss.rem_euclid(tick), 0);
        prop_assert_eq!(b.take_profit.rem_euclid(tick), 0);
        let risk_dist = (entry - b.stop_loss) * side;
        let reward = (b.take_profit - entry) * side;
        prop_assert!(risk_dist > 0 && reward > 0, "exits on the wrong side: {:?} entry {}", b, entry);
        prop_assert!(risk_dist as f64 >= stop_k * vol * entry as f64 * (1.0 - 1e-12), "stop inside the distance");
        prop_assert!(reward as f64 >= reward_risk * risk_dist as f64 * (1.0 - 1e-12), "reward:risk below the configured");
        prop_assert!(s.qty >= 1 && s.qty <= max_qty);
        let p = d.confidence;
        let bnet = (reward as f64 / P as f64 * 50.0 - 3.0) / (risk_dist as f64 / P as f64 * 50.0 + 3.0);
        let full = p - (1.0 - p) / bnet;
        prop_assert!(s.kelly > 0.0 && s.kelly <= 0.5 * full + 1e-12, "kelly {} vs full {}", s.kelly, full);
        // Risking kelly * equity on the stop, never more.
        let loss = s.qty as f64 * (risk_dist as f64 / P as f64 * 50.0 + 3.0);
        prop_assert!(loss <= s.kelly * equity * (1.0 + 1e-9), "loss on stop {} > kelly x equity {}", loss, s.kelly * equity);
    }
}
