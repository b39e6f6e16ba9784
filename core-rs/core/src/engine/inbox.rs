//! Signals pushed into a running engine from outside the event loop: an operator's script,
//! a TradingView alert, a scripted test. They are external signals (the external threshold,
//! then decision, sizing and every pre-trade gate, like any other), answered at the next
//! event of their instrument. The inbox wraps whatever predictor the engine already has
//! (a model, the placebo stream, or nothing), so a pushed signal never needs a second engine.
//!
//! The control plane holds a [`SignalInbox`] handle; the engine's predictor is an
//! [`InboxPredictor`] sharing it. A push takes a mutex; the hot path reads one atomic count
//! before touching it, so an empty inbox costs a relaxed load per event.
//!
//! A pushed signal may ask to be *confirmed by the model* (a TradingView alert): the inner
//! predictor (the production model) is evaluated on the instrument's current features and
//! its probability for the signal's side becomes the confidence, traded only when it is at
//! least the signal's own minimum. Without a model the signal is refused
//! (`NO_MODEL_FOR_CONFIRMATION`), never traded on the sender's word. Every tagged signal
//! ends in a [`SignalVerdict`] (accepted with the engine's outcome, or the reason it was
//! refused) in a small bounded queue the control plane drains.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::error::{CoreError, Result};
use crate::orders::{InstrumentId, SignalSource};

use super::Predictor;

/// One pushed signal: the direction (+1 buy, -1 sell) and the confidence in it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PushedSignal {
    pub instrument_id: InstrumentId,
    pub direction: i8,
    /// The confidence to trade on; with `confirm`, the minimum model probability instead.
    pub confidence: f32,
    /// When it was pushed (event time of the caller); older than `max_age_ns` at the next
    /// event of its instrument, it is dropped as stale and counted.
    pub ts: u64,
    /// The sender's correlation id (an alert's); 0: untagged, no verdict is kept.
    pub tag: u64,
    /// Trade only if the model's probability for `direction` is >= `confidence`.
    pub confirm: bool,
}

/// Why a tagged signal did not become a decision, or what became of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerdictReason {
    /// The model confirmed it (or no confirmation was asked); see the outcome.
    Accepted,
    /// The model's probability for the side is below the signal's minimum.
    BelowThreshold,
    /// Confirmation asked, but the engine trades no model (placebo or external only).
    NoModelForConfirmation,
    /// The model gave no answer at this moment (gated, warming up).
    ModelNoAnswer,
    /// Older than the inbox's maximum age when its instrument was next evaluated.
    Stale,
}

impl VerdictReason {
    pub fn as_str(self) -> &'static str {
        match self {
            VerdictReason::Accepted => "ACCEPTED",
            VerdictReason::BelowThreshold => "BELOW_THRESHOLD",
            VerdictReason::NoModelForConfirmation => "NO_MODEL_FOR_CONFIRMATION",
            VerdictReason::ModelNoAnswer => "MODEL_NO_ANSWER",
            VerdictReason::Stale => "STALE_SIGNAL",
        }
    }
}

/// What the engine did with a signal it decided on (see [`super::Predictor::signal_outcome`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalOutcome {
    /// No order: the decision held, sizing gave nothing, or the position already points
    /// that way (the reason code).
    Hold(&'static str),
    /// An intent went to the risk gate: its id, and whether the gate denied it (the
    /// denial, with its reason, is the engine's like any other) or sent it.
    Intent { intent_id: u64, denied: bool },
}

/// The end of one tagged signal: the model's probability for its side, the minimum it
/// had to reach, the verdict and (accepted) the engine's outcome.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SignalVerdict {
    pub tag: u64,
    pub instrument_id: InstrumentId,
    pub direction: i8,
    /// Event time of the evaluation.
    pub ts: u64,
    /// The model's probability for the signal's side (None: not asked or no answer).
    pub model_prob: Option<f32>,
    /// The minimum (confirmed signals) or the confidence given (unconfirmed).
    pub threshold: f32,
    pub reason: VerdictReason,
    /// Accepted signals: what the decision, sizing and gates made of it.
    pub outcome: Option<SignalOutcome>,
}

impl SignalVerdict {
    pub fn accepted(&self) -> bool {
        self.reason == VerdictReason::Accepted
    }
}

