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
pub mod session;
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

/// A completed bar of one timeframe, with the reference's bar of the same interval (if
/// it traded) and the row (base bar) at which it completed.
#[derive(Debug, Clone, Copy)]
pub struct Completed {
    pub row: usize,
    pub bar: FeatureBar,
    pub reference: Option<FeatureBar>,
}

/// One timeframe's indicators and its bar in progress.
struct TfState {
    agg: Aggregator,
    inds: Vec<Box<dyn BarIndicator>>,
    latest: Vec<f64>,
}

/// Builds one timeframe's bars from base bars.
struct Aggregator {
    tf: Timeframe,
    is_base: bool,
    /// The bar in progress: (interval open, bar, reference bar).
    cur: Option<(u64, FeatureBar, Option<FeatureBar>)>,
    /// Whether a base bar has been seen.
    started: bool,
    /// Open of the first interval when the history starts inside it: that coarse bar lacks
    /// the base bars before the start, so it is dropped, not counted as a bar (it would
    /// make every window holding it depend on where the history started).
    partial: Option<u64>,
}

impl Aggregator {
    /// Adds a base bar to this timeframe; hands each bar it completes to `done` (in
    /// order: across a gap, the previous interval first, then possibly this one).
    #[inline]
    fn feed(
        &mut self,
        bar: &FeatureBar,
        reference: Option<&FeatureBar>,
        base: u64,
        mut done: impl FnMut(FeatureBar, Option<FeatureBar>),
    ) {
        if self.is_base {
            done(*bar, reference.copied());
            return;
        }
        let open = self.tf.floor(bar.ts);
        if !self.started {
            self.started = true;
            if open != bar.ts {
                self.partial = Some(open);
            }
        }
        let partial = &mut self.partial;
        let mut emit = |o: u64, b: FeatureBar, r: Option<FeatureBar>| {
            if *partial == Some(o) {
                *partial = None;
            } else {
                // A coarse bar is stamped with its interval's open time.
                done(FeatureBar { ts: o, ..b }, r);
            }
        };
        if matches!(&self.cur, Some((o, _, _)) if *o != open) {
            if let Some((o, b, r)) = self.cur.take() {
                emit(o, b, r);
            }
        }
        match &mut self.cur {
            Some((_, c, r)) => {
                c.merge(bar);
                match (r.as_mut(), reference) {
                    (Some(r), Some(x)) => r.merge(x),
                    (None, Some(x)) => *r = Some(*x),
                    _ => {}
                }
            }
            None => self.cur = Some((open, *bar, reference.copied())),
        }
        if bar.ts + base >= self.tf.end(open) {
            if let Some((o, b, r)) = self.cur.take() {
                emit(o, b, r);
            }
        }
    }
}

/// Streaming multi-timeframe bar features for one instrument: push base bars in time
/// order, read one row of values per bar in [`FeatureSet`] order (NaN = null).
pub struct BarFeatureEngine {
    base: Timeframe,
    tfs: Vec<TfState>,
    /// Output column of each (timeframe, indicator).
    cols: Vec<(usize, usize)>,
    /// Output runs `(out_start, tf, first indicator, len)`: a set grouped by timeframe
    /// (as the default one is) copies each timeframe's values with one memcpy.
    runs: Vec<(usize, usize, usize, usize)>,
    width: usize,
    last_ts: Option<u64>,
    rows: u64,
    source: PathBuf,
    /// Scratch for [`Self::push_block`]: completed bars of one timeframe.
    events: Vec<Completed>,
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
            let ti = match tfs.iter().position(|t| t.agg.tf == tf) {
                Some(i) => i,
                None => {
                    tfs.push(TfState {
                        agg: Aggregator {
                            tf,
                            is_base: tf == base,
                            cur: None,
                            started: false,
                            partial: None,
                        },
                        inds: Vec::new(),
                        latest: Vec::new(),
                    });
                    tfs.len() - 1
                }
            };
            let ind = technical::build(&s.kind, &s.params).ok_or_else(|| {
                CoreError::Config(format!("feature {}: no implementation", s.name))
            })?;
            // Recursive averages produce numbers before they settle: null them until the
            // declared warm-up, so no row depends on where the history started.
            let ind = technical::settled(&s.kind, ind, s.warmup);
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
            width: cols.len(),
            cols,
            runs,
            last_ts: None,
            rows: 0,
            source: PathBuf::from("<bars>"),
            events: Vec::new(),
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

    /// The refusal of a bar, if any: non-finite prices, negative or non-finite volume,
    /// a timestamp less than one base period after the previous bar's (so bars of a finer
    /// timeframe than declared are caught, not silently mixed).
    fn check(
        &self,
        bar: &FeatureBar,
        reference: Option<&FeatureBar>,
        prev: Option<u64>,
        row: u64,
    ) -> Result<()> {
        let bad = |detail: String| CoreError::BadLine {
            path: self.source.clone(),
            line: row,
            detail: format!("row {row}: {detail}"),
        };
        if let Some(p) = bar.problem() {
            return Err(bad(p));
        }
        if let Some(p) = reference.and_then(FeatureBar::problem) {
            return Err(bad(format!("reference bar: {p}")));
        }
        if let Some(prev) = prev {
            if bar.ts <= prev {
                return Err(bad(format!(
                    "timestamp {} does not increase (previous {prev})",
                    bar.ts
                )));
            }
            if bar.ts - prev < self.base.nanos() {
                return Err(bad(format!(
                    "timestamp {} is less than one {} bar after the previous {prev}: \
                     are these bars of a finer timeframe?",
                    bar.ts,
                    self.base.label()
                )));
            }
        }
        Ok(())
    }

