//! L2 book from MBP-1 / MBP-10 / BBO records. Each such record carries the top levels as
//! they stand after the update, so the book is the last record's levels; it shares the
//! query surface of the L3 book (no order ids, so no queue positions).

use dbn::{BidAskPair, FlagSet};

use super::{AnomalyCounts, BookView, Health, Integrity, LevelView, Side, UNDEF_PRICE};

pub const MAX_L2_LEVELS: usize = 10;

#[derive(Debug, Default, Clone)]
pub struct L2Book {
    levels: [[LevelView; MAX_L2_LEVELS]; 2],
    depth: [usize; 2],
    health: Health,
}

impl L2Book {
    pub fn new() -> Self {
        Self::default()
    }

    /// Replaces the top levels with those of one MBP/BBO record.
    #[inline]
    pub fn apply(&mut self, flags: FlagSet, action: std::ffi::c_char, pairs: &[BidAskPair]) {
        self.health.begin_record(flags);
        if action as u8 == b'R' {
            self.health.integrity.untrusted = false;
        }
        let side_levels = |px: fn(&BidAskPair) -> (i64, u32, u32),
                           out: &mut [LevelView; MAX_L2_LEVELS]| {
            let mut n = 0;
            // Levels are contiguous from the top; an empty slot ends the side.
            for p in pairs.iter().take(MAX_L2_LEVELS) {
                let (price, size, count) = px(p);
                if price == UNDEF_PRICE || size == 0 {
                    break;
                }
                out[n] = LevelView {
                    price,
                    size: size as u64,
                    count,
                };
                n += 1;
            }
            n
        };
        let [bids, asks] = &mut self.levels;
        let nb = side_levels(|p| (p.bid_px, p.bid_sz, p.bid_ct), bids);
        let na = side_levels(|p| (p.ask_px, p.ask_sz, p.ask_ct), asks);
        self.depth = [nb, na];
        self.health.end_record(flags);
    }

    #[inline]
    pub fn end_event(&mut self) -> bool {
        let crossed = self.is_crossed_now();
        self.health.end_event(crossed)
    }

    pub fn anomalies(&self) -> AnomalyCounts {
        self.health.anomalies
    }
}

impl BookView for L2Book {
    #[inline]
    fn depth(&self, side: Side) -> usize {
        self.depth[side as usize]
    }

    #[inline]
    fn level(&self, side: Side, i: usize) -> Option<LevelView> {
        (i < self.depth[side as usize]).then(|| self.levels[side as usize][i])
    }

    fn integrity(&self) -> Integrity {
        self.health.integrity
    }
}
