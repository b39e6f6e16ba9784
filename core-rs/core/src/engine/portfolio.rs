//! The engine's own view of the portfolio's co-movement: streaming correlations of the
//! instruments' mid log returns on a common one-second grid of event time, for the risk
//! gate's correlation screen over live positions.
//!
//! Each second boundary samples every instrument's mid; the return since the previous
//! sample (scaled to one second over a gap) feeds exponentially weighted second moments
//! of every pair. A pair's correlation is reported once both have `min_samples` joint
//! returns; before that it is 0 (unknown co-movement does not block). The matrix is kept in
//! place: nothing is allocated per event once every instrument has been seen.

use crate::orders::InstrumentId;
use crate::risk::CorrelationMatrix;

/// See the module docs.
#[derive(Debug, Clone)]
pub struct StreamingCorrelation {
    alpha: f64,
    min_samples: u32,
    ids: Vec<InstrumentId>,
    /// Log mid at the last grid sample, per instrument.
    last: Vec<Option<f64>>,
    /// Newest log mid, per instrument.
    now: Vec<Option<f64>>,
    last_sec: Option<u64>,
    /// Row-major EWMA of r_i * r_j, and joint sample counts.
    cross: Vec<f64>,
    count: Vec<u32>,
    /// Returns of this grid step (scratch).
    ret: Vec<Option<f64>>,
    matrix: CorrelationMatrix,
}

impl StreamingCorrelation {
    /// `halflife_s`: half-life of the weights in seconds of event time.
    pub fn new(halflife_s: f64, min_samples: u32) -> Self {
        StreamingCorrelation {
            alpha: 1.0 - 0.5f64.powf(1.0 / halflife_s.max(1.0)),
            min_samples: min_samples.max(2),
            ids: Vec::new(),
            last: Vec::new(),
            now: Vec::new(),
            last_sec: None,
            cross: Vec::new(),
            count: Vec::new(),
            ret: Vec::new(),
            matrix: CorrelationMatrix::new(Vec::new(), Vec::new()).expect("empty is valid"),
        }
    }

    /// A new instrument (slot order = the engine's).
    pub fn add(&mut self, id: InstrumentId) {
        let n = self.ids.len();
        let mut cross = vec![0.0; (n + 1) * (n + 1)];
        let mut count = vec![0; (n + 1) * (n + 1)];
        for i in 0..n {
            for j in 0..n {
                cross[i * (n + 1) + j] = self.cross[i * n + j];
                count[i * (n + 1) + j] = self.count[i * n + j];
            }
        }
        self.cross = cross;
        self.count = count;
        self.ids.push(id);
        self.last.push(None);
        self.now.push(None);
        self.ret.push(None);
        self.rebuild();
    }

    /// The mid of slot `s` at `ts` (price units).
    #[inline]
    pub fn on_mid(&mut self, s: usize, ts: u64, mid: f64) {
        // NaN and non-positive mids carry no log return.
        if mid.is_nan() || mid <= 0.0 {
            return;
        }
        let sec = ts / 1_000_000_000;
        match self.last_sec {
            None => self.last_sec = Some(sec),
            Some(l) if sec > l => self.step(sec - l),
            _ => {}
        }
        self.last_sec = Some(self.last_sec.map_or(sec, |l| l.max(sec)));
        self.now[s] = Some(mid.ln());
    }

    fn step(&mut self, dt_s: u64) {
        let n = self.ids.len();
        let scale = 1.0 / (dt_s as f64).sqrt();
        for s in 0..n {
            self.ret[s] = match (self.last[s], self.now[s]) {
                (Some(a), Some(b)) => Some((b - a) * scale),
                _ => None,
            };
            if self.now[s].is_some() {
                self.last[s] = self.now[s];
            }
        }
        for i in 0..n {
            let Some(ri) = self.ret[i] else { continue };
            for j in i..n {
                let Some(rj) = self.ret[j] else { continue };
                let k = i * n + j;
                let x = ri * rj;
                self.cross[k] = if self.count[k] == 0 {
                    x
                } else {
                    self.cross[k] + self.alpha * (x - self.cross[k])
                };
                self.count[k] = self.count[k].saturating_add(1);
            }
        }
        self.refresh();
    }

    fn refresh(&mut self) {
        let n = self.ids.len();
        for i in 0..n {
            for j in i + 1..n {
                let (k, ii, jj) = (i * n + j, i * n + i, j * n + j);
                let enough = self.count[k] >= self.min_samples
                    && self.count[ii] >= self.min_samples
                    && self.count[jj] >= self.min_samples;
                let v = self.cross[ii] * self.cross[jj];
                let c = if enough && v > 0.0 {
                    (self.cross[k] / v.sqrt()).clamp(-1.0, 1.0)
                } else {
                    0.0
                };
                self.matrix.set(i, j, c);
            }
        }
    }

    fn rebuild(&mut self) {
        let n = self.ids.len();
        let mut values = vec![0.0; n * n];
        for i in 0..n {
            values[i * n + i] = 1.0;
        }
        self.matrix =
            CorrelationMatrix::new(self.ids.clone(), values).expect("an identity is valid");
        self.refresh();
    }

    /// The current matrix (0 where not known yet).
    pub fn matrix(&self) -> &CorrelationMatrix {
        &self.matrix
    }

    /// The correlation of two instruments now (None when either is unknown).
    pub fn get(&self, a: InstrumentId, b: InstrumentId) -> Option<f64> {
        self.matrix.get(a, b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two instruments driven by one factor plus noise of their own, a third against it.
    #[test]
    fn correlations_follow_the_common_factor() {
        let mut c = StreamingCorrelation::new(600.0, 30);
        for id in [1, 2, 3] {
            c.add(id);
        }
        let mut state = 12345u64;
        let mut rnd = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 11) as f64 / (1u64 << 53) as f64) - 0.5
        };
        let (mut a, mut b, mut x) = (100.0f64, 50.0f64, 20.0f64);
        for t in 0..2_000u64 {
            let f = rnd() * 0.002;
            a *= 1.0 + f + rnd() * 0.0005;
            b *= 1.0 + f + rnd() * 0.0005;
            x *= 1.0 - f + rnd() * 0.0005;
            let ts = (1_000 + t) * 1_000_000_000;
            c.on_mid(0, ts, a);
            c.on_mid(1, ts + 1, b);
            c.on_mid(2, ts + 2, x);
        }
        let ab = c.get(1, 2).unwrap();
        let ax = c.get(1, 3).unwrap();
        assert!(ab > 0.8, "{ab}");
        assert!(ax < -0.8, "{ax}");
        assert_eq!(c.get(1, 1), Some(1.0));
        assert_eq!(c.get(1, 9), None);
    }

    #[test]
    fn unknown_until_enough_samples() {
        let mut c = StreamingCorrelation::new(60.0, 10);
        c.add(1);
        c.add(2);
        for t in 0..5u64 {
            c.on_mid(0, t * 1_000_000_000, 100.0 + t as f64);
            c.on_mid(1, t * 1_000_000_000, 100.0 + t as f64);
        }
        assert_eq!(c.get(1, 2), Some(0.0));
    }
}
