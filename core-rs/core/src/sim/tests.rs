//! Hand-built books: each test feeds MBO records through the same call order the engine
//! uses (venue arrivals, then the sim sees the record, then the book applies it).

use super::*;
use crate::orders::OrderSide::{Buy, Sell};
use crate::orders::OrderType::{Limit, Market, Stop};
use crate::orders::{SignalSource, TimeInForce};
use dbn::FlagSet;

pub(super) const ID: u32 = 7;
pub(super) const TICK: i64 = PRICE_SCALE / 4;
const FEE: f64 = 1.25;

// MBO action and side codes, as Databento writes them.
const ADD: u8 = b'A';
const CANCEL: u8 = b'C';
const MODIFY: u8 = b'M';
const TRADE: u8 = b'T';
const FILL: u8 = b'F';
const BID: u8 = b'B';
const ASK: u8 = b'A';

/// Price in ticks of 0.25 above 100.00, fixed point.
pub(super) fn t(ticks: i64) -> i64 {
    100 * PRICE_SCALE + ticks * TICK
}

/// A record that ends its event (`F_LAST`): the book and the sim settle after it. (Also the
/// records of `sim::market`'s tests, which write them to a DBN stream.)
pub(super) fn rec(action: u8, side: u8, ticks: i64, size: u32, order_id: u64, ts: u64) -> MboMsg {
    let mut m = MboMsg {
        order_id,
        price: t(ticks),
        size,
        flags: FlagSet::new(dbn::flags::LAST),
        action: action as _,
        side: side as _,
        ts_recv: ts,
        ..Default::default()
    };
    m.hd.rtype = dbn::rtype::MBO;
    m.hd.instrument_id = ID;
    m.hd.ts_event = ts;
    m
}

/// The same record with more of its event still to come (no `F_LAST`).
fn part(action: u8, side: u8, ticks: i64, size: u32, order_id: u64, ts: u64) -> MboMsg {
    MboMsg {
        flags: FlagSet::new(0),
        ..rec(action, side, ticks, size, order_id, ts)
    }
}

/// Resting order `order_id` filled `size`: its fill record, then the cancel that takes the
/// size off the book and ends the event.
fn filled(side: u8, ticks: i64, size: u32, order_id: u64, ts: u64) -> [MboMsg; 2] {
    [
        part(FILL, side, ticks, size, order_id, ts),
        rec(CANCEL, side, ticks, size, order_id, ts),
    ]
}

/// An intent with the fields no test varies; `World::submit` numbers it.
fn intent(now: u64, action: IntentAction) -> OrderIntent {
    OrderIntent {
        intent_id: 0,
        ts: now,
        instrument_id: ID,
        action,
        side: Buy,
        qty: 0,
        order_type: Limit,
        price: None,
        stop_price: None,
        tif: TimeInForce::Day,
        reduce_only: false,
        bracket: None,
        source: SignalSource::External,
        confidence: 0.9,
        risk_score: 3,
    }
}

struct World {
    books: Vec<(u32, L3Book)>,
    sim: SimExchange,
    next_intent: u64,
}

impl World {
    fn new(latency: u64) -> World {
        let cfg = SimConfig {
            order_latency: LatencyModel::Constant(latency),
            feed_latency: LatencyModel::Constant(0),
            seed: 1,
        };
        let spec = InstrumentSpec {
            instrument_id: ID,
            tick_size: TICK,
            multiplier: 50.0,
            fee_per_contract: FEE,
        };
        World {
            books: vec![(ID, L3Book::new())],
            sim: SimExchange::new(cfg, vec![spec]).unwrap(),
            next_intent: 1,
        }
    }

    fn feed(&mut self, m: MboMsg) {
        self.sim.process_until(m.ts_recv, &self.books);
        self.sim.on_mbo(&m, &self.books[0].1);
        self.books[0].1.apply(&m);
        if m.flags.is_last() {
            self.books[0].1.end_event();
            self.sim.on_event_end(ID, m.ts_recv, &self.books[0].1);
        }
    }

    fn feed_all(&mut self, ms: &[MboMsg]) {
        for m in ms {
            self.feed(m.clone());
        }
    }

