//! Invariant 1 as a property: every order that reaches a venue passed the risk gates at the
//! moment it was sent, whatever the route.
//!
//! Random scripts drive the engine on both venues (the L3 simulated exchange and the broker
//! venue of paper/live sessions) through signals, quotes, operator halts / resumes /
//! REDUCING, tightened and loosened limits, flattens, broker fills, disconnects and restart
//! windows (the control plane holds the outbox; held intents are released through
//! `Engine::recheck_held`), and end of data (`Engine::finish`).
//!
//! Two oracles watch every order at the moment it reaches the venue:
//! - the engine's send audit (the gate's verdict computed without effect just before the
//!   real check): the venue must have received exactly the audited orders the gate passed,
//!   in order; a route around the choke point leaves an order without an audit entry;
//! - a model of the operator kept by the test alone, consulted from inside the venue's
//!   `submit` (and at each release): no new order while the operator's state is HALTED,
//!   only reducing orders while REDUCING, never more contracts than the operator's
//!   `max_order_qty`.

use std::sync::{Arc, Mutex};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use tradecore::book::{L3Book, PRICE_SCALE};
use tradecore::engine::broker::BrokerVenue;
use tradecore::engine::{Engine, EngineConfig, Predictor, Venue};
use tradecore::orders::{Fill, InstrumentId, InstrumentSpec, IntentAction, Leg, OrderIntent};
use tradecore::risk::{RiskLimits, TradingState};
use tradecore::sim::{LatencyModel, OrderStatus, SimConfig, SimExchange};
use tradecore::sizing::SizingConfig;

const S: u64 = 1_000_000_000;
const T0: u64 = 1_700_000_000 * S;
const TICK: i64 = PRICE_SCALE / 4;
const IDS: [InstrumentId; 2] = [1, 2];
const BASE_QTY: u32 = 3;
const BASE_POS: u32 = 4;

/// The operator as the test sees it (what it commanded), shared with the venue wrapper.
#[derive(Debug)]
struct Operator {
    state: TradingState,
    max_order_qty: u32,
    /// Orders that reached the venue, and violations the model found at that moment.
    sent: Vec<OrderIntent>,
    violations: Vec<String>,
}

impl Operator {
    fn new() -> Self {
        Operator {
            state: TradingState::Active,
            max_order_qty: BASE_QTY,
            sent: Vec::new(),
            violations: Vec::new(),
        }
    }

    /// The model's verdict for a new order reaching the venue with position `pos`.
    fn judge(&mut self, i: &OrderIntent, pos: i64, route: &str) {
        if i.action != IntentAction::New {
            return;
        }
        let signed = i.side.sign() * i.qty as i64;
        let reduces = pos != 0 && signed.signum() == -pos.signum() && signed.abs() <= pos.abs();
        let bad = match self.state {
            TradingState::Halted => Some("sent while the operator's state is HALTED"),
            TradingState::Reducing if !reduces => Some("sent while REDUCING without reducing"),
            _ if i.qty > self.max_order_qty => Some("more contracts than max_order_qty"),
            _ => None,
        };
        if let Some(b) = bad {
            self.violations.push(format!(
                "{route}: intent {} {:?} {} (position {pos}): {b}",
                i.intent_id, i.side, i.qty
            ));
        }
    }
}

/// Net position of `id` from a venue's fills.
fn net(fills: &[Fill], id: InstrumentId) -> i64 {
    fills
        .iter()
        .filter(|f| f.instrument_id == id)
        .map(|f| f.side.sign() * f.qty as i64)
        .sum()
}

/// A venue that records every order it receives and asks the operator model about it then.
struct Recording<V> {
    inner: V,
    op: Arc<Mutex<Operator>>,
    /// Broker venue: the control plane decides when an order reaches the broker, so the
    /// model is consulted at release, not at submit.
    judge_at_submit: bool,
}

