//! Time bars: a streaming builder that turns trades into OHLCV bars ([`BarBuilder`], or
//! [`BarSet`] for several timeframes over one stream), and a resampler that turns bars into
//! coarser bars (1m -> 5m ... 1d, [`Resampler`]), with one set of rules for all of them.
//!
//! Rules (the same in batch and live):
//! - A bar's `ts` is the open time of its interval, in UTC nanoseconds since the UNIX
//!   epoch. Bars of an hour or less are the trade time floored to the timeframe; longer
//!   bars (2h ... 6h, 1d) are cut from the CME trading-day open, 17:00 America/Chicago
//!   (23:00 UTC in winter, 22:00 UTC in summer; [`crate::features::session`]), so a daily
//!   bar is one trading day and 6h bars open at 17:00, 23:00, 05:00 and 11:00 Chicago. The
//!   session opens on a whole UTC hour, so for bars of an hour or less the two rules agree.
//!   Intervals are `[ts, ts + tf)` (a session bar ends at the next day's open at the
//!   latest): a trade exactly on an edge opens the next bar.
//! - An interval without trades yields no bar; nothing is carried forward or invented.
//! - The builder emits a bar when the first trade of a later interval arrives; `flush`
//!   emits the last bar, which may be partial if the data stops inside its interval.
//! - Timestamps must be non-decreasing; a decreasing one is rejected (the caller names
//!   the record or row), as are undefined prices and negative or non-finite sizes.
//! - Buy and sell volume are split by aggressor side; trades without one (DBN side 'N')
//!   count in `volume` and `trades` but in neither `buy_volume` nor `sell_volume`.

pub mod sources;

use crate::book::{PRICE_SCALE, UNDEF_PRICE};
use crate::error::{CoreError, Result};

/// One OHLCV bar. Prices are fixed-point (1e-9, [`PRICE_SCALE`]); volumes are f64 because
/// some sources have fractional volume; `vwap` is in price units (NaN when unknown or when
/// the bar traded zero volume).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bar {
    /// Open time of the interval, UTC ns.
    pub ts: u64,
    pub open: i64,
    pub high: i64,
    pub low: i64,
    pub close: i64,
    pub volume: f64,
    pub vwap: f64,
    pub buy_volume: f64,
    pub sell_volume: f64,
    pub trades: u64,
}

/// The side that initiated a trade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggressor {
    Buy,
    Sell,
    /// Unknown or not applicable (DBN 'N'): counts in neither buy nor sell volume.
    None,
}

impl Aggressor {
    /// DBN trade side: 'B' = buyer initiated, 'A' = seller initiated, anything else none.
    #[inline]
    pub fn from_dbn(c: std::ffi::c_char) -> Self {
        match c as u8 {
            b'B' => Aggressor::Buy,
            b'A' => Aggressor::Sell,
            _ => Aggressor::None,
        }
    }
}

/// A bar length that divides a day (or is one day). Bars of an hour or less start at a
/// multiple of their length since the epoch; longer ones at a multiple of their length
/// after the CME trading-day open (module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timeframe(u64);

const NS_PER_SEC: u64 = 1_000_000_000;
const DAY_SECS: u64 = 86_400;
const HOUR_NS: u64 = 3_600 * NS_PER_SEC;

impl Timeframe {
    pub const S1: Timeframe = Timeframe(NS_PER_SEC);
    pub const M1: Timeframe = Timeframe(60 * NS_PER_SEC);
    pub const M5: Timeframe = Timeframe(300 * NS_PER_SEC);
    pub const M30: Timeframe = Timeframe(1_800 * NS_PER_SEC);
    pub const H1: Timeframe = Timeframe(3_600 * NS_PER_SEC);
    pub const H6: Timeframe = Timeframe(21_600 * NS_PER_SEC);
    pub const D1: Timeframe = Timeframe(DAY_SECS * NS_PER_SEC);
    /// The timeframes the feature engine uses.
    pub const STANDARD: [Timeframe; 7] = [
        Self::S1,
        Self::M1,
        Self::M5,
        Self::M30,
        Self::H1,
        Self::H6,
        Self::D1,
    ];

