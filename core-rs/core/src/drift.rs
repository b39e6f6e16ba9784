//! Feature drift: a model's training-input reference (per-feature bins and shares, its OOS
//! calibration) and a rolling monitor of the rows a running engine hands that model, giving
//! per-feature PSI and a binned KS statistic against the reference.
//!
//! Bins: each feature has inner edges `e_1 < ... < e_{B-1}` (open ends); a value `x` falls in
//! bin `#{e_i <= x}` (numpy's `searchsorted(edges, x, side="right")`, the exporter's rule).
//! NaN values are counted apart and never binned. The monitor keeps the last `W` rows' bin
//! indices in a ring buffer and counts per bin, so a row costs O(features) with no allocation;
//! PSI and KS are computed on demand from the counts (O(features x bins)).

use crate::error::{CoreError, Result};

/// Schema tag of the reference file.
pub const SCHEMA: &str = "tradecore.drift_reference/1";

/// Shares are floored here before the PSI's log ratio (an empty bin on either side would be
/// infinite); the usual choice for PSI on deciles.
const SHARE_FLOOR: f64 = 1e-4;

/// Most bins a feature may have (bin indices are stored as `u8`; 255 marks NaN).
pub const MAX_BINS: usize = 64;
const NAN_BIN: u8 = u8::MAX;

/// One feature of the reference: bin edges from the training distribution and the share of
/// training rows in each bin.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureReference {
    pub name: String,
    /// Inner edges, strictly increasing (bins = edges + 1).
    pub edges: Vec<f64>,
    /// Share of the non-NaN training rows per bin (sums to 1).
    pub shares: Vec<f64>,
    /// Share of training rows that were NaN.
    pub nan_share: f64,
}

impl FeatureReference {
    #[inline]
    fn bin(&self, x: f64) -> u8 {
        if x.is_nan() {
            NAN_BIN
        } else {
            self.edges.partition_point(|e| *e <= x) as u8
        }
    }
}

/// One bin of the OOS reliability diagram: mean predicted probability, observed frequency.
#[derive(Debug, Clone, PartialEq)]
pub struct ReliabilityBin {
    pub p_mean: f64,
    pub freq: f64,
    pub count: u64,
}

/// The model's out-of-sample calibration: what live accuracy and log-loss should be.
#[derive(Debug, Clone, PartialEq)]
pub struct Calibration {
    pub accuracy: f64,
    pub log_loss: f64,
    pub rows: u64,
    pub reliability: Vec<ReliabilityBin>,
}

/// The reference of a model's training inputs (`drift_reference.json` in its folder).
#[derive(Debug, Clone, PartialEq)]
pub struct DriftReference {
    pub features: Vec<FeatureReference>,
    /// Training rows the reference was built from.
    pub rows: u64,
    pub calibration: Option<Calibration>,
}

fn bad(what: impl Into<String>, detail: impl Into<String>) -> CoreError {
    CoreError::invalid(what, detail)
}

fn num(v: &serde_json::Value, what: &str) -> Result<f64> {
    v.as_f64()
        .filter(|x| x.is_finite())
        .ok_or_else(|| bad(what, format!("expected a finite number, got {v}")))
}

fn field<'a>(
    o: &'a serde_json::Map<String, serde_json::Value>,
    key: &str,
    at: &str,
) -> Result<&'a serde_json::Value> {
    o.get(key)
        .ok_or_else(|| bad(format!("{at}.{key}"), "missing"))
}

fn object<'a>(
    v: &'a serde_json::Value,
    at: &str,
    known: &[&str],
) -> Result<&'a serde_json::Map<String, serde_json::Value>> {
    let o = v.as_object().ok_or_else(|| bad(at, "expected an object"))?;
    if let Some(k) = o.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(bad(format!("{at}.{k}"), "unknown field"));
    }
    Ok(o)
}

fn numbers(v: &serde_json::Value, at: &str) -> Result<Vec<f64>> {
    v.as_array()
        .ok_or_else(|| bad(at, "expected an array of numbers"))?
        .iter()
        .enumerate()
        .map(|(i, x)| num(x, &format!("{at}[{i}]")))
        .collect()
}