    fn submit(&mut self, mut intent: OrderIntent) -> u64 {
        intent.intent_id = self.next_intent;
        self.next_intent += 1;
        self.sim.submit(&intent, intent.ts)
    }

    // One argument per intent field a test varies: clearer than a builder here.
    #[allow(clippy::too_many_arguments)]
    fn send(
        &mut self,
        now: u64,
        side: OrderSide,
        order_type: OrderType,
        qty: u32,
        price: Option<i64>,
        stop_price: Option<i64>,
        bracket: Option<Bracket>,
    ) -> u64 {
        self.submit(OrderIntent {
            side,
            qty,
            order_type,
            price,
            stop_price,
            bracket,
            ..intent(now, IntentAction::New)
        })
    }

    fn limit(&mut self, now: u64, side: OrderSide, qty: u32, price: i64) -> u64 {
        self.send(now, side, Limit, qty, Some(price), None, None)
    }

    fn market(&mut self, now: u64, side: OrderSide, qty: u32) -> u64 {
        self.send(now, side, Market, qty, None, None, None)
    }

    fn cancel(&mut self, now: u64, coid: u64) {
        let action = IntentAction::Cancel {
            client_order_id: coid,
        };
        self.submit(OrderIntent {
            reduce_only: true,
            confidence: 0.0,
            risk_score: 1,
            ..intent(now, action)
        });
    }

    fn modify(&mut self, now: u64, coid: u64, qty: u32, price: Option<i64>) {
        let action = IntentAction::Modify {
            client_order_id: coid,
        };
        self.submit(OrderIntent {
            qty,
            price,
            ..intent(now, action)
        });
    }

    fn arrive(&mut self, now: u64) {
        self.sim.process_until(now, &self.books);
    }

    fn order(&self, coid: u64) -> &SimOrder {
        self.sim.order(coid).unwrap()
    }

    fn ahead(&self, coid: u64) -> (usize, u64) {
        self.sim.queue_ahead(coid, &self.books[0].1).unwrap()
    }

    fn fills_of(&self, coid: u64) -> Vec<(i64, u32)> {
        self.sim
            .fills()
            .iter()
            .filter(|f| f.client_order_id == coid)
            .map(|f| (f.price, f.qty))
            .collect()
    }

    fn all_fills_are(&self, liquidity: Liquidity) -> bool {
        self.sim.fills().iter().all(|f| f.liquidity == liquidity)
    }
}

/// Bids 5 and 3 at 100.00 (ids 1, 2), 4 at 99.75 (id 3); asks 2 @ 100.25, 3 @ 100.50,
/// 5 @ 100.75 (ids 11, 12, 13).
fn seeded(latency: u64) -> World {
    let mut w = World::new(latency);
    w.feed_all(&[
        rec(ADD, BID, 0, 5, 1, 1),
        rec(ADD, BID, 0, 3, 2, 2),
        rec(ADD, BID, -1, 4, 3, 3),
        rec(ADD, ASK, 1, 2, 11, 4),
        rec(ADD, ASK, 2, 3, 12, 5),
        rec(ADD, ASK, 3, 5, 13, 6),
    ]);
    w
}

#[test]
fn queue_position_advances_on_cancels_ahead_and_not_on_adds_behind() {
    let mut w = seeded(0);
    let c = w.limit(10, Buy, 2, t(0));
    w.arrive(10);
    assert_eq!(w.ahead(c), (2, 8));
    w.feed(rec(ADD, BID, 0, 4, 4, 11)); // joins behind us
    assert_eq!(w.ahead(c), (2, 8));
    w.feed(rec(CANCEL, BID, 0, 5, 1, 12)); // first in line leaves
    assert_eq!(w.ahead(c), (1, 3));
    w.feed(rec(CANCEL, BID, 0, 1, 2, 13)); // partial cancel ahead keeps its place
    assert_eq!(w.ahead(c), (1, 2));
    w.feed(rec(MODIFY, BID, 0, 6, 2, 14)); // size up: it goes behind us (CME priority)
    assert_eq!(w.ahead(c), (0, 0));
    assert!(w.sim.fills().is_empty(), "cancels never fill us");
}

