//! The engine on a broker: L1 quotes in, intents out through the outbox, the broker's fills
//! and cancels back into positions and round trips, and a restart from the journal.

use super::*;
use crate::book::{BookView, PRICE_SCALE};
use crate::engine::DayBefore;
use crate::engine::{Engine, EngineConfig, ExitReason, ExternalSignals, Predictor};
use crate::orders::{intent_of, SignalSource};
use crate::risk::{RiskLimits, TradingState};
use crate::sizing::SizingConfig;

const ES: u32 = 42;
const S: u64 = 1_000_000_000;
const T0: u64 = 1_700_000_000 * S;
const TICK: i64 = PRICE_SCALE / 4;

fn config() -> EngineConfig {
    EngineConfig {
        specs: vec![InstrumentSpec {
            instrument_id: ES,
            tick_size: TICK,
            multiplier: 50.0,
            fee_per_contract: 0.0,
        }],
        sizing: SizingConfig {
            max_qty: 2,
            ..SizingConfig::default()
        },
        vol_min_samples: 5,
        flatten_at_end: false,
        ..EngineConfig::default()
    }
}

/// External signals at the given seconds after T0: +1 = buy at p 0.95, -1 = sell.
fn signals(at: &[(u64, i8)]) -> Box<dyn Predictor + Send> {
    let mut probs = Vec::new();
    for (_, c) in at {
        probs.extend(match c {
            1 => [0.025, 0.025, 0.95],
            _ => [0.95, 0.025, 0.025],
        });
    }
    Box::new(
        ExternalSignals::new(
            vec![-1, 0, 1],
            at.iter().map(|(s, _)| T0 + s * S).collect(),
            vec![ES; at.len()],
            probs,
            10 * S,
        )
        .unwrap(),
    )
}

fn engine(at: &[(u64, i8)]) -> Engine<BrokerVenue> {
    let cfg = config();
    let venue = BrokerVenue::new(cfg.specs.clone()).unwrap();
    Engine::with_venue(cfg, signals(at), venue).unwrap()
}

/// A one-tick-wide quote around a mid that wanders a tick up and down each second.
fn quote_at(e: &mut Engine<BrokerVenue>, sec: u64) -> (i64, i64) {
    let wiggle = [0, 1, 0, -1, -2, -1][(sec % 6) as usize];
    let bid = 4_000 * PRICE_SCALE + wiggle * TICK;
    let ask = bid + TICK;
    e.on_quote(ES, T0 + sec * S, Some((bid, 10)), Some((ask, 12)))
        .unwrap();
    (bid, ask)
}

fn quotes(e: &mut Engine<BrokerVenue>, secs: std::ops::Range<u64>) {
    for s in secs {
        quote_at(e, s);
    }
}

#[test]
fn a_quote_signal_becomes_a_bracketed_entry_in_the_outbox() {
    let mut e = engine(&[(10, 1)]);
    quotes(&mut e, 0..12);
    let out = e.venue_mut().take_outbox();
    assert_eq!(out.len(), 1, "{:?}", e.telemetry);
    let i = out[0];
    assert_eq!((i.side, i.action), (OrderSide::Buy, IntentAction::New));
    assert_eq!(i.source, SignalSource::External);
    assert!(i.qty >= 1 && i.qty <= 2);
    let b = i.bracket.expect("entries carry a bracket");
    let book = e.book(ES).unwrap();
    let mid = (book.bbo().0.unwrap().price + book.bbo().1.unwrap().price) / 2;
    assert!(
        b.stop_loss < mid && b.take_profit > mid,
        "{b:?} around {mid}"
    );
    // The entry and both exits are our working orders now; only the entry is exposure.
    let v = e.sim();
    assert_eq!(v.orders().len(), 3);
    assert_eq!(v.working_qty(ES), i.qty as i64);
    assert_eq!(v.open_order_ids(ES).len(), 3);
    // Nothing went out twice, and a second signal while the entry works is a hold.
    assert!(e.venue_mut().take_outbox().is_empty());
}