fn parse_feature(v: &serde_json::Value, at: &str) -> Result<FeatureReference> {
    let o = object(v, at, &["name", "edges", "shares", "nan_share"])?;
    let name = field(o, "name", at)?
        .as_str()
        .ok_or_else(|| bad(format!("{at}.name"), "expected a string"))?
        .to_string();
    let edges = numbers(field(o, "edges", at)?, &format!("{at}.edges"))?;
    let shares = numbers(field(o, "shares", at)?, &format!("{at}.shares"))?;
    let nan_share = match o.get("nan_share") {
        Some(x) => num(x, &format!("{at}.nan_share"))?,
        None => 0.0,
    };
    if edges.windows(2).any(|w| w[0] >= w[1]) {
        return Err(bad(format!("{at}.edges"), "must be strictly increasing"));
    }
    if shares.len() != edges.len() + 1 {
        return Err(bad(
            format!("{at}.shares"),
            format!(
                "{} shares for {} edges (need edges + 1)",
                shares.len(),
                edges.len()
            ),
        ));
    }
    if shares.len() > MAX_BINS {
        return Err(bad(
            format!("{at}.shares"),
            format!("{} bins, at most {MAX_BINS}", shares.len()),
        ));
    }
    if shares.iter().any(|s| *s < 0.0) || (shares.iter().sum::<f64>() - 1.0).abs() > 1e-6 {
        return Err(bad(format!("{at}.shares"), "must be >= 0 and sum to 1"));
    }
    if !(0.0..=1.0).contains(&nan_share) {
        return Err(bad(format!("{at}.nan_share"), "must be in [0, 1]"));
    }
    Ok(FeatureReference {
        name,
        edges,
        shares,
        nan_share,
    })
}

fn parse_calibration(v: &serde_json::Value, at: &str) -> Result<Calibration> {
    let o = object(v, at, &["accuracy", "log_loss", "rows", "reliability"])?;
    let accuracy = num(field(o, "accuracy", at)?, &format!("{at}.accuracy"))?;
    let log_loss = num(field(o, "log_loss", at)?, &format!("{at}.log_loss"))?;
    let rows = match o.get("rows") {
        Some(r) => r
            .as_u64()
            .ok_or_else(|| bad(format!("{at}.rows"), "expected a count"))?,
        None => 0,
    };
    if !(0.0..=1.0).contains(&accuracy) {
        return Err(bad(format!("{at}.accuracy"), "must be in [0, 1]"));
    }
    if log_loss < 0.0 {
        return Err(bad(format!("{at}.log_loss"), "must be >= 0"));
    }
    let mut reliability = Vec::new();
    if let Some(r) = o.get("reliability") {
        let items = r
            .as_array()
            .ok_or_else(|| bad(format!("{at}.reliability"), "expected an array"))?;
        for (i, b) in items.iter().enumerate() {
            let bat = format!("{at}.reliability[{i}]");
            let bo = object(b, &bat, &["p_mean", "freq", "count"])?;
            reliability.push(ReliabilityBin {
                p_mean: num(field(bo, "p_mean", &bat)?, &format!("{bat}.p_mean"))?,
                freq: num(field(bo, "freq", &bat)?, &format!("{bat}.freq"))?,
                count: field(bo, "count", &bat)?
                    .as_u64()
                    .ok_or_else(|| bad(format!("{bat}.count"), "expected a count"))?,
            });
        }
    }
    Ok(Calibration {
        accuracy,
        log_loss,
        rows,
        reliability,
    })
}

