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

pub use micro::{compute_micro_features, MicroEngine, MicroFrame};
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
    /// Output runs `(out_start, tf, first indicator, len)`: a set grouped by timeframe
    /// (as the default one is) copies each timeframe's values with one memcpy.
    runs: Vec<(usize, usize, usize, usize)>,
    width: usize,
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
        let mut runs: Vec<(usize, usize, usize, usize)> = Vec::new();
        for (o, &(ti, ii)) in cols.iter().enumerate() {
            match runs.last_mut() {
                Some((_, t, i0, len)) if *t == ti && *i0 + *len == ii => *len += 1,
                _ => runs.push((o, ti, ii, 1)),
            }
        }
        Ok(BarFeatureEngine {
            base,
            tfs,
            runs,
            width: cols.len(),
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
        self.width
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
        if out.len() != self.width {
            return Err(CoreError::Config(format!(
                "output row has {} slots, the set has {} features",
                out.len(),
                self.width
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
        for &(o, ti, ii, len) in &self.runs {
            out[o..o + len].copy_from_slice(&self.tfs[ti].latest[ii..ii + len]);
        }
        Ok(())
    }
}

/// Features of a whole series, one column per feature: `columns[j][i]` is feature `j` of
/// row `i`. Separate columns (rather than one matrix) let the allocator reuse freed
/// columns between runs instead of mapping (and faulting in) fresh pages every time.
/// `valid[j]` is column `j`'s Arrow validity bitmap (bit `i % 8` of byte `i / 8` set
/// when row `i` is not NaN) and `nulls[j]` its NaN count, so bindings hand out nullable
/// columns without another pass over the data.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureMatrix {
    pub names: Vec<String>,
    pub rows: usize,
    pub columns: Vec<Vec<f64>>,
    pub valid: Vec<Vec<u8>>,
    pub nulls: Vec<usize>,
}

impl FeatureMatrix {
    pub fn column(&self, j: usize) -> &[f64] {
        &self.columns[j]
    }

    /// Wraps finished columns, computing their validity.
    pub fn from_columns(names: Vec<String>, rows: usize, columns: Vec<Vec<f64>>) -> Self {
        let (valid, nulls) = columns.iter().map(|c| validity(c)).unzip();
        FeatureMatrix {
            names,
            rows,
            columns,
            valid,
            nulls,
        }
    }
}

/// Arrow validity bitmap (LSB first) and NaN count of `col`.
pub fn validity(col: &[f64]) -> (Vec<u8>, usize) {
    let mut bits = vec![0u8; col.len().div_ceil(8)];
    let nulls = set_validity(col, &mut bits);
    (bits, nulls)
}

/// Writes the validity bits of `col` into `bits` (byte-aligned start); returns NaNs seen.
#[inline]
fn set_validity(col: &[f64], bits: &mut [u8]) -> usize {
    let mut nulls = 0;
    for (chunk, byte) in col.chunks(8).zip(bits.iter_mut()) {
        let mut b = 0u8;
        for (i, v) in chunk.iter().enumerate() {
            b |= u8::from(!v.is_nan()) << i;
        }
        nulls += chunk.len() - b.count_ones() as usize;
        *byte = b;
    }
    nulls
}

/// Batch bar features: steps fresh [`BarFeatureEngine`]s through `bars` (with the
/// reference bar of each row, if any). `source` names the input in errors.
///
/// Features never share state, so the set's columns are split into parts, one per
/// available core, each stepped by its own engine over all bars: every value is
/// computed by exactly the same sequence of operations as in one streaming engine, so the
/// result is bit for bit the streaming result, whatever the number of threads.
pub fn compute_bar_features(
    set: &FeatureSet,
    base: Timeframe,
    bars: &[FeatureBar],
    reference: Option<&[Option<FeatureBar>]>,
    source: &str,
) -> Result<FeatureMatrix> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    compute_bar_features_threads(set, base, bars, reference, source, threads)
}

/// [`compute_bar_features`] on at most `threads` threads (1 = on the caller's thread).
pub fn compute_bar_features_threads(
    set: &FeatureSet,
    base: Timeframe,
    bars: &[FeatureBar],
    reference: Option<&[Option<FeatureBar>]>,
    source: &str,
    threads: usize,
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
    let (k, n) = (set.len(), bars.len());
    // Below a few thousand bars a thread costs more than it saves.
    let parts = if n < 4_096 {
        1
    } else {
        threads.clamp(1, k.max(1))
    };
    let names = set.names();
    // Feature j goes to part j % parts: every part then gets a like share of each
    // timeframe (base features cost far more than coarse ones).
    let mut engines = Vec::with_capacity(parts);
    for p in 0..parts {
        let sub = if parts == 1 {
            set.clone()
        } else {
            let mine: Vec<&String> = names.iter().skip(p).step_by(parts).collect();
            FeatureSet::from_names(&mine)?
        };
        engines.push(BarFeatureEngine::new(&sub, base)?.with_source(source));
    }
    let mut columns: Vec<Vec<f64>> = (0..k).map(|_| vec![0.0; n]).collect();
    let mut valid: Vec<Vec<u8>> = (0..k).map(|_| vec![0u8; n.div_ceil(8)]).collect();
    let mut nulls = vec![0usize; k];
    type Out<'a> = Vec<(&'a mut Vec<f64>, &'a mut Vec<u8>, &'a mut usize)>;
    let mut slices: Vec<Out<'_>> = (0..parts).map(|_| Vec::new()).collect();
    for (j, ((c, v), z)) in columns
        .iter_mut()
        .zip(valid.iter_mut())
        .zip(nulls.iter_mut())
        .enumerate()
    {
        slices[j % parts].push((c, v, z));
    }
    let results: Vec<Result<()>> = if parts == 1 {
        engines
            .iter_mut()
            .zip(slices)
            .map(|(e, mut out)| fill_columns(e, bars, reference, &mut out))
            .collect()
    } else {
        std::thread::scope(|s| {
            let handles: Vec<_> = engines
                .iter_mut()
                .zip(slices)
                .map(|(e, mut out)| s.spawn(move || fill_columns(e, bars, reference, &mut out)))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(CoreError::Config("feature thread panicked".into()))
                    })
                })
                .collect()
        })
    };
    // Every part validates every bar the same way, so the first error is the error.
    for r in results {
        r?;
    }
    Ok(FeatureMatrix {
        names,
        rows: n,
        columns,
        valid,
        nulls,
    })
}

