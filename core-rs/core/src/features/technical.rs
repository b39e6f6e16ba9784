//! Technical indicators of one timeframe's bars, each a small streaming state updated once
//! per completed bar in O(1) (amortised). Conventions (Wilder smoothing for RSI, ATR and
//! DMI, SMA-seeded EMAs, population std for Bollinger bands) are spelled out in the formula
//! text of [`super::set`], which is what the reference tests implement independently.

use super::cross::CorrBeta;
use super::regime::{Dmi, Momentum, VolPctile};
use super::rolling::{Ema, RollingExtreme, RollingMoments, RollingSum};
use super::FeatureBar;

/// One bar feature's streaming state. `r` is the reference instrument's bar over the same
/// interval, when it traded (cross features only read it).
pub trait BarIndicator: Send {
    /// Updates with a completed bar and returns the feature's value (NaN = null).
    fn update(&mut self, b: &FeatureBar, r: Option<&FeatureBar>) -> f64;

    /// Batch stepping over a block of rows: applies `events` (completed bars, in order,
    /// each at its row) with [`Self::update`] and writes, for every row, the value after
    /// that row's updates (`latest` carries it across blocks). One virtual call per block;
    /// inside, `update` is called statically.
    fn run(&mut self, events: &[super::Completed], latest: &mut f64, out: &mut [f64]) {
        let mut e = 0;
        for (row, o) in out.iter_mut().enumerate() {
            while let Some(ev) = events.get(e).filter(|ev| ev.row == row) {
                *latest = self.update(&ev.bar, ev.reference.as_ref());
                e += 1;
            }
            *o = *latest;
        }
    }
}

/// Builds the state of a bar feature kind (names and parameters as in [`super::set`]).
pub fn build(kind: &str, p: &[u32]) -> Option<Box<dyn BarIndicator>> {
    let n = p.first().copied().unwrap_or(0) as usize;
    let b: Box<dyn BarIndicator> = match kind {
        "ret" => Box::new(Change::new(n, 1.0)),
        "roc" => Box::new(Change::new(n, 100.0)),
        "sma" => Box::new(Sma(RollingSum::new(n), false)),
        "dist_sma" => Box::new(Sma(RollingSum::new(n), true)),
        "ema" => Box::new(EmaF(Ema::new(n), false)),
        "dist_ema" => Box::new(EmaF(Ema::new(n), true)),
        "macd" | "macd_signal" | "macd_hist" => Box::new(Macd {
            fast: Ema::new(p[0] as usize),
            slow: Ema::new(p[1] as usize),
            signal: Ema::new(p[2] as usize),
            out: match kind {
                "macd" => 0,
                "macd_signal" => 1,
                _ => 2,
            },
        }),
        "rsi" => Box::new(Rsi::new(n)),
        "stoch_k" => Box::new(Stoch::new(n)),
        "stoch_d" => Box::new(StochD {
            k: Stoch::new(n),
            d: RollingSum::new(p[1] as usize),
        }),
        "willr" => Box::new(WillR(Stoch::new(n))),
        "mfi" => Box::new(Mfi {
            prev_tp: None,
            pos: RollingSum::new(n),
            neg: RollingSum::new(n),
        }),
        "atr" => Box::new(Atr::new(n, false)),
        "natr" => Box::new(Atr::new(n, true)),
        "bb_width" | "bb_pctb" => Box::new(Bollinger {
            m: RollingMoments::new(n),
            k: p[1] as f64,
            pctb: kind == "bb_pctb",
        }),
        "std_ret" => Box::new(StdRet::new(n)),
        "std_close" => Box::new(StdClose(RollingMoments::new(n))),
        "zscore" => Box::new(Zscore(RollingMoments::new(n))),
        "obv" => Box::new(Obv {
            prev: None,
            value: 0.0,
            day: None,
            anchored: false,
        }),
        "vwap_dist" => Box::new(VwapDist {
            pv: RollingSum::new(n),
            v: RollingSum::new(n),
        }),
        "vol_sma" => Box::new(VolSma(RollingSum::new(n), false)),
        "rel_vol" => Box::new(VolSma(RollingSum::new(n), true)),
        "pivot_p" => Box::new(Pivot::new(0)),
        "pivot_r1" => Box::new(Pivot::new(1)),
        "pivot_s1" => Box::new(Pivot::new(2)),
        "pivot_r2" => Box::new(Pivot::new(3)),
        "pivot_s2" => Box::new(Pivot::new(4)),
        "dist_support" => Box::new(Level(RollingExtreme::new(n, false), false)),
        "dist_resistance" => Box::new(Level(RollingExtreme::new(n, true), true)),
        "range_pct" => Box::new(Candle(0)),
        "body_pct" => Box::new(Candle(1)),
        "upper_wick" => Box::new(Candle(2)),
        "lower_wick" => Box::new(Candle(3)),
        "plus_di" => Box::new(Dmi::new(n, 0)),
        "minus_di" => Box::new(Dmi::new(n, 1)),
        "adx" => Box::new(Dmi::new(n, 2)),
        "vol_pctile" => Box::new(VolPctile::new(n, p[1] as usize, false)),
        "vol_regime" => Box::new(VolPctile::new(n, p[1] as usize, true)),
        "momentum_score" => Box::new(Momentum::new()),
        "corr_ref" => Box::new(CorrBeta::new(n, false)),
        "beta_ref" => Box::new(CorrBeta::new(n, true)),
        _ => return None,
    };
    Some(b)
}