    /// Parses `<n><unit>` with unit `s`, `m`, `h` or `d` (e.g. "1s", "5m", "6h", "1d").
    pub fn parse(s: &str) -> Result<Timeframe> {
        let bad = |why: &str| CoreError::Config(format!("timeframe {s:?}: {why}"));
        let t = s.trim();
        // The unit is the last character (not byte: a multi-byte one must not split).
        let split = t.char_indices().last().map_or(0, |(i, _)| i);
        let (num, unit) = t.split_at(split);
        let n: u64 = num
            .parse()
            .map_err(|_| bad("expected <n><s|m|h|d>, e.g. 1m"))?;
        let mult = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3_600,
            "d" => DAY_SECS,
            _ => return Err(bad("unit must be s, m, h or d")),
        };
        let secs = n
            .checked_mul(mult)
            .filter(|&v| v > 0)
            .ok_or_else(|| bad("must be positive"))?;
        if DAY_SECS % secs != 0 {
            return Err(bad(
                "must divide one day (86400 s) so bars align to the trading-day open",
            ));
        }
        Ok(Timeframe(secs * NS_PER_SEC))
    }

    pub fn nanos(self) -> u64 {
        self.0
    }

    /// Open time of the interval holding `ts` (module docs: epoch-aligned up to an hour,
    /// session-aligned above).
    #[inline]
    pub fn floor(self, ts: u64) -> u64 {
        if HOUR_NS % self.0 == 0 {
            return ts - ts % self.0;
        }
        let open = crate::features::session::trading_day_start(ts);
        if ts < open {
            // Only before the first trading day after the epoch (trading_day_start clamps).
            return ts - ts % self.0;
        }
        if self.0 == DAY_SECS * NS_PER_SEC {
            return open; // one trading day, whether 23, 24 or 25 hours long
        }
        open + (ts - open) / self.0 * self.0
    }

    /// End (exclusive) of the interval that opened at `open` (a value of [`Self::floor`]):
    /// `open + tf`, except that a session bar stops at the next trading-day open (a daily
    /// bar over the 23 h and 25 h days of the DST weekends).
    #[inline]
    pub fn end(self, open: u64) -> u64 {
        if HOUR_NS % self.0 == 0 {
            return open + self.0;
        }
        let day = crate::features::session::trading_day_start(open);
        // 26 h after a day's open is 1-3 h into the next day whatever the day's length.
        let next = crate::features::session::trading_day_start(day + 26 * HOUR_NS);
        if self.0 == DAY_SECS * NS_PER_SEC {
            return next.max(open + 1);
        }
        (open + self.0).min(next.max(open + 1))
    }

    /// Canonical label, e.g. "5m".
    pub fn label(self) -> String {
        let secs = self.0 / NS_PER_SEC;
        match secs {
            s if s % DAY_SECS == 0 => format!("{}d", s / DAY_SECS),
            s if s % 3_600 == 0 => format!("{}h", s / 3_600),
            s if s % 60 == 0 => format!("{}m", s / 60),
            s => format!("{s}s"),
        }
    }
}

/// Why an input was refused. The caller turns it into a [`CoreError`] naming its file
/// and record or row (the builder does not know where its input came from).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Reject {
    /// Timestamp earlier than the previous one of the same stream.
    Decreasing { prev: u64, ts: u64 },
    /// Undefined (DBN sentinel) price.
    UndefinedPrice,
    /// Size or volume that is negative, NaN or infinite.
    BadSize(f64),
}

impl std::fmt::Display for Reject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reject::Decreasing { prev, ts } => {
                write!(f, "timestamp {ts} is earlier than the previous one {prev}")
            }
            Reject::UndefinedPrice => write!(f, "undefined price"),
            Reject::BadSize(v) => write!(f, "size/volume {v} is negative or not finite"),
        }
    }
}

impl Reject {
    /// As a row-level error of a text input (`line` as the user counts it).
    pub fn at_line(self, path: &std::path::Path, line: u64) -> CoreError {
        CoreError::BadLine {
            path: path.to_path_buf(),
            line,
            detail: self.to_string(),
        }
    }
}

/// The bar in progress plus what is needed to finish it.
#[derive(Debug, Clone, Copy)]
struct Partial {
    bar: Bar,
    /// Sum of price (units) x size, for the VWAP.
    notional: f64,
    /// Volume whose price is known (resampling bars with unknown VWAP leaves it short).
    priced_volume: f64,
}

impl Partial {
    fn finish(mut self) -> Bar {
        self.bar.vwap = if self.priced_volume > 0.0 && self.priced_volume == self.bar.volume {
            self.notional / self.priced_volume
        } else {
            f64::NAN
        };
        self.bar
    }
}

#[inline]
fn units(p: i64) -> f64 {
    p as f64 / PRICE_SCALE as f64
}

#[inline]
fn check_size(v: f64) -> std::result::Result<(), Reject> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(Reject::BadSize(v))
    }
}

/// Streaming time-bar builder for one instrument: feed trades in time order, collect the
/// bars it completes, `flush` at the end.
#[derive(Debug, Clone)]
pub struct BarBuilder {
    tf: Timeframe,
    cur: Option<Partial>,
    last_ts: Option<u64>,
}

impl BarBuilder {
    pub fn new(tf: Timeframe) -> Self {
        BarBuilder {
            tf,
            cur: None,
            last_ts: None,
        }
    }

    pub fn timeframe(&self) -> Timeframe {
        self.tf
    }

    /// Adds one trade; returns the previous bar when this trade opens a later interval.
    /// A rejected trade leaves the builder unchanged.
    #[inline]
    pub fn push(
        &mut self,
        ts: u64,
        price: i64,
        size: f64,
        side: Aggressor,
    ) -> std::result::Result<Option<Bar>, Reject> {
        self.check(ts, price, size)?;
        self.last_ts = Some(ts);
        let open_ts = self.tf.floor(ts);
        let (buy, sell) = match side {
            Aggressor::Buy => (size, 0.0),
            Aggressor::Sell => (0.0, size),
            Aggressor::None => (0.0, 0.0),
        };
        let notional = units(price) * size;
        if let Some(p) = self.cur.as_mut() {
            if p.bar.ts == open_ts {
                let b = &mut p.bar;
                b.high = b.high.max(price);
                b.low = b.low.min(price);
                b.close = price;
                b.volume += size;
                b.buy_volume += buy;
                b.sell_volume += sell;
                b.trades += 1;
                p.notional += notional;
                p.priced_volume += size;
                return Ok(None);
            }
        }
        let fresh = Partial {
            bar: Bar {
                ts: open_ts,
                open: price,
                high: price,
                low: price,
                close: price,
                volume: size,
                vwap: f64::NAN,
                buy_volume: buy,
                sell_volume: sell,
                trades: 1,
            },
            notional,
            priced_volume: size,
        };
        Ok(self.cur.replace(fresh).map(Partial::finish))
    }