/// Verdicts kept for the control plane at most; older ones are dropped (and counted) when
/// nobody drains them.
pub const MAX_VERDICTS: usize = 1024;

#[derive(Debug, Default)]
struct Shared {
    queue: Mutex<VecDeque<PushedSignal>>,
    pending: AtomicUsize,
    stale: AtomicUsize,
    verdicts: Mutex<VecDeque<SignalVerdict>>,
    verdicts_dropped: AtomicUsize,
}

/// The handle the control plane pushes through (cheap to clone; shared with the engine).
#[derive(Debug, Clone, Default)]
pub struct SignalInbox {
    shared: Arc<Shared>,
}

impl SignalInbox {
    /// Queues a signal; refused (typed error naming the field) when it cannot be one.
    pub fn push(&self, s: PushedSignal) -> Result<()> {
        if s.direction != 1 && s.direction != -1 {
            return Err(CoreError::invalid(
                "direction",
                format!("{} (a pushed signal is a buy +1 or a sell -1)", s.direction),
            ));
        }
        if !(s.confidence.is_finite() && s.confidence > 0.0 && s.confidence <= 1.0) {
            return Err(CoreError::invalid(
                "confidence",
                format!("{} is not a probability in (0, 1]", s.confidence),
            ));
        }
        let mut q = self.shared.queue.lock().unwrap_or_else(|e| e.into_inner());
        q.push_back(s);
        self.shared.pending.store(q.len(), Ordering::Release);
        Ok(())
    }

    /// Signals waiting for their instrument's next event.
    pub fn pending(&self) -> usize {
        self.shared.pending.load(Ordering::Acquire)
    }

    /// Signals dropped because they were older than the inbox's maximum age when their
    /// instrument's next event came.
    pub fn stale(&self) -> usize {
        self.shared.stale.load(Ordering::Acquire)
    }

    /// Every verdict since the last call, oldest first.
    pub fn drain_verdicts(&self) -> Vec<SignalVerdict> {
        let mut v = self
            .shared
            .verdicts
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        v.drain(..).collect()
    }

    /// Verdicts dropped because the queue was full (nobody drained it).
    pub fn verdicts_dropped(&self) -> usize {
        self.shared.verdicts_dropped.load(Ordering::Acquire)
    }

    fn record(&self, v: SignalVerdict) {
        if v.tag == 0 {
            return;
        }
        let mut q = self
            .shared
            .verdicts
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if q.len() >= MAX_VERDICTS {
            q.pop_front();
            self.shared.verdicts_dropped.fetch_add(1, Ordering::AcqRel);
        }
        q.push_back(v);
    }

    fn take(&self, id: InstrumentId, ts: u64, max_age_ns: u64) -> Option<PushedSignal> {
        let mut q = self.shared.queue.lock().unwrap_or_else(|e| e.into_inner());
        let mut found = None;
        while let Some(i) = q.iter().position(|s| s.instrument_id == id) {
            let s = q.remove(i).expect("index from position");
            if max_age_ns > 0 && ts.saturating_sub(s.ts) > max_age_ns {
                self.shared.stale.fetch_add(1, Ordering::AcqRel);
                self.record(verdict(&s, ts, None, VerdictReason::Stale));
                continue;
            }
            found = Some(s);
            break;
        }
        self.shared.pending.store(q.len(), Ordering::Release);
        found
    }
}

fn verdict(
    s: &PushedSignal,
    ts: u64,
    model_prob: Option<f32>,
    reason: VerdictReason,
) -> SignalVerdict {
    SignalVerdict {
        tag: s.tag,
        instrument_id: s.instrument_id,
        direction: s.direction,
        ts,
        model_prob,
        threshold: s.confidence,
        reason,
        outcome: None,
    }
}

/// The engine's predictor with an inbox in front: a pushed signal of the instrument wins
/// (source `External`); otherwise the inner predictor answers as it would alone.
pub struct InboxPredictor {
    inner: Box<dyn Predictor + Send>,
    inbox: SignalInbox,
    max_age_ns: u64,
    /// Where the last answer came from (the engine reads `source()` after `predict`).
    last_pushed: bool,
    /// The accepted signal the engine is deciding on, until its outcome is known.
    deciding: Option<SignalVerdict>,
    up: Option<usize>,
    down: Option<usize>,
}