/// `scale * (close[t] / close[t-k] - 1)`.
pub(crate) struct Change {
    k: usize,
    scale: f64,
    closes: super::rolling::Ring,
}

impl Change {
    pub(crate) fn new(k: usize, scale: f64) -> Self {
        Change {
            k,
            scale,
            closes: super::rolling::Ring::new(k + 1),
        }
    }
}

impl BarIndicator for Change {
    #[inline]
    fn update(&mut self, b: &FeatureBar, _: Option<&FeatureBar>) -> f64 {
        self.closes.push(b.close);
        match self.closes.back(self.k) {
            Some(old) => self.scale * (b.close / old - 1.0),
            None => f64::NAN,
        }
    }
}

struct Sma(RollingSum, bool);

impl BarIndicator for Sma {
    #[inline]
    fn update(&mut self, b: &FeatureBar, _: Option<&FeatureBar>) -> f64 {
        self.0.push(b.close);
        let m = self.0.mean();
        if self.1 {
            b.close / m - 1.0
        } else {
            m
        }
    }
}

struct EmaF(Ema, bool);

impl BarIndicator for EmaF {
    #[inline]
    fn update(&mut self, b: &FeatureBar, _: Option<&FeatureBar>) -> f64 {
        let e = self.0.push(b.close);
        if self.1 {
            b.close / e - 1.0
        } else {
            e
        }
    }
}

struct Macd {
    fast: Ema,
    slow: Ema,
    signal: Ema,
    out: u8,
}

impl BarIndicator for Macd {
    #[inline]
    fn update(&mut self, b: &FeatureBar, _: Option<&FeatureBar>) -> f64 {
        let line = self.fast.push(b.close) - self.slow.push(b.close);
        if line.is_nan() {
            return f64::NAN;
        }
        let sig = self.signal.push(line);
        match self.out {
            0 => line,
            1 => sig,
            _ => line - sig,
        }
    }
}

pub(crate) struct Rsi {
    prev: Option<f64>,
    gain: Ema,
    loss: Ema,
}

impl Rsi {
    pub(crate) fn new(n: usize) -> Self {
        Rsi {
            prev: None,
            gain: Ema::wilder(n),
            loss: Ema::wilder(n),
        }
    }
}

impl BarIndicator for Rsi {
    #[inline]
    fn update(&mut self, b: &FeatureBar, _: Option<&FeatureBar>) -> f64 {
        let Some(prev) = self.prev.replace(b.close) else {
            return f64::NAN;
        };
        let d = b.close - prev;
        let g = self.gain.push(d.max(0.0));
        let l = self.loss.push((-d).max(0.0));
        if g.is_nan() {
            f64::NAN
        } else if l == 0.0 {
            if g == 0.0 {
                50.0
            } else {
                100.0
            }
        } else {
            100.0 - 100.0 / (1.0 + g / l)
        }
    }
}

struct Stoch {
    hh: RollingExtreme,
    ll: RollingExtreme,
}

impl Stoch {
    fn new(n: usize) -> Self {
        Stoch {
            hh: RollingExtreme::new(n, true),
            ll: RollingExtreme::new(n, false),
        }
    }

    /// (HH, LL) of a full window after adding `b`.
    #[inline]
    fn push(&mut self, b: &FeatureBar) -> (f64, f64) {
        self.hh.push(b.high);
        self.ll.push(b.low);
        (self.hh.value(), self.ll.value())
    }
}

impl BarIndicator for Stoch {
    #[inline]
    fn update(&mut self, b: &FeatureBar, _: Option<&FeatureBar>) -> f64 {
        let (hh, ll) = self.push(b);
        if hh.is_nan() {
            f64::NAN
        } else if hh == ll {
            50.0
        } else {
            100.0 * (b.close - ll) / (hh - ll)
        }
    }
}

struct StochD {
    k: Stoch,
    d: RollingSum,
}