    /// Adds one base bar (and the reference instrument's bar of the same interval, when
    /// it traded) and writes the row's values into `out` (length [`Self::width`]).
    /// Refuses, leaving the engine unchanged, bars with non-finite prices, negative or
    /// non-finite volume, or a timestamp not at least one base period after the previous
    /// bar's; the error is a [`CoreError::BadLine`] naming the row (0-based count of
    /// bars pushed).
    #[inline]
    pub fn push(
        &mut self,
        bar: &FeatureBar,
        reference: Option<&FeatureBar>,
        out: &mut [f64],
    ) -> Result<()> {
        self.check(bar, reference, self.last_ts, self.rows)?;
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
            let (inds, latest) = (&mut t.inds, &mut t.latest);
            t.agg.feed(bar, reference, base, |b, r| {
                for (ind, v) in inds.iter_mut().zip(latest.iter_mut()) {
                    *v = ind.update(&b, r.as_ref());
                }
            });
        }
        for &(o, ti, ii, len) in &self.runs {
            out[o..o + len].copy_from_slice(&self.tfs[ti].latest[ii..ii + len]);
        }
        Ok(())
    }

    /// Batch stepping: the same as [`Self::push`] for each bar of `bars` in turn (and
    /// bit for bit the same values), but loop order is indicator by indicator over the
    /// block, so each indicator's state stays in cache and its update is called
    /// statically. `out[j]` receives feature `j`'s values for the block (each of length
    /// `bars.len()`). All bars are checked before any is used: on a refusal nothing
    /// changes and the error names the row.
    pub fn push_block(
        &mut self,
        bars: &[FeatureBar],
        reference: Option<&[Option<FeatureBar>]>,
        out: &mut [&mut [f64]],
    ) -> Result<()> {
        let n = bars.len();
        let refs = |i: usize| reference.and_then(|r| r.get(i).and_then(Option::as_ref));
        if out.len() != self.width || out.iter().any(|c| c.len() != n) {
            return Err(CoreError::Config(format!(
                "block output needs {} columns of {n} rows",
                self.width
            )));
        }
        let mut prev = self.last_ts;
        for (i, b) in bars.iter().enumerate() {
            self.check(b, refs(i), prev, self.rows + i as u64)?;
            prev = Some(b.ts);
        }
        if n == 0 {
            return Ok(());
        }
        self.last_ts = prev;
        self.rows += n as u64;
        let base = self.base.nanos();
        for ti in 0..self.tfs.len() {
            let mut events = std::mem::take(&mut self.events);
            events.clear();
            let t = &mut self.tfs[ti];
            for (row, b) in bars.iter().enumerate() {
                t.agg.feed(b, refs(row), base, |bar, reference| {
                    events.push(Completed {
                        row,
                        bar,
                        reference,
                    })
                });
            }
            for (ii, (ind, latest)) in t.inds.iter_mut().zip(t.latest.iter_mut()).enumerate() {
                let col = self
                    .cols
                    .iter()
                    .position(|&c| c == (ti, ii))
                    .expect("every indicator has a column");
                ind.run(&events, latest, out[col]);
            }
            self.events = events;
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
    let mut valid = 0usize;
    let mut chunks = col.chunks_exact(8);
    let mut out = bits.iter_mut();
    for (chunk, byte) in (&mut chunks).zip(&mut out) {
        // Fixed-size and branch-free, so the compiler can vectorise it.
        let mut b = 0u8;
        for (i, v) in chunk.iter().enumerate() {
            b |= u8::from(!v.is_nan()) << i;
        }
        valid += b.count_ones() as usize;
        *byte = b;
    }
    let rest = chunks.remainder();
    if let Some(byte) = out.next().filter(|_| !rest.is_empty()) {
        let mut b = 0u8;
        for (i, v) in rest.iter().enumerate() {
            b |= u8::from(!v.is_nan()) << i;
        }
        valid += b.count_ones() as usize;
        *byte = b;
    }
    col.len() - valid
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
    let mut fresh = |n: usize| vec![0.0; n];
    compute_bar_features_with(set, base, bars, reference, source, threads, &mut fresh)
}

/// [`compute_bar_features_threads`] with output columns from `column(n)`, which must
/// return a vector of length `n` whose contents do not matter (every value is written).
/// Bindings pass a pool of recycled columns: fresh pages cost more than the features.
pub fn compute_bar_features_with(
    set: &FeatureSet,
    base: Timeframe,
    bars: &[FeatureBar],
    reference: Option<&[Option<FeatureBar>]>,
    source: &str,
    threads: usize,
    column: &mut dyn FnMut(usize) -> Vec<f64>,
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
    let mut columns: Vec<Vec<f64>> = (0..k).map(|_| column(n)).collect();
    if columns.iter().any(|c| c.len() != n) {
        return Err(CoreError::Config(
            "column allocator returned a wrong length".into(),
        ));
    }
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
    // Blocks long enough to amortise the per-indicator loop, short enough that a block's
    // bars and completions stay in cache. A multiple of 8 keeps validity bytes aligned.
    const BLOCK: usize = 512;
    let n = bars.len();
    for start in (0..n).step_by(BLOCK) {
        let end = (start + BLOCK).min(n);
        let mut cols: Vec<&mut [f64]> =
            out.iter_mut().map(|(c, _, _)| &mut c[start..end]).collect();
        eng.push_block(
            &bars[start..end],
            reference.map(|r| &r[start..end]),
            &mut cols,
        )?;
        for (col, bits, nulls) in out.iter_mut() {
            **nulls += set_validity(&col[start..end], &mut bits[start / 8..end.div_ceil(8)]);
        }
    }
    Ok(())
}