#[test]
fn broker_fills_drive_positions_and_round_trips() {
    let mut e = engine(&[(10, 1)]);
    quotes(&mut e, 0..11);
    let entry = e.venue_mut().take_outbox()[0];
    let coid = client_order_id(entry.intent_id, Leg::Entry);
    let b = entry.bracket.unwrap();
    let px = 4_000 * PRICE_SCALE;
    // A partial fill, then the rest: the position moves at once, without a quote.
    e.venue_update(|v| v.fill(coid, 1, px, T0 + 11 * S, 1.25))
        .unwrap();
    assert_eq!(e.positions()[0].qty, 1);
    assert_eq!(
        e.sim().order(coid).unwrap().status,
        OrderStatus::PartiallyFilled
    );
    if entry.qty > 1 {
        e.venue_update(|v| v.fill(coid, entry.qty - 1, px, T0 + 11 * S, 1.25))
            .unwrap();
    }
    assert_eq!(e.positions()[0].qty, entry.qty as i64);
    assert_eq!(e.sim().order(coid).unwrap().status, OrderStatus::Filled);
    // The take-profit fills; the broker cancels the stop (OCA) and says so.
    let tp = client_order_id(entry.intent_id, Leg::TakeProfit);
    let sl = client_order_id(entry.intent_id, Leg::StopLoss);
    e.venue_update(|v| v.fill(tp, entry.qty, b.take_profit, T0 + 12 * S, 1.25))
        .unwrap();
    e.venue_update(|v| v.close(sl, OrderStatus::Cancelled, "OCA"))
        .unwrap();
    assert_eq!(e.positions()[0].qty, 0);
    assert_eq!(e.trades.len(), 1);
    let t = &e.trades[0];
    assert_eq!(t.exit_reason, ExitReason::TakeProfit);
    let gain = (b.take_profit - px) as f64 / PRICE_SCALE as f64 * 50.0 * entry.qty as f64;
    assert!((t.pnl - (gain - t.fees)).abs() < 1e-9, "{t:?} vs {gain}");
    assert!(!e.sim().has_open_orders(ES));
    assert_eq!(e.sim().fills().len(), e.telemetry.fills as usize);
}

#[test]
fn commissions_reported_after_their_fills_land_in_fees_and_the_round_trip() {
    let mut e = engine(&[(10, 1)]);
    quotes(&mut e, 0..11);
    let entry = e.venue_mut().take_outbox()[0];
    let coid = client_order_id(entry.intent_id, Leg::Entry);
    let tp = client_order_id(entry.intent_id, Leg::TakeProfit);
    let px = 4_000 * PRICE_SCALE;
    assert!(e.book_commission(coid, 1.0).is_err(), "no fill yet");
    e.venue_update(|v| v.fill(coid, entry.qty, px, T0 + 11 * S, 0.0))
        .unwrap();
    e.book_commission(coid, 2.5).unwrap();
    e.venue_update(|v| v.fill(tp, entry.qty, px + TICK, T0 + 12 * S, 0.0))
        .unwrap();
    e.book_commission(tp, 2.5).unwrap();
    let t = &e.trades[0];
    let gross = TICK as f64 / PRICE_SCALE as f64 * 50.0 * entry.qty as f64;
    assert_eq!(t.fees, 5.0);
    assert!((t.pnl - (gross - 5.0)).abs() < 1e-9, "{t:?}");
    let p = &e.positions()[0];
    assert!((p.realized - p.fees - (gross - 5.0)).abs() < 1e-9);
    assert!(e.book_commission(tp, f64::NAN).is_err());
}

