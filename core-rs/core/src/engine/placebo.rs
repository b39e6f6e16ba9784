//! Placebo signals: seeded random class probabilities every `interval` of event time per
//! instrument. No edge by construction, so a placebo run is a plumbing check and a cost
//! baseline (its P&L should be about minus the costs), never a strategy. It lives in the
//! engine, not in a file of timestamps, so the same placebo runs in a backtest and in a
//! paper session, where the end of the data is not known in advance.

use crate::error::{CoreError, Result};
use crate::orders::{InstrumentId, SignalSource};
use crate::sim::SimRng;

use super::Predictor;

/// The placebo predictor: classes -1, 0, +1; the drawn class gets U(0.4, 1), the other two
/// share what is left at a uniform split. Its source is `External` (its thresholds are the
/// external signals').
#[derive(Debug, Clone)]
pub struct Placebo {
    interval_ns: u64,
    rng: SimRng,
    /// Next due time per instrument: an interval after the instrument's first event, then
    /// every interval (intervals without an event are skipped, not fired late in a burst).
    due: Vec<(InstrumentId, u64)>,
}

const CLASSES: [i8; 3] = [-1, 0, 1];

impl Placebo {
    pub fn new(interval_ns: u64, seed: u64) -> Result<Placebo> {
        if interval_ns == 0 {
            return Err(CoreError::Config("placebo: interval must be > 0".into()));
        }
        Ok(Placebo {
            interval_ns,
            rng: SimRng::new(seed),
            due: Vec::new(),
        })
    }

    fn due_of(&mut self, id: InstrumentId, ts: u64) -> &mut u64 {
        let i = match self.due.iter().position(|(k, _)| *k == id) {
            Some(i) => i,
            None => {
                self.due.push((id, ts.saturating_add(self.interval_ns)));
                self.due.len() - 1
            }
        };
        &mut self.due[i].1
    }
}

impl Predictor for Placebo {
    fn classes(&self) -> &[i8] {
        &CLASSES
    }

    fn source(&self) -> SignalSource {
        SignalSource::External
    }

    fn uses_features(&self) -> bool {
        false
    }

    fn may_signal(&self, id: InstrumentId, ts_ns: u64) -> bool {
        self.due
            .iter()
            .find(|(k, _)| *k == id)
            .is_some_and(|(_, d)| ts_ns >= *d)
    }

    fn predict(
        &mut self,
        id: InstrumentId,
        ts_ns: u64,
        _features: &[f32],
        out: &mut [f32],
    ) -> Result<Option<()>> {
        let interval = self.interval_ns;
        let due = self.due_of(id, ts_ns);
        if ts_ns < *due {
            return Ok(None);
        }
        // The next due time strictly after now, on the instrument's grid.
        let missed = (ts_ns - *due) / interval;
        *due = due.saturating_add((missed + 1).saturating_mul(interval));
        let top = 0.4 + 0.6 * self.rng.uniform();
        let pick = (self.rng.next_u64() % 3) as usize;
        let other = self.rng.uniform();
        let rest = 1.0 - top;
        out[pick] = top as f32;
        out[(pick + 1) % 3] = (rest * other) as f32;
        out[(pick + 2) % 3] = (rest * (1.0 - other)) as f32;
        Ok(Some(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    fn run(p: &mut Placebo, ts: &[(InstrumentId, u64)]) -> Vec<(InstrumentId, u64, [f32; 3])> {
        let mut out = Vec::new();
        for &(id, t) in ts {
            let mut probs = [0f32; 3];
            if p.predict(id, t, &[], &mut probs).unwrap().is_some() {
                out.push((id, t, probs));
            }
        }
        out
    }

    #[test]
    fn fires_once_per_interval_per_instrument_and_is_seeded() {
        let mut p = Placebo::new(5 * S, 7).unwrap();
        let ts: Vec<(InstrumentId, u64)> = (0..60)
            .flat_map(|i| [(1, 100 * S + i * S), (2, 102 * S + i * S)])
            .collect();
        let got = run(&mut p, &ts);
        // 60 s of one event a second: at +5, +10, ... +55 s after each first event.
        assert_eq!(got.iter().filter(|g| g.0 == 1).count(), 11);
        assert_eq!(got.iter().filter(|g| g.0 == 2).count(), 11);
        assert_eq!(got[0].1, 105 * S);
        for (_, _, pr) in &got {
            let s: f32 = pr.iter().sum();
            assert!(
                (s - 1.0).abs() < 1e-5 && pr.iter().any(|x| *x >= 0.4),
                "{pr:?}"
            );
        }
        let again = run(&mut Placebo::new(5 * S, 7).unwrap(), &ts);
        assert_eq!(got, again);
        let other = run(&mut Placebo::new(5 * S, 8).unwrap(), &ts);
        assert_ne!(got, other);
    }

    #[test]
    fn a_gap_skips_intervals_instead_of_firing_late_in_a_burst() {
        let mut p = Placebo::new(S, 1).unwrap();
        let got = run(
            &mut p,
            &[(1, 0), (1, 10 * S + 1), (1, 10 * S + 2), (1, 11 * S)],
        );
        assert_eq!(
            got.iter().map(|g| g.1).collect::<Vec<_>>(),
            [10 * S + 1, 11 * S]
        );
        assert!(Placebo::new(0, 1).is_err());
    }
}
