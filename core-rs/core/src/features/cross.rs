//! Cross-asset features: rolling correlation and beta of an instrument's one-bar returns
//! against a reference instrument's (e.g. NQ against ES), on aligned bars only: a bar
//! interval counts when both traded in it, and returns run between consecutive aligned
//! intervals. Between aligned bars the feature keeps its last value.

use super::rolling::{KahanSum, Ring};
use super::technical::BarIndicator;
use super::FeatureBar;

/// Rolling covariance of pairs over the last `n`, with compensated sums re-summed from
/// the window every `n` updates (see [`super::rolling`]).
#[derive(Debug, Clone)]
pub struct RollingCov {
    xs: Ring,
    ys: Ring,
    sx: KahanSum,
    sy: KahanSum,
    sxx: KahanSum,
    syy: KahanSum,
    sxy: KahanSum,
    since_resum: usize,
}

impl RollingCov {
    pub fn new(n: usize) -> Self {
        RollingCov {
            xs: Ring::new(n),
            ys: Ring::new(n),
            sx: KahanSum::default(),
            sy: KahanSum::default(),
            sxx: KahanSum::default(),
            syy: KahanSum::default(),
            sxy: KahanSum::default(),
            since_resum: 0,
        }
    }

    fn add(&mut self, x: f64, y: f64, sign: f64) {
        self.sx.add(sign * x);
        self.sy.add(sign * y);
        self.sxx.add(sign * x * x);
        self.syy.add(sign * y * y);
        self.sxy.add(sign * x * y);
    }

    pub fn push(&mut self, x: f64, y: f64) {
        let ox = self.xs.push(x);
        let oy = self.ys.push(y);
        if let (Some(ox), Some(oy)) = (ox, oy) {
            self.since_resum += 1;
            if self.since_resum >= self.xs.capacity() {
                self.since_resum = 0;
                self.sx = KahanSum::default();
                self.sy = KahanSum::default();
                self.sxx = KahanSum::default();
                self.syy = KahanSum::default();
                self.sxy = KahanSum::default();
                let pairs: Vec<(f64, f64)> = self.xs.iter().zip(self.ys.iter()).collect();
                for (a, b) in pairs {
                    self.add(a, b, 1.0);
                }
                return;
            }
            self.add(ox, oy, -1.0);
        }
        self.add(x, y, 1.0);
    }

    /// (cov, var_x, var_y), sample (ddof 1), of a full window; None in warm-up.
    pub fn moments(&self) -> Option<(f64, f64, f64)> {
        if !self.xs.is_full() || self.xs.capacity() < 2 {
            return None;
        }
        let n = self.xs.capacity() as f64;
        let (sx, sy) = (self.sx.value(), self.sy.value());
        let clamp = |v: f64, scale: f64| if v <= 1e-14 * scale { 0.0 } else { v };
        let vx = clamp(self.sxx.value() - sx * sx / n, self.sxx.value());
        let vy = clamp(self.syy.value() - sy * sy / n, self.syy.value());
        let c = self.sxy.value() - sx * sy / n;
        Some((c / (n - 1.0), vx / (n - 1.0), vy / (n - 1.0)))
    }
}

/// Correlation (or beta) of instrument returns against reference returns.
pub struct CorrBeta {
    prev: Option<(f64, f64)>,
    cov: RollingCov,
    beta: bool,
    last: f64,
}

impl CorrBeta {
    pub fn new(n: usize, beta: bool) -> Self {
        CorrBeta {
            prev: None,
            cov: RollingCov::new(n),
            beta,
            last: f64::NAN,
        }
    }
}

impl BarIndicator for CorrBeta {
    fn update(&mut self, b: &FeatureBar, r: Option<&FeatureBar>) -> f64 {
        let Some(r) = r else {
            return self.last;
        };
        let Some((px, py)) = self.prev.replace((b.close, r.close)) else {
            return self.last;
        };
        self.cov.push(b.close / px - 1.0, r.close / py - 1.0);
        self.last = match self.cov.moments() {
            None => f64::NAN,
            Some((c, vx, vy)) => {
                if self.beta {
                    if vy == 0.0 {
                        f64::NAN
                    } else {
                        c / vy
                    }
                } else if vx == 0.0 || vy == 0.0 {
                    f64::NAN
                } else {
                    c / (vx * vy).sqrt()
                }
            }
        };
        self.last
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covariance_matches_naive_and_beta_of_a_scaled_copy_is_the_scale() {
        let n = 10;
        let xs: Vec<f64> = (0..200)
            .map(|i| ((i * 37 % 17) as f64 - 8.0) * 1e-4)
            .collect();
        let ys: Vec<f64> = (0..200)
            .map(|i| ((i * 11 % 13) as f64 - 6.0) * 1e-4)
            .collect();
        let mut c = RollingCov::new(n);
        for i in 0..xs.len() {
            c.push(xs[i], ys[i]);
            if i + 1 < n {
                assert!(c.moments().is_none());
                continue;
            }
            let (wx, wy) = (&xs[i + 1 - n..=i], &ys[i + 1 - n..=i]);
            let (mx, my) = (wx.iter().sum::<f64>() / 10.0, wy.iter().sum::<f64>() / 10.0);
            let cov: f64 = wx
                .iter()
                .zip(wy)
                .map(|(a, b)| (a - mx) * (b - my))
                .sum::<f64>()
                / 9.0;
            let got = c.moments().unwrap().0;
            assert!((got - cov).abs() <= 1e-9 * cov.abs().max(1e-12), "{i}");
        }
        // Reference = 2 x instrument (prices): equal returns, so beta and correlation are 1.
        let mut beta = CorrBeta::new(5, true);
        let mut corr = CorrBeta::new(5, false);
        let (mut bv, mut cv) = (f64::NAN, f64::NAN);
        for i in 0..20 {
            let px = 100.0 + ((i * 7 % 5) as f64);
            let bar = |p: f64| FeatureBar {
                ts: i,
                open: p,
                high: p,
                low: p,
                close: p,
                volume: 1.0,
            };
            let (a, b) = (bar(px), bar(2.0 * px));
            bv = beta.update(&a, Some(&b));
            cv = corr.update(&a, Some(&b));
        }
        assert!((bv - 1.0).abs() < 1e-12, "{bv}");
        assert!((cv - 1.0).abs() < 1e-12, "{cv}");
    }
}