#[test]
fn an_opposite_signal_cancels_the_bracket_and_exits_reduce_only() {
    let mut e = engine(&[(10, 1), (20, -1)]);
    quotes(&mut e, 0..11);
    let entry = e.venue_mut().take_outbox()[0];
    let coid = client_order_id(entry.intent_id, Leg::Entry);
    e.venue_update(|v| v.fill(coid, entry.qty, 4_000 * PRICE_SCALE, T0 + 11 * S, 0.0))
        .unwrap();
    quotes(&mut e, 11..21);
    let out = e.venue_mut().take_outbox();
    let cancels: Vec<u64> = out
        .iter()
        .filter_map(|i| match i.action {
            IntentAction::Cancel { client_order_id } => Some(client_order_id),
            _ => None,
        })
        .collect();
    let mut want = vec![
        client_order_id(entry.intent_id, Leg::StopLoss),
        client_order_id(entry.intent_id, Leg::TakeProfit),
    ];
    want.sort_unstable();
    let mut got = cancels.clone();
    got.sort_unstable();
    assert_eq!(got, want);
    let exit = out.last().unwrap();
    assert!(exit.reduce_only && exit.side == OrderSide::Sell && exit.qty == entry.qty);
    assert_eq!(exit.order_type, OrderType::Market);
}

#[test]
fn an_entry_that_ends_unfilled_takes_its_bracket_and_frees_the_next_entry() {
    let mut e = engine(&[(10, 1), (16, 1)]);
    quotes(&mut e, 0..11);
    let entry = e.venue_mut().take_outbox()[0];
    let coid = client_order_id(entry.intent_id, Leg::Entry);
    e.venue_update(|v| v.close(coid, OrderStatus::Rejected, "201: margin"))
        .unwrap();
    for leg in [Leg::TakeProfit, Leg::StopLoss] {
        let o = e
            .sim()
            .order(client_order_id(entry.intent_id, leg))
            .unwrap();
        assert_eq!(o.status, OrderStatus::Cancelled);
        assert_eq!(o.reason, "parent REJECTED");
    }
    assert!(!e.sim().has_open_orders(ES));
    quotes(&mut e, 11..17);
    let next = e.venue_mut().take_outbox();
    assert_eq!(next.len(), 1, "the next signal enters again");
    assert!(next[0].intent_id > entry.intent_id);
}

#[test]
fn halted_engine_denies_and_sends_nothing() {
    let mut e = engine(&[(10, 1)]);
    e.set_trading_state(TradingState::Halted);
    quotes(&mut e, 0..12);
    assert!(e.venue_mut().take_outbox().is_empty());
    assert_eq!(e.denials.len(), 1);
    assert_eq!(e.denials[0].reason, "TRADING_HALTED");
}

#[test]
fn a_restart_restores_the_position_and_never_reuses_an_intent_id() {
    let mut e = engine(&[(10, -1)]);
    e.restore_position(ES, 2, 3_999.5, T0).unwrap();
    e.reserve_intent_ids(17);
    let adopted = BrokerOrder {
        client_order_id: client_order_id(16, Leg::StopLoss),
        intent_id: 16,
        leg: Leg::StopLoss,
        instrument_id: ES,
        side: OrderSide::Sell,
        order_type: OrderType::Stop,
        qty: 2,
        price: None,
        stop_price: Some(3_990 * PRICE_SCALE),
        filled_qty: 0,
        status: OrderStatus::Working,
        ts: T0,
        reason: String::new(),
        cancel_sent: false,
    };
    e.venue_update(|v| v.adopt(adopted.clone())).unwrap();
    assert!(
        e.venue_update(|v| v.adopt(adopted)).is_err(),
        "adopted twice"
    );
    assert!(
        e.restore_position(ES, 1, 4_000.0, T0).is_err(),
        "restored twice"
    );
    quotes(&mut e, 0..11);
    let out = e.venue_mut().take_outbox();
    // The sell signal against the restored long: cancel the adopted stop, sell 2.
    assert_eq!(out.len(), 2, "{out:?}");
    assert!(out.iter().all(|i| i.intent_id >= 17));
    assert_eq!(
        out[0].action,
        IntentAction::Cancel {
            client_order_id: client_order_id(16, Leg::StopLoss)
        }
    );
    assert!(out[1].reduce_only && out[1].qty == 2 && out[1].side == OrderSide::Sell);
    let exit = client_order_id(out[1].intent_id, Leg::Entry);
    e.venue_update(|v| v.fill(exit, 2, 4_000 * PRICE_SCALE, T0 + 11 * S, 0.0))
        .unwrap();
    assert_eq!(e.positions()[0].qty, 0);
    let t = &e.trades[0];
    assert_eq!(t.exit_reason, ExitReason::Signal);
    assert!((t.pnl - 0.5 * 50.0 * 2.0).abs() < 1e-9, "{t:?}");
    assert_eq!(intent_of(exit).0, out[1].intent_id);
}

