//! The engine answering pushed signals: `Engine::evaluate` on the real ES day with a model
//! that only the inbox's confirmation asks.

use crate::book::BookView;
use crate::engine::inbox::{InboxPredictor, PushedSignal, SignalInbox, SignalOutcome};
use crate::engine::testkit::{es_config, esh4, ES};
use crate::engine::{Backtest, Engine, Predictor};
use crate::error::Result;
use crate::orders::{InstrumentId, Leg, OrderSide};

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

/// A model that answers only when asked by the inbox's confirmation: fixed probabilities.
struct AskedModel([f32; 3]);

impl Predictor for AskedModel {
    fn classes(&self) -> &[i8] {
        &[-1, 0, 1]
    }
    fn may_signal(&self, _: InstrumentId, _: u64) -> bool {
        false
    }
    fn predict(
        &mut self,
        _: InstrumentId,
        _: u64,
        f: &[f32],
        out: &mut [f32],
    ) -> Result<Option<()>> {
        assert!(!f.is_empty(), "the features of the instrument's last event");
        out.copy_from_slice(&self.0);
        Ok(Some(()))
    }
}

#[test]
fn evaluate_answers_a_confirmed_alert_at_once_with_a_bracket_and_its_tag() {
    let inbox = SignalInbox::default();
    let p =
        InboxPredictor::new(Box::new(AskedModel([0.03, 0.05, 0.92])), inbox.clone(), 0).unwrap();
    let engine = Engine::new(es_config(5), Box::new(p)).unwrap();
    let mut bt = Backtest::new(&[esh4()], engine).unwrap();
    // into the live session (22:00 UTC) with a volatility forecast; the model never trades
    // by itself
    let open = 1_703_541_600_000_000_000u64 + 120_000_000_000;
    assert!(step_until(&mut bt, |b| b.engine.now() >= open));
    assert!(bt.engine.sim().orders().is_empty());
    let id = ES;
    // at a record where the book is sound (a step can stop inside an event, where it is
    // crossed for a moment and the gate rightly refuses)
    let sound = |b: &Backtest| {
        let i = b.engine.book(id).unwrap().integrity();
        !i.crossed && !i.untrusted
    };
    for _ in 0..10_000 {
        if sound(&bt) {
            break;
        }
        bt.step(1).unwrap();
    }
    assert!(sound(&bt));
    let now = bt.engine.now();
    assert!(
        !bt.engine.evaluate(id + 1000, now).unwrap(),
        "no market state: not asked"
    );
    let alert = |tag, min| PushedSignal {
        instrument_id: id,
        direction: 1,
        confidence: min,
        ts: now,
        tag,
        confirm: true,
    };
    // below the minimum: refused, nothing sent
    inbox.push(alert(11, 0.95)).unwrap();
    assert!(bt.engine.evaluate(id, now).unwrap());
    let v = inbox.drain_verdicts();
    assert_eq!(v[0].reason.as_str(), "BELOW_THRESHOLD");
    assert!(bt.engine.sim().orders().is_empty());
    // confirmed: an entry with its bracket, now, tied to the tag
    inbox.push(alert(12, 0.87)).unwrap();
    assert!(bt.engine.evaluate(id, now).unwrap());
    assert_eq!(inbox.pending(), 0);
    let v = inbox.drain_verdicts();
    assert_eq!(v.len(), 1);
    assert!(v[0].accepted(), "{v:?}");
    let Some(SignalOutcome::Intent { intent_id, denied }) = v[0].outcome else {
        panic!("an intent: {v:?}");
    };
    assert!(!denied, "{:?}", bt.engine.denials.last());
    let entry = bt
        .engine
        .sim()
        .orders()
        .iter()
        .find(|o| o.intent_id == intent_id && o.leg == Leg::Entry)
        .expect("the entry reached the venue");
    assert_eq!(entry.side, OrderSide::Buy);
    // the venue places the bracket's children once the entry fills
    assert!(step_until(&mut bt, |b| {
        let legs = |l| {
            b.engine
                .sim()
                .orders()
                .iter()
                .any(|o| o.intent_id == intent_id && o.leg == l)
        };
        legs(Leg::StopLoss) && legs(Leg::TakeProfit)
    }));
}
