//! O(1) rolling building blocks shared by every feature: a ring buffer, a compensated
//! rolling sum, rolling mean/variance, monotonic-deque rolling min/max, EMA and Wilder
//! averages, and a rolling percentile rank.
//!
//! Numerics: a running sum that only adds the new value and subtracts the old one drifts
//! (the error grows with the number of updates, not the window), which would break the
//! 1e-9 agreement with textbook references over long series. Sums here are Neumaier-
//! compensated and are re-summed exactly from the window every `n` updates, so the error
//! stays that of one window whatever the series length; the cost is O(1) amortised.
//! Variances are taken around a shift (a recent value of the window) so that the sum of
//! squares does not cancel catastrophically for prices far from zero.

use std::collections::VecDeque;

/// Fixed-capacity ring of the last `n` values.
#[derive(Debug, Clone)]
pub struct Ring {
    buf: Vec<f64>,
    head: usize,
    len: usize,
}

impl Ring {
    pub fn new(n: usize) -> Self {
        Ring {
            buf: vec![0.0; n.max(1)],
            head: 0,
            len: 0,
        }
    }

    pub fn capacity(&self) -> usize {
        self.buf.len()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn is_full(&self) -> bool {
        self.len == self.buf.len()
    }

    /// Adds `x`; returns the value it pushed out when the ring was full.
    #[inline]
    pub fn push(&mut self, x: f64) -> Option<f64> {
        let old = if self.is_full() {
            Some(self.buf[self.head])
        } else {
            self.len += 1;
            None
        };
        self.buf[self.head] = x;
        // A compare, not `%`: integer division would dominate this hot loop.
        self.head += 1;
        if self.head == self.buf.len() {
            self.head = 0;
        }
        old
    }

    /// The `i`-th newest value (0 = the last pushed).
    #[inline]
    pub fn back(&self, i: usize) -> Option<f64> {
        if i >= self.len {
            return None;
        }
        let cap = self.buf.len();
        let j = self.head + cap - 1 - i;
        Some(self.buf[if j >= cap { j - cap } else { j }])
    }

    /// Values oldest first.
    pub fn iter(&self) -> impl Iterator<Item = f64> + '_ {
        (0..self.len)
            .rev()
            .map(move |i| self.back(i).unwrap_or(f64::NAN))
    }
}

/// Neumaier-compensated accumulator.
#[derive(Debug, Clone, Copy, Default)]
pub struct KahanSum {
    sum: f64,
    comp: f64,
}

impl KahanSum {
    #[inline]
    pub fn add(&mut self, x: f64) {
        let t = self.sum + x;
        if self.sum.abs() >= x.abs() {
            self.comp += (self.sum - t) + x;
        } else {
            self.comp += (x - t) + self.sum;
        }
        self.sum = t;
    }

    #[inline]
    pub fn value(&self) -> f64 {
        self.sum + self.comp
    }
}

/// Sum and mean of the last `n` values.
#[derive(Debug, Clone)]
pub struct RollingSum {
    ring: Ring,
    sum: KahanSum,
    since_resum: usize,
}

impl RollingSum {
    pub fn new(n: usize) -> Self {
        RollingSum {
            ring: Ring::new(n),
            sum: KahanSum::default(),
            since_resum: 0,
        }
    }

    #[inline]
    pub fn push(&mut self, x: f64) {
        if let Some(old) = self.ring.push(x) {
            self.since_resum += 1;
            if self.since_resum >= self.ring.capacity() {
                self.since_resum = 0;
                let mut s = KahanSum::default();
                for v in self.ring.iter() {
                    s.add(v);
                }
                self.sum = s;
                return;
            }
            self.sum.add(-old);
        }
        self.sum.add(x);
    }

    pub fn is_full(&self) -> bool {
        self.ring.is_full()
    }

    pub fn len(&self) -> usize {
        self.ring.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ring.is_empty()
    }

