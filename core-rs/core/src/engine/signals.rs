//! Where the engine's signals come from: the [`Predictor`] interface (a model, an ensemble,
//! the placebo stream, external signals), [`ExternalSignals`] (timestamped probabilities
//! from a file or a webhook) and [`PredictorSet`] (one predictor per instrument of a
//! portfolio).

use crate::error::{CoreError, Result};
use crate::orders::{InstrumentId, SignalSource};

/// Class probabilities for one event. Small and object-safe so a model (ONNX or native
/// trees), an ensemble, or a file of external signals can sit behind `Box<dyn Predictor>`.
pub trait Predictor {
    /// Class labels in output order: -1 sell/down, 0 hold/flat, +1 buy/up.
    fn classes(&self) -> &[i8];
    /// Where the signal comes from (the decision thresholds differ).
    fn source(&self) -> SignalSource {
        SignalSource::Ensemble
    }
    /// False when `predict` never reads `features`: the engine then skips computing them
    /// (external signals need none; a model always does).
    fn uses_features(&self) -> bool {
        true
    }
    /// False when `predict` at `ts_ns` is sure to return `None` (e.g. no external signal
    /// due): the engine then skips reading the wall clock for the latency telemetry.
    fn may_signal(&self, _instrument_id: InstrumentId, _ts_ns: u64) -> bool {
        true
    }
    /// The model version serving now (None for signals that are not a model).
    fn version(&self) -> Option<&str> {
        None
    }
    /// Writes class probabilities for `instrument_id` at `ts_ns` into `out` (one per class)
    /// and returns `Some(())`, or `None` when there is no signal now (gated, warming up,
    /// nothing new).
    fn predict(
        &mut self,
        instrument_id: InstrumentId,
        ts_ns: u64,
        features: &[f32],
        out: &mut [f32],
    ) -> Result<Option<()>>;
    /// What the engine made of the last answer of `predict` (called only after an answer
    /// that was decided on): a signal inbox ties it to the pushed signal's tag.
    fn signal_outcome(&mut self, _outcome: super::inbox::SignalOutcome) {}
}

/// Externally supplied signals: timestamped class probabilities per instrument (read from
/// Parquet/CSV by the control plane). Each row is used once, at the first event of its
/// instrument at or after its timestamp, unless it is older than `max_age_ns` by then.
#[derive(Debug, Clone)]
pub struct ExternalSignals {
    classes: Vec<i8>,
    ts: Vec<u64>,
    instrument_id: Vec<InstrumentId>,
    /// Row-major, `classes.len()` per row.
    probs: Vec<f32>,
    max_age_ns: u64,
    next: usize,
    /// Newest unused row per instrument.
    pending: Vec<(InstrumentId, Option<usize>)>,
    stale: u64,
}

impl ExternalSignals {
    /// Validates everything at once: every problem is listed with its row.
    pub fn new(
        classes: Vec<i8>,
        ts: Vec<u64>,
        instrument_id: Vec<InstrumentId>,
        probs: Vec<f32>,
        max_age_ns: u64,
    ) -> Result<Self> {
        let k = classes.len();
        let mut p = Vec::new();
        if k < 2 {
            p.push(format!("signals: need at least 2 classes, got {k}"));
        }
        let mut seen = classes.clone();
        seen.sort_unstable();
        seen.dedup();
        if seen.len() != k || classes.iter().any(|c| !(-1..=1).contains(c)) {
            p.push(format!(
                "signals: classes must be distinct values of -1, 0, 1, got {classes:?}"
            ));
        }
        if instrument_id.len() != ts.len() || probs.len() != ts.len() * k {
            p.push(format!(
                "signals: {} timestamps, {} instrument ids, {} probabilities (want {} x {k})",
                ts.len(),
                instrument_id.len(),
                probs.len(),
                ts.len()
            ));
        }
        if p.is_empty() {
            for (r, w) in ts.windows(2).enumerate() {
                if w[1] < w[0] {
                    p.push(format!(
                        "signals row {}: ts {} < previous {}",
                        r + 1,
                        w[1],
                        w[0]
                    ));
                }
            }
            for (r, row) in probs.chunks(k.max(1)).enumerate() {
                if row.iter().any(|x| !x.is_finite() || *x < 0.0 || *x > 1.0) {
                    p.push(format!(
                        "signals row {r}: probabilities {row:?} not in [0, 1]"
                    ));
                } else {
                    let s: f32 = row.iter().sum();
                    if (s - 1.0).abs() > 1e-3 {
                        p.push(format!("signals row {r}: probabilities sum to {s}, not 1"));
                    }
                }
            }
        }
        if !p.is_empty() {
            p.truncate(20);
            return Err(CoreError::Config(p.join("; ")));
        }
        Ok(ExternalSignals {
            classes,
            ts,
            instrument_id,
            probs,
            max_age_ns,
            next: 0,
            pending: Vec::new(),
            stale: 0,
        })
    }

    /// Rows dropped because they were older than `max_age_ns` when their turn came.
    pub fn stale(&self) -> u64 {
        self.stale
    }

    pub fn len(&self) -> usize {
        self.ts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ts.is_empty()
    }
}

impl Predictor for ExternalSignals {
    fn classes(&self) -> &[i8] {
        &self.classes
    }

    fn source(&self) -> SignalSource {
        SignalSource::External
    }

    fn uses_features(&self) -> bool {
        false
    }