    /// Whether `push` would accept this trade (it changes nothing).
    #[inline]
    pub fn check(&self, ts: u64, price: i64, size: f64) -> std::result::Result<(), Reject> {
        if let Some(prev) = self.last_ts {
            if ts < prev {
                return Err(Reject::Decreasing { prev, ts });
            }
        }
        if price == UNDEF_PRICE {
            return Err(Reject::UndefinedPrice);
        }
        check_size(size)
    }

    /// The bar in progress, as it would be emitted now (VWAP included).
    pub fn peek(&self) -> Option<Bar> {
        self.cur.map(Partial::finish)
    }

    /// Emits the bar in progress (possibly partial) and starts empty; the time-order
    /// check keeps its memory, so a later trade may not go back in time.
    pub fn flush(&mut self) -> Option<Bar> {
        self.cur.take().map(Partial::finish)
    }

    /// Live use: emits the bar in progress once the clock `now` has reached the end of
    /// its interval, without waiting for the next trade. The bar is then sealed: a later
    /// trade stamped inside its interval is refused as going back in time.
    pub fn close_through(&mut self, now: u64) -> Option<Bar> {
        let end = self.tf.end(self.cur.as_ref()?.bar.ts);
        if now < end {
            return None;
        }
        self.last_ts = Some(self.last_ts.map_or(end, |t| t.max(end)));
        self.flush()
    }
}

/// Bars of several timeframes from one trade stream (e.g. 1s, 1m, ..., 1d for the feature
/// engine). Every builder sees every trade, so a coarse bar completes on the same trade as
/// the fine ones, not one fine bar later as it would through chained resamplers.
#[derive(Debug, Clone)]
pub struct BarSet {
    builders: Vec<BarBuilder>,
}

impl BarSet {
    /// Builders for `tfs`, in the given order (duplicates are dropped).
    pub fn new(tfs: &[Timeframe]) -> Self {
        let mut builders: Vec<BarBuilder> = Vec::with_capacity(tfs.len());
        for &tf in tfs {
            if builders.iter().all(|b| b.timeframe() != tf) {
                builders.push(BarBuilder::new(tf));
            }
        }
        BarSet { builders }
    }

    pub fn timeframes(&self) -> impl Iterator<Item = Timeframe> + '_ {
        self.builders.iter().map(BarBuilder::timeframe)
    }

    /// Adds one trade to every timeframe and hands each completed bar to `emit`. A trade
    /// any builder would refuse is refused by all, so the timeframes never disagree.
    #[inline]
    pub fn push(
        &mut self,
        ts: u64,
        price: i64,
        size: f64,
        side: Aggressor,
        mut emit: impl FnMut(Timeframe, &Bar),
    ) -> std::result::Result<(), Reject> {
        for b in &self.builders {
            b.check(ts, price, size)?;
        }
        for b in &mut self.builders {
            if let Some(done) = b.push(ts, price, size, side)? {
                emit(b.timeframe(), &done);
            }
        }
        Ok(())
    }

    /// Live use: closes every bar whose interval ended by `now` (see
    /// [`BarBuilder::close_through`]).
    pub fn close_through(&mut self, now: u64, mut emit: impl FnMut(Timeframe, &Bar)) {
        for b in &mut self.builders {
            if let Some(done) = b.close_through(now) {
                emit(b.timeframe(), &done);
            }
        }
    }

    /// Emits every bar in progress (end of data).
    pub fn flush(&mut self, mut emit: impl FnMut(Timeframe, &Bar)) {
        for b in &mut self.builders {
            if let Some(done) = b.flush() {
                emit(b.timeframe(), &done);
            }
        }
    }
}

/// Streaming resampler from bars to coarser bars. Input bars must come from a timeframe
/// that divides the target (e.g. 1m into 5m): each input bar then falls in exactly one
/// output interval, chosen by flooring its open time.
#[derive(Debug, Clone)]
pub struct Resampler {
    tf: Timeframe,
    cur: Option<Partial>,
    last_ts: Option<u64>,
}

impl Resampler {
    pub fn new(tf: Timeframe) -> Self {
        Resampler {
            tf,
            cur: None,
            last_ts: None,
        }
    }

    pub fn timeframe(&self) -> Timeframe {
        self.tf
    }

