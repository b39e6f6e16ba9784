//! Session controls on the real ES day: halt and resume, limits, flatten, and the drained
//! log against the engine's own records.

use super::*;
use crate::engine::testkit::{alternating_signals, es_config, esh4};
use crate::engine::EngineConfig;
use crate::orders::Leg;
use crate::sim::SimConfig;

fn backtest(seed: u64) -> Backtest {
    let base = es_config(seed);
    let cfg = EngineConfig {
        sim: SimConfig {
            order_latency: crate::sim::LatencyModel::Constant(200_000),
            ..base.sim.clone()
        },
        ..base
    };
    let engine = Engine::new(cfg, Box::new(alternating_signals())).unwrap();
    Backtest::new(&[esh4()], engine).unwrap()
}

/// Steps until `until` holds (or the data ends); returns whether it held.
fn step_until(bt: &mut Backtest, until: impl Fn(&Backtest) -> bool) -> bool {
    while !bt.is_done() {
        if until(bt) {
            return true;
        }
        bt.step(512).unwrap();
    }
    until(bt)
}

fn halted_denials(bt: &Backtest) -> u64 {
    bt.engine
        .telemetry
        .denials_by_reason
        .iter()
        .find(|(r, _)| r == "TRADING_HALTED")
        .map_or(0, |(_, n)| *n)
}

fn max_entry_intent(bt: &Backtest) -> u64 {
    bt.engine
        .sim()
        .orders()
        .iter()
        .filter(|o| o.leg == Leg::Entry)
        .map(|o| o.intent_id)
        .max()
        .unwrap_or(0)
}

#[test]
fn halt_denies_every_new_order_with_a_reason_until_resume() {
    let mut bt = backtest(3);
    assert!(step_until(&mut bt, |b| !b.engine.sim().orders().is_empty()));
    bt.engine.set_trading_state(TradingState::Halted);
    assert_eq!(bt.engine.trading_state(), TradingState::Halted);
    let last_before = max_entry_intent(&bt);
    let denials_before = bt.engine.denials.len();
    assert!(
        step_until(&mut bt, |b| halted_denials(b) >= 3),
        "signals kept coming while halted, so halted denials must be counted"
    );
    // Nothing new reached the venue: bracket children of the entry sent before the halt may
    // still be placed (the venue owns them), no new entry was.
    assert_eq!(max_entry_intent(&bt), last_before);
    assert!(bt.engine.denials[denials_before..]
        .iter()
        .all(|d| d.reason == "TRADING_HALTED"));
    bt.engine.set_trading_state(TradingState::Active);
    let halted = halted_denials(&bt);
    assert!(
        step_until(&mut bt, |b| max_entry_intent(b) > last_before),
        "after resume an entry reaches the venue again"
    );
    assert_eq!(halted_denials(&bt), halted, "no halted denial after resume");
}

#[test]
fn invalid_limits_are_refused_naming_every_field_and_change_nothing() {
    let mut bt = backtest(1);
    let before = *bt.engine.risk_limits();
    let bad = RiskLimits {
        max_order_qty: 0,
        max_drawdown: 2.0,
        daily_loss_limit: f64::NAN,
        ..before
    };
    let e = bt.engine.set_risk_limits(bad).unwrap_err().to_string();
    for field in ["max_order_qty", "max_drawdown", "daily_loss_limit"] {
        assert!(e.contains(field), "{field} missing from {e}");
    }
    assert_eq!(*bt.engine.risk_limits(), before);
    let good = RiskLimits {
        max_order_qty: 1,
        ..before
    };
    bt.engine.set_risk_limits(good).unwrap();
    assert_eq!(bt.engine.risk_limits().max_order_qty, 1);
    assert_eq!(bt.engine.config().risk.max_order_qty, 1);
    // Sizing asks for up to 2 lots: with max 1, no order of 2 reaches the venue (exits of a
    // 1-lot position are 1 lot).
    bt.run().unwrap();
    let mut entries = bt
        .engine
        .sim()
        .orders()
        .iter()
        .filter(|o| o.leg == Leg::Entry);
    assert!(
        entries.all(|o| o.qty <= 1),
        "an order above the new limit was sent"
    );
    let decided = bt.engine.sim().orders().len() + bt.engine.denials.len();
    assert!(
        decided > 0,
        "the run must have tried to trade for this to mean anything"
    );
}