impl DriftReference {
    /// Parses and validates a reference; errors name the field (`drift_reference.features[3].edges`).
    pub fn from_json(text: &str) -> Result<Self> {
        const AT: &str = "drift_reference";
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| bad(AT, format!("not JSON: {e}")))?;
        let o = object(&v, AT, &["schema", "features", "rows", "calibration"])?;
        match field(o, "schema", AT)?.as_str() {
            Some(SCHEMA) => {}
            other => {
                return Err(bad(
                    format!("{AT}.schema"),
                    format!("expected {SCHEMA:?}, got {other:?}"),
                ))
            }
        }
        let feats = field(o, "features", AT)?
            .as_array()
            .ok_or_else(|| bad(format!("{AT}.features"), "expected an array"))?;
        if feats.is_empty() {
            return Err(bad(
                format!("{AT}.features"),
                "at least one feature is needed",
            ));
        }
        let features = feats
            .iter()
            .enumerate()
            .map(|(i, f)| parse_feature(f, &format!("{AT}.features[{i}]")))
            .collect::<Result<Vec<_>>>()?;
        let rows = field(o, "rows", AT)?
            .as_u64()
            .ok_or_else(|| bad(format!("{AT}.rows"), "expected a count"))?;
        let calibration = match o.get("calibration") {
            None | Some(serde_json::Value::Null) => None,
            Some(c) => Some(parse_calibration(c, &format!("{AT}.calibration"))?),
        };
        Ok(DriftReference {
            features,
            rows,
            calibration,
        })
    }

    /// Reads a reference file; a missing or unreadable file is an I/O error naming it.
    pub fn from_path(path: &std::path::Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| CoreError::io(path, e))?;
        Self::from_json(&text).map_err(|e| match e {
            CoreError::InvalidInput { what, detail } => CoreError::InvalidInput {
                what: format!("{}: {what}", path.display()),
                detail,
            },
            e => e,
        })
    }
}

/// Drift of one feature over the monitor's window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FeatureDrift {
    /// Index of the feature in the reference (and the row).
    pub feature: usize,
    pub psi: f64,
    /// Largest gap between the window's and the reference's binned CDFs.
    pub ks: f64,
    /// Share of the window's rows that were NaN.
    pub nan_share: f64,
}

/// Rolling per-feature bin counts over the last `window` rows.
#[derive(Debug, Clone)]
pub struct DriftMonitor {
    window: usize,
    n_features: usize,
    /// Row-major `[slot][feature]` bin indices of the rows in the window.
    ring: Vec<u8>,
    /// Next ring slot to write.
    head: usize,
    /// Rows in the window (<= window).
    filled: usize,
    /// Rows seen since the start.
    seen: u64,
    /// `counts[f * MAX_BINS + b]`.
    counts: Vec<u32>,
    nan_counts: Vec<u32>,
}

impl DriftMonitor {
    /// A monitor of `window` rows of the reference's features (window >= 1).
    pub fn new(reference: &DriftReference, window: usize) -> Result<Self> {
        if window == 0 {
            return Err(bad("drift.window_rows", "must be >= 1"));
        }
        let n = reference.features.len();
        Ok(DriftMonitor {
            window,
            n_features: n,
            ring: vec![0; window * n],
            head: 0,
            filled: 0,
            seen: 0,
            counts: vec![0; n * MAX_BINS],
            nan_counts: vec![0; n],
        })
    }

    /// Rows in the window now.
    pub fn rows(&self) -> usize {
        self.filled
    }

    /// Rows seen since the start.
    pub fn seen(&self) -> u64 {
        self.seen
    }

    pub fn window(&self) -> usize {
        self.window
    }

    /// Adds one row (the oldest leaves a full window). `row` must hold the reference's
    /// features in order; extra trailing values are ignored, a short row is refused.
    #[inline]
    pub fn push<T: Copy + Into<f64>>(
        &mut self,
        reference: &DriftReference,
        row: &[T],
    ) -> Result<()> {
        let n = self.n_features;
        if row.len() < n {
            return Err(bad(
                "drift row",
                format!("{} values, the reference has {n} features", row.len()),
            ));
        }
        let base = self.head * n;
        let full = self.filled == self.window;
        let slots = &mut self.ring[base..base + n];
        for (f, ((slot, x), fr)) in slots
            .iter_mut()
            .zip(row)
            .zip(&reference.features)
            .enumerate()
        {
            if full {
                match *slot {
                    NAN_BIN => self.nan_counts[f] -= 1,
                    b => self.counts[f * MAX_BINS + b as usize] -= 1,
                }
            }
            let b = fr.bin((*x).into());
            *slot = b;
            match b {
                NAN_BIN => self.nan_counts[f] += 1,
                b => self.counts[f * MAX_BINS + b as usize] += 1,
            }
        }
        self.head = (self.head + 1) % self.window;
        if !full {
            self.filled += 1;
        }
        self.seen += 1;
        Ok(())
    }