#[test]
fn bad_reports_are_typed_errors_not_panics() {
    let mut v = BrokerVenue::new(config().specs).unwrap();
    let e = v.fill(99, 1, PRICE_SCALE, 0, 0.0).unwrap_err().to_string();
    assert!(e.contains("client order 99") && e.contains("adopt"), "{e}");
    let e = v
        .close(99, OrderStatus::Filled, "")
        .unwrap_err()
        .to_string();
    assert!(e.contains("want CANCELLED or REJECTED"), "{e}");
    let e = v
        .fill(99, 0, PRICE_SCALE, 0, f64::NAN)
        .unwrap_err()
        .to_string();
    assert!(e.contains("qty 0"), "{e}");
    assert!(BrokerVenue::new(Vec::new()).is_err());
    let mut e = engine(&[]);
    let err = e.on_quote(7, T0, Some((PRICE_SCALE, 1)), None).unwrap_err();
    assert!(err.to_string().contains("instrument 7"), "{err}");
}

#[test]
fn finish_while_halted_sends_nothing_and_reports_the_end_exits_as_denials() {
    let mut cfg = config();
    cfg.flatten_at_end = true;
    let venue = BrokerVenue::new(cfg.specs.clone()).unwrap();
    let mut e = Engine::with_venue(cfg, signals(&[(10, 1)]), venue).unwrap();
    quotes(&mut e, 0..11);
    let entry = e.venue_mut().take_outbox()[0];
    let coid = client_order_id(entry.intent_id, Leg::Entry);
    e.venue_update(|v| v.fill(coid, entry.qty, 4_000 * PRICE_SCALE, T0 + 11 * S, 0.0))
        .unwrap();
    e.set_trading_state(TradingState::Halted);
    e.finish();
    let out = e.venue_mut().take_outbox();
    // The bracket's cancels pass (cancels always do); the END exit does not.
    assert!(
        out.iter()
            .all(|i| matches!(i.action, IntentAction::Cancel { .. })),
        "{out:?}"
    );
    assert_eq!(e.positions()[0].qty, entry.qty as i64);
    let d = e.denials.last().expect("the END exit is a denial");
    assert_eq!(d.reason, "TRADING_HALTED");
    assert!(d.intent.reduce_only && d.intent.qty == entry.qty);
}

#[test]
fn a_held_intent_released_after_a_halt_is_denied_and_leaves_the_working_set() {
    let mut e = engine(&[(10, 1)]);
    quotes(&mut e, 0..11);
    // The control plane holds the entry (a disconnect); the operator halts meanwhile.
    let held = e.venue_mut().take_outbox()[0];
    assert_eq!(e.sim().working_qty(ES), held.qty as i64);
    e.set_trading_state(TradingState::Halted);
    quote_at(&mut e, 11);
    let d = e
        .recheck_held(held.intent_id)
        .unwrap()
        .expect("a halted engine refuses the release");
    assert_eq!(d.reason, "TRADING_HALTED");
    assert_eq!(e.denials.last(), Some(&d));
    // Entry and bracket are out of the working set: no exposure left behind.
    assert_eq!(e.sim().working_qty(ES), 0);
    assert!(!e.sim().has_open_orders(ES));
    for leg in [Leg::Entry, Leg::StopLoss, Leg::TakeProfit] {
        let o = e.sim().order(client_order_id(held.intent_id, leg)).unwrap();
        assert_eq!(o.status, OrderStatus::Rejected);
        assert!(
            o.reason.starts_with("RISK_DENIED TRADING_HALTED"),
            "{}",
            o.reason
        );
    }
    // An unknown intent is an error naming it, not a verdict.
    let err = e.recheck_held(999).unwrap_err().to_string();
    assert!(err.contains("held intent 999"), "{err}");
}

