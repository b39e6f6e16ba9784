//! Microstructure features, one row per book event (F_LAST boundary): spread, mid,
//! microprice, depth imbalance, order flow imbalance (Cont-Kukanov-Stoikov), trade flow
//! imbalance, trade/add/cancel rates, queue depletion at the touch, short-window realized
//! volatility and the last trade's sign. Formulas are in [`super::set`].
//!
//! The engine sees every MBO record through [`MicroEngine::on_record`] (counts, trades)
//! and every event boundary through [`MicroEngine::on_event`] with the book as it stands
//! after the event; it never looks at a later record. Work per event is O(1) plus the
//! levels read for depth imbalance.

use std::collections::VecDeque;
use std::path::Path;

use dbn::{MboMsg, RecordRef};

use super::rolling::RollingSum;
use super::set::FeatureSet;
use crate::book::{BookView, LevelView, Side, PRICE_SCALE};
use crate::decode::DbnReader;
use crate::error::{CoreError, Result};
use crate::replay::Books;

const MS: u64 = 1_000_000;

enum Feat {
    Spread,
    Mid,
    Microprice,
    MicropriceDev,
    Imb(usize),
    Ofi,
    OfiSum(RollingSum),
    Tfi { buy: RollingSum, sell: RollingSum },
    Rate { action: u8, window: u64 },
    QDepl { bid: bool, lost: RollingSum },
    Rv(RollingSum),
    LastSign,
}

/// Streaming microstructure features of one instrument.
pub struct MicroEngine {
    feats: Vec<Feat>,
    prev_bbo: Option<(Option<LevelView>, Option<LevelView>)>,
    prev_mid: f64,
    first_ts: Option<u64>,
    /// Timestamps of recent trades, adds and cancels, pruned to the longest rate window.
    recent: [VecDeque<u64>; 3],
    horizon: u64,
    last_sign: f64,
}

fn action_slot(a: u8) -> Option<usize> {
    match a {
        b'T' => Some(0),
        b'A' => Some(1),
        b'C' => Some(2),
        _ => None,
    }
}

impl MicroEngine {
    pub fn new(set: &FeatureSet) -> Result<Self> {
        if !set.is_micro() {
            return Err(CoreError::Config(
                "the micro engine takes a set of micro_ features".into(),
            ));
        }
        let mut feats = Vec::with_capacity(set.len());
        let mut horizon = 0;
        for s in set.specs() {
            let n = s.params.first().copied().unwrap_or(0) as usize;
            feats.push(match s.kind.as_str() {
                "spread" => Feat::Spread,
                "mid" => Feat::Mid,
                "microprice" => Feat::Microprice,
                "microprice_dev" => Feat::MicropriceDev,
                "imb" => Feat::Imb(n),
                "ofi" => Feat::Ofi,
                "ofi_sum" => Feat::OfiSum(RollingSum::new(n)),
                "tfi" => Feat::Tfi {
                    buy: RollingSum::new(n),
                    sell: RollingSum::new(n),
                },
                "trade_rate" | "add_rate" | "cancel_rate" => {
                    let window = n as u64 * MS;
                    horizon = horizon.max(window);
                    Feat::Rate {
                        action: match s.kind.as_str() {
                            "trade_rate" => b'T',
                            "add_rate" => b'A',
                            _ => b'C',
                        },
                        window,
                    }
                }
                "qdepl_bid" | "qdepl_ask" => Feat::QDepl {
                    bid: s.kind == "qdepl_bid",
                    lost: RollingSum::new(n),
                },
                "rv" => Feat::Rv(RollingSum::new(n)),
                "last_trade_sign" => Feat::LastSign,
                other => {
                    return Err(CoreError::Config(format!(
                        "feature {}: no micro implementation of {other:?}",
                        s.name
                    )))
                }
            });
        }
        Ok(MicroEngine {
            feats,
            prev_bbo: None,
            prev_mid: f64::NAN,
            first_ts: None,
            recent: Default::default(),
            horizon,
            last_sign: f64::NAN,
        })
    }

    pub fn width(&self) -> usize {
        self.feats.len()
    }