    /// PSI and binned KS of feature `f` over the window (NaN rows left out of both). None
    /// while the window holds no non-NaN value of it.
    pub fn feature(&self, reference: &DriftReference, f: usize) -> Option<FeatureDrift> {
        let fr = &reference.features[f];
        let counts = &self.counts[f * MAX_BINS..f * MAX_BINS + fr.shares.len()];
        let total: u32 = counts.iter().sum();
        if total == 0 {
            return None;
        }
        let total = total as f64;
        let (mut psi, mut ks) = (0.0, 0.0f64);
        let (mut ca, mut ce) = (0.0, 0.0);
        for (c, e) in counts.iter().zip(&fr.shares) {
            let a = *c as f64 / total;
            ca += a;
            ce += e;
            ks = ks.max((ca - ce).abs());
            let (a, e) = (a.max(SHARE_FLOOR), e.max(SHARE_FLOOR));
            psi += (a - e) * (a / e).ln();
        }
        Some(FeatureDrift {
            feature: f,
            psi,
            ks,
            nan_share: self.nan_counts[f] as f64 / self.filled.max(1) as f64,
        })
    }

    /// Every feature's drift, written into `out` (cleared first; reuse it to avoid allocating).
    pub fn check(&self, reference: &DriftReference, out: &mut Vec<FeatureDrift>) {
        out.clear();
        out.extend((0..self.n_features).filter_map(|f| self.feature(reference, f)));
    }
}

/// Rolling live accuracy and log-loss of matured labels: each prediction's probabilities are
/// scored when its realized class arrives (`horizon` later), over the last `window` scores.
#[derive(Debug, Clone)]
pub struct LabelTracker {
    window: usize,
    /// (correct, log-loss) of the scored predictions in the window.
    ring: Vec<(bool, f64)>,
    head: usize,
    filled: usize,
    correct: usize,
    loss_sum: f64,
}

impl LabelTracker {
    pub fn new(window: usize) -> Result<Self> {
        if window == 0 {
            return Err(bad("drift.label_window", "must be >= 1"));
        }
        Ok(LabelTracker {
            window,
            ring: vec![(false, 0.0); window],
            head: 0,
            filled: 0,
            correct: 0,
            loss_sum: 0.0,
        })
    }

    /// Scores one matured prediction: `probs` over the classes at t, `realized` the index of
    /// the class that happened at t + horizon.
    pub fn push(&mut self, probs: &[f32], realized: usize) -> Result<()> {
        let p = *probs.get(realized).ok_or_else(|| {
            bad(
                "label",
                format!("class index {realized} of {} classes", probs.len()),
            )
        })? as f64;
        let argmax = probs
            .iter()
            .enumerate()
            .fold(
                (0, f32::MIN),
                |b, (i, q)| if *q > b.1 { (i, *q) } else { b },
            )
            .0;
        let score = (argmax == realized, -(p.clamp(1e-15, 1.0)).ln());
        if self.filled == self.window {
            let (c, l) = self.ring[self.head];
            self.correct -= c as usize;
            self.loss_sum -= l;
        } else {
            self.filled += 1;
        }
        self.ring[self.head] = score;
        self.correct += score.0 as usize;
        self.loss_sum += score.1;
        self.head = (self.head + 1) % self.window;
        Ok(())
    }

    pub fn rows(&self) -> usize {
        self.filled
    }

    /// Rolling accuracy, None before any label.
    pub fn accuracy(&self) -> Option<f64> {
        (self.filled > 0).then(|| self.correct as f64 / self.filled as f64)
    }

    /// Rolling mean log-loss, None before any label.
    pub fn log_loss(&self) -> Option<f64> {
        (self.filled > 0).then(|| self.loss_sum / self.filled as f64)
    }
}

/// The engine's drift settings (`EngineConfig::drift`): the reference and when a window
/// counts as drifted.
#[derive(Debug, Clone)]
pub struct DriftSettings {
    pub reference: std::sync::Arc<DriftReference>,
    /// A feature whose PSI exceeds this breaches (0.25: the usual "significant shift").
    pub psi_alert: f64,
    /// A feature whose binned KS statistic exceeds this breaches.
    pub ks_alert: f64,
    /// Rows of the rolling window (per instrument); no check before the window is full.
    pub window_rows: usize,
    /// Rows between two checks of an instrument.
    pub check_every: u64,
    /// A breach moves the engine to REDUCING.
    pub reduce_on_drift: bool,
    /// Drift events kept (the oldest are dropped beyond).
    pub max_events: usize,
    /// Worst features kept per instrument for the status.
    pub top: usize,
}

