//! Order books: an L3 (order-by-order) book built from MBO and an L2 (price-level) book
//! built from MBP-1/MBP-10, behind one query surface ([`BookView`]).
//!
//! Prices are DBN fixed-point integers (1e-9 units per price unit, [`PRICE_SCALE`]).
//! Sizes are contracts/shares. Levels are always reported best first.

pub mod l2;
pub mod l3;

pub use l2::L2Book;
pub use l3::{L3Book, QueuePosition};

/// Fixed-point scale of prices: 1 price unit = 1e9.
pub const PRICE_SCALE: i64 = 1_000_000_000;
/// DBN's "no price" sentinel.
pub const UNDEF_PRICE: i64 = i64::MAX;
/// Largest price magnitude a book accepts (1e9 price units, fixed point): far beyond any
/// traded instrument, so what lies outside (i64::MIN, a flipped high bit) is a damaged
/// record, counted as `bad_price` and not booked.
pub const MAX_ABS_PRICE: i64 = 1_000_000_000 * PRICE_SCALE;
/// Largest order size a book accepts: 2^31 - 1 contracts or shares. A larger one (u32::MAX,
/// a flipped high bit) is a damaged record, counted as `bad_size` and not booked.
pub const MAX_ORDER_SIZE: u32 = i32::MAX as u32;

/// True when `price` can rest in a book: defined and within [`MAX_ABS_PRICE`].
#[inline]
pub fn bookable_price(price: i64) -> bool {
    price != UNDEF_PRICE && (-MAX_ABS_PRICE..=MAX_ABS_PRICE).contains(&price)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Side {
    Bid = 0,
    Ask = 1,
}

impl Side {
    /// DBN side char: 'B' bid, 'A' ask, anything else (usually 'N') none.
    #[inline]
    pub fn from_dbn(c: std::ffi::c_char) -> Option<Side> {
        match c as u8 {
            b'B' => Some(Side::Bid),
            b'A' => Some(Side::Ask),
            _ => None,
        }
    }
}

/// One aggregated price level.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LevelView {
    pub price: i64,
    pub size: u64,
    pub count: u32,
}

/// Integrity state a consumer must see before trusting a book.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Integrity {
    /// Set by F_MAYBE_BAD_BOOK; cleared by the next clear or snapshot.
    pub untrusted: bool,
    /// Best bid >= best ask at the last event boundary.
    pub crossed: bool,
}

/// Counted, typed anomalies: the book keeps going, the counts say what it survived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AnomalyCounts {
    /// Cancel of an order id the book does not hold.
    pub unknown_cancel: u64,
    /// Modify of an order id the book does not hold (applied as an add).
    pub unknown_modify: u64,
    /// Add of an order id the book already holds (the old order is replaced).
    pub duplicate_add: u64,
    /// Cancel for more than the order's remaining size (the order is removed).
    pub cancel_exceeds_size: u64,
    /// Add/modify/cancel whose side is neither bid nor ask.
    pub bad_side: u64,
    /// Add/modify with an undefined price or one beyond [`MAX_ABS_PRICE`] (not booked).
    pub bad_price: u64,
    /// Records whose action is none of A, C, M, R, T, F, N (ignored).
    pub unknown_action: u64,
    /// Adds of size 0 (nothing to book).
    pub zero_size_add: u64,
    /// Adds/modifies of a size beyond [`MAX_ORDER_SIZE`] (not booked).
    pub bad_size: u64,
    /// Event boundaries at which the book was crossed.
    pub crossed_events: u64,
    /// Records flagged F_MAYBE_BAD_BOOK.
    pub maybe_bad_book: u64,
}

impl AnomalyCounts {
    pub fn total(&self) -> u64 {
        self.unknown_cancel
            + self.unknown_modify
            + self.duplicate_add
            + self.cancel_exceeds_size
            + self.bad_side
            + self.bad_price
            + self.unknown_action
            + self.zero_size_add
            + self.bad_size
            + self.crossed_events
    }

    pub fn add(&mut self, o: &AnomalyCounts) {
        self.unknown_cancel += o.unknown_cancel;
        self.unknown_modify += o.unknown_modify;
        self.duplicate_add += o.duplicate_add;
        self.cancel_exceeds_size += o.cancel_exceeds_size;
        self.bad_side += o.bad_side;
        self.bad_price += o.bad_price;
        self.unknown_action += o.unknown_action;
        self.zero_size_add += o.zero_size_add;
        self.bad_size += o.bad_size;
        self.crossed_events += o.crossed_events;
        self.maybe_bad_book += o.maybe_bad_book;
    }

