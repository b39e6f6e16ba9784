//! Inference gating: reasons a prediction must not become a signal, each counted. A gated
//! call yields `Gated(reason)` instead of probabilities; counters are atomics so a control
//! thread (or Python) reads them while the hot path keeps predicting.

use std::sync::atomic::{AtomicU64, Ordering};

/// Why a prediction was withheld. The discriminant indexes the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum GateReason {
    /// The model is older than its manifest's `max_age_days` at the clock passed in.
    Stale = 0,
    /// An input is NaN or infinite.
    NonFinite = 1,
    /// An input lies outside the training range (`input_bounds`) widened by the tolerance.
    OutOfBounds = 2,
}

impl GateReason {
    pub const ALL: [GateReason; 3] = [
        GateReason::Stale,
        GateReason::NonFinite,
        GateReason::OutOfBounds,
    ];

    pub fn label(self) -> &'static str {
        match self {
            GateReason::Stale => "stale",
            GateReason::NonFinite => "non_finite",
            GateReason::OutOfBounds => "out_of_bounds",
        }
    }
}

/// Gate settings chosen by the engine (the thresholds themselves come from the manifest).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GateConfig {
    /// Bounds are widened by this fraction of each feature's training range on both sides
    /// (0.0 = exactly the training min/max).
    pub bounds_tolerance: f64,
    /// Withhold predictions on NaN/inf inputs (trees could route them, but the features
    /// producing them are broken or still warming up).
    pub gate_non_finite: bool,
}

impl Default for GateConfig {
    fn default() -> Self {
        GateConfig {
            bounds_tolerance: 0.05,
            gate_non_finite: true,
        }
    }
}

/// Per-reason counts plus the predictions that passed.
#[derive(Debug, Default)]
pub struct GateCounters {
    passed: AtomicU64,
    gated: [AtomicU64; 3],
}

impl GateCounters {
    pub fn record(&self, outcome: Option<GateReason>) {
        // Relaxed: counters are statistics, not synchronisation.
        match outcome {
            None => self.passed.fetch_add(1, Ordering::Relaxed),
            Some(r) => self.gated[r as usize].fetch_add(1, Ordering::Relaxed),
        };
    }

    pub fn passed(&self) -> u64 {
        self.passed.load(Ordering::Relaxed)
    }

    pub fn gated(&self, reason: GateReason) -> u64 {
        self.gated[reason as usize].load(Ordering::Relaxed)
    }

    /// `("passed", n)` then one pair per reason, in [`GateReason::ALL`] order.
    pub fn snapshot(&self) -> Vec<(&'static str, u64)> {
        let mut v = vec![("passed", self.passed())];
        v.extend(GateReason::ALL.iter().map(|&r| (r.label(), self.gated(r))));
        v
    }
}

/// The checks of one model, precomputed at load.
#[derive(Debug, Clone)]
pub struct Gate {
    pub config: GateConfig,
    /// Last instant (UTC ns) at which the model is fresh; None = never stale.
    pub fresh_until_ns: Option<i64>,
    /// Widened per-feature bounds; empty = no bounds check.
    lo: Vec<f32>,
    hi: Vec<f32>,
}

impl Gate {
    pub fn new(
        config: GateConfig,
        created_at_ns: i64,
        max_age_days: Option<f64>,
        bounds: Option<&(Vec<f64>, Vec<f64>)>,
    ) -> Gate {
        let fresh_until_ns =
            max_age_days.map(|d| created_at_ns.saturating_add((d * 86_400e9) as i64));
        let (mut lo, mut hi) = (Vec::new(), Vec::new());
        if let Some((min, max)) = bounds {
            for (&a, &b) in min.iter().zip(max) {
                let pad = (b - a) * config.bounds_tolerance;
                // Rounded outwards so a training value never falls outside in f32.
                lo.push(next_down_f32((a - pad) as f32));
                hi.push(next_up_f32((b + pad) as f32));
            }
        }
        Gate {
            config,
            fresh_until_ns,
            lo,
            hi,
        }
    }

    /// The first reason to withhold a prediction on `row` at `now_ns`, if any. For sequence
    /// inputs `row` is the whole window and bounds apply to every step (`n_features` wide).
    #[inline]
    pub fn check(&self, row: &[f32], now_ns: i64) -> Option<GateReason> {
        if self.fresh_until_ns.is_some_and(|t| now_ns > t) {
            return Some(GateReason::Stale);
        }
        if self.config.gate_non_finite && row.iter().any(|v| !v.is_finite()) {
            return Some(GateReason::NonFinite);
        }
        if !self.lo.is_empty() {
            let n = self.lo.len();
            for step in row.chunks_exact(n) {
                for ((&v, &lo), &hi) in step.iter().zip(&self.lo).zip(&self.hi) {
                    // NaN compares false both ways: an ungated NaN is not "out of bounds".
                    if v < lo || v > hi {
                        return Some(GateReason::OutOfBounds);
                    }
                }
            }
        }
        None
    }
}

fn next_up_f32(x: f32) -> f32 {
    if x.is_nan() || x == f32::INFINITY {
        return x;
    }
    if x == 0.0 {
        return f32::from_bits(1);
    }
    let b = x.to_bits();
    f32::from_bits(if x > 0.0 { b + 1 } else { b - 1 })
}

fn next_down_f32(x: f32) -> f32 {
    -next_up_f32(-x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_in_order_and_tolerance() {
        let day = 86_400_000_000_000i64;
        let bounds = (vec![0.0, -1.0], vec![10.0, 1.0]);
        let g = Gate::new(GateConfig::default(), 0, Some(30.0), Some(&bounds));
        assert_eq!(g.check(&[5.0, 0.0], 30 * day), None);
        assert_eq!(g.check(&[5.0, 0.0], 30 * day + 1), Some(GateReason::Stale));
        assert_eq!(g.check(&[f32::NAN, 0.0], 0), Some(GateReason::NonFinite));
        assert_eq!(
            g.check(&[f32::INFINITY, 0.0], 0),
            Some(GateReason::NonFinite)
        );
        // 5% of the range is tolerated: 10.5 passes, 10.6 does not.
        assert_eq!(g.check(&[10.5, 0.0], 0), None);
        assert_eq!(g.check(&[10.6, 0.0], 0), Some(GateReason::OutOfBounds));
        assert_eq!(g.check(&[0.0, -1.11], 0), Some(GateReason::OutOfBounds));
        // A window of two steps: the second step is out.
        assert_eq!(
            g.check(&[1.0, 0.0, 1.0, 2.0], 0),
            Some(GateReason::OutOfBounds)
        );
        let c = GateCounters::default();
        c.record(None);
        c.record(Some(GateReason::OutOfBounds));
        c.record(Some(GateReason::OutOfBounds));
        assert_eq!(
            c.snapshot(),
            vec![
                ("passed", 1),
                ("stale", 0),
                ("non_finite", 0),
                ("out_of_bounds", 2)
            ]
        );
    }
}