impl DriftSettings {
    pub const DEFAULT_PSI_ALERT: f64 = 0.25;
    pub const DEFAULT_KS_ALERT: f64 = 0.2;
    pub const DEFAULT_WINDOW_ROWS: usize = 500;
    pub const DEFAULT_CHECK_EVERY: u64 = 50;

    /// Settings with the defaults around `reference`.
    pub fn new(reference: DriftReference) -> Self {
        DriftSettings {
            reference: std::sync::Arc::new(reference),
            psi_alert: Self::DEFAULT_PSI_ALERT,
            ks_alert: Self::DEFAULT_KS_ALERT,
            window_rows: Self::DEFAULT_WINDOW_ROWS,
            check_every: Self::DEFAULT_CHECK_EVERY,
            reduce_on_drift: false,
            max_events: 1000,
            top: 5,
        }
    }

    /// `{"reference_path": "...", "psi_alert": .., "ks_alert": .., "window_rows": ..,
    /// "check_every": .., "reduce_on_drift": ..}` (all but the path optional); every bad
    /// field is listed at once.
    pub fn from_json(text: &str) -> Result<Self> {
        const AT: &str = "drift";
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| bad(AT, format!("not JSON: {e}")))?;
        let o = object(
            &v,
            AT,
            &[
                "reference_path",
                "psi_alert",
                "ks_alert",
                "window_rows",
                "check_every",
                "reduce_on_drift",
            ],
        )?;
        let path = field(o, "reference_path", AT)?
            .as_str()
            .ok_or_else(|| bad("drift.reference_path", "expected a string"))?;
        let mut s = DriftSettings::new(DriftReference::from_path(std::path::Path::new(path))?);
        let mut p = Vec::new();
        let pos = |k: &str, p: &mut Vec<String>| -> Option<f64> {
            let x = o.get(k)?;
            match x.as_f64().filter(|x| x.is_finite() && *x > 0.0) {
                Some(x) => Some(x),
                None => {
                    p.push(format!("drift.{k}: expected a number > 0, got {x}"));
                    None
                }
            }
        };
        if let Some(x) = pos("psi_alert", &mut p) {
            s.psi_alert = x;
        }
        if let Some(x) = pos("ks_alert", &mut p) {
            if x > 1.0 {
                p.push(format!("drift.ks_alert: must be <= 1, got {x}"));
            }
            s.ks_alert = x;
        }
        for (k, dst) in [("window_rows", 0), ("check_every", 1)] {
            if let Some(x) = o.get(k) {
                match x.as_u64().filter(|n| *n >= 1) {
                    Some(n) if dst == 0 => s.window_rows = n as usize,
                    Some(n) => s.check_every = n,
                    None => p.push(format!("drift.{k}: expected an integer >= 1, got {x}")),
                }
            }
        }
        if let Some(x) = o.get("reduce_on_drift") {
            match x.as_bool() {
                Some(b) => s.reduce_on_drift = b,
                None => p.push(format!("drift.reduce_on_drift: expected a bool, got {x}")),
            }
        }
        if p.is_empty() {
            Ok(s)
        } else {
            Err(CoreError::Config(p.join("; ")))
        }
    }
}

/// A breach: an instrument's window drifted past a threshold at a check.
#[derive(Debug, Clone, PartialEq)]
pub struct DriftEvent {
    pub ts: u64,
    pub instrument_id: u32,
    /// The feature with the largest PSI.
    pub feature: String,
    pub psi: f64,
    pub ks: f64,
    /// Features past a threshold at this check.
    pub breached_features: usize,
    /// Rows in the window.
    pub rows: usize,
}

/// One instrument's monitor and its last check.
#[derive(Debug, Clone)]
pub struct InstrumentDrift {
    pub instrument_id: u32,
    pub monitor: DriftMonitor,
    /// The worst features (by PSI) at the last check.
    pub worst: Vec<FeatureDrift>,
    /// Whether the last check breached.
    pub breached: bool,
    /// Checks that breached.
    pub breaches: u64,
    pub checks: u64,
}