impl BarIndicator for StochD {
    #[inline]
    fn update(&mut self, b: &FeatureBar, r: Option<&FeatureBar>) -> f64 {
        let k = self.k.update(b, r);
        if k.is_nan() {
            return f64::NAN;
        }
        self.d.push(k);
        self.d.mean()
    }
}

struct WillR(Stoch);

impl BarIndicator for WillR {
    #[inline]
    fn update(&mut self, b: &FeatureBar, _: Option<&FeatureBar>) -> f64 {
        let (hh, ll) = self.0.push(b);
        if hh.is_nan() {
            f64::NAN
        } else if hh == ll {
            -50.0
        } else {
            -100.0 * (hh - b.close) / (hh - ll)
        }
    }
}

struct Mfi {
    prev_tp: Option<f64>,
    pos: RollingSum,
    neg: RollingSum,
}

impl BarIndicator for Mfi {
    #[inline]
    fn update(&mut self, b: &FeatureBar, _: Option<&FeatureBar>) -> f64 {
        let tp = (b.high + b.low + b.close) / 3.0;
        let Some(prev) = self.prev_tp.replace(tp) else {
            return f64::NAN;
        };
        let flow = tp * b.volume;
        let (p, n) = if tp > prev {
            (flow, 0.0)
        } else if tp < prev {
            (0.0, flow)
        } else {
            (0.0, 0.0)
        };
        self.pos.push(p);
        self.neg.push(n);
        if !self.pos.is_full() {
            return f64::NAN;
        }
        let (p, n) = (self.pos.sum(), self.neg.sum());
        if p + n == 0.0 {
            50.0
        } else {
            100.0 * p / (p + n)
        }
    }
}

pub(crate) fn true_range(b: &FeatureBar, prev_close: f64) -> f64 {
    (b.high - b.low)
        .max((b.high - prev_close).abs())
        .max((b.low - prev_close).abs())
}

struct Atr {
    prev_close: Option<f64>,
    w: Ema,
    normalised: bool,
}

impl Atr {
    fn new(n: usize, normalised: bool) -> Self {
        Atr {
            prev_close: None,
            w: Ema::wilder(n),
            normalised,
        }
    }
}

impl BarIndicator for Atr {
    #[inline]
    fn update(&mut self, b: &FeatureBar, _: Option<&FeatureBar>) -> f64 {
        let Some(pc) = self.prev_close.replace(b.close) else {
            return f64::NAN;
        };
        let atr = self.w.push(true_range(b, pc));
        if self.normalised {
            100.0 * atr / b.close
        } else {
            atr
        }
    }
}

struct Bollinger {
    m: RollingMoments,
    k: f64,
    pctb: bool,
}

impl BarIndicator for Bollinger {
    #[inline]
    fn update(&mut self, b: &FeatureBar, _: Option<&FeatureBar>) -> f64 {
        self.m.push(b.close);
        let (mid, sd) = (self.m.mean(), self.m.std(0));
        if !self.pctb {
            return 2.0 * self.k * sd / mid;
        }
        if sd.is_nan() {
            f64::NAN
        } else if sd == 0.0 {
            0.5
        } else {
            (b.close - (mid - self.k * sd)) / (2.0 * self.k * sd)
        }
    }
}

pub(crate) struct StdRet {
    prev: Option<f64>,
    m: RollingMoments,
}

impl StdRet {
    pub(crate) fn new(n: usize) -> Self {
        StdRet {
            prev: None,
            m: RollingMoments::new(n),
        }
    }
}

impl BarIndicator for StdRet {
    #[inline]
    fn update(&mut self, b: &FeatureBar, _: Option<&FeatureBar>) -> f64 {
        let Some(prev) = self.prev.replace(b.close) else {
            return f64::NAN;
        };
        self.m.push(b.close / prev - 1.0);
        self.m.std(1)
    }
}

struct StdClose(RollingMoments);

impl BarIndicator for StdClose {
    #[inline]
    fn update(&mut self, b: &FeatureBar, _: Option<&FeatureBar>) -> f64 {
        self.0.push(b.close);
        self.0.std(1)
    }
}

struct Zscore(RollingMoments);

impl BarIndicator for Zscore {
    #[inline]
    fn update(&mut self, b: &FeatureBar, _: Option<&FeatureBar>) -> f64 {
        self.0.push(b.close);
        let sd = self.0.std(0);
        if sd == 0.0 {
            0.0
        } else {
            (b.close - self.0.mean()) / sd
        }
    }
}

/// On-balance volume of the CME trading day ([`super::session`]): a sum since the day's
/// first bar, so its value does not depend on where the history started once a day's
/// open has been seen (the first, partial, day is null: bars before the start are unknown).
struct Obv {
    prev: Option<f64>,
    value: f64,
    day: Option<i64>,
    anchored: bool,
}