    fn may_signal(&self, instrument_id: InstrumentId, ts_ns: u64) -> bool {
        (self.next < self.ts.len() && self.ts[self.next] <= ts_ns)
            || self
                .pending
                .iter()
                .any(|(k, r)| *k == instrument_id && r.is_some())
    }

    fn predict(
        &mut self,
        instrument_id: InstrumentId,
        ts_ns: u64,
        _features: &[f32],
        out: &mut [f32],
    ) -> Result<Option<()>> {
        while self.next < self.ts.len() && self.ts[self.next] <= ts_ns {
            let id = self.instrument_id[self.next];
            match self.pending.iter_mut().find(|(k, _)| *k == id) {
                Some((_, slot)) => {
                    if slot.is_some() {
                        // Superseded by a newer row before it could be used.
                        self.stale += 1;
                    }
                    *slot = Some(self.next);
                }
                None => self.pending.push((id, Some(self.next))),
            }
            self.next += 1;
        }
        let Some((_, slot)) = self.pending.iter_mut().find(|(k, _)| *k == instrument_id) else {
            return Ok(None);
        };
        let Some(r) = slot.take() else {
            return Ok(None);
        };
        if ts_ns - self.ts[r] > self.max_age_ns {
            self.stale += 1;
            return Ok(None);
        }
        let k = self.classes.len();
        out[..k].copy_from_slice(&self.probs[r * k..(r + 1) * k]);
        Ok(Some(()))
    }
}

/// One predictor per instrument in one engine (a portfolio: each instrument its own model,
/// possibly on its own feature set, see [`EngineConfig::instrument_features`]), and an
/// optional default for the instruments without one. Every predictor must have the same
/// classes and signal source (the engine decides on one probability layout and threshold
/// per source); a mismatch is a configuration error naming the instrument.
pub struct PredictorSet {
    classes: Vec<i8>,
    source: SignalSource,
    routes: Vec<(InstrumentId, Box<dyn Predictor + Send>)>,
    default: Option<Box<dyn Predictor + Send>>,
}

impl PredictorSet {
    pub fn new(
        routes: Vec<(InstrumentId, Box<dyn Predictor + Send>)>,
        default: Option<Box<dyn Predictor + Send>>,
    ) -> Result<Self> {
        let Some(first) = routes
            .first()
            .map(|(_, p)| p.as_ref())
            .or(default.as_deref())
        else {
            return Err(CoreError::Config(
                "predictor set: no predictor (give one per instrument or a default)".into(),
            ));
        };
        let (classes, source) = (first.classes().to_vec(), first.source());
        let mut bad = Vec::new();
        for (i, (id, p)) in routes.iter().enumerate() {
            if routes[..i].iter().any(|(k, _)| k == id) {
                bad.push(format!("instrument {id}: two predictors"));
            }
            if p.classes() != classes.as_slice() || p.source() != source {
                bad.push(format!(
                    "instrument {id}: classes {:?} / source {:?}, the set has {classes:?} / {source:?}",
                    p.classes(),
                    p.source()
                ));
            }
        }
        if let Some(p) = &default {
            if p.classes() != classes.as_slice() || p.source() != source {
                bad.push(format!(
                    "default predictor: classes {:?} / source {:?}, the set has {classes:?} / {source:?}",
                    p.classes(),
                    p.source()
                ));
            }
        }
        if !bad.is_empty() {
            return Err(CoreError::Config(format!(
                "predictor set: {}",
                bad.join("; ")
            )));
        }
        Ok(PredictorSet {
            classes,
            source,
            routes,
            default,
        })
    }

    #[inline]
    fn route(&self, id: InstrumentId) -> Option<&(dyn Predictor + Send)> {
        match self.routes.iter().find(|(k, _)| *k == id) {
            Some((_, p)) => Some(p.as_ref()),
            None => self.default.as_deref(),
        }
    }

    #[inline]
    fn route_mut(&mut self, id: InstrumentId) -> Option<&mut (dyn Predictor + Send + 'static)> {
        match self.routes.iter_mut().find(|(k, _)| *k == id) {
            Some((_, p)) => Some(p.as_mut()),
            None => self.default.as_deref_mut(),
        }
    }

    /// The predictor of an instrument (its own, else the default).
    pub fn get(&self, id: InstrumentId) -> Option<&(dyn Predictor + Send)> {
        self.route(id)
    }
}

impl Predictor for PredictorSet {
    fn classes(&self) -> &[i8] {
        &self.classes
    }
    fn source(&self) -> SignalSource {
        self.source
    }
    fn uses_features(&self) -> bool {
        self.routes.iter().any(|(_, p)| p.uses_features())
            || self.default.as_ref().is_some_and(|p| p.uses_features())
    }
    fn may_signal(&self, id: InstrumentId, ts_ns: u64) -> bool {
        self.route(id).is_some_and(|p| p.may_signal(id, ts_ns))
    }
    fn version(&self) -> Option<&str> {
        self.routes
            .first()
            .and_then(|(_, p)| p.version())
            .or_else(|| self.default.as_ref().and_then(|p| p.version()))
    }
    fn predict(
        &mut self,
        id: InstrumentId,
        ts_ns: u64,
        features: &[f32],
        out: &mut [f32],
    ) -> Result<Option<()>> {
        match self.route_mut(id) {
            Some(p) => p.predict(id, ts_ns, features, out),
            None => Ok(None),
        }
    }
}