    /// Sees one record of the instrument: `action` and `side` as DBN chars ('T' trades
    /// carry the aggressor side: 'B' buyer, 'A' seller), `size` in contracts.
    #[inline]
    pub fn on_record(&mut self, ts_recv: u64, action: u8, side: u8, size: f64) {
        self.first_ts.get_or_insert(ts_recv);
        if let Some(slot) = action_slot(action) {
            if self.horizon > 0 {
                self.recent[slot].push_back(ts_recv);
            }
        }
        if action != b'T' {
            return;
        }
        let sign = match side {
            b'B' => 1.0,
            b'A' => -1.0,
            _ => 0.0,
        };
        self.last_sign = sign;
        for f in &mut self.feats {
            if let Feat::Tfi { buy, sell } = f {
                buy.push(if sign > 0.0 { size } else { 0.0 });
                sell.push(if sign < 0.0 { size } else { 0.0 });
            }
        }
    }

    /// [`Self::on_record`] for an MBO record.
    #[inline]
    pub fn on_mbo(&mut self, m: &MboMsg) {
        self.on_record(m.ts_recv, m.action as u8, m.side as u8, m.size as f64);
    }

    /// Computes the row of an event boundary at `ts_recv` from the book after the event.
    #[inline]
    pub fn on_event(&mut self, ts_recv: u64, book: &impl BookView, out: &mut [f64]) {
        let (bid, ask) = book.bbo();
        let px = |l: &LevelView| l.price as f64 / PRICE_SCALE as f64;
        let (mid, spread, micro) = match (&bid, &ask) {
            (Some(b), Some(a)) => {
                let (bp, ap) = (px(b), px(a));
                let (bs, asz) = (b.size as f64, a.size as f64);
                let micro = if bs + asz > 0.0 {
                    (bp * asz + ap * bs) / (bs + asz)
                } else {
                    f64::NAN
                };
                ((bp + ap) / 2.0, ap - bp, micro)
            }
            _ => (f64::NAN, f64::NAN, f64::NAN),
        };
        let prev = self.prev_bbo.replace((bid, ask));
        // Per-event inputs of the windowed features; None on the first event.
        let step = prev.map(|(pb, pa)| {
            let ofi = match (pb, pa, bid, ask) {
                (Some(pb), Some(pa), Some(b), Some(a)) => {
                    let mut e = 0.0;
                    if b.price >= pb.price {
                        e += b.size as f64;
                    }
                    if b.price <= pb.price {
                        e -= pb.size as f64;
                    }
                    if a.price <= pa.price {
                        e -= a.size as f64;
                    }
                    if a.price >= pa.price {
                        e += pa.size as f64;
                    }
                    e
                }
                _ => f64::NAN,
            };
            let lost = |p: Option<LevelView>, n: Option<LevelView>, is_bid: bool| match (p, n) {
                (Some(p), Some(n)) => {
                    let away = if is_bid {
                        n.price < p.price
                    } else {
                        n.price > p.price
                    };
                    if n.price == p.price {
                        p.size.saturating_sub(n.size) as f64
                    } else if away {
                        p.size as f64
                    } else {
                        0.0
                    }
                }
                (Some(p), None) => p.size as f64,
                _ => 0.0,
            };
            let dmid = if mid.is_finite() && self.prev_mid.is_finite() {
                (mid / self.prev_mid).ln()
            } else {
                0.0
            };
            (ofi, lost(pb, bid, true), lost(pa, ask, false), dmid)
        });
        if mid.is_finite() {
            self.prev_mid = mid;
        }
        let first = *self.first_ts.get_or_insert(ts_recv);
        if self.horizon > 0 {
            let cut = ts_recv.saturating_sub(self.horizon);
            for q in &mut self.recent {
                while q.front().is_some_and(|&t| t <= cut) {
                    q.pop_front();
                }
            }
        }
        for (f, o) in self.feats.iter_mut().zip(out.iter_mut()) {
            *o = match f {
                Feat::Spread => spread,
                Feat::Mid => mid,
                Feat::Microprice => micro,
                Feat::MicropriceDev => micro - mid,
                Feat::Imb(k) => {
                    let sum = |side| -> f64 {
                        (0..*k)
                            .map_while(|i| book.level(side, i))
                            .map(|l| l.size as f64)
                            .sum()
                    };
                    let (b, a) = (sum(Side::Bid), sum(Side::Ask));
                    if b + a > 0.0 {
                        (b - a) / (b + a)
                    } else {
                        f64::NAN
                    }
                }
                Feat::Ofi => step.map_or(f64::NAN, |s| s.0),
                Feat::OfiSum(w) => {
                    if let Some(s) = step {
                        w.push(if s.0.is_nan() { 0.0 } else { s.0 });
                    }
                    if w.is_full() {
                        w.sum()
                    } else {
                        f64::NAN
                    }
                }
                Feat::Tfi { buy, sell } => {
                    let (b, s) = (buy.sum(), sell.sum());
                    if !buy.is_full() || b + s == 0.0 {
                        f64::NAN
                    } else {
                        (b - s) / (b + s)
                    }
                }
                Feat::Rate { action, window } => {
                    // Saturating: a live caller may hand an earlier clock; never panic.
                    if ts_recv.saturating_sub(first) < *window {
                        f64::NAN
                    } else {
                        let q = &self.recent[action_slot(*action).unwrap_or(0)];
                        let from = ts_recv.saturating_sub(*window);
                        let inside = q.len() - q.partition_point(|&t| t <= from);
                        inside as f64 * 1e9 / *window as f64
                    }
                }
                Feat::QDepl { bid, lost } => {
                    if let Some(s) = step {
                        lost.push(if *bid { s.1 } else { s.2 });
                    }
                    let q = if *bid {
                        &bid_size(book)
                    } else {
                        &ask_size(book)
                    };
                    if !lost.is_full() || *q == 0.0 {
                        f64::NAN
                    } else {
                        lost.sum() / q
                    }
                }
                Feat::Rv(w) => {
                    if let Some(s) = step {
                        w.push(s.3 * s.3);
                    }
                    if w.is_full() {
                        w.sum().max(0.0).sqrt()
                    } else {
                        f64::NAN
                    }
                }
                Feat::LastSign => self.last_sign,
            };
        }
    }
}