#[test]
fn flatten_closes_the_position_with_reduce_only_exits_and_stays_reducing() {
    let mut bt = backtest(2);
    assert!(step_until(&mut bt, |b| b
        .engine
        .positions()
        .iter()
        .any(|p| p.qty != 0)));
    let (sent, denied) = bt.engine.flatten();
    assert!(sent >= 1, "at least the exit order");
    assert_eq!(denied, 0);
    assert_eq!(bt.engine.trading_state(), TradingState::Reducing);
    let t = bt.engine.now();
    // Let the exit reach the venue (order latency) and fill.
    assert!(step_until(&mut bt, |b| b.engine.now() > t + 10_000_000_000));
    assert!(bt.engine.positions().iter().all(|p| p.qty == 0));
    let last = bt.engine.trades.last().expect("a round trip closed");
    assert_eq!(last.exit_reason, ExitReason::Flatten);
    // Later entries are denied: REDUCING admits only reducing orders.
    let entries = max_entry_intent(&bt);
    bt.run().unwrap();
    let reducing = bt
        .engine
        .denials
        .iter()
        .filter(|d| d.reason == "TRADING_REDUCING")
        .count();
    assert!(
        reducing > 0,
        "signals after the flatten are denied as reducing"
    );
    assert_eq!(max_entry_intent(&bt), entries);
}

#[test]
fn drained_log_equals_the_engine_records_and_is_deterministic() {
    let drain_all = |seed: u64| {
        let mut bt = backtest(seed);
        let mut log = SessionLog::default();
        let mut all = Drained::default();
        let mut n = 0;
        while !bt.is_done() {
            bt.step(4096).unwrap();
            n += 1;
            if n == 20 {
                bt.engine.set_trading_state(TradingState::Halted);
            }
            if n == 40 {
                bt.engine.set_trading_state(TradingState::Active);
            }
            let d = log.drain(&bt);
            all.new_orders.extend(d.new_orders);
            all.updated_orders.extend(d.updated_orders);
            all.fills.extend(d.fills);
            all.denials.extend(d.denials);
        }
        assert!(log.drain(&bt).is_empty(), "nothing twice");
        assert_eq!(all.fills, bt.engine.sim().fills());
        assert_eq!(all.denials, bt.engine.denials);
        let ids: Vec<u64> = all.new_orders.iter().map(|o| o.client_order_id).collect();
        let want: Vec<u64> = bt
            .engine
            .sim()
            .orders()
            .iter()
            .map(|o| o.client_order_id)
            .collect();
        assert_eq!(ids, want);
        // The last word on every order is its final status.
        for o in bt.engine.sim().orders() {
            let last = all
                .updated_orders
                .iter()
                .rev()
                .chain(all.new_orders.iter())
                .find(|x| x.client_order_id == o.client_order_id)
                .unwrap();
            assert_eq!((last.status, last.filled_qty), (o.status, o.filled_qty));
        }
        all
    };
    let a = drain_all(5);
    assert!(!a.fills.is_empty() && !a.denials.is_empty());
    let b = drain_all(5);
    assert_eq!(a.fills, b.fills);
    assert_eq!(a.denials, b.denials);
}