impl<V: Venue> Venue for Recording<V> {
    fn spec(&self, id: InstrumentId) -> Option<&InstrumentSpec> {
        self.inner.spec(id)
    }
    fn submit(&mut self, intent: &OrderIntent, now: u64) -> u64 {
        let mut op = self.op.lock().unwrap();
        if self.judge_at_submit {
            let pos = net(self.inner.fills(), intent.instrument_id);
            op.judge(intent, pos, "submit");
        }
        op.sent.push(*intent);
        drop(op);
        self.inner.submit(intent, now)
    }
    fn next_arrival(&self) -> Option<u64> {
        self.inner.next_arrival()
    }
    fn process_until(&mut self, t: u64, books: &[(InstrumentId, L3Book)]) {
        self.inner.process_until(t, books)
    }
    fn on_mbo(&mut self, m: &dbn::MboMsg, book: &L3Book) {
        self.inner.on_mbo(m, book)
    }
    fn on_event_end(&mut self, id: InstrumentId, ts: u64, book: &L3Book) {
        self.inner.on_event_end(id, ts, book)
    }
    fn fills(&self) -> &[Fill] {
        self.inner.fills()
    }
    fn working_qty(&self, id: InstrumentId) -> i64 {
        self.inner.working_qty(id)
    }
    fn has_open_orders(&self, id: InstrumentId) -> bool {
        self.inner.has_open_orders(id)
    }
    fn open_order_ids(&self, id: InstrumentId) -> Vec<u64> {
        self.inner.open_order_ids(id)
    }
    fn feed_latency(&mut self) -> u64 {
        self.inner.feed_latency()
    }
    fn held_intent(&self, intent_id: u64) -> Option<OrderIntent> {
        self.inner.held_intent(intent_id)
    }
    fn own_working_qty(&self, intent_id: u64) -> i64 {
        self.inner.own_working_qty(intent_id)
    }
    fn withdraw(&mut self, intent_id: u64, reason: &str) {
        self.inner.withdraw(intent_id, reason)
    }
}

/// Signals the script queues: each fires at the next event of its instrument.
#[derive(Clone, Default)]
struct Script(Arc<Mutex<Vec<(InstrumentId, i8)>>>);

impl Predictor for Script {
    fn classes(&self) -> &[i8] {
        &[-1, 0, 1]
    }
    fn source(&self) -> tradecore::orders::SignalSource {
        tradecore::orders::SignalSource::External
    }
    fn uses_features(&self) -> bool {
        false
    }
    fn predict(
        &mut self,
        id: InstrumentId,
        _ts: u64,
        _f: &[f32],
        out: &mut [f32],
    ) -> tradecore::Result<Option<()>> {
        let mut q = self.0.lock().unwrap();
        let Some(k) = q.iter().position(|(i, _)| *i == id) else {
            return Ok(None);
        };
        let (_, c) = q.remove(k);
        out.copy_from_slice(if c > 0 {
            &[0.02, 0.03, 0.95]
        } else {
            &[0.95, 0.03, 0.02]
        });
        Ok(Some(()))
    }
}

#[derive(Clone, Debug)]
enum Act {
    /// A quote on instrument `i`, `dt_ms` later, the mid moved by `ticks`.
    Quote {
        i: usize,
        dt_ms: u64,
        ticks: i64,
    },
    Signal {
        i: usize,
        buy: bool,
    },
    State(TradingState),
    Limits {
        max_order_qty: u32,
        max_position: u32,
    },
    Flatten,
    /// Broker venue: the broker fills the `k`-th order it holds (sent, working).
    Fill(usize),
    /// Broker venue: the connection drops / a restart window opens (the control plane holds
    /// what the engine sends), or it is back (held intents are released, re-gated).
    Hold(bool),
}