fn bid_size(book: &impl BookView) -> f64 {
    book.best(Side::Bid).map_or(0.0, |l| l.size as f64)
}

fn ask_size(book: &impl BookView) -> f64 {
    book.best(Side::Ask).map_or(0.0, |l| l.size as f64)
}

/// Per-event features of a DBN MBO file (one column per feature, like
/// [`super::FeatureMatrix`]), plus each row's `ts_recv` and instrument id.
pub struct MicroFrame {
    pub ts_recv: Vec<u64>,
    pub instrument_id: Vec<u32>,
    pub matrix: super::FeatureMatrix,
}

/// Replays an MBO file through books and one [`MicroEngine`] per instrument; one row
/// per event boundary. Only MBO files carry the per-order records the rates need.
pub fn compute_micro_features(set: &FeatureSet, path: impl AsRef<Path>) -> Result<MicroFrame> {
    let path = path.as_ref();
    let mut reader = DbnReader::open(path)?;
    if reader.metadata().schema != Some(dbn::Schema::Mbo) {
        return Err(CoreError::UnknownFormat {
            path: path.to_path_buf(),
            detail: format!(
                "microstructure features need an MBO file, this one is {:?}",
                reader.metadata().schema
            ),
        });
    }
    MicroEngine::new(set)?;
    let mut books = Books::default();
    let mut engines: Vec<(u32, MicroEngine)> = Vec::new();
    let k = set.len();
    let mut row = vec![0.0; k];
    let mut cols: Vec<Vec<f64>> = vec![Vec::new(); k];
    let (mut ts, mut ids) = (Vec::new(), Vec::new());
    let mut prev_ts = 0u64;
    loop {
        let at = reader.position();
        let Some(rec) = reader.next_record()? else {
            break;
        };
        let rec: RecordRef<'_> = rec;
        let Some(m) = rec.get::<MboMsg>() else {
            continue;
        };
        if m.ts_recv < prev_ts {
            return Err(CoreError::OutOfOrder {
                path: path.to_path_buf(),
                at,
                prev: prev_ts,
                ts: m.ts_recv,
            });
        }
        prev_ts = m.ts_recv;
        let id = m.hd.instrument_id;
        let ei = match engines.iter().position(|(i, _)| *i == id) {
            Some(i) => i,
            None => {
                engines.push((id, MicroEngine::new(set)?));
                engines.len() - 1
            }
        };
        engines[ei].1.on_mbo(m);
        if let Some(b) = books.apply(&rec) {
            if let Some(book) = books.book(b.instrument_id) {
                engines[ei].1.on_event(b.ts_recv, book, &mut row);
                for (c, &v) in cols.iter_mut().zip(&row) {
                    c.push(v);
                }
                ts.push(b.ts_recv);
                ids.push(b.instrument_id);
            }
        }
    }
    let rows = ts.len();
    Ok(MicroFrame {
        ts_recv: ts,
        instrument_id: ids,
        matrix: super::FeatureMatrix::from_columns(set.names(), rows, cols),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::book::L3Book;
    use dbn::FlagSet;

    const S: u64 = 1_000_000_000;

    fn msg(ts: u64, action: u8, side: u8, price: i64, size: u32, id: u64) -> MboMsg {
        MboMsg {
            ts_recv: ts,
            order_id: id,
            price: price * PRICE_SCALE,
            size,
            flags: FlagSet::new(128),
            action: action as _,
            side: side as _,
            ..Default::default()
        }
    }

    /// Applies each message as its own event; returns the rows.
    fn run(names: &[&str], msgs: &[MboMsg]) -> Vec<Vec<f64>> {
        let set = FeatureSet::from_names(names).unwrap();
        let mut eng = MicroEngine::new(&set).unwrap();
        let mut book = L3Book::new();
        let mut rows = Vec::new();
        for m in msgs {
            book.apply(m);
            book.end_event();
            eng.on_mbo(m);
            let mut row = vec![0.0; eng.width()];
            eng.on_event(m.ts_recv, &book, &mut row);
            rows.push(row);
        }
        rows
    }

    #[test]
    fn order_flow_imbalance_follows_cont_kukanov_stoikov() {
        let rows = run(
            &[
                "micro_ofi",
                "micro_ofi_sum_2",
                "micro_imb_1",
                "micro_spread",
            ],
            &[
                msg(S, b'A', b'B', 100, 5, 1),     // bid 100 x5, no ask yet
                msg(2 * S, b'A', b'A', 102, 4, 2), // ask 102 x4
                msg(3 * S, b'A', b'B', 100, 3, 3), // bid size 5 -> 8: e = +3
                msg(4 * S, b'A', b'B', 101, 2, 4), // bid up to 101 x2: e = +2
                msg(5 * S, b'C', b'A', 102, 4, 2), // ask leaves: one-sided book
            ],
        );
        let ofi: Vec<f64> = rows.iter().map(|r| r[0]).collect();
        assert!(ofi[0].is_nan() && ofi[1].is_nan() && ofi[4].is_nan());
        assert_eq!((ofi[2], ofi[3]), (3.0, 2.0));
        // The 2-event sum needs three events (two steps); one-sided steps count as 0.
        let sum: Vec<f64> = rows.iter().map(|r| r[1]).collect();
        assert!(sum[1].is_nan());
        assert_eq!((sum[2], sum[3], sum[4]), (3.0, 5.0, 2.0));
        assert_eq!(rows[2][2], (8.0 - 4.0) / 12.0);
        assert_eq!(rows[3][3], 1.0);
    }

    #[test]
    fn trade_sign_flow_and_rates_count_the_right_records() {
        let rows = run(
            &[
                "micro_last_trade_sign",
                "micro_tfi_2",
                "micro_trade_rate_2000",
                "micro_add_rate_2000",
            ],
            &[
                msg(S, b'A', b'B', 100, 5, 1),
                msg(2 * S, b'T', b'B', 100, 3, 0),
                msg(3 * S, b'T', b'A', 100, 1, 0),
                msg(4 * S, b'T', b'N', 100, 7, 0),
            ],
        );
        let sign: Vec<f64> = rows.iter().map(|r| r[0]).collect();
        assert!(sign[0].is_nan());
        assert_eq!(&sign[1..], &[1.0, -1.0, 0.0]);
        // Last two trades at row 2: buy 3, sell 1; at row 3: sell 1 and an unsigned 7.
        assert!(rows[1][1].is_nan());
        assert_eq!((rows[2][1], rows[3][1]), (0.5, -1.0));
        // Rates need 2 s of history; at t = 3 s the window (1 s, 3 s] holds 2 trades.
        assert!(rows[1][2].is_nan());
        assert_eq!(rows[2][2], 1.0);
        assert_eq!(rows[3][2], 1.0); // trades at 3 s and 4 s
        assert_eq!(rows[2][3], 0.0); // the add at 1 s has left (1 s, 3 s]
    }
}