#[test]
fn fills_only_after_the_queue_ahead_is_consumed_and_partially() {
    let mut w = seeded(0);
    let c = w.limit(10, Buy, 3, t(0));
    w.arrive(10);
    w.feed(rec(ADD, BID, 0, 4, 4, 11)); // behind us

    // A seller takes 5 from order 1 (ahead of us): we are not filled.
    w.feed(part(TRADE, ASK, 0, 5, 0, 20));
    w.feed_all(&filled(BID, 0, 5, 1, 20));
    assert!(w.fills_of(c).is_empty());
    assert_eq!(w.ahead(c), (1, 3));
    // Order 2 (ahead) is filled 3: still nothing for us; the queue ahead is now empty.
    w.feed_all(&filled(BID, 0, 3, 2, 30));
    assert!(w.fills_of(c).is_empty());
    assert_eq!(w.ahead(c), (0, 0));
    // Order 4 (behind us) gets 2: FIFO says that volume was ours first.
    w.feed_all(&filled(BID, 0, 2, 4, 40));
    assert_eq!(w.fills_of(c), vec![(t(0), 2)]);
    assert_eq!(w.order(c).status, OrderStatus::PartiallyFilled);
    w.feed_all(&filled(BID, 0, 2, 4, 50));
    assert_eq!(w.fills_of(c), vec![(t(0), 2), (t(0), 1)]);
    assert_eq!(w.order(c).status, OrderStatus::Filled);
    assert!(w.all_fills_are(Liquidity::Maker));
}

#[test]
fn a_trade_through_our_price_fills_us() {
    let mut w = seeded(0);
    let c = w.limit(10, Buy, 1, t(0));
    w.arrive(10);
    // A bid one tick below ours is filled: the market went through our level.
    w.feed(part(FILL, BID, -1, 2, 3, 20));
    assert_eq!(w.fills_of(c), vec![(t(0), 1)]);
}

#[test]
fn market_order_walks_three_levels_and_pays_fees_without_changing_the_book() {
    let mut w = seeded(0);
    let before = w.books[0].1.order_count();
    let c = w.market(10, Buy, 7);
    w.arrive(10);
    assert_eq!(w.fills_of(c), vec![(t(1), 2), (t(2), 3), (t(3), 2)]);
    assert_eq!(w.order(c).status, OrderStatus::Filled);
    let fees: f64 = w.sim.fills().iter().map(|f| f.fee).sum();
    assert_eq!(fees, 7.0 * FEE);
    assert!(w.all_fills_are(Liquidity::Taker));
    let after = w.books[0].1.order_count();
    assert_eq!(after, before, "our fills leave the replay alone");
}

#[test]
fn market_order_larger_than_the_book_fills_what_is_visible_and_cancels_the_rest() {
    let mut w = seeded(0);
    let c = w.market(10, Buy, 12);
    w.arrive(10);
    assert_eq!(w.order(c).filled_qty, 10);
    assert_eq!(w.order(c).status, OrderStatus::Cancelled);
}

#[test]
fn marketable_limit_takes_up_to_its_price_and_rests_the_rest() {
    let mut w = seeded(0);
    let c = w.limit(10, Buy, 4, t(1));
    w.arrive(10);
    assert_eq!(w.fills_of(c), vec![(t(1), 2)]);
    assert_eq!(w.order(c).status, OrderStatus::PartiallyFilled);
    assert_eq!(w.ahead(c), (0, 0));
}

#[test]
fn stop_triggers_on_a_trade_at_its_price_and_executes_at_the_event_end() {
    let mut w = seeded(0);
    let c = w.send(10, Sell, Stop, 2, None, Some(t(-1)), None);
    w.arrive(10);
    w.feed(rec(TRADE, ASK, 0, 1, 0, 20)); // 100.00 prints: above the stop
    assert!(w.fills_of(c).is_empty());
    // 99.75 prints: triggered; the event ends with bids 8 @ 100.00 still shown.
    w.feed(part(TRADE, ASK, -1, 1, 0, 30));
    w.feed(rec(CANCEL, BID, -1, 1, 3, 30));
    assert_eq!(w.fills_of(c), vec![(t(0), 2)]);
    assert_eq!(w.order(c).status, OrderStatus::Filled);
}