fn arb_act() -> impl Strategy<Value = Act> {
    prop_oneof![
        8 => (0usize..2, 50u64..1500, -2i64..=2).prop_map(|(i, dt_ms, ticks)| Act::Quote { i, dt_ms, ticks }),
        5 => (0usize..2, any::<bool>()).prop_map(|(i, buy)| Act::Signal { i, buy }),
        2 => prop_oneof![
            Just(TradingState::Active),
            Just(TradingState::Reducing),
            Just(TradingState::Halted)
        ]
        .prop_map(Act::State),
        1 => (1u32..=BASE_QTY, 1u32..=BASE_POS).prop_map(|(q, p)| Act::Limits { max_order_qty: q, max_position: p }),
        1 => Just(Act::Flatten),
        3 => (0usize..8).prop_map(Act::Fill),
        2 => any::<bool>().prop_map(Act::Hold),
    ]
}

fn specs() -> Vec<InstrumentSpec> {
    IDS.iter()
        .map(|&id| InstrumentSpec {
            instrument_id: id,
            tick_size: TICK,
            multiplier: if id == 1 { 50.0 } else { 20.0 },
            fee_per_contract: 0.0,
        })
        .collect()
}

fn config() -> EngineConfig {
    EngineConfig {
        sim: SimConfig {
            order_latency: LatencyModel::Constant(1_000_000),
            feed_latency: LatencyModel::Constant(10_000),
            seed: 7,
        },
        specs: specs(),
        sizing: SizingConfig {
            max_qty: BASE_QTY,
            ..SizingConfig::default()
        },
        risk: RiskLimits {
            max_order_qty: BASE_QTY,
            max_position: BASE_POS,
            ..RiskLimits::default()
        },
        vol_min_samples: 3,
        flatten_at_end: true,
        ..EngineConfig::default()
    }
}

/// What one script run saw (summed over cases to show the property is not vacuous).
#[derive(Default, Debug, Clone, Copy)]
struct Seen {
    sent_new: u64,
    denied: u64,
    released: u64,
    withdrawn: u64,
}

struct World<V: Venue> {
    e: Engine<Recording<V>>,
    op: Arc<Mutex<Operator>>,
    script: Script,
    t: u64,
    mids: [i64; 2],
    held: bool,
    /// Intents the control plane holds (broker venue) in the order the engine sent them.
    outbox_held: Vec<OrderIntent>,
    seen: Seen,
}

impl<V: Venue> World<V> {
    fn new(venue: V, judge_at_submit: bool) -> Self {
        let op = Arc::new(Mutex::new(Operator::new()));
        let script = Script::default();
        let rec = Recording {
            inner: venue,
            op: op.clone(),
            judge_at_submit,
        };
        let mut e = Engine::with_venue(config(), Box::new(script.clone()), rec).unwrap();
        e.enable_send_audit();
        let mut w = World {
            e,
            op,
            script,
            t: T0,
            mids: [4000 * PRICE_SCALE, 18000 * PRICE_SCALE],
            held: false,
            outbox_held: Vec::new(),
            seen: Seen::default(),
        };
        // Warm-up: every instrument quotes and moves for a while so a volatility exists.
        for k in 0..12 {
            for i in 0..2 {
                let wiggle = [0, 1, -1, 2][k % 4];
                w.quote(i, 250, wiggle);
            }
        }
        w
    }

    fn quote(&mut self, i: usize, dt_ms: u64, ticks: i64) {
        self.t += dt_ms * 1_000_000;
        self.mids[i] += ticks * TICK;
        let bid = self.mids[i];
        // Sizes change with time so that every quote is an event, even at an unchanged mid.
        let size = 10 + (self.t / 1_000_000 % 7) as u32;
        self.e
            .on_quote(
                IDS[i],
                self.t,
                Some((bid, size)),
                Some((bid + TICK, size + 1)),
            )
            .unwrap();
    }
}

/// The control plane of a broker session, as far as the property needs it.
impl World<BrokerVenue> {
    /// Drains the outbox: straight to the broker when connected (the audit covers those: the
    /// engine sent them now), else held.
    fn pump(&mut self) {
        let out = self.e.venue_mut().inner.take_outbox();
        if self.held {
            self.outbox_held.extend(out);
            return;
        }
        for i in out {
            self.send_to_broker(&i, "direct");
        }
    }