    /// Sum of the values held (fewer than `n` during warm-up).
    #[inline]
    pub fn sum(&self) -> f64 {
        self.sum.value()
    }

    /// Mean of a full window, NaN during warm-up.
    #[inline]
    pub fn mean(&self) -> f64 {
        if self.is_full() {
            self.sum() / self.ring.capacity() as f64
        } else {
            f64::NAN
        }
    }

    pub fn ring(&self) -> &Ring {
        &self.ring
    }
}

/// Mean and variance of the last `n` values.
#[derive(Debug, Clone)]
pub struct RollingMoments {
    ring: Ring,
    shift: f64,
    s1: KahanSum,
    s2: KahanSum,
    since_resum: usize,
}

impl RollingMoments {
    pub fn new(n: usize) -> Self {
        RollingMoments {
            ring: Ring::new(n),
            shift: f64::NAN,
            s1: KahanSum::default(),
            s2: KahanSum::default(),
            since_resum: 0,
        }
    }

    fn resum(&mut self) {
        // A value of the window (not the mean) as shift keeps tick-multiple prices exact.
        self.shift = self.ring.back(0).unwrap_or(0.0);
        let (mut s1, mut s2) = (KahanSum::default(), KahanSum::default());
        for v in self.ring.iter() {
            let d = v - self.shift;
            s1.add(d);
            s2.add(d * d);
        }
        self.s1 = s1;
        self.s2 = s2;
    }

    #[inline]
    pub fn push(&mut self, x: f64) {
        if self.shift.is_nan() {
            self.shift = x;
        }
        let old = self.ring.push(x);
        if let Some(old) = old {
            self.since_resum += 1;
            if self.since_resum >= self.ring.capacity() {
                self.since_resum = 0;
                self.resum();
                return;
            }
            let d = old - self.shift;
            self.s1.add(-d);
            self.s2.add(-d * d);
        }
        let d = x - self.shift;
        self.s1.add(d);
        self.s2.add(d * d);
    }

    pub fn is_full(&self) -> bool {
        self.ring.is_full()
    }

    #[inline]
    pub fn mean(&self) -> f64 {
        if !self.is_full() {
            return f64::NAN;
        }
        self.shift + self.s1.value() / self.ring.capacity() as f64
    }

    /// Variance with `ddof` (0 population, 1 sample) of a full window, NaN in warm-up.
    #[inline]
    pub fn var(&self, ddof: usize) -> f64 {
        let n = self.ring.capacity();
        if !self.is_full() || n <= ddof {
            return f64::NAN;
        }
        let nf = n as f64;
        let m1 = self.s1.value() / nf;
        let m2 = self.s2.value() / nf;
        let pop = m2 - m1 * m1;
        // Rounding can leave a flat window with a tiny (even negative) variance; a flat
        // window has exactly none, and ratios over it must see zero, not noise.
        if pop <= 1e-14 * m2.max(f64::MIN_POSITIVE) {
            return 0.0;
        }
        pop * nf / (nf - ddof as f64)
    }

    #[inline]
    pub fn std(&self, ddof: usize) -> f64 {
        self.var(ddof).sqrt()
    }
}

/// Rolling maximum (or minimum, with `max = false`) over the last `n` values by a
/// monotonic deque: O(1) amortised per update.
#[derive(Debug, Clone)]
pub struct RollingExtreme {
    n: u64,
    max: bool,
    count: u64,
    dq: VecDeque<(u64, f64)>,
}

impl RollingExtreme {
    pub fn new(n: usize, max: bool) -> Self {
        RollingExtreme {
            n: n.max(1) as u64,
            max,
            count: 0,
            dq: VecDeque::with_capacity(n.max(1) + 1),
        }
    }

    #[inline]
    pub fn push(&mut self, x: f64) {
        while let Some(&(_, v)) = self.dq.back() {
            let dominated = if self.max { v <= x } else { v >= x };
            if !dominated {
                break;
            }
            self.dq.pop_back();
        }
        self.dq.push_back((self.count, x));
        self.count += 1;
        while let Some(&(i, _)) = self.dq.front() {
            if i + self.n > self.count - 1 {
                break;
            }
            self.dq.pop_front();
        }
    }