#[test]
fn bracket_children_follow_partial_entry_fills_and_one_cancels_the_other() {
    let mut w = seeded(0);
    let b = Bracket {
        stop_loss: t(-8),
        take_profit: t(4),
    };
    // Entry: buy 4 limit at 100.25 takes the 2 shown, rests 2.
    let c = w.send(10, Buy, Limit, 4, Some(t(1)), None, Some(b));
    w.arrive(10);
    let sl = client_order_id(1, Leg::StopLoss);
    let tp = client_order_id(1, Leg::TakeProfit);
    assert_eq!(w.order(c).filled_qty, 2);
    assert_eq!((w.order(sl).qty, w.order(tp).qty), (2, 2));
    assert_eq!(w.order(sl).side, Sell);
    assert_eq!(w.order(tp).price, Some(t(4)));
    // The rest of the entry fills: children grow to 4.
    w.feed(part(FILL, BID, 0, 5, 1, 20)); // a bid below ours filled: through us
    assert_eq!(w.order(c).status, OrderStatus::Filled);
    assert_eq!((w.order(sl).qty, w.order(tp).qty), (4, 4));
    // Take-profit partly filled by a trade through 101.00: the stop shrinks with it.
    w.feed(rec(ADD, ASK, 5, 1, 20, 30));
    w.feed(part(FILL, ASK, 5, 1, 20, 31));
    assert_eq!(w.order(tp).filled_qty, 1);
    assert_eq!(w.order(sl).qty, 3);
    w.feed(part(FILL, ASK, 5, 9, 20, 32));
    assert_eq!(w.order(tp).status, OrderStatus::Filled);
    assert_eq!(w.order(sl).status, OrderStatus::Cancelled);
    assert!(w.fills_of(sl).is_empty());
}

#[test]
fn an_order_arriving_after_a_trade_misses_it() {
    let run = |latency: u64| {
        let mut w = seeded(latency);
        let c = w.limit(10, Buy, 1, t(0));
        w.feed(rec(ADD, BID, 0, 2, 4, 20)); // a later bid at our price
        w.feed_all(&filled(BID, 0, 2, 4, 50));
        w.arrive(1_000);
        w.fills_of(c).len()
    };
    // 5 ns: we are in the queue before order 4, whose fill therefore reaches us first.
    assert_eq!(run(5), 1);
    // 100 ns: we arrive after the trade at 50 and after order 4 joined: no fill.
    assert_eq!(run(100), 0);
}

#[test]
fn a_cancel_in_flight_loses_the_race_to_a_fill() {
    let mut w = seeded(30);
    let c = w.limit(0, Buy, 1, t(0));
    w.arrive(30);
    w.feed(rec(ADD, BID, 0, 2, 4, 31));
    w.cancel(40, c); // reaches the venue at 70
    w.feed(part(FILL, BID, 0, 1, 4, 60));
    w.arrive(100);
    assert_eq!(w.order(c).status, OrderStatus::Filled);
    assert_eq!(w.sim.rejects().len(), 1);
    // And a cancel that arrives first wins.
    let c2 = w.limit(200, Buy, 1, t(0));
    w.arrive(230);
    w.cancel(240, c2);
    w.arrive(270);
    w.feed(part(FILL, BID, 0, 1, 4, 280));
    assert_eq!(w.order(c2).status, OrderStatus::Cancelled);
    assert!(w.fills_of(c2).is_empty());
}

#[test]
fn off_tick_prices_and_unknown_instruments_are_rejected() {
    let mut w = seeded(0);
    let c = w.limit(10, Buy, 1, t(0) + 1);
    w.arrive(10);
    assert_eq!(w.order(c).status, OrderStatus::Rejected);
    assert_eq!(w.order(c).reject_reason, "price off the tick grid");
}

