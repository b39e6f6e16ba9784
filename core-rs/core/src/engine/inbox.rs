//! Signals pushed into a running engine from outside the event loop: an operator's script,
//! a TradingView alert, a scripted test. They are external signals (the external threshold,
//! then decision, sizing and every pre-trade gate, like any other), answered at the next
//! event of their instrument. The inbox wraps whatever predictor the engine already has
//! (a model, the placebo stream, or nothing), so a pushed signal never needs a second engine.
//!
//! The control plane holds a [`SignalInbox`] handle; the engine's predictor is an
//! [`InboxPredictor`] sharing it. A push takes a mutex; the hot path reads one atomic count
//! before touching it, so an empty inbox costs a relaxed load per event.

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
    pub confidence: f32,
    /// When it was pushed (event time of the caller); older than `max_age_ns` at the next
    /// event of its instrument, it is dropped as stale and counted.
    pub ts: u64,
}

#[derive(Debug, Default)]
struct Shared {
    queue: Mutex<VecDeque<PushedSignal>>,
    pending: AtomicUsize,
    stale: AtomicUsize,
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

    fn take(&self, id: InstrumentId, ts: u64, max_age_ns: u64) -> Option<PushedSignal> {
        let mut q = self.shared.queue.lock().unwrap_or_else(|e| e.into_inner());
        let mut found = None;
        while let Some(i) = q.iter().position(|s| s.instrument_id == id) {
            let s = q.remove(i).expect("index from position");
            if max_age_ns > 0 && ts.saturating_sub(s.ts) > max_age_ns {
                self.shared.stale.fetch_add(1, Ordering::AcqRel);
                continue;
            }
            found = Some(s);
            break;
        }
        self.shared.pending.store(q.len(), Ordering::Release);
        found
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
            up,
            down,
        })
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
                self.last_pushed = true;
                // The confidence on the signal's side; the rest spread over the others.
                let k = out.len();
                let rest = (1.0 - s.confidence) / (k.saturating_sub(1).max(1)) as f32;
                out.fill(rest);
                let at = if s.direction > 0 { self.up } else { self.down };
                out[at.expect("checked in new")] = s.confidence;
                return Ok(Some(()));
            }
        }
        self.last_pushed = false;
        if !self.inner.may_signal(id, ts_ns) {
            return Ok(None);
        }
        self.inner.predict(id, ts_ns, features, out)
    }
}

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
        }
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