    pub fn is_full(&self) -> bool {
        self.count >= self.n
    }

    /// Extreme of a full window, NaN during warm-up.
    #[inline]
    pub fn value(&self) -> f64 {
        if !self.is_full() {
            return f64::NAN;
        }
        self.dq.front().map_or(f64::NAN, |&(_, v)| v)
    }
}

/// Exponential moving average with alpha = 2/(n+1), seeded with the simple mean of the
/// first `n` values (the TA-Lib convention): NaN for the first n-1 values.
#[derive(Debug, Clone)]
pub struct Ema {
    n: usize,
    alpha: f64,
    count: usize,
    seed: KahanSum,
    value: f64,
}

impl Ema {
    pub fn new(n: usize) -> Self {
        Self::with_alpha(n, 2.0 / (n as f64 + 1.0))
    }

    /// Wilder's smoothing: alpha = 1/n, seeded with the simple mean of the first n.
    pub fn wilder(n: usize) -> Self {
        Self::with_alpha(n, 1.0 / n as f64)
    }

    fn with_alpha(n: usize, alpha: f64) -> Self {
        Ema {
            n: n.max(1),
            alpha,
            count: 0,
            seed: KahanSum::default(),
            value: f64::NAN,
        }
    }

    #[inline]
    pub fn push(&mut self, x: f64) -> f64 {
        self.count += 1;
        if self.count < self.n {
            self.seed.add(x);
        } else if self.count == self.n {
            self.seed.add(x);
            self.value = self.seed.value() / self.n as f64;
        } else {
            self.value += self.alpha * (x - self.value);
        }
        self.value
    }

    #[inline]
    pub fn value(&self) -> f64 {
        self.value
    }
}

/// Percentile rank of the newest value among the last `n` values:
/// 100 * #{v in window : v <= newest (1 + 1e-9)} / n. The tolerance makes ties robust:
/// equal volatilities computed along different rounding paths still count as equal. Keeps the window sorted (binary search and a
/// memmove of at most n floats per update), NaN until the window is full. NaN inputs are
/// skipped (they do not enter the window).
#[derive(Debug, Clone)]
pub struct RollingRank {
    ring: Ring,
    sorted: Vec<f64>,
}

impl RollingRank {
    pub fn new(n: usize) -> Self {
        RollingRank {
            ring: Ring::new(n),
            sorted: Vec::with_capacity(n.max(1)),
        }
    }