/// Steps `eng` over every bar, writing its values, validity and NaN counts into `out`.
fn fill_columns(
    eng: &mut BarFeatureEngine,
    bars: &[FeatureBar],
    reference: Option<&[Option<FeatureBar>]>,
    out: &mut [(&mut Vec<f64>, &mut Vec<u8>, &mut usize)],
) -> Result<()> {
    let (k, n) = (eng.width(), bars.len());
    // Rows go to a tile first and then out column by column in runs of TILE values:
    // writing each row straight into k columns touches k pages per bar and is slower
    // than computing the features.
    const TILE: usize = 128;
    let mut tile = vec![0.0; TILE * k];
    for start in (0..n).step_by(TILE) {
        let end = (start + TILE).min(n);
        for (t, i) in (start..end).enumerate() {
            let r = reference.and_then(|r| r[i].as_ref());
            eng.push(&bars[i], r, &mut tile[t * k..(t + 1) * k])?;
        }
        for (j, (col, bits, nulls)) in out.iter_mut().enumerate() {
            let run = &mut col[start..end];
            for (t, v) in run.iter_mut().enumerate() {
                *v = tile[t * k + j];
            }
            // TILE is a multiple of 8, so each tile starts on a validity byte.
            **nulls += set_validity(run, &mut bits[start / 8..end.div_ceil(8)]);
        }
    }
    Ok(())
}