impl InboxPredictor {
    /// Wraps `inner`; its classes must include -1 and +1 (a pushed signal is one of them).
    pub fn new(
        inner: Box<dyn Predictor + Send>,
        inbox: SignalInbox,
        max_age_ns: u64,
    ) -> Result<Self> {
        let classes = inner.classes();
        let up = classes.iter().position(|c| *c == 1);
        let down = classes.iter().position(|c| *c == -1);
        if up.is_none() || down.is_none() {
            return Err(CoreError::Config(format!(
                "signal inbox: the predictor's classes {classes:?} need -1 and +1"
            )));
        }
        Ok(InboxPredictor {
            inner,
            inbox,
            max_age_ns,
            last_pushed: false,
            deciding: None,
            up,
            down,
        })
    }

    /// Whether a model answers behind the inbox (it reads features; the placebo stream and
    /// external signals do not): only a model can confirm a signal.
    fn has_model(&self) -> bool {
        self.inner.uses_features()
    }

    /// The signal `s` taken at `ts`: writes the probabilities to decide on into `out` and
    /// returns true, or records why not (a refused confirmation) and returns false.
    fn answer(
        &mut self,
        s: PushedSignal,
        ts: u64,
        features: &[f32],
        out: &mut [f32],
    ) -> Result<bool> {
        let at = if s.direction > 0 { self.up } else { self.down };
        let at = at.expect("checked in new");
        let mut confidence = s.confidence;
        let mut model_prob = None;
        if s.confirm {
            if !self.has_model() {
                self.inbox
                    .record(verdict(&s, ts, None, VerdictReason::NoModelForConfirmation));
                return Ok(false);
            }
            if self
                .inner
                .predict(s.instrument_id, ts, features, out)?
                .is_none()
            {
                self.inbox
                    .record(verdict(&s, ts, None, VerdictReason::ModelNoAnswer));
                return Ok(false);
            }
            let p = out[at];
            if !(p.is_finite() && p >= s.confidence) {
                self.inbox
                    .record(verdict(&s, ts, Some(p), VerdictReason::BelowThreshold));
                return Ok(false);
            }
            confidence = p;
            model_prob = Some(p);
        }
        // The confidence on the signal's side; the rest spread over the others.
        let k = out.len();
        let rest = (1.0 - confidence) / (k.saturating_sub(1).max(1)) as f32;
        out.fill(rest);
        out[at] = confidence;
        if let Some(v) = self.deciding.take() {
            // The engine never reported the last one's outcome (an error in between).
            self.inbox.record(v);
        }
        if s.tag != 0 {
            self.deciding = Some(verdict(&s, ts, model_prob, VerdictReason::Accepted));
        }
        Ok(true)
    }
}

impl Predictor for InboxPredictor {
    fn classes(&self) -> &[i8] {
        self.inner.classes()
    }

    fn source(&self) -> SignalSource {
        if self.last_pushed {
            SignalSource::External
        } else {
            self.inner.source()
        }
    }

    fn uses_features(&self) -> bool {
        self.inner.uses_features()
    }

    fn may_signal(&self, id: InstrumentId, ts_ns: u64) -> bool {
        self.inbox.pending() > 0 || self.inner.may_signal(id, ts_ns)
    }

    fn version(&self) -> Option<&str> {
        self.inner.version()
    }

    fn predict(
        &mut self,
        id: InstrumentId,
        ts_ns: u64,
        features: &[f32],
        out: &mut [f32],
    ) -> Result<Option<()>> {
        if self.inbox.pending() > 0 {
            if let Some(s) = self.inbox.take(id, ts_ns, self.max_age_ns) {
                // A refused confirmation used the model's answer of this moment: no decision
                // follows it (the model is not asked twice for one event).
                self.last_pushed = self.answer(s, ts_ns, features, out)?;
                return Ok(self.last_pushed.then_some(()));
            }
        }
        self.last_pushed = false;
        if !self.inner.may_signal(id, ts_ns) {
            return Ok(None);
        }
        self.inner.predict(id, ts_ns, features, out)
    }

    fn signal_outcome(&mut self, outcome: SignalOutcome) {
        if !self.last_pushed {
            return self.inner.signal_outcome(outcome);
        }
        if let Some(mut v) = self.deciding.take() {
            v.outcome = Some(outcome);
            self.inbox.record(v);
        }
    }
}