#[test]
fn a_roll_exits_the_old_month_gated_then_reenters_with_its_bracket_gated() {
    let mut bt = backtest(2);
    assert!(step_until(&mut bt, |b| b
        .engine
        .positions()
        .iter()
        .any(|p| p.qty != 0)));
    let p = bt
        .engine
        .positions()
        .iter()
        .find(|p| p.qty != 0)
        .unwrap()
        .clone();
    let id = p.instrument_id;
    // HALTED: the exit is refused and nothing changes (the roll waits for the operator)
    bt.engine.set_trading_state(TradingState::Halted);
    let working = bt.engine.sim().open_order_ids(id).len();
    let (sent, denied) = bt.engine.roll_exit(id).unwrap();
    assert_eq!((sent, denied), (0, 1), "the exit is denied while halted");
    let n = bt.engine.sim().open_order_ids(id).len();
    assert_eq!(n, working, "its bracket is not cancelled");
    assert_eq!(
        bt.engine.trading_state(),
        TradingState::Halted,
        "state untouched"
    );
    bt.engine.set_trading_state(TradingState::Active);
    let (sent, denied) = bt.engine.roll_exit(id).unwrap();
    assert!(sent >= 1 && denied == 0);
    assert_eq!(
        bt.engine.trading_state(),
        TradingState::Active,
        "state untouched"
    );
    let t = bt.engine.now();
    assert!(step_until(&mut bt, |b| b.engine.now() > t + 10_000_000_000));
    let closed = bt
        .engine
        .trades
        .iter()
        .any(|x| x.exit_reason == ExitReason::Roll);
    assert!(closed, "the round trip ends with reason ROLL");
    // the re-entry: same size and side, a bracket carried over, through the gate
    let side = if p.qty > 0 {
        OrderSide::Buy
    } else {
        OrderSide::Sell
    };
    let qty = p.qty.unsigned_abs() as u32;
    let mid = bt
        .engine
        .positions()
        .iter()
        .find(|x| x.instrument_id == id)
        .unwrap()
        .mark;
    let mid = mid.unwrap() as f64 / crate::book::PRICE_SCALE as f64;
    let (sl, tp) = if p.qty > 0 {
        (mid - 5.0, mid + 5.0)
    } else {
        (mid + 5.0, mid - 5.0)
    };
    let before = bt.engine.sim().orders().len();
    assert!(bt.engine.roll_entry(id, side, qty, Some((sl, tp))).unwrap());
    let t = bt.engine.now();
    assert!(step_until(&mut bt, |b| b.engine.now() > t + 10_000_000_000));
    let legs: Vec<_> = bt.engine.sim().orders()[before..]
        .iter()
        .map(|o| o.leg)
        .collect();
    assert!(
        legs.starts_with(&[Leg::Entry]) && legs.contains(&Leg::StopLoss),
        "the entry, then its bracket: {legs:?}"
    );
    // a tightened max position refuses a roll entry like any entry
    let mut l = *bt.engine.risk_limits();
    l.max_position = 1;
    l.max_order_qty = 1;
    bt.engine.set_risk_limits(l).unwrap();
    assert!(!bt.engine.roll_entry(id, side, 2, None).unwrap());
    assert!(bt.engine.roll_entry(id, side, 0, None).is_err());
    assert!(bt
        .engine
        .roll_entry(id, side, 1, Some((f64::NAN, tp)))
        .is_err());
}

#[test]
fn average_cost_is_the_engines_rule() {
    use crate::engine::average_cost;
    assert_eq!(average_cost(0, 0.0, 2, 100.0, 50.0), (2, 100.0, 0.0));
    assert_eq!(average_cost(2, 100.0, 2, 102.0, 50.0), (4, 101.0, 0.0));
    // a partial close keeps the average and realizes on the closed part
    assert_eq!(average_cost(4, 101.0, -1, 103.0, 50.0), (3, 101.0, 100.0));
    // through zero: the rest opens at the fill price
    assert_eq!(average_cost(3, 101.0, -5, 99.0, 50.0), (-2, 99.0, -300.0));
    assert_eq!(average_cost(-2, 99.0, 2, 98.0, 1.0), (0, 0.0, 2.0));
}