    /// Adds one bar; returns the previous coarse bar when this one opens a later interval.
    /// VWAP is volume-weighted over input VWAPs, NaN if any traded input bar lacks one.
    pub fn push(&mut self, bar: &Bar) -> std::result::Result<Option<Bar>, Reject> {
        if let Some(prev) = self.last_ts {
            if bar.ts < prev {
                return Err(Reject::Decreasing { prev, ts: bar.ts });
            }
        }
        if [bar.open, bar.high, bar.low, bar.close].contains(&UNDEF_PRICE) {
            return Err(Reject::UndefinedPrice);
        }
        for v in [bar.volume, bar.buy_volume, bar.sell_volume] {
            check_size(v)?;
        }
        self.last_ts = Some(bar.ts);
        let open_ts = self.tf.floor(bar.ts);
        let (notional, priced) = if bar.vwap.is_finite() {
            (bar.vwap * bar.volume, bar.volume)
        } else {
            (0.0, 0.0)
        };
        if let Some(p) = self.cur.as_mut() {
            if p.bar.ts == open_ts {
                let b = &mut p.bar;
                b.high = b.high.max(bar.high);
                b.low = b.low.min(bar.low);
                b.close = bar.close;
                b.volume += bar.volume;
                b.buy_volume += bar.buy_volume;
                b.sell_volume += bar.sell_volume;
                b.trades += bar.trades;
                p.notional += notional;
                p.priced_volume += priced;
                return Ok(None);
            }
        }
        let fresh = Partial {
            bar: Bar {
                ts: open_ts,
                vwap: f64::NAN,
                ..*bar
            },
            notional,
            priced_volume: priced,
        };
        Ok(self.cur.replace(fresh).map(Partial::finish))
    }

    pub fn flush(&mut self) -> Option<Bar> {
        self.cur.take().map(Partial::finish)
    }
}

/// One streaming state per instrument. Files hold few instruments, so a vector with a
/// last-hit cache beats hashing on every record.
#[derive(Debug, Clone)]
pub struct PerInstrument<T> {
    entries: Vec<(u32, T)>,
    last: usize,
}

impl<T> Default for PerInstrument<T> {
    fn default() -> Self {
        PerInstrument {
            entries: Vec::new(),
            last: 0,
        }
    }
}

impl<T> PerInstrument<T> {
    #[inline]
    pub fn get_or(&mut self, id: u32, make: impl FnOnce() -> T) -> &mut T {
        if self.last < self.entries.len() && self.entries[self.last].0 == id {
            return &mut self.entries[self.last].1;
        }
        let i = match self.entries.iter().position(|(k, _)| *k == id) {
            Some(i) => i,
            None => {
                self.entries.push((id, make()));
                self.entries.len() - 1
            }
        };
        self.last = i;
        &mut self.entries[i].1
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = (u32, &mut T)> {
        self.entries.iter_mut().map(|(k, v)| (*k, v))
    }
}

/// Bars of one or more instruments, column by column, prices in price units (f64): the
/// shape handed to Python. Rows are sorted by (ts, instrument_id).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BarFrame {
    pub ts: Vec<u64>,
    pub instrument_id: Vec<u32>,
    pub open: Vec<f64>,
    pub high: Vec<f64>,
    pub low: Vec<f64>,
    pub close: Vec<f64>,
    pub volume: Vec<f64>,
    pub vwap: Vec<f64>,
    pub trades: Vec<u64>,
    pub buy_volume: Vec<f64>,
    pub sell_volume: Vec<f64>,
}

/// f64 price units to fixed point, refusing what has no fixed-point value.
fn fixed(p: f64) -> Option<i64> {
    let v = (p * PRICE_SCALE as f64).round();
    // i64::MAX is DBN's "undefined" sentinel, so it is out of range too.
    (v.is_finite() && v > i64::MIN as f64 && v < i64::MAX as f64).then_some(v as i64)
}

impl BarFrame {
    pub fn len(&self) -> usize {
        self.ts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ts.is_empty()
    }

    pub fn push(&mut self, instrument_id: u32, b: &Bar) {
        self.ts.push(b.ts);
        self.instrument_id.push(instrument_id);
        self.open.push(units(b.open));
        self.high.push(units(b.high));
        self.low.push(units(b.low));
        self.close.push(units(b.close));
        self.volume.push(b.volume);
        self.vwap.push(b.vwap);
        self.trades.push(b.trades);
        self.buy_volume.push(b.buy_volume);
        self.sell_volume.push(b.sell_volume);
    }

    /// Row `i` as a fixed-point bar, or why it cannot be one.
    pub fn bar(&self, i: usize) -> std::result::Result<Bar, String> {
        let px = |name: &str, v: f64| {
            fixed(v).ok_or_else(|| format!("{name} price {v} is not a finite price"))
        };
        Ok(Bar {
            ts: self.ts[i],
            open: px("open", self.open[i])?,
            high: px("high", self.high[i])?,
            low: px("low", self.low[i])?,
            close: px("close", self.close[i])?,
            volume: self.volume[i],
            vwap: self.vwap[i],
            buy_volume: self.buy_volume[i],
            sell_volume: self.sell_volume[i],
            trades: self.trades[i],
        })
    }

    /// Checks that every column has the same length.
    pub fn check_shape(&self) -> Result<()> {
        let n = self.ts.len();
        let lens = [
            self.instrument_id.len(),
            self.open.len(),
            self.high.len(),
            self.low.len(),
            self.close.len(),
            self.volume.len(),
            self.vwap.len(),
            self.trades.len(),
            self.buy_volume.len(),
            self.sell_volume.len(),
        ];
        if lens.iter().any(|&l| l != n) {
            return Err(CoreError::Config(format!(
                "bar columns differ in length: ts has {n}, others {lens:?}"
            )));
        }
        Ok(())
    }

