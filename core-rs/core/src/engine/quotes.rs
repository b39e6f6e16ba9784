//! Top-of-book quotes and trade prints (a broker's market data: IB gives no order-by-order
//! feed) as MBO records, so an L1 feed drives the engine through the one path MBO data takes:
//! [`Engine::on_mbo`](super::Engine::on_mbo), the same book, features, decision and gates.
//!
//! Each side of the quote is one synthetic resting order: added when the side appears,
//! modified when its price or size changes, cancelled when the side empties. A trade print
//! is a `T` record (the book ignores it; trade features and bars read it). The book of an L1
//! feed is therefore one level deep: depth features see only the touch, and say so by their
//! values (e.g. deeper levels empty), not by a different code path.

use dbn::{FlagSet, MboMsg, RecordHeader};

use crate::book::UNDEF_PRICE;
use crate::error::{CoreError, Result};
use crate::orders::InstrumentId;

/// Order ids of the synthetic orders: far from any exchange id, one per side.
pub const L1_BID_ORDER_ID: u64 = u64::MAX - 1;
pub const L1_ASK_ORDER_ID: u64 = u64::MAX - 2;

/// One side of a quote: price (fixed point, `PRICE_SCALE`) and size in contracts.
pub type Level = Option<(i64, u32)>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Touch {
    id: InstrumentId,
    bid: Level,
    ask: Level,
    last_ts: u64,
}

/// Turns quotes and trades into MBO records, per instrument.
#[derive(Debug, Default, Clone)]
pub struct QuoteFeed {
    touches: Vec<Touch>,
    sequence: u32,
}

impl QuoteFeed {
    pub fn new() -> Self {
        Self::default()
    }

    /// The last quote seen of `id`: (bid, ask).
    pub fn touch(&self, id: InstrumentId) -> Option<(Level, Level)> {
        self.touches
            .iter()
            .find(|t| t.id == id)
            .map(|t| (t.bid, t.ask))
    }

    fn slot(&mut self, id: InstrumentId, ts: u64, what: &str) -> Result<usize> {
        let i = match self.touches.iter().position(|t| t.id == id) {
            Some(i) => i,
            None => {
                self.touches.push(Touch {
                    id,
                    bid: None,
                    ask: None,
                    last_ts: 0,
                });
                self.touches.len() - 1
            }
        };
        let last = self.touches[i].last_ts;
        if ts < last {
            return Err(CoreError::InvalidInput {
                what: format!("{what} of instrument {id}"),
                detail: format!(
                    "ts {ts} is before the previous one ({last}): feeds are in time order"
                ),
            });
        }
        self.touches[i].last_ts = ts;
        Ok(i)
    }

    /// The records that move the book of `id` to `bid` / `ask` at `ts` (appended to `out`;
    /// none when nothing changed). The last one carries F_LAST: one quote is one event.
    /// A size of 0 with a price is a side without size (some feeds send the price first):
    /// it rests one contract, so the touch and the mid exist.
    pub fn quote(
        &mut self,
        id: InstrumentId,
        ts: u64,
        bid: Level,
        ask: Level,
        out: &mut Vec<MboMsg>,
    ) -> Result<()> {
        for (side, l) in [("bid", bid), ("ask", ask)] {
            if l.is_some_and(|(p, _)| p == UNDEF_PRICE) {
                return Err(CoreError::InvalidInput {
                    what: format!("quote {side} of instrument {id}"),
                    detail: "undefined price (give None for an empty side)".into(),
                });
            }
        }
        let i = self.slot(id, ts, "quote")?;
        let start = out.len();
        let t = self.touches[i];
        for (old, new, side, oid) in [
            (t.bid, bid, b'B', L1_BID_ORDER_ID),
            (t.ask, ask, b'A', L1_ASK_ORDER_ID),
        ] {
            let new = new.map(|(p, s)| (p, s.max(1)));
            let action = match (old, new) {
                (None, None) => continue,
                (Some(o), Some(n)) if o == n => continue,
                (None, Some(_)) => b'A',
                (Some(_), Some(_)) => b'M',
                (Some(_), None) => b'C',
            };
            let (price, size) = match (action, new, old) {
                (b'C', _, Some((p, s))) => (p, s),
                (_, Some((p, s)), _) => (p, s),
                _ => unreachable!("a change has an old or a new level"),
            };
            self.sequence = self.sequence.wrapping_add(1);
            out.push(record(
                id,
                ts,
                oid,
                price,
                size,
                action,
                side,
                self.sequence,
            ));
        }
        let t = &mut self.touches[i];
        t.bid = bid.map(|(p, s)| (p, s.max(1)));
        t.ask = ask.map(|(p, s)| (p, s.max(1)));
        if let Some(last) = out[start..].last_mut() {
            last.flags = FlagSet::new(last.flags.raw() | dbn::flags::LAST);
        }
        Ok(())
    }