#[cfg(test)]
mod engine_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::ExternalSignals;

    fn silent() -> Box<dyn Predictor + Send> {
        Box::new(ExternalSignals::new(vec![-1, 0, 1], vec![], vec![], vec![], 0).unwrap())
    }

    fn sig(id: InstrumentId, direction: i8, confidence: f32, ts: u64) -> PushedSignal {
        PushedSignal {
            instrument_id: id,
            direction,
            confidence,
            ts,
            tag: 0,
            confirm: false,
        }
    }

    fn alert(id: InstrumentId, direction: i8, min: f32, ts: u64, tag: u64) -> PushedSignal {
        PushedSignal {
            tag,
            confirm: true,
            ..sig(id, direction, min, ts)
        }
    }

    /// A model that answers fixed probabilities when asked (or nothing), and never asks to
    /// be asked by itself (so only the inbox calls it).
    struct FixedModel {
        probs: Option<[f32; 3]>,
        calls: usize,
    }

    impl Predictor for FixedModel {
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
            features: &[f32],
            out: &mut [f32],
        ) -> Result<Option<()>> {
            assert_eq!(
                features,
                &[0.5, 1.5],
                "the model reads the current features"
            );
            self.calls += 1;
            Ok(self.probs.map(|p| out.copy_from_slice(&p)))
        }
    }

    fn model(probs: Option<[f32; 3]>) -> Box<dyn Predictor + Send> {
        Box::new(FixedModel { probs, calls: 0 })
    }

    #[test]
    fn a_confirmed_signal_trades_on_the_models_probability_and_reports_its_outcome() {
        let inbox = SignalInbox::default();
        let mut p = InboxPredictor::new(model(Some([0.02, 0.08, 0.9])), inbox.clone(), 0).unwrap();
        let mut out = [0.0f32; 3];
        inbox.push(alert(1, 1, 0.87, 5, 42)).unwrap();
        assert_eq!(p.predict(1, 6, &[0.5, 1.5], &mut out).unwrap(), Some(()));
        assert_eq!(p.source(), SignalSource::External);
        assert!(
            (out[2] - 0.9).abs() < 1e-6,
            "the model's probability: {out:?}"
        );
        assert!(
            inbox.drain_verdicts().is_empty(),
            "decided, outcome not known yet"
        );
        p.signal_outcome(SignalOutcome::Intent {
            intent_id: 9,
            denied: false,
        });
        let v = inbox.drain_verdicts();
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].tag, 42);
        assert!(v[0].accepted());
        assert_eq!(v[0].model_prob, Some(0.9));
        assert_eq!(v[0].threshold, 0.87);
        assert_eq!(
            v[0].outcome,
            Some(SignalOutcome::Intent {
                intent_id: 9,
                denied: false
            })
        );
    }

    #[test]
    fn below_the_minimum_the_signal_is_refused_with_the_models_probability() {
        let inbox = SignalInbox::default();
        let mut p = InboxPredictor::new(model(Some([0.02, 0.08, 0.9])), inbox.clone(), 0).unwrap();
        let mut out = [0.0f32; 3];
        // a sell: the model gives it 0.02
        inbox.push(alert(1, -1, 0.87, 5, 7)).unwrap();
        assert_eq!(p.predict(1, 6, &[0.5, 1.5], &mut out).unwrap(), None);
        // a buy with a minimum above the model's 0.9
        inbox.push(alert(1, 1, 0.95, 5, 8)).unwrap();
        assert_eq!(p.predict(1, 7, &[0.5, 1.5], &mut out).unwrap(), None);
        let v = inbox.drain_verdicts();
        assert_eq!(v.len(), 2);
        assert_eq!((v[0].tag, v[0].reason), (7, VerdictReason::BelowThreshold));
        assert_eq!(v[0].model_prob, Some(0.02));
        assert_eq!((v[1].tag, v[1].reason), (8, VerdictReason::BelowThreshold));
        assert_eq!(v[1].model_prob, Some(0.9));
        assert!(v.iter().all(|v| v.outcome.is_none() && !v.accepted()));
    }

    #[test]
    fn without_a_model_or_its_answer_a_confirmation_is_refused_never_traded() {
        let inbox = SignalInbox::default();
        let mut p = InboxPredictor::new(silent(), inbox.clone(), 0).unwrap();
        let mut out = [0.0f32; 3];
        inbox.push(alert(1, 1, 0.87, 5, 1)).unwrap();
        assert_eq!(p.predict(1, 6, &[], &mut out).unwrap(), None);
        let v = inbox.drain_verdicts();
        assert_eq!(v[0].reason, VerdictReason::NoModelForConfirmation);
        assert_eq!(v[0].reason.as_str(), "NO_MODEL_FOR_CONFIRMATION");

        let mut p = InboxPredictor::new(model(None), inbox.clone(), 0).unwrap();
        inbox.push(alert(1, 1, 0.87, 5, 2)).unwrap();
        assert_eq!(p.predict(1, 6, &[0.5, 1.5], &mut out).unwrap(), None);
        let v = inbox.drain_verdicts();
        assert_eq!((v[0].tag, v[0].reason), (2, VerdictReason::ModelNoAnswer));
    }

    #[test]
    fn stale_tagged_signals_get_a_verdict_and_the_queue_is_bounded() {
        let inbox = SignalInbox::default();
        let mut p = InboxPredictor::new(silent(), inbox.clone(), 100).unwrap();
        let mut out = [0.0f32; 3];
        inbox.push(alert(1, 1, 0.87, 0, 3)).unwrap();
        assert_eq!(p.predict(1, 1000, &[], &mut out).unwrap(), None);
        let v = inbox.drain_verdicts();
        assert_eq!((v[0].tag, v[0].reason), (3, VerdictReason::Stale));
        for t in 1..=(MAX_VERDICTS as u64 + 5) {
            inbox.record(verdict(
                &alert(1, 1, 0.9, 0, t),
                0,
                None,
                VerdictReason::Stale,
            ));
        }
        let v = inbox.drain_verdicts();
        assert_eq!(v.len(), MAX_VERDICTS);
        assert_eq!(v[0].tag, 6, "the oldest were dropped");
        assert_eq!(inbox.verdicts_dropped(), 5);
        // untagged signals keep no verdict
        inbox.push(sig(1, 1, 0.9, 2000)).unwrap();
        assert_eq!(p.predict(1, 2000, &[], &mut out).unwrap(), Some(()));
        p.signal_outcome(SignalOutcome::Hold("HOLD"));
        assert!(inbox.drain_verdicts().is_empty());
    }

    #[test]
    fn a_pushed_signal_answers_once_at_its_instruments_next_event() {
        let inbox = SignalInbox::default();
        let mut p = InboxPredictor::new(silent(), inbox.clone(), 0).unwrap();
        let mut out = [0.0f32; 3];
        assert!(!p.may_signal(1, 10));
        inbox.push(sig(2, 1, 0.9, 5)).unwrap();
        assert!(p.may_signal(1, 10));
        // another instrument's event leaves it queued
        assert_eq!(p.predict(1, 10, &[], &mut out).unwrap(), None);
        assert_eq!(inbox.pending(), 1);
        assert_eq!(p.predict(2, 11, &[], &mut out).unwrap(), Some(()));
        assert_eq!(p.source(), SignalSource::External);
        assert!((out[2] - 0.9).abs() < 1e-6 && (out[0] - 0.05).abs() < 1e-6);
        assert_eq!(inbox.pending(), 0);
        assert_eq!(p.predict(2, 12, &[], &mut out).unwrap(), None);
    }

    #[test]
    fn stale_signals_are_dropped_and_counted() {
        let inbox = SignalInbox::default();
        let mut p = InboxPredictor::new(silent(), inbox.clone(), 100).unwrap();
        let mut out = [0.0f32; 3];
        inbox.push(sig(1, -1, 0.95, 0)).unwrap();
        inbox.push(sig(1, 1, 0.95, 900)).unwrap();
        assert_eq!(p.predict(1, 1000, &[], &mut out).unwrap(), Some(()));
        assert!(
            (out[2] - 0.95).abs() < 1e-6,
            "the fresh buy, not the stale sell"
        );
        assert_eq!(inbox.stale(), 1);
    }

    #[test]
    fn bad_signals_are_refused_by_name() {
        let inbox = SignalInbox::default();
        let e = inbox.push(sig(1, 0, 0.9, 0)).unwrap_err().to_string();
        assert!(e.contains("direction"), "{e}");
        let e = inbox.push(sig(1, 1, f32::NAN, 0)).unwrap_err().to_string();
        assert!(e.contains("confidence"), "{e}");
        assert_eq!(inbox.pending(), 0);
    }
}