    /// Names and values, in a stable order (for Python dicts and reports).
    pub fn fields(&self) -> [(&'static str, u64); 11] {
        [
            ("unknown_cancel", self.unknown_cancel),
            ("unknown_modify", self.unknown_modify),
            ("duplicate_add", self.duplicate_add),
            ("cancel_exceeds_size", self.cancel_exceeds_size),
            ("bad_side", self.bad_side),
            ("bad_price", self.bad_price),
            ("unknown_action", self.unknown_action),
            ("zero_size_add", self.zero_size_add),
            ("bad_size", self.bad_size),
            ("crossed_events", self.crossed_events),
            ("maybe_bad_book", self.maybe_bad_book),
        ]
    }
}

/// Integrity bookkeeping shared by the L3 and L2 books: trust reset by a snapshot or a
/// clear, F_MAYBE_BAD_BOOK, and crossed detection at event boundaries.
#[derive(Debug, Clone, Default)]
pub(crate) struct Health {
    pub integrity: Integrity,
    pub anomalies: AnomalyCounts,
    in_snapshot: bool,
}

impl Health {
    /// Notes a record's snapshot flag; true when it starts a snapshot (the book resets).
    #[inline]
    pub fn begin_record(&mut self, flags: dbn::FlagSet) -> bool {
        let starts = flags.is_snapshot() && !self.in_snapshot;
        self.in_snapshot = flags.is_snapshot();
        if starts {
            self.integrity.untrusted = false;
        }
        starts
    }

    /// Applies F_MAYBE_BAD_BOOK after the record's action (so a clear flagged bad stays bad).
    #[inline]
    pub fn end_record(&mut self, flags: dbn::FlagSet) {
        if flags.is_maybe_bad_book() {
            self.integrity.untrusted = true;
            self.anomalies.maybe_bad_book += 1;
        }
    }

    /// Records the crossed state at an event boundary: flagged and counted, never hidden.
    #[inline]
    pub fn end_event(&mut self, crossed: bool) -> bool {
        self.integrity.crossed = crossed;
        if crossed {
            self.anomalies.crossed_events += 1;
        }
        crossed
    }
}

/// The query surface shared by L3 and L2 books.
pub trait BookView {
    /// Number of non-empty levels on `side`.
    fn depth(&self, side: Side) -> usize;
    /// The `i`-th best level (0 = best) on `side`.
    fn level(&self, side: Side, i: usize) -> Option<LevelView>;
    fn integrity(&self) -> Integrity;

    fn best(&self, side: Side) -> Option<LevelView> {
        self.level(side, 0)
    }

    fn bbo(&self) -> (Option<LevelView>, Option<LevelView>) {
        (self.best(Side::Bid), self.best(Side::Ask))
    }

    /// Top `n` levels of `side`, best first.
    fn top(&self, side: Side, n: usize) -> Vec<LevelView> {
        (0..n).map_while(|i| self.level(side, i)).collect()
    }

    /// Size-weighted mid: leans toward the side with less size (in fixed-point units).
    fn microprice(&self) -> Option<f64> {
        let (b, a) = self.bbo();
        let (b, a) = (b?, a?);
        let (bs, asz) = (b.size as f64, a.size as f64);
        if bs + asz == 0.0 {
            return None;
        }
        Some((b.price as f64 * asz + a.price as f64 * bs) / (bs + asz))
    }

    fn mid(&self) -> Option<f64> {
        let (b, a) = self.bbo();
        Some((b?.price as f64 + a?.price as f64) / 2.0)
    }

    fn is_crossed_now(&self) -> bool {
        matches!(self.bbo(), (Some(b), Some(a)) if b.price >= a.price)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_view_layout_is_stable() {
        // Crosses the FFI boundary as three plain fields; keep it packed and 8-aligned.
        assert_eq!(std::mem::size_of::<LevelView>(), 24);
        assert_eq!(std::mem::align_of::<LevelView>(), 8);
        assert_eq!(std::mem::offset_of!(LevelView, price), 0);
        assert_eq!(std::mem::offset_of!(LevelView, size), 8);
        assert_eq!(std::mem::offset_of!(LevelView, count), 16);
    }

    #[test]
    fn side_parses_dbn_chars() {
        assert_eq!(Side::from_dbn(b'B' as _), Some(Side::Bid));
        assert_eq!(Side::from_dbn(b'A' as _), Some(Side::Ask));
        assert_eq!(Side::from_dbn(b'N' as _), None);
    }
}