    /// An intent reaches the broker: the operator model judges it against the position the
    /// engine holds now; a cancel closes its target at once (the broker confirms).
    fn send_to_broker(&mut self, i: &OrderIntent, route: &str) {
        let pos = self
            .e
            .positions()
            .iter()
            .find(|p| p.instrument_id == i.instrument_id)
            .map_or(0, |p| p.qty);
        self.op.lock().unwrap().judge(i, pos, route);
        if i.action == IntentAction::New {
            self.seen.sent_new += 1;
        }
        if let IntentAction::Cancel { client_order_id } = i.action {
            self.e
                .venue_update(|v| v.inner.close(client_order_id, OrderStatus::Cancelled, "ok"))
                .unwrap();
        }
    }

    /// Back online: every held intent is re-gated at release; only what passes is sent.
    fn release(&mut self) {
        self.held = false;
        for i in std::mem::take(&mut self.outbox_held) {
            if self.e.venue_mut().inner.held_intent(i.intent_id).is_none() {
                continue; // closed meanwhile (a cancel's target filled or went away)
            }
            let own = self.e.venue_mut().inner.own_working_qty(i.intent_id);
            let mut now = i;
            now.ts = now.ts.max(self.e.now());
            let preview = self.e.gate_preview(&now, own, false);
            let verdict = self.e.recheck_held(i.intent_id).unwrap();
            assert_eq!(
                preview.is_ok(),
                verdict.is_none(),
                "release of {}: preview {preview:?} vs recheck {verdict:?}",
                i.intent_id
            );
            match verdict {
                None => {
                    self.seen.released += 1;
                    self.send_to_broker(&i, "release");
                }
                Some(_) => {
                    self.seen.withdrawn += 1;
                    let v = &self.e.venue_mut().inner;
                    assert!(
                        v.orders()
                            .iter()
                            .filter(|o| o.intent_id == i.intent_id)
                            .all(|o| o.status.is_terminal()),
                        "a refused held intent must leave the working set"
                    );
                }
            }
        }
    }

    /// The broker fills the `k`-th order it holds (sent, working; a child only once its
    /// entry filled), at the touch; a bracket child's fill cancels its sibling (OCO).
    fn broker_fill(&mut self, k: usize) {
        let held: Vec<u64> = self.outbox_held.iter().map(|i| i.intent_id).collect();
        let v = &self.e.venue_mut().inner;
        let cands: Vec<_> = v
            .orders()
            .iter()
            .filter(|o| !o.status.is_terminal() && !held.contains(&o.intent_id))
            .filter(|o| {
                o.leg == Leg::Entry
                    || v.orders().iter().any(|p| {
                        p.intent_id == o.intent_id
                            && p.leg == Leg::Entry
                            && p.status == OrderStatus::Filled
                    })
            })
            .cloned()
            .collect();
        if cands.is_empty() {
            return;
        }
        let o = &cands[k % cands.len()];
        let i = IDS.iter().position(|&x| x == o.instrument_id).unwrap();
        let px = self.mids[i];
        let t = self.t;
        self.e
            .venue_update(|v| v.inner.fill(o.client_order_id, o.remaining(), px, t, 0.0))
            .unwrap();
        if o.leg != Leg::Entry {
            let sib = if o.leg == Leg::StopLoss {
                Leg::TakeProfit
            } else {
                Leg::StopLoss
            };
            let coid = tradecore::orders::client_order_id(o.intent_id, sib);
            self.e
                .venue_update(|v| v.inner.close(coid, OrderStatus::Cancelled, "oco"))
                .unwrap();
        }
    }
}