    /// Sorts rows by (ts, instrument_id), keeping the order of equal keys.
    pub fn sort(&mut self) {
        let mut idx: Vec<usize> = (0..self.len()).collect();
        idx.sort_by_key(|&i| (self.ts[i], self.instrument_id[i]));
        if idx.iter().enumerate().all(|(k, &i)| k == i) {
            return;
        }
        fn take<T: Copy>(v: &[T], idx: &[usize]) -> Vec<T> {
            idx.iter().map(|&i| v[i]).collect()
        }
        *self = BarFrame {
            ts: take(&self.ts, &idx),
            instrument_id: take(&self.instrument_id, &idx),
            open: take(&self.open, &idx),
            high: take(&self.high, &idx),
            low: take(&self.low, &idx),
            close: take(&self.close, &idx),
            volume: take(&self.volume, &idx),
            vwap: take(&self.vwap, &idx),
            trades: take(&self.trades, &idx),
            buy_volume: take(&self.buy_volume, &idx),
            sell_volume: take(&self.sell_volume, &idx),
        };
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// The input's bar period as far as the data shows it: the greatest common divisor of the
/// gaps between consecutive bars of each instrument (1m bars with holes still give 1m).
/// `None` when no instrument has two bars with different times.
pub fn bar_spacing(f: &BarFrame) -> Option<u64> {
    let mut last: PerInstrument<u64> = PerInstrument::default();
    let mut g = 0u64;
    for i in 0..f.len() {
        let ts = f.ts[i];
        let prev = last.get_or(f.instrument_id[i], || ts);
        if ts > *prev {
            g = gcd(g, ts - *prev);
        }
        *prev = ts;
    }
    (g > 0).then_some(g)
}

/// A spacing in words: "1m", "90s", "250ms".
fn spacing_label(ns: u64) -> String {
    if ns % NS_PER_SEC == 0 {
        Timeframe(ns).label()
    } else {
        format!("{}us", ns / 1_000)
    }
}

/// Resamples a frame of bars (rows in time order per instrument) to `tf`. `name` names the
/// input in errors (a path, or "<dataframe>"); rows are counted from 0.
pub fn resample_frame(input: &BarFrame, tf: Timeframe, name: &str) -> Result<BarFrame> {
    input.check_shape()?;
    let path = std::path::Path::new(name);
    let row_err = |row: usize, detail: String| CoreError::BadLine {
        path: path.to_path_buf(),
        line: row as u64,
        detail: format!("row {row}: {detail}"),
    };
    if let Some(spacing) = bar_spacing(input) {
        if tf.nanos() < spacing {
            return Err(CoreError::Config(format!(
                "{name}: cannot resample to {}: it is finer than the input bars, spaced {} \
                 (resampling only makes bars coarser; build finer bars from trades)",
                tf.label(),
                spacing_label(spacing)
            )));
        }
    }
    let mut states: PerInstrument<Resampler> = PerInstrument::default();
    let mut out = BarFrame::default();
    for i in 0..input.len() {
        let bar = input.bar(i).map_err(|d| row_err(i, d))?;
        let id = input.instrument_id[i];
        let r = states.get_or(id, || Resampler::new(tf));
        match r.push(&bar) {
            Ok(Some(done)) => out.push(id, &done),
            Ok(None) => {}
            Err(e) => return Err(row_err(i, format!("{e} (instrument {id})"))),
        }
    }
    for (id, r) in states.iter_mut() {
        if let Some(b) = r.flush() {
            out.push(id, &b);
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = NS_PER_SEC;
    const P: i64 = PRICE_SCALE;

    fn feed(b: &mut BarBuilder, trades: &[(u64, i64, f64, Aggressor)]) -> Vec<Bar> {
        let mut out: Vec<Bar> = trades
            .iter()
            .filter_map(|&(ts, p, s, a)| b.push(ts, p, s, a).unwrap())
            .collect();
        out.extend(b.flush());
        out
    }

    #[test]
    fn bar_layout_is_stable() {
        assert_eq!(std::mem::size_of::<Bar>(), 80);
        assert_eq!(std::mem::align_of::<Bar>(), 8);
        assert_eq!(std::mem::offset_of!(Bar, ts), 0);
        assert_eq!(std::mem::offset_of!(Bar, open), 8);
        assert_eq!(std::mem::offset_of!(Bar, close), 32);
        assert_eq!(std::mem::offset_of!(Bar, volume), 40);
        assert_eq!(std::mem::offset_of!(Bar, vwap), 48);
        assert_eq!(std::mem::offset_of!(Bar, sell_volume), 64);
        assert_eq!(std::mem::offset_of!(Bar, trades), 72);
    }

    #[test]
    fn timeframes_parse_and_label() {
        let want = ["1s", "1m", "5m", "30m", "1h", "6h", "1d"];
        for (tf, label) in Timeframe::STANDARD.iter().zip(want) {
            assert_eq!(Timeframe::parse(label).unwrap(), *tf);
            assert_eq!(tf.label(), label);
        }
        assert_eq!(Timeframe::parse("15m").unwrap().nanos(), 900 * S);
        for bad in ["", "m", "0m", "7m", "2d", "1w", "-1m", "1.5m"] {
            assert!(
                matches!(Timeframe::parse(bad), Err(CoreError::Config(_))),
                "{bad:?} should be refused"
            );
        }
    }

    #[test]
    fn ohlcv_vwap_and_sides_of_one_bar() {
        let mut b = BarBuilder::new(Timeframe::M1);
        let t0 = 1_700_000_040 * S; // 22:14:00 UTC, a minute edge
        let bars = feed(
            &mut b,
            &[
                (t0 + 1, 100 * P, 2.0, Aggressor::Buy),
                (t0 + 2, 102 * P, 1.0, Aggressor::Sell),
                (t0 + 3, 99 * P, 3.0, Aggressor::None),
                (t0 + 4, 101 * P, 4.0, Aggressor::Buy),
            ],
        );
        assert_eq!(bars.len(), 1);
        let bar = bars[0];
        assert_eq!(bar.ts, t0);
        assert_eq!(
            (bar.open, bar.high, bar.low, bar.close),
            (100 * P, 102 * P, 99 * P, 101 * P)
        );
        assert_eq!(bar.volume, 10.0);
        assert_eq!(bar.trades, 4);
        // 'N' side counts in volume only.
        assert_eq!((bar.buy_volume, bar.sell_volume), (6.0, 1.0));
        let vwap = (100.0 * 2.0 + 102.0 + 99.0 * 3.0 + 101.0 * 4.0) / 10.0;
        assert!((bar.vwap - vwap).abs() < 1e-12);
    }

    #[test]
    fn trade_on_the_edge_opens_the_next_bar() {
        let mut b = BarBuilder::new(Timeframe::M1);
        let edge = 1_700_000_040 * S;
        assert_eq!(b.push(edge - 1, 10 * P, 1.0, Aggressor::Buy), Ok(None));
        let done = b.push(edge, 11 * P, 1.0, Aggressor::Buy).unwrap().unwrap();
        assert_eq!(done.ts, edge - 60 * S);
        assert_eq!(done.close, 10 * P);
        let last = b.flush().unwrap();
        assert_eq!((last.ts, last.open, last.trades), (edge, 11 * P, 1));
        assert_eq!(b.flush(), None);
    }

    #[test]
    fn single_trade_bar_has_equal_ohlc_and_gaps_yield_no_bars() {
        let mut b = BarBuilder::new(Timeframe::M1);
        let t0 = 1_700_000_040 * S;
        // Trades in minutes 0, 1 and 5: minutes 2-4 have none and get no bar.
        let bars = feed(
            &mut b,
            &[
                (t0 + 5 * S, 7 * P, 3.0, Aggressor::Sell),
                (t0 + 61 * S, 8 * P, 1.0, Aggressor::Buy),
                (t0 + 301 * S, 9 * P, 2.0, Aggressor::Buy),
            ],
        );
        let ts: Vec<u64> = bars.iter().map(|b| b.ts).collect();
        assert_eq!(ts, vec![t0, t0 + 60 * S, t0 + 300 * S]);
        let first = bars[0];
        assert_eq!([first.open, first.high, first.low, first.close], [7 * P; 4]);
        assert_eq!(first.vwap, 7.0);
        assert_eq!((first.sell_volume, first.buy_volume), (3.0, 0.0));
    }

    #[test]
    fn every_standard_timeframe_floors_to_its_open_time() {
        // 2024-07-02 13:47:31.5 UTC; 00:00 that day is 1_719_878_400 s. The CME trading
        // day opened 2024-07-01 22:00 UTC (17:00 CDT) = 1_719_871_200 s, so its 6h bars
        // open at 22:00, 04:00, 10:00 and 16:00 UTC.
        let ts = 1_719_928_051 * S + S / 2;
        let want_secs = [
            1_719_928_051u64,
            1_719_928_020,
            1_719_927_900,
            1_719_927_000,
            1_719_925_200,
            1_719_871_200 + 12 * 3_600,
            1_719_871_200,
        ];
        for (tf, want) in Timeframe::STANDARD.iter().zip(want_secs) {
            let mut b = BarBuilder::new(*tf);
            b.push(ts, P, 1.0, Aggressor::Buy).unwrap();
            assert_eq!(b.flush().unwrap().ts, want * S, "{}", tf.label());
        }
    }

    #[test]
    fn decreasing_time_and_bad_sizes_are_rejected_without_harm() {
        let mut b = BarBuilder::new(Timeframe::S1);
        b.push(10 * S, P, 1.0, Aggressor::Buy).unwrap();
        assert_eq!(
            b.push(10 * S - 1, P, 1.0, Aggressor::Buy),
            Err(Reject::Decreasing {
                prev: 10 * S,
                ts: 10 * S - 1
            })
        );
        assert!(matches!(
            b.push(10 * S, P, -1.0, Aggressor::Buy),
            Err(Reject::BadSize(_))
        ));
        assert!(matches!(
            b.push(10 * S, P, f64::NAN, Aggressor::Buy),
            Err(Reject::BadSize(_))
        ));
        assert_eq!(
            b.push(10 * S, UNDEF_PRICE, 1.0, Aggressor::Buy),
            Err(Reject::UndefinedPrice)
        );
        // Equal timestamps are fine; the refused trades left no trace.
        b.push(10 * S, 2 * P, 1.0, Aggressor::Sell).unwrap();
        let bar = b.flush().unwrap();
        assert_eq!((bar.trades, bar.volume, bar.high), (2, 2.0, 2 * P));
    }

    #[test]
    fn clock_closes_a_bar_and_seals_its_interval() {
        let mut b = BarBuilder::new(Timeframe::M1);
        b.push(30 * S, P, 1.0, Aggressor::Buy).unwrap();
        assert_eq!(b.close_through(60 * S - 1), None);
        let bar = b.close_through(60 * S).unwrap();
        assert_eq!((bar.ts, bar.trades), (0, 1));
        assert_eq!(b.close_through(200 * S), None);
        assert_eq!(
            b.push(59 * S, P, 1.0, Aggressor::Buy),
            Err(Reject::Decreasing {
                prev: 60 * S,
                ts: 59 * S
            })
        );
        b.push(61 * S, 2 * P, 1.0, Aggressor::Buy).unwrap();
        assert_eq!(b.flush().unwrap().ts, 60 * S);
    }

    #[test]
    fn bar_set_matches_single_builders_and_refuses_atomically() {
        let t0 = 1_719_878_400 * S;
        let trades: Vec<(u64, i64, f64, Aggressor)> = (0..500u64)
            .map(|i| {
                (
                    t0 + i * 13 * S,
                    (4000 + (i * 7 % 11) as i64) * P,
                    1.0,
                    Aggressor::Buy,
                )
            })
            .collect();
        let mut set = BarSet::new(&Timeframe::STANDARD);
        let mut got: Vec<(Timeframe, Bar)> = Vec::new();
        for &(ts, p, s, a) in &trades {
            set.push(ts, p, s, a, |tf, b| got.push((tf, *b))).unwrap();
        }
        set.flush(|tf, b| got.push((tf, *b)));
        for tf in Timeframe::STANDARD {
            let alone = feed(&mut BarBuilder::new(tf), &trades);
            let mine: Vec<Bar> = got
                .iter()
                .filter(|(t, _)| *t == tf)
                .map(|(_, b)| *b)
                .collect();
            assert_eq!(mine, alone, "{}", tf.label());
        }

        // After the clock seals the 1m bar, a trade inside it is refused by every timeframe.
        let mut set = BarSet::new(&[Timeframe::M1, Timeframe::D1]);
        set.push(10 * S, P, 1.0, Aggressor::Buy, |_, _| {}).unwrap();
        let mut closed = Vec::new();
        set.close_through(60 * S, |tf, _| closed.push(tf));
        assert_eq!(closed, vec![Timeframe::M1]);
        assert!(set.push(20 * S, P, 1.0, Aggressor::Buy, |_, _| {}).is_err());
        let mut left = Vec::new();
        set.flush(|tf, b| left.push((tf, b.trades)));
        assert_eq!(left, vec![(Timeframe::D1, 1)]);
    }

    #[test]
    fn zero_volume_bar_has_nan_vwap() {
        let mut b = BarBuilder::new(Timeframe::S1);
        b.push(S, P, 0.0, Aggressor::None).unwrap();
        let bar = b.flush().unwrap();
        assert_eq!(bar.trades, 1);
        assert!(bar.vwap.is_nan());
    }

    #[test]
    fn resampling_minutes_matches_building_directly() {
        // Build 1m and 5m bars from the same trades; 1m resampled to 5m must equal 5m.
        let t0 = 1_719_878_400 * S;
        let trades: Vec<(u64, i64, f64, Aggressor)> = (0..400u64)
            .map(|i| {
                let ts = t0 + i * 7 * S + (i % 3) * 1000;
                let price = (5000 + (i * 37 % 23) as i64) * P / 4;
                let side = [Aggressor::Buy, Aggressor::Sell, Aggressor::None][(i % 3) as usize];
                (ts, price, (1 + i % 5) as f64, side)
            })
            .collect();
        let m1 = feed(&mut BarBuilder::new(Timeframe::M1), &trades);
        let m5 = feed(&mut BarBuilder::new(Timeframe::M5), &trades);
        let mut r = Resampler::new(Timeframe::M5);
        let mut res: Vec<Bar> = m1.iter().filter_map(|b| r.push(b).unwrap()).collect();
        res.extend(r.flush());
        assert_eq!(res.len(), m5.len());
        for (a, b) in res.iter().zip(&m5) {
            assert_eq!(
                (a.ts, a.open, a.high, a.low, a.close, a.trades),
                (b.ts, b.open, b.high, b.low, b.close, b.trades)
            );
            assert_eq!(
                (a.volume, a.buy_volume, a.sell_volume),
                (b.volume, b.buy_volume, b.sell_volume)
            );
            assert!((a.vwap - b.vwap).abs() < 1e-9);
        }
    }

    #[test]
    fn resampled_vwap_is_nan_when_an_input_lacks_one() {
        let mut r = Resampler::new(Timeframe::M5);
        let bar = Bar {
            ts: 0,
            open: P,
            high: P,
            low: P,
            close: P,
            volume: 1.0,
            vwap: 1.0,
            buy_volume: 0.0,
            sell_volume: 0.0,
            trades: 1,
        };
        r.push(&bar).unwrap();
        r.push(&Bar {
            ts: 60 * S,
            vwap: f64::NAN,
            ..bar
        })
        .unwrap();
        assert!(r.flush().unwrap().vwap.is_nan());
        r.push(&Bar { ts: 300 * S, ..bar }).unwrap();
        assert_eq!(r.flush().unwrap().vwap, 1.0);
    }

    #[test]
    fn resample_frame_is_per_instrument_and_names_bad_rows() {
        let mut f = BarFrame::default();
        let bar = |ts: u64, px: i64, v: f64| Bar {
            ts,
            open: px,
            high: px,
            low: px,
            close: px,
            volume: v,
            vwap: f64::NAN,
            buy_volume: 0.0,
            sell_volume: 0.0,
            trades: 0,
        };
        f.push(1, &bar(0, P, 1.0));
        f.push(2, &bar(0, 5 * P, 1.0));
        f.push(1, &bar(60 * S, 2 * P, 2.0));
        f.push(2, &bar(400 * S, 6 * P, 1.0));
        let out = resample_frame(&f, Timeframe::M5, "<t>").unwrap();
        assert_eq!(out.ts, vec![0, 0, 300 * S]);
        assert_eq!(out.instrument_id, vec![1, 2, 2]);
        assert_eq!(out.close, vec![2.0, 5.0, 6.0]);
        assert_eq!(out.volume, vec![3.0, 1.0, 1.0]);

        f.push(1, &bar(30 * S, P, 1.0));
        match resample_frame(&f, Timeframe::M5, "<t>") {
            Err(CoreError::BadLine {
                line: 4, detail, ..
            }) => assert!(detail.contains("earlier")),
            other => panic!("expected a bad row 4, got {other:?}"),
        }
        f.open[4] = f64::NAN;
        assert!(matches!(
            resample_frame(&f, Timeframe::M5, "<t>"),
            Err(CoreError::BadLine { line: 4, .. })
        ));
    }

    fn flat(ts: u64) -> Bar {
        Bar {
            ts,
            open: P,
            high: P,
            low: P,
            close: P,
            volume: 1.0,
            vwap: f64::NAN,
            buy_volume: 0.0,
            sell_volume: 0.0,
            trades: 1,
        }
    }

    #[test]
    fn resampling_to_a_finer_timeframe_is_refused() {
        let mut f = BarFrame::default();
        for k in [0u64, 1, 3] {
            f.push(7, &flat(1_700_000_040 * S + k * 60 * S));
        }
        assert_eq!(bar_spacing(&f), Some(60 * S));
        match resample_frame(&f, Timeframe::S1, "<t>") {
            Err(CoreError::Config(m)) => {
                assert!(m.contains("1s") && m.contains("spaced 1m"), "{m}")
            }
            other => panic!("expected a config error, got {other:?}"),
        }
        // Same timeframe and coarser are fine.
        assert_eq!(resample_frame(&f, Timeframe::M1, "<t>").unwrap().len(), 3);
        // 22:14, 22:15, 22:17 UTC: the 22:10 and 22:15 five-minute bars.
        assert_eq!(resample_frame(&f, Timeframe::M5, "<t>").unwrap().len(), 2);
    }

    #[test]
    fn day_and_six_hour_bars_follow_the_cme_session_over_dst() {
        // Hourly bars from Thu 31 Oct 2024 00:00 UTC to Tue 5 Nov 2024 00:00 UTC; Chicago
        // leaves daylight time on Sun 3 Nov 07:00 UTC.
        let t0 = 1_730_332_800u64; // 2024-10-31 00:00 UTC
        let mut f = BarFrame::default();
        for h in 0..(5 * 24) {
            f.push(1, &flat((t0 + h * 3_600) * S));
        }
        let d = resample_frame(&f, Timeframe::D1, "<t>").unwrap();
        let h = 3_600u64;
        let day = 86_400u64;
        // Opens: Wed 30 Oct 22:00 (CDT) ... Sat 2 Nov 22:00 (the 25 h weekend day), then
        // Sun 3 Nov 23:00 and Mon 4 Nov 23:00 (CST).
        let want: Vec<u64> = [
            t0 - 2 * h,
            t0 + 22 * h,
            t0 + day + 22 * h,
            t0 + 2 * day + 22 * h,
            t0 + 3 * day + 23 * h,
            t0 + 4 * day + 23 * h,
        ]
        .iter()
        .map(|s| s * S)
        .collect();
        assert_eq!(d.ts, want);
        // Volume = hours in each day: 22 (data starts 00:00), 24, 24, 25, 24, 1.
        assert_eq!(d.volume, vec![22.0, 24.0, 24.0, 25.0, 24.0, 1.0]);
        let six = resample_frame(&f, Timeframe::H6, "<t>").unwrap();
        // Thu 31 Oct: 22:00 (prev day) + 6 h = 04:00, 10:00, 16:00, then 22:00.
        assert_eq!(six.ts[0], (t0 - 2 * h) * S);
        assert_eq!(six.ts[1], (t0 + 4 * h) * S);
        assert_eq!(six.ts[3], (t0 + 16 * h) * S);
        assert_eq!(six.ts[4], (t0 + 22 * h) * S);
        // After the switch the 6h grid starts at 23:00 UTC.
        assert!(six.ts.contains(&((t0 + 3 * day + 23 * h) * S)));
        assert!(six.ts.contains(&((t0 + 4 * day + 5 * h) * S)));
        assert_eq!(
            Timeframe::D1.end((t0 + 2 * day + 22 * h) * S),
            (t0 + 3 * day + 23 * h) * S
        );
    }
}