    /// A trade print of `size` at `price`; `aggressor` is `b'B'` (buyer lifted the ask),
    /// `b'A'` (seller hit the bid) or `b'N'` (unknown). One event.
    pub fn trade(
        &mut self,
        id: InstrumentId,
        ts: u64,
        price: i64,
        size: u32,
        aggressor: u8,
        out: &mut Vec<MboMsg>,
    ) -> Result<()> {
        let mut bad = Vec::new();
        if price == UNDEF_PRICE {
            bad.push("undefined price".to_string());
        }
        if size == 0 {
            bad.push("size 0".to_string());
        }
        if !matches!(aggressor, b'A' | b'B' | b'N') {
            bad.push(format!(
                "aggressor {:?} (want 'B', 'A' or 'N')",
                aggressor as char
            ));
        }
        if !bad.is_empty() {
            return Err(CoreError::InvalidInput {
                what: format!("trade of instrument {id}"),
                detail: bad.join("; "),
            });
        }
        self.slot(id, ts, "trade")?;
        self.sequence = self.sequence.wrapping_add(1);
        let mut m = record(id, ts, 0, price, size, b'T', aggressor, self.sequence);
        m.flags = FlagSet::new(dbn::flags::LAST);
        out.push(m);
        Ok(())
    }
}

#[allow(clippy::too_many_arguments)]
fn record(
    id: InstrumentId,
    ts: u64,
    order_id: u64,
    price: i64,
    size: u32,
    action: u8,
    side: u8,
    sequence: u32,
) -> MboMsg {
    MboMsg {
        hd: RecordHeader::new::<MboMsg>(dbn::rtype::MBO, 0, id, ts),
        order_id,
        price,
        size,
        flags: FlagSet::empty(),
        channel_id: 0,
        action: action as _,
        side: side as _,
        ts_recv: ts,
        ts_in_delta: 0,
        sequence,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::book::{BookView, L3Book, Side, PRICE_SCALE};

    const P: i64 = PRICE_SCALE;

    fn apply(book: &mut L3Book, recs: &[MboMsg]) {
        for m in recs {
            book.apply(m);
        }
        book.end_event();
    }

    #[test]
    fn quotes_move_a_one_level_book() {
        let mut f = QuoteFeed::new();
        let mut book = L3Book::new();
        let mut out = Vec::new();
        f.quote(1, 10, Some((100 * P, 5)), Some((101 * P, 7)), &mut out)
            .unwrap();
        assert_eq!(out.len(), 2);
        assert!(!out[0].flags.is_last() && out[1].flags.is_last());
        apply(&mut book, &out);
        assert_eq!(
            book.best(Side::Bid).map(|l| (l.price, l.size)),
            Some((100 * P, 5))
        );
        assert_eq!(
            book.best(Side::Ask).map(|l| (l.price, l.size)),
            Some((101 * P, 7))
        );

        // Only the bid moves: one record, a modify, flagged last.
        out.clear();
        f.quote(
            1,
            20,
            Some((100 * P + P / 4, 2)),
            Some((101 * P, 7)),
            &mut out,
        )
        .unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].action as u8, b'M');
        assert!(out[0].flags.is_last());
        apply(&mut book, &out);
        assert_eq!(
            book.best(Side::Bid).map(|l| (l.price, l.size)),
            Some((100 * P + P / 4, 2))
        );
        assert_eq!(book.order_count(), 2);

        // Same quote again: nothing.
        out.clear();
        f.quote(
            1,
            30,
            Some((100 * P + P / 4, 2)),
            Some((101 * P, 7)),
            &mut out,
        )
        .unwrap();
        assert!(out.is_empty());

        // The ask empties: a cancel; a size 0 bid keeps the price with one contract.
        f.quote(1, 40, Some((100 * P, 0)), None, &mut out).unwrap();
        apply(&mut book, &out);
        assert_eq!(book.best(Side::Ask), None);
        assert_eq!(
            book.best(Side::Bid).map(|l| (l.price, l.size)),
            Some((100 * P, 1))
        );
        assert_eq!(f.touch(1), Some((Some((100 * P, 1)), None)));
    }

    #[test]
    fn trades_are_t_records_and_bad_input_is_named() {
        let mut f = QuoteFeed::new();
        let mut out = Vec::new();
        f.trade(3, 5, 99 * P, 2, b'B', &mut out).unwrap();
        assert_eq!(out[0].action as u8, b'T');
        assert!(out[0].flags.is_last());
        let e = f
            .trade(3, 6, 99 * P, 0, b'X', &mut out)
            .unwrap_err()
            .to_string();
        assert!(e.contains("size 0") && e.contains("aggressor"), "{e}");
        let e = f
            .quote(3, 4, Some((P, 1)), None, &mut out)
            .unwrap_err()
            .to_string();
        assert!(e.contains("before the previous"), "{e}");
        let e = f
            .quote(3, 9, Some((UNDEF_PRICE, 1)), None, &mut out)
            .unwrap_err()
            .to_string();
        assert!(e.contains("quote bid of instrument 3"), "{e}");
    }
}
