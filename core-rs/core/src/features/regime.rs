//! Regime and momentum features of bars: directional movement (+DI, -DI and ADX as trend
//! strength), the volatility regime (low/normal/high from the percentile of rolling
//! volatility among its own recent values) and a 0-100 momentum score a scanner can rank
//! instruments by. Formulas are in [`super::set`].

use super::rolling::{Ema, RollingRank, RollingSum};
use super::technical::{true_range, BarIndicator, Change, Rsi, StdRet, VolSma};
use super::FeatureBar;

/// Wilder's directional movement system; `out` 0 = +DI, 1 = -DI, 2 = ADX.
pub struct Dmi {
    prev: Option<FeatureBar>,
    tr: Ema,
    pdm: Ema,
    mdm: Ema,
    adx: Ema,
    out: u8,
}

impl Dmi {
    pub fn new(n: usize, out: u8) -> Self {
        Dmi {
            prev: None,
            tr: Ema::wilder(n),
            pdm: Ema::wilder(n),
            mdm: Ema::wilder(n),
            adx: Ema::wilder(n),
            out,
        }
    }
}

impl BarIndicator for Dmi {
    #[inline]
    fn update(&mut self, b: &FeatureBar, _: Option<&FeatureBar>) -> f64 {
        let Some(p) = self.prev.replace(*b) else {
            return f64::NAN;
        };
        let up = b.high - p.high;
        let down = p.low - b.low;
        let pdm = if up > down && up > 0.0 { up } else { 0.0 };
        let mdm = if down > up && down > 0.0 { down } else { 0.0 };
        let tr = self.tr.push(true_range(b, p.close));
        let (sp, sm) = (self.pdm.push(pdm), self.mdm.push(mdm));
        if tr.is_nan() {
            return f64::NAN;
        }
        let (pdi, mdi) = if tr == 0.0 {
            (0.0, 0.0)
        } else {
            (100.0 * sp / tr, 100.0 * sm / tr)
        };
        match self.out {
            0 => pdi,
            1 => mdi,
            _ => {
                let dx = if pdi + mdi == 0.0 {
                    0.0
                } else {
                    100.0 * (pdi - mdi).abs() / (pdi + mdi)
                };
                self.adx.push(dx)
            }
        }
    }
}

/// Percentile of `std_ret_v` among its last `n` values, or the regime (0/1/2) from it.
pub struct VolPctile {
    vol: StdRet,
    rank: RollingRank,
    regime: bool,
}

impl VolPctile {
    pub fn new(v: usize, n: usize, regime: bool) -> Self {
        VolPctile {
            vol: StdRet::new(v),
            rank: RollingRank::new(n),
            regime,
        }
    }
}

impl BarIndicator for VolPctile {
    #[inline]
    fn update(&mut self, b: &FeatureBar, r: Option<&FeatureBar>) -> f64 {
        let pct = self.rank.push(self.vol.update(b, r));
        if !self.regime || pct.is_nan() {
            pct
        } else if pct <= 25.0 {
            0.0
        } else if pct > 75.0 {
            2.0
        } else {
            1.0
        }
    }
}

/// 0.4 RSI(14) + 0.3 * 100 rv/(1+rv) + 0.3 * 100 logistic(z).
pub struct Momentum {
    rsi: Rsi,
    rv: VolSma,
    ret: Change,
    vol: StdRet,
}

impl Momentum {
    pub fn new() -> Self {
        Momentum {
            rsi: Rsi::new(14),
            rv: VolSma(RollingSum::new(20), true),
            ret: Change::new(10, 1.0),
            vol: StdRet::new(20),
        }
    }
}

impl Default for Momentum {
    fn default() -> Self {
        Self::new()
    }
}

impl BarIndicator for Momentum {
    #[inline]
    fn update(&mut self, b: &FeatureBar, r: Option<&FeatureBar>) -> f64 {
        let rsi = self.rsi.update(b, r);
        let rv = self.rv.update(b, r);
        let ret = self.ret.update(b, r);
        let sd = self.vol.update(b, r);
        if sd.is_nan() || rsi.is_nan() {
            return f64::NAN;
        }
        // Zero average volume leaves rv undefined: count it as ordinary (rv = 1).
        let rv = if rv.is_nan() { 1.0 } else { rv };
        let z = if sd == 0.0 {
            0.0
        } else {
            ret / (sd * 10f64.sqrt())
        };
        0.4 * rsi + 0.3 * 100.0 * rv / (1.0 + rv) + 0.3 * 100.0 / (1.0 + (-z).exp())
    }
}