impl BarIndicator for Obv {
    #[inline]
    fn update(&mut self, b: &FeatureBar, _: Option<&FeatureBar>) -> f64 {
        let day = super::session::cme_trading_day(b.ts);
        if self.day != Some(day) {
            self.anchored = self.day.is_some();
            self.day = Some(day);
            self.value = 0.0;
        } else if let Some(prev) = self.prev {
            if b.close > prev {
                self.value += b.volume;
            } else if b.close < prev {
                self.value -= b.volume;
            }
        }
        self.prev = Some(b.close);
        if self.anchored {
            self.value
        } else {
            f64::NAN
        }
    }
}

/// Bar feature kinds built on EMA / Wilder averages, whose values exist before the start
/// of the history stops mattering (see `set::settle_bars`).
const RECURSIVE: &[&str] = &[
    "ema",
    "dist_ema",
    "macd",
    "macd_signal",
    "macd_hist",
    "rsi",
    "atr",
    "natr",
    "plus_di",
    "minus_di",
    "adx",
    "momentum_score",
];

/// Nulls a recursive indicator's output until `warmup` bars have been seen (the feature
/// contract: null until the warm-up is complete); other kinds are returned as they are.
pub fn settled(kind: &str, ind: Box<dyn BarIndicator>, warmup: u32) -> Box<dyn BarIndicator> {
    if RECURSIVE.contains(&kind) {
        Box::new(Settled {
            inner: ind,
            left: warmup.saturating_sub(1),
        })
    } else {
        ind
    }
}

struct Settled {
    inner: Box<dyn BarIndicator>,
    /// Bars still to see before the value counts (the warm-up-th bar's value does).
    left: u32,
}

impl BarIndicator for Settled {
    #[inline]
    fn update(&mut self, b: &FeatureBar, r: Option<&FeatureBar>) -> f64 {
        let v = self.inner.update(b, r);
        if self.left > 0 {
            self.left -= 1;
            f64::NAN
        } else {
            v
        }
    }
}

struct VwapDist {
    pv: RollingSum,
    v: RollingSum,
}

impl BarIndicator for VwapDist {
    #[inline]
    fn update(&mut self, b: &FeatureBar, _: Option<&FeatureBar>) -> f64 {
        let tp = (b.high + b.low + b.close) / 3.0;
        self.pv.push(tp * b.volume);
        self.v.push(b.volume);
        let v = self.v.sum();
        if !self.v.is_full() || v == 0.0 {
            return f64::NAN;
        }
        b.close / (self.pv.sum() / v) - 1.0
    }
}

pub(crate) struct VolSma(pub(crate) RollingSum, pub(crate) bool);

impl BarIndicator for VolSma {
    #[inline]
    fn update(&mut self, b: &FeatureBar, _: Option<&FeatureBar>) -> f64 {
        self.0.push(b.volume);
        let m = self.0.mean();
        if !self.1 {
            m
        } else if m == 0.0 {
            f64::NAN
        } else {
            b.volume / m
        }
    }
}

struct Pivot {
    prev: Option<(f64, f64, f64)>,
    which: u8,
}

impl Pivot {
    fn new(which: u8) -> Self {
        Pivot { prev: None, which }
    }
}

impl BarIndicator for Pivot {
    #[inline]
    fn update(&mut self, b: &FeatureBar, _: Option<&FeatureBar>) -> f64 {
        let Some((h, l, c)) = self.prev.replace((b.high, b.low, b.close)) else {
            return f64::NAN;
        };
        let p = (h + l + c) / 3.0;
        let level = match self.which {
            0 => p,
            1 => 2.0 * p - l,
            2 => 2.0 * p - h,
            3 => p + (h - l),
            _ => p - (h - l),
        };
        b.close / level - 1.0
    }
}

struct Level(RollingExtreme, bool);

impl BarIndicator for Level {
    #[inline]
    fn update(&mut self, b: &FeatureBar, _: Option<&FeatureBar>) -> f64 {
        self.0.push(if self.1 { b.high } else { b.low });
        b.close / self.0.value() - 1.0
    }
}

struct Candle(u8);

impl BarIndicator for Candle {
    #[inline]
    fn update(&mut self, b: &FeatureBar, _: Option<&FeatureBar>) -> f64 {
        match self.0 {
            0 => (b.high - b.low) / b.close,
            1 => (b.close - b.open) / b.open,
            2 => (b.high - b.open.max(b.close)) / b.close,
            _ => (b.open.min(b.close) - b.low) / b.close,
        }
    }
}