#[test]
fn latency_draws_are_deterministic_per_seed_and_respect_the_cap() {
    let m = LatencyModel::LogNormal {
        median_ns: 50_000.0,
        sigma: 0.5,
        max_ns: 400_000,
    };
    let draw = |seed| {
        let mut r = SimRng::new(seed);
        (0..1000).map(|_| m.sample(&mut r)).collect::<Vec<_>>()
    };
    assert_eq!(draw(3), draw(3));
    assert_ne!(draw(3), draw(4));
    let d = draw(3);
    assert!(d.iter().all(|&x| x <= 400_000));
    let mut s = d.clone();
    s.sort_unstable();
    let median = s[500] as f64;
    assert!((median / 50_000.0 - 1.0).abs() < 0.1, "median {median}");
    assert!(!LatencyModel::Empirical(vec![]).problems("x").is_empty());
    let bad = SimConfig {
        order_latency: LatencyModel::LogNormal {
            median_ns: -1.0,
            sigma: f64::NAN,
            max_ns: 0,
        },
        ..SimConfig::default()
    };
    let e = bad.validate().unwrap_err().to_string();
    assert!(e.contains("median_ns") && e.contains("sigma"), "{e}");
}

#[test]
fn one_trade_through_us_fills_once_not_for_the_print_and_the_fill_record() {
    let mut w = seeded(0);
    let c = w.limit(10, Buy, 10, t(0));
    w.arrive(10);
    // A seller prints 3 at 99.75 against bid order 3: the trade and its fill record.
    w.feed(part(TRADE, ASK, -1, 3, 0, 20));
    w.feed_all(&filled(BID, -1, 3, 3, 20));
    assert_eq!(w.fills_of(c), vec![(t(0), 3)]);
}

#[test]
fn modify_arrives_after_the_latency_and_keeps_priority_only_when_it_shrinks() {
    let mut w = seeded(10);
    let c = w.limit(0, Buy, 3, t(0));
    w.arrive(10);
    w.feed(rec(ADD, BID, 0, 4, 4, 11)); // behind us
    assert_eq!(w.ahead(c), (2, 8));
    // Smaller size: same place in the queue, effective only once it arrives (t = 30).
    w.modify(20, c, 2, None);
    w.arrive(29);
    assert_eq!(w.order(c).qty, 3);
    w.arrive(30);
    assert_eq!(w.order(c).qty, 2);
    assert_eq!(w.ahead(c), (2, 8));
    // New price: to the back of the 99.75 queue (order 3 is there).
    w.modify(40, c, 2, Some(t(-1)));
    w.arrive(50);
    assert_eq!(w.order(c).price, Some(t(-1)));
    assert_eq!(w.ahead(c), (1, 4));
    // And back to 100.00: now behind order 4 too, which joined after us the first time.
    w.modify(60, c, 2, Some(t(0)));
    w.arrive(70);
    assert_eq!(w.ahead(c), (3, 12));
    // A modify of an unknown order is refused, not applied.
    w.modify(80, 999, 1, None);
    w.arrive(90);
    assert_eq!(w.sim.rejects().last().unwrap().client_order_id, 999);
}

#[test]
fn a_cancel_that_overtakes_its_order_keeps_it_off_the_book() {
    let mut w = seeded(0);
    // Sampled latencies can reorder: model it with an order sent late-arriving.
    w.sim = SimExchange::new(
        SimConfig {
            order_latency: LatencyModel::Empirical(vec![100, 10]),
            feed_latency: LatencyModel::Constant(0),
            seed: 0,
        },
        w.sim.specs().to_vec(),
    )
    .unwrap();
    // Find a seed-independent pair: send until one order draws 100 and its cancel 10.
    let mut overtaken = None;
    for k in 0..50u64 {
        let now = 1_000 * (k + 1);
        let c = w.market(now, Buy, 1);
        w.cancel(now, c);
        w.arrive(now + 500);
        if w.order(c).status == OrderStatus::Cancelled && w.fills_of(c).is_empty() {
            overtaken = Some(c);
            break;
        }
    }
    let c = overtaken.expect("some cancel overtook its order");
    assert_eq!(w.order(c).filled_qty, 0);
}