fn apply_common<V: Venue>(w: &mut World<V>, a: &Act) -> bool {
    match a {
        Act::Quote { i, dt_ms, ticks } => w.quote(*i, *dt_ms, *ticks),
        Act::Signal { i, buy } => {
            w.script
                .0
                .lock()
                .unwrap()
                .push((IDS[*i], if *buy { 1 } else { -1 }));
            w.quote(*i, 100, 0);
        }
        Act::State(s) => {
            w.op.lock().unwrap().state = *s;
            w.e.set_trading_state(*s);
        }
        Act::Limits {
            max_order_qty,
            max_position,
        } => {
            let l = RiskLimits {
                max_order_qty: *max_order_qty,
                max_position: *max_position,
                ..*w.e.risk_limits()
            };
            w.e.set_risk_limits(l).unwrap();
            w.op.lock().unwrap().max_order_qty = *max_order_qty;
        }
        Act::Flatten => {
            // Flatten = REDUCING, then exits through the gate.
            w.op.lock().unwrap().state = TradingState::Reducing;
            w.e.flatten();
        }
        _ => return false,
    }
    true
}

/// The audit and the venue agree: the venue received exactly the orders the gate passed at
/// the choke point, in order, and no order the gate refused.
fn check_audit<V: Venue>(w: &World<V>) -> Result<Seen, TestCaseError> {
    let op = w.op.lock().unwrap();
    prop_assert!(op.violations.is_empty(), "{:#?}", op.violations);
    let passed: Vec<OrderIntent> =
        w.e.send_audit()
            .iter()
            .filter(|a| a.refused.is_none())
            .map(|a| a.intent)
            .collect();
    prop_assert_eq!(
        &passed,
        &op.sent,
        "venue received orders the gate did not pass"
    );
    let refused =
        w.e.send_audit()
            .iter()
            .filter(|a| a.refused.is_some())
            .count();
    let mut seen = w.seen;
    seen.denied = refused as u64;
    if w.seen.sent_new == 0 {
        seen.sent_new = op
            .sent
            .iter()
            .filter(|i| i.action == IntentAction::New)
            .count() as u64;
    }
    Ok(seen)
}

fn run_sim(script: &[Act]) -> Result<Seen, TestCaseError> {
    let venue = SimExchange::new(config().sim, specs()).unwrap();
    let mut w = World::new(venue, true);
    for a in script {
        apply_common(&mut w, a);
    }
    w.e.finish();
    check_audit(&w)
}

fn run_broker(script: &[Act]) -> Result<Seen, TestCaseError> {
    let venue = BrokerVenue::new(specs()).unwrap();
    let mut w = World::new(venue, false);
    w.pump();
    for a in script {
        if !apply_common(&mut w, a) {
            match a {
                Act::Fill(k) => w.broker_fill(*k),
                Act::Hold(true) => w.held = true,
                Act::Hold(false) => w.release(),
                _ => unreachable!(),
            }
        }
        w.pump();
    }
    w.e.finish();
    w.pump();
    w.release();
    check_audit(&w)
}

fn runner() -> TestRunner {
    // The seed comes from PROPTEST_RNG_SEED when set (the Makefile fixes it).
    TestRunner::new(Config {
        cases: 96,
        failure_persistence: None,
        ..Config::default()
    })
}

fn total(run: fn(&[Act]) -> Result<Seen, TestCaseError>) -> Seen {
    let sum = Arc::new(Mutex::new(Seen::default()));
    let s2 = sum.clone();
    runner()
        .run(&prop::collection::vec(arb_act(), 20..80), move |script| {
            let seen = run(&script)?;
            let mut t = s2.lock().unwrap();
            t.sent_new += seen.sent_new;
            t.denied += seen.denied;
            t.released += seen.released;
            t.withdrawn += seen.withdrawn;
            Ok(())
        })
        .unwrap();
    let t = *sum.lock().unwrap();
    t
}

#[test]
fn no_order_reaches_the_simulated_exchange_around_the_gate() {
    let t = total(run_sim);
    eprintln!("simulated exchange: {t:?}");
    // Not vacuous: orders went out and the gate refused some.
    assert!(t.sent_new > 50 && t.denied > 10, "{t:?}");
}

#[test]
fn no_order_reaches_the_broker_around_the_gate() {
    let t = total(run_broker);
    eprintln!("broker venue: {t:?}");
    assert!(t.sent_new > 50 && t.denied > 10, "{t:?}");
    assert!(t.released > 0 && t.withdrawn > 0, "{t:?}");
}
