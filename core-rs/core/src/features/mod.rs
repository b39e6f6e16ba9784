//! Streaming features: one implementation for training (batch) and serving (live).
//!
//! - [`set`]: the [`FeatureSet`] contract (ordered specs, formulas, version hash).
//! - [`rolling`]: O(1) rolling sums, moments, extremes, EMAs, ranks.
//! - [`technical`], [`regime`], [`cross`]: bar features, updated once per completed bar.
//! - [`micro`]: per book event features from an order book and its MBO records.
//! - [`BarFeatureEngine`]: multi-timeframe bar features from base bars; the batch
//!   [`compute_bar_features`] only steps it, so batch equals streaming bit for bit.
//!
//! Timing rules (no look-ahead): a row is stamped with its base bar's open time and its
//! values are known at that bar's close. A coarser timeframe contributes its latest
//! *completed* bar: a coarse bar completes with the base bar that ends its interval (or,
//! across a gap, when the first base bar of a later interval arrives, before that bar is
//! used), never while in progress. Windows count bars that exist; a gap in time adds none.

pub mod cross;
pub mod micro;
pub mod regime;
pub mod rolling;
pub mod set;
pub mod technical;

use std::path::PathBuf;

pub use micro::{compute_micro_features, MicroEngine};
pub use set::{FeatureSet, FeatureSpec, Group};
pub use technical::BarIndicator;

use crate::bars::{Bar, Timeframe};
use crate::book::PRICE_SCALE;
use crate::error::{CoreError, Result};

/// A bar as the feature engine reads it: float prices in price units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FeatureBar {
    /// Open time of the bar, UTC ns.
    pub ts: u64,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: f64,
}

impl From<&Bar> for FeatureBar {
    fn from(b: &Bar) -> Self {
        let u = |p: i64| p as f64 / PRICE_SCALE as f64;
        FeatureBar {
            ts: b.ts,
            open: u(b.open),
            high: u(b.high),
            low: u(b.low),
            close: u(b.close),
            volume: b.volume,
        }
    }
}

impl FeatureBar {
    /// Why the engine would refuse this bar (prices must be finite, volume finite and
    /// not negative); None if it is fine.
    pub fn problem(&self) -> Option<String> {
        for (name, v) in [
            ("open", self.open),
            ("high", self.high),
            ("low", self.low),
            ("close", self.close),
        ] {
            if !v.is_finite() {
                return Some(format!("{name} price {v} is not finite"));
            }
        }
        if !self.volume.is_finite() || self.volume < 0.0 {
            return Some(format!("volume {} is negative or not finite", self.volume));
        }
        None
    }

    fn merge(&mut self, b: &FeatureBar) {
        self.high = self.high.max(b.high);
        self.low = self.low.min(b.low);
        self.close = b.close;
        self.volume += b.volume;
    }
}

/// One timeframe's indicators and its bar in progress.
struct TfState {
    tf: Timeframe,
    is_base: bool,
    cur: Option<(FeatureBar, Option<FeatureBar>)>,
    inds: Vec<Box<dyn BarIndicator>>,
    latest: Vec<f64>,
}

impl TfState {
    fn complete(&mut self) {
        if let Some((b, r)) = self.cur.take() {
            // The coarse bar is stamped with its interval's open time.
            let b = FeatureBar {
                ts: self.tf.floor(b.ts),
                ..b
            };
            for (ind, out) in self.inds.iter_mut().zip(self.latest.iter_mut()) {
                *out = ind.update(&b, r.as_ref());
            }
        }
    }
}

/// Streaming multi-timeframe bar features for one instrument: push base bars in time
/// order, read one row of values per bar in [`FeatureSet`] order (NaN = null).
pub struct BarFeatureEngine {
    base: Timeframe,
    tfs: Vec<TfState>,
    cols: Vec<(usize, usize)>,
    last_ts: Option<u64>,
    rows: u64,
    source: PathBuf,
}

impl BarFeatureEngine {
    /// An engine for `set` fed with `base` bars. Every timeframe of the set must be a
    /// multiple of `base`; micro sets are refused (they run on book events).
    pub fn new(set: &FeatureSet, base: Timeframe) -> Result<Self> {
        if set.is_micro() {
            return Err(CoreError::Config(
                "a micro_ feature set runs on book events, not bars".into(),
            ));
        }
        let mut tfs: Vec<TfState> = Vec::new();
        let mut cols = Vec::with_capacity(set.len());
        for s in set.specs() {
            let tf = s.timeframe.unwrap_or(base);
            if tf.nanos() % base.nanos() != 0 {
                return Err(CoreError::Config(format!(
                    "feature {}: timeframe {} is not a multiple of the base bars' {}",
                    s.name,
                    tf.label(),
                    base.label()
                )));
            }
            let ti = match tfs.iter().position(|t| t.tf == tf) {
                Some(i) => i,
                None => {
                    tfs.push(TfState {
                        tf,
                        is_base: tf == base,
                        cur: None,
                        inds: Vec::new(),
                        latest: Vec::new(),
                    });
                    tfs.len() - 1
                }
            };
            let ind = technical::build(&s.kind, &s.params).ok_or_else(|| {
                CoreError::Config(format!("feature {}: no implementation", s.name))
            })?;
            let t = &mut tfs[ti];
            t.inds.push(ind);
            t.latest.push(f64::NAN);
            cols.push((ti, t.inds.len() - 1));
        }
        Ok(BarFeatureEngine {
            base,
            tfs,
            cols,
            last_ts: None,
            rows: 0,
            source: PathBuf::from("<bars>"),
        })
    }