#[test]
fn a_held_intent_released_unchanged_passes_without_counting_its_own_exposure() {
    let mut e = engine(&[(10, 1)]);
    quotes(&mut e, 0..11);
    let held = e.venue_mut().take_outbox()[0];
    // A position limit the entry fills exactly: counted twice (itself as working) it would
    // be refused.
    let l = RiskLimits {
        max_position: held.qty,
        ..*e.risk_limits()
    };
    e.set_risk_limits(l).unwrap();
    quote_at(&mut e, 11);
    assert_eq!(e.recheck_held(held.intent_id).unwrap(), None);
    assert_eq!(e.sim().working_qty(ES), held.qty as i64);
    // Tightened below it while held: refused on release with the position reason.
    let l = RiskLimits {
        max_position: held.qty - 1,
        ..*e.risk_limits()
    };
    if held.qty > 1 {
        e.set_risk_limits(l).unwrap();
        let d = e.recheck_held(held.intent_id).unwrap().unwrap();
        assert_eq!(d.reason, "MAX_POSITION");
    }
}

/// A round trip at a loss of 9,999.
fn day_with_a_loss(e: &mut Engine<BrokerVenue>, from: u64) {
    let fill = |e: &mut Engine<BrokerVenue>, i: &OrderIntent, px: i64, sec: u64| {
        let coid = client_order_id(i.intent_id, Leg::Entry);
        e.venue_update(|v| v.fill(coid, i.qty, px, T0 + sec * S, 0.0))
            .unwrap();
    };
    quotes(e, from..from + 11);
    let entry = e.venue_mut().take_outbox()[0];
    fill(e, &entry, 4_000 * PRICE_SCALE, from + 11);
    let loss_pts = 9_999.0 / (50.0 * entry.qty as f64);
    quotes(e, from + 11..from + 21);
    let exit = *e.venue_mut().take_outbox().last().unwrap();
    assert!(exit.reduce_only);
    let px = 4_000 * PRICE_SCALE - (loss_pts * PRICE_SCALE as f64).round() as i64;
    fill(e, &exit, px, from + 21);
    for leg in [Leg::StopLoss, Leg::TakeProfit] {
        let c = client_order_id(entry.intent_id, leg);
        e.venue_update(|v| v.close(c, OrderStatus::Cancelled, "ok"))
            .unwrap();
    }
}

#[test]
fn restored_operator_state_trips_the_daily_loss_breaker_as_without_the_restart() {
    let at = [(10, 1), (20, -1), (40, 1), (50, -1)];
    // The operator loosened the drawdown breaker so that the daily loss is what trips.
    let limits = RiskLimits {
        max_drawdown: 0.5,
        ..RiskLimits::default()
    };
    // Without a restart: the loss is booked in this process.
    let mut a = engine(&at);
    a.set_risk_limits(limits).unwrap();
    day_with_a_loss(&mut a, 0);
    assert!(
        (a.realized_pnl() + 9_999.0).abs() < 1e-6,
        "{}",
        a.realized_pnl()
    );
    // After a restart: the journal's state, limits and day's P&L are restored first.
    let mut b = engine(&at[2..]);
    b.restore_operator_state(
        TradingState::Active,
        limits,
        DayBefore {
            realized_pnl: -9_999.0,
            fees: 0.0,
            traded_notional: 0.0,
        },
        None,
    )
    .unwrap();
    // A control without the restored baseline.
    let mut c = engine(&at[2..]);
    c.set_risk_limits(limits).unwrap();
    for e in [&mut a, &mut b, &mut c] {
        quotes(e, 22..41);
        let out = e.venue_mut().take_outbox();
        let entry = out
            .last()
            .copied()
            .unwrap_or_else(|| panic!("no entry: {:?}", e.denials));
        let coid = client_order_id(entry.intent_id, Leg::Entry);
        // Filled a point above the market: the new position loses from the start, so the
        // exit signal's check finds the day at or below -10,000.
        e.venue_update(|v| v.fill(coid, entry.qty, 4_001 * PRICE_SCALE, T0 + 41 * S, 0.0))
            .unwrap();
        quotes(e, 41..51);
    }
    for e in [&a, &b] {
        let d = e.denials.last().expect("the breaker trips");
        assert_eq!(d.reason, "DAILY_LOSS_LIMIT");
        assert_eq!(e.trading_state(), TradingState::Halted);
    }
    assert_eq!(c.trading_state(), TradingState::Active);
    assert!(c.denials.is_empty(), "{:?}", c.denials);
    assert!((b.realized_pnl() - a.realized_pnl()).abs() < 1e-6);
}