    #[inline]
    pub fn push(&mut self, x: f64) -> f64 {
        if x.is_nan() {
            return f64::NAN;
        }
        if let Some(old) = self.ring.push(x) {
            // Replace `old` by `x` and shift only the values between their two places.
            let i = self.sorted.partition_point(|&v| v < old);
            let j = self.sorted.partition_point(|&v| v < x);
            if j > i {
                self.sorted.copy_within(i + 1..j, i);
                self.sorted[j - 1] = x;
            } else {
                self.sorted.copy_within(j..i, j + 1);
                self.sorted[j] = x;
            }
        } else {
            let i = self.sorted.partition_point(|&v| v < x);
            self.sorted.insert(i, x);
        }
        if !self.ring.is_full() {
            return f64::NAN;
        }
        let cut = x + 1e-9 * x.abs();
        let le = self.sorted.partition_point(|&v| v <= cut);
        100.0 * le as f64 / self.sorted.len() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive_window(xs: &[f64], i: usize, n: usize) -> &[f64] {
        &xs[i + 1 - n..=i]
    }

    fn series(len: usize) -> Vec<f64> {
        // A drifting price with tick-size steps and some large jumps.
        let mut p = 1667.5;
        (0..len)
            .map(|i| {
                let step = ((i * 7919) % 13) as f64 - 6.0;
                p += step * 0.25 + if i % 500 == 0 { 100.0 } else { 0.0 };
                p
            })
            .collect()
    }

    #[test]
    fn ring_keeps_last_n_oldest_first() {
        let mut r = Ring::new(3);
        assert_eq!(r.push(1.0), None);
        r.push(2.0);
        r.push(3.0);
        assert_eq!(r.push(4.0), Some(1.0));
        assert_eq!(r.iter().collect::<Vec<_>>(), vec![2.0, 3.0, 4.0]);
        assert_eq!(r.back(0), Some(4.0));
        assert_eq!(r.back(2), Some(2.0));
        assert_eq!(r.back(3), None);
    }

    #[test]
    fn rolling_sum_and_moments_match_naive_over_long_series() {
        let xs = series(20_000);
        let n = 20;
        let mut s = RollingSum::new(n);
        let mut m = RollingMoments::new(n);
        for (i, &x) in xs.iter().enumerate() {
            s.push(x);
            m.push(x);
            if i + 1 < n {
                assert!(s.mean().is_nan() && m.var(1).is_nan());
                continue;
            }
            let w = naive_window(&xs, i, n);
            let mean = w.iter().sum::<f64>() / n as f64;
            let var = w.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
            assert!((s.mean() - mean).abs() <= 1e-12 * mean.abs(), "row {i}");
            assert!((m.mean() - mean).abs() <= 1e-12 * mean.abs(), "row {i}");
            assert!((m.var(1) - var).abs() <= 1e-9 * var.max(1e-300), "row {i}");
        }
    }

    #[test]
    fn flat_window_has_exactly_zero_variance() {
        let mut m = RollingMoments::new(5);
        for x in [0.1, 0.7, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1] {
            m.push(x);
        }
        assert_eq!(m.var(0), 0.0);
    }

    #[test]
    fn extremes_match_naive() {
        let xs = series(3_000);
        let n = 14;
        let mut hi = RollingExtreme::new(n, true);
        let mut lo = RollingExtreme::new(n, false);
        for (i, &x) in xs.iter().enumerate() {
            hi.push(x);
            lo.push(x);
            if i + 1 < n {
                assert!(hi.value().is_nan());
                continue;
            }
            let w = naive_window(&xs, i, n);
            assert_eq!(hi.value(), w.iter().cloned().fold(f64::MIN, f64::max));
            assert_eq!(lo.value(), w.iter().cloned().fold(f64::MAX, f64::min));
        }
    }

    #[test]
    fn ema_is_seeded_by_the_simple_mean() {
        let mut e = Ema::new(3);
        assert!(e.push(1.0).is_nan());
        assert!(e.push(2.0).is_nan());
        assert_eq!(e.push(3.0), 2.0);
        assert_eq!(e.push(6.0), 2.0 + 0.5 * 4.0);
        let mut w = Ema::wilder(2);
        w.push(2.0);
        assert_eq!(w.push(4.0), 3.0);
        assert_eq!(w.push(5.0), 4.0);
    }

    #[test]
    fn rank_counts_values_at_or_below_the_newest() {
        let mut r = RollingRank::new(4);
        for x in [3.0, 1.0, 2.0] {
            assert!(r.push(x).is_nan());
        }
        assert_eq!(r.push(2.0), 75.0); // {3,1,2,2}: 1,2,2 <= 2
        assert_eq!(r.push(0.5), 25.0); // {1,2,2,0.5}
        assert_eq!(r.push(9.0), 100.0); // {2,2,0.5,9}

        let xs = series(2_000);
        let mut r = RollingRank::new(50);
        for (i, &x) in xs.iter().enumerate() {
            let got = r.push(x);
            if i + 1 >= 50 {
                let w = naive_window(&xs, i, 50);
                let le = w.iter().filter(|&&v| v <= x + 1e-9 * x.abs()).count();
                assert_eq!(got, 100.0 * le as f64 / 50.0, "row {i}");
            }
        }
    }
}