/// Drift of every instrument of an engine: fed with the rows its model is asked with,
/// checked every `check_every` rows, breaches recorded as events. A breach event is recorded
/// when an instrument goes from clean to breached (not at every check while it stays so).
#[derive(Debug, Clone)]
pub struct DriftWatch {
    pub settings: DriftSettings,
    /// By the engine's instrument slot.
    pub instruments: Vec<Option<InstrumentDrift>>,
    /// The recorded events (bounded by `max_events`; `dropped` counts the oldest left out).
    pub events: Vec<DriftEvent>,
    pub dropped: u64,
    /// Events not yet handed out by [`DriftWatch::drain`].
    undrained: Vec<DriftEvent>,
    scratch: Vec<FeatureDrift>,
}

impl DriftWatch {
    pub fn new(settings: DriftSettings) -> Self {
        DriftWatch {
            settings,
            instruments: Vec::new(),
            events: Vec::new(),
            dropped: 0,
            undrained: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// Feature count of the reference.
    pub fn width(&self) -> usize {
        self.settings.reference.features.len()
    }

    /// Feeds the row the model of slot `slot` (instrument `id`) is asked with; returns true
    /// when this row's check found a new breach. Allocates only for a slot's first row and
    /// at a check that records an event.
    #[inline]
    pub fn on_row<T: Copy + Into<f64>>(
        &mut self,
        slot: usize,
        id: u32,
        ts: u64,
        row: &[T],
    ) -> Result<bool> {
        if self.instruments.len() <= slot {
            self.instruments.resize_with(slot + 1, || None);
        }
        let reference = &self.settings.reference;
        let inst = match &mut self.instruments[slot] {
            Some(i) => i,
            empty => empty.insert(InstrumentDrift {
                instrument_id: id,
                monitor: DriftMonitor::new(reference, self.settings.window_rows)?,
                worst: Vec::new(),
                breached: false,
                breaches: 0,
                checks: 0,
            }),
        };
        inst.monitor.push(reference, row)?;
        if inst.monitor.rows() < self.settings.window_rows
            || inst.monitor.seen() % self.settings.check_every != 0
        {
            return Ok(false);
        }
        inst.monitor.check(reference, &mut self.scratch);
        inst.checks += 1;
        let (psi_a, ks_a) = (self.settings.psi_alert, self.settings.ks_alert);
        let over = |d: &FeatureDrift| d.psi > psi_a || d.ks > ks_a;
        let n_over = self.scratch.iter().filter(|d| over(d)).count();
        self.scratch
            .sort_unstable_by(|a, b| b.psi.total_cmp(&a.psi).then(b.ks.total_cmp(&a.ks)));
        inst.worst.clear();
        inst.worst
            .extend(self.scratch.iter().take(self.settings.top).copied());
        let was = inst.breached;
        inst.breached = n_over > 0;
        if !inst.breached {
            return Ok(false);
        }
        inst.breaches += 1;
        if was {
            return Ok(false);
        }
        let w = self
            .scratch
            .iter()
            .find(|d| over(d))
            .expect("a breached feature");
        let ev = DriftEvent {
            ts,
            instrument_id: id,
            feature: reference.features[w.feature].name.clone(),
            psi: w.psi,
            ks: w.ks,
            breached_features: n_over,
            rows: inst.monitor.rows(),
        };
        let cap = self.settings.max_events.max(1);
        if self.events.len() == cap {
            self.events.remove(0);
            self.dropped += 1;
        }
        if self.undrained.len() == cap {
            self.undrained.remove(0);
        }
        self.events.push(ev.clone());
        self.undrained.push(ev);
        Ok(true)
    }

    /// The events recorded since the last drain.
    pub fn drain(&mut self) -> Vec<DriftEvent> {
        std::mem::take(&mut self.undrained)
    }

    /// Checks that breached, every instrument.
    pub fn breaches(&self) -> u64 {
        self.instruments.iter().flatten().map(|i| i.breaches).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic standard normals (Box-Muller over a xorshift), no rand crate needed.
    fn normals(seed: u64, n: usize) -> Vec<f64> {
        let mut s = seed.max(1);
        let mut u = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        };
        (0..n)
            .map(|_| (-2.0 * u().ln()).sqrt() * (2.0 * std::f64::consts::PI * u()).cos())
            .collect()
    }

    /// Deciles of `xs` as the exporter builds them (edges at the 10..90% quantiles).
    fn reference_of(cols: &[Vec<f64>]) -> DriftReference {
        let features = cols
            .iter()
            .enumerate()
            .map(|(i, xs)| {
                let mut s = xs.clone();
                s.sort_by(|a, b| a.partial_cmp(b).unwrap());
                let mut edges: Vec<f64> = (1..10).map(|k| s[k * s.len() / 10]).collect();
                edges.dedup();
                let mut counts = vec![0usize; edges.len() + 1];
                for x in xs {
                    counts[edges.partition_point(|e| e <= x)] += 1;
                }
                FeatureReference {
                    name: format!("f{i}"),
                    edges,
                    shares: counts.iter().map(|c| *c as f64 / xs.len() as f64).collect(),
                    nan_share: 0.0,
                }
            })
            .collect();
        DriftReference {
            features,
            rows: cols[0].len() as u64,
            calibration: None,
        }
    }

    fn monitor_of(r: &DriftReference, xs: &[f64], window: usize) -> DriftMonitor {
        let mut m = DriftMonitor::new(r, window).unwrap();
        for x in xs {
            m.push(r, &[*x]).unwrap();
        }
        m
    }

    #[test]
    fn same_distribution_has_psi_near_zero() {
        let r = reference_of(&[normals(1, 20_000)]);
        let m = monitor_of(&r, &normals(2, 5_000), 5_000);
        let d = m.feature(&r, 0).unwrap();
        assert!(d.psi < 0.02, "psi {}", d.psi);
        assert!(d.ks < 0.03, "ks {}", d.ks);
    }

    #[test]
    fn shifted_normal_breaches_psi_and_ks() {
        let r = reference_of(&[normals(1, 20_000)]);
        let shifted: Vec<f64> = normals(3, 5_000).iter().map(|x| x + 1.0).collect();
        let m = monitor_of(&r, &shifted, 5_000);
        let d = m.feature(&r, 0).unwrap();
        assert!(d.psi > 0.25, "psi {}", d.psi);
        // a one-sigma shift moves the CDF by ~0.38 at the median
        assert!(d.ks > 0.3, "ks {}", d.ks);
    }

    #[test]
    fn window_forgets_old_rows() {
        let r = reference_of(&[normals(1, 20_000)]);
        let mut m = monitor_of(
            &r,
            &normals(4, 1_000)
                .iter()
                .map(|x| x + 3.0)
                .collect::<Vec<_>>(),
            1_000,
        );
        assert!(m.feature(&r, 0).unwrap().psi > 1.0);
        for x in normals(5, 1_000) {
            m.push(&r, &[x]).unwrap();
        }
        assert_eq!(m.rows(), 1_000);
        assert_eq!(m.seen(), 2_000);
        assert!(m.feature(&r, 0).unwrap().psi < 0.1);
    }

    #[test]
    fn nan_is_counted_apart() {
        let r = reference_of(&[normals(1, 1_000)]);
        let mut m = DriftMonitor::new(&r, 10).unwrap();
        for _ in 0..4 {
            m.push(&r, &[f64::NAN]).unwrap();
        }
        assert!(m.feature(&r, 0).is_none());
        for x in normals(6, 6) {
            m.push(&r, &[x]).unwrap();
        }
        let d = m.feature(&r, 0).unwrap();
        assert!((d.nan_share - 0.4).abs() < 1e-12);
        // the NaNs leave the window like any row
        for x in normals(7, 4) {
            m.push(&r, &[x]).unwrap();
        }
        assert_eq!(m.feature(&r, 0).unwrap().nan_share, 0.0);
    }

    #[test]
    fn short_row_is_refused() {
        let r = reference_of(&[normals(1, 100), normals(2, 100)]);
        let mut m = DriftMonitor::new(&r, 10).unwrap();
        assert!(m.push(&r, &[1.0f32]).is_err());
        assert!(DriftMonitor::new(&r, 0).is_err());
    }

    fn json(features: &str) -> String {
        format!(r#"{{"schema": "{SCHEMA}", "rows": 10, "features": {features}}}"#)
    }

    #[test]
    fn json_round_trip_and_typed_errors() {
        let ok = DriftReference::from_json(&json(
            r#"[{"name": "a", "edges": [0.0], "shares": [0.5, 0.5]}]"#,
        ))
        .unwrap();
        assert_eq!(ok.features[0].edges, vec![0.0]);
        assert!(ok.calibration.is_none());
        let what = |text: &str| match DriftReference::from_json(text) {
            Err(CoreError::InvalidInput { what, .. }) => what,
            other => panic!("expected InvalidInput, got {other:?}"),
        };
        assert_eq!(
            what(&json(
                r#"[{"name": "a", "edges": [1.0, 0.0], "shares": [0.2, 0.3, 0.5]}]"#
            )),
            "drift_reference.features[0].edges"
        );
        assert_eq!(
            what(&json(r#"[{"name": "a", "edges": [0.0], "shares": [1.0]}]"#)),
            "drift_reference.features[0].shares"
        );
        assert_eq!(
            what(&json(r#"[{"name": "a", "shares": [1.0]}]"#)),
            "drift_reference.features[0].edges"
        );
        assert_eq!(
            what(&json(
                r#"[{"name": "a", "edges": [], "shares": [1.0], "x": 1}]"#
            )),
            "drift_reference.features[0].x"
        );
        assert_eq!(
            what(r#"{"schema": "other", "rows": 1, "features": []}"#),
            "drift_reference.schema"
        );
        assert_eq!(what("[1]"), "drift_reference");
        let cal = DriftReference::from_json(&format!(
            r#"{{"schema": "{SCHEMA}", "rows": 10, "features": [{{"name": "a", "edges": [], "shares": [1.0]}}],
               "calibration": {{"accuracy": 0.5, "log_loss": 0.9, "rows": 100,
                                "reliability": [{{"p_mean": 0.4, "freq": 0.38, "count": 50}}]}}}}"#
        ))
        .unwrap();
        assert_eq!(cal.calibration.unwrap().reliability[0].count, 50);
        let bad_acc = format!(
            r#"{{"schema": "{SCHEMA}", "rows": 10, "features": [{{"name": "a", "edges": [], "shares": [1.0]}}],
               "calibration": {{"accuracy": 1.5, "log_loss": 0.9}}}}"#
        );
        assert_eq!(what(&bad_acc), "drift_reference.calibration.accuracy");
    }

    #[test]
    fn watch_records_one_event_per_breach_onset() {
        let r = reference_of(&[normals(1, 20_000), normals(2, 20_000)]);
        let mut s = DriftSettings::new(r);
        s.window_rows = 200;
        s.check_every = 20;
        let mut w = DriftWatch::new(s);
        let (a, b) = (normals(8, 1_000), normals(9, 1_000));
        for i in 0..400 {
            assert!(!w.on_row(0, 7, i, &[a[i as usize], b[i as usize]]).unwrap());
        }
        assert!(w.events.is_empty());
        assert!(w.instruments[0].as_ref().unwrap().checks > 0);
        // feature 1 shifts: one event at the onset, further checks count as breaches only
        let mut new = 0;
        for i in 400..1_000 {
            new += w
                .on_row(0, 7, i, &[a[i as usize], b[i as usize] + 2.0])
                .unwrap() as usize;
        }
        assert_eq!(new, 1);
        assert_eq!(w.events.len(), 1);
        assert_eq!(w.events[0].feature, "f1");
        assert_eq!(w.events[0].instrument_id, 7);
        assert!(w.events[0].psi > 0.25);
        assert!(w.breaches() > 1);
        assert_eq!(w.drain().len(), 1);
        assert!(w.drain().is_empty());
        let inst = w.instruments[0].as_ref().unwrap();
        assert_eq!(inst.worst[0].feature, 1);
    }

    #[test]
    fn label_tracker_rolls() {
        let mut t = LabelTracker::new(2).unwrap();
        assert!(t.accuracy().is_none());
        t.push(&[0.2, 0.8], 1).unwrap();
        t.push(&[0.9, 0.1], 1).unwrap();
        assert_eq!(t.accuracy(), Some(0.5));
        let ll = (-(0.8f64).ln() - (0.1f64).ln()) / 2.0;
        assert!((t.log_loss().unwrap() - ll).abs() < 1e-6);
        t.push(&[0.3, 0.7], 1).unwrap();
        assert_eq!(t.accuracy(), Some(0.5));
        t.push(&[0.3, 0.7], 1).unwrap();
        assert_eq!(t.accuracy(), Some(1.0));
        assert!(t.push(&[0.5, 0.5], 2).is_err());
    }
}