    /// Names the input in errors (a path, or "<dataframe>").
    pub fn with_source(mut self, name: impl Into<PathBuf>) -> Self {
        self.source = name.into();
        self
    }

    /// Number of values per row.
    pub fn width(&self) -> usize {
        self.cols.len()
    }

    /// Adds one base bar (and the reference instrument's bar of the same interval, when
    /// it traded) and writes the row's values into `out` (length [`Self::width`]).
    /// Refuses, leaving the engine unchanged, bars with non-finite prices, negative or
    /// non-finite volume, or a timestamp not after the previous bar's; the error is a
    /// [`CoreError::BadLine`] naming the row (0-based count of bars pushed).
    #[inline]
    pub fn push(
        &mut self,
        bar: &FeatureBar,
        reference: Option<&FeatureBar>,
        out: &mut [f64],
    ) -> Result<()> {
        let bad = |detail: String| CoreError::BadLine {
            path: self.source.clone(),
            line: self.rows,
            detail: format!("row {}: {detail}", self.rows),
        };
        if let Some(p) = bar.problem() {
            return Err(bad(p));
        }
        if let Some(p) = reference.and_then(FeatureBar::problem) {
            return Err(bad(format!("reference bar: {p}")));
        }
        if let Some(prev) = self.last_ts {
            if bar.ts <= prev {
                return Err(bad(format!(
                    "timestamp {} does not increase (previous {prev})",
                    bar.ts
                )));
            }
        }
        if out.len() != self.cols.len() {
            return Err(CoreError::Config(format!(
                "output row has {} slots, the set has {} features",
                out.len(),
                self.cols.len()
            )));
        }
        self.last_ts = Some(bar.ts);
        self.rows += 1;
        let base = self.base.nanos();
        for t in &mut self.tfs {
            if t.is_base {
                t.cur = Some((*bar, reference.copied()));
                t.complete();
                continue;
            }
            let open = t.tf.floor(bar.ts);
            if matches!(&t.cur, Some((c, _)) if t.tf.floor(c.ts) != open) {
                t.complete();
            }
            match &mut t.cur {
                Some((c, r)) => {
                    c.merge(bar);
                    match (r.as_mut(), reference) {
                        (Some(r), Some(x)) => r.merge(x),
                        (None, Some(x)) => *r = Some(*x),
                        _ => {}
                    }
                }
                None => t.cur = Some((*bar, reference.copied())),
            }
            if bar.ts + base >= open + t.tf.nanos() {
                t.complete();
            }
        }
        for (o, &(ti, ii)) in out.iter_mut().zip(&self.cols) {
            *o = self.tfs[ti].latest[ii];
        }
        Ok(())
    }
}

/// Features of a whole bar series, column-major: `values[j * rows + i]` is feature `j`
/// of bar `i`.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureMatrix {
    pub names: Vec<String>,
    pub rows: usize,
    pub values: Vec<f64>,
}

impl FeatureMatrix {
    pub fn column(&self, j: usize) -> &[f64] {
        &self.values[j * self.rows..(j + 1) * self.rows]
    }
}

/// Batch bar features: steps a fresh [`BarFeatureEngine`] through `bars` (with the
/// reference bar of each row, if any). `source` names the input in errors.
pub fn compute_bar_features(
    set: &FeatureSet,
    base: Timeframe,
    bars: &[FeatureBar],
    reference: Option<&[Option<FeatureBar>]>,
    source: &str,
) -> Result<FeatureMatrix> {
    if let Some(r) = reference {
        if r.len() != bars.len() {
            return Err(CoreError::Config(format!(
                "{} reference rows for {} bars",
                r.len(),
                bars.len()
            )));
        }
    }
    let mut eng = BarFeatureEngine::new(set, base)?.with_source(source);
    let (k, n) = (eng.width(), bars.len());
    let mut values = vec![0.0; k * n];
    let mut row = vec![0.0; k];
    for (i, b) in bars.iter().enumerate() {
        let r = reference.and_then(|r| r[i].as_ref());
        eng.push(b, r, &mut row)?;
        for (j, &v) in row.iter().enumerate() {
            values[j * n + i] = v;
        }
    }
    Ok(FeatureMatrix {
        names: set.names(),
        rows: n,
        values,
    })
}