#[test]
fn operator_state_is_restored_only_before_trading_and_only_when_valid() {
    let mut e = engine(&[(10, 1)]);
    let mut bad = *e.risk_limits();
    bad.max_order_qty = 0;
    let err = e
        .restore_operator_state(
            TradingState::Halted,
            bad,
            DayBefore {
                realized_pnl: f64::NAN,
                fees: -1.0,
                traded_notional: 0.0,
            },
            None,
        )
        .unwrap_err()
        .to_string();
    for part in ["realized_pnl", "fees", "max_order_qty"] {
        assert!(err.contains(part), "{part} missing from {err}");
    }
    assert_eq!(e.trading_state(), TradingState::Active, "nothing changed");
    let l = *e.risk_limits();
    e.restore_operator_state(TradingState::Halted, l, DayBefore::default(), None)
        .unwrap();
    quotes(&mut e, 0..12);
    assert!(
        e.venue_mut().take_outbox().is_empty(),
        "a restored HALT holds"
    );
    e.set_trading_state(TradingState::Active);
    let mut e2 = engine(&[(10, 1)]);
    quotes(&mut e2, 0..12);
    assert!(!e2.venue_mut().take_outbox().is_empty());
    let l = *e2.risk_limits();
    let err = e2
        .restore_operator_state(TradingState::Active, l, DayBefore::default(), None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("restore before trading"), "{err}");
}

#[test]
fn signals_before_the_broker_answers_do_not_cancel_or_exit_twice() {
    // the opposite signal repeats at every event before the broker answers the cancels and
    // the exit (a burst of market data): one cancel per bracket leg and one exit, not one
    // per event
    let mut e = engine(&[(10, 1), (20, -1), (21, -1), (22, -1), (23, -1)]);
    quotes(&mut e, 0..11);
    let entry = e.venue_mut().take_outbox()[0];
    let coid = client_order_id(entry.intent_id, Leg::Entry);
    e.venue_update(|v| v.fill(coid, entry.qty, 4_000 * PRICE_SCALE, T0 + 11 * S, 0.0))
        .unwrap();
    quotes(&mut e, 11..24);
    let out = e.venue_mut().take_outbox();
    let cancels = out
        .iter()
        .filter(|i| matches!(i.action, IntentAction::Cancel { .. }))
        .count();
    let exits = out
        .iter()
        .filter(|i| i.action == IntentAction::New && i.reduce_only)
        .count();
    assert_eq!((cancels, exits), (2, 1), "{out:#?}");
}

#[test]
fn an_instrument_the_scanner_left_out_closes_but_does_not_open() {
    let mut e = engine(&[(10, 1), (20, -1)]);
    e.set_entries_allowed(ES, false);
    assert_eq!(e.entries_blocked(), [ES]);
    quotes(&mut e, 0..11);
    assert!(
        e.venue_mut().take_outbox().is_empty(),
        "no entry while not selected"
    );
    let held = e
        .telemetry
        .holds_by_reason
        .iter()
        .find(|(r, _)| r == "NOT_SELECTED");
    assert_eq!(held.map(|(_, n)| *n), Some(1));
    // a position it holds is still closed by an opposite signal
    e.restore_position(ES, 1, 4_000.0, T0 + 11 * S).unwrap();
    quotes(&mut e, 11..21);
    let out = e.venue_mut().take_outbox();
    assert_eq!(out.len(), 1, "{out:#?}");
    assert!(out[0].reduce_only && out[0].side == OrderSide::Sell);
    e.set_entries_allowed(ES, true);
    assert!(e.entries_blocked().is_empty());
}
