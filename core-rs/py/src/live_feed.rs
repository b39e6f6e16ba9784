//! A live market-data feed into `LiveEngine`: raw DBN records (as the Databento live client
//! hands them) decoded in place and routed through the engine's existing paths. MBO goes
//! through `Engine::on_mbo` (the backtest's book, queue model, features and gates); L1/L2
//! schemas through the quote path (`Engine::on_quote` / `on_trade_print`). No book logic of
//! its own: it only maps the feed's instrument ids to the session's and counts.

use std::collections::HashMap;

use dbn::{rtype, FlagSet, MboMsg, Mbp10Msg, Mbp1Msg, RecordHeader, RecordRef, TradeMsg};
use tradecore::engine::broker::BrokerVenue;
use tradecore::engine::Engine;
use tradecore::CoreError;

type Result<T> = std::result::Result<T, CoreError>;

const UNDEF_PRICE: i64 = i64::MAX;

/// Feed instrument id -> engine instrument id, and the feed's counters.
#[derive(Debug, Default)]
pub struct FeedMap {
    ids: HashMap<u32, u32>,
    /// Last event time fed per engine instrument through the quote path (kept monotone:
    /// the quote path refuses time going back, a replayed overlap must not trip it).
    last_ts: HashMap<u32, u64>,
    pub records: u64,
    pub skipped: u64,
    /// Gaps marked per engine instrument.
    pub gaps: Vec<(u32, u64)>,
}

fn bad(offset: usize, detail: String) -> CoreError {
    CoreError::InvalidInput {
        what: format!("live feed record at byte {offset}"),
        detail,
    }
}

fn level(px: i64, sz: u32) -> Option<(i64, u32)> {
    (px != UNDEF_PRICE && sz > 0).then_some((px, sz))
}

impl FeedMap {
    pub fn map(&mut self, feed_id: u32, instrument_id: u32) {
        self.ids.insert(feed_id, instrument_id);
    }

    fn quote_ts(&mut self, id: u32, ts: u64) -> u64 {
        let t = self.last_ts.entry(id).or_insert(0);
        *t = (*t).max(ts);
        *t
    }

    /// Every record of `data` through the engine. Returns (fed, skipped).
    pub fn feed(&mut self, engine: &mut Engine<BrokerVenue>, data: &[u8]) -> Result<(u64, u64)> {
        let (mut fed, mut skipped) = (0u64, 0u64);
        let mut off = 0usize;
        let hd_len = std::mem::size_of::<RecordHeader>();
        while off < data.len() {
            let rest = &data[off..];
            if rest.len() < hd_len {
                return Err(bad(
                    off,
                    format!("{} bytes left, a header needs {hd_len}", rest.len()),
                ));
            }
            let len = rest[0] as usize * 4;
            if len < hd_len || len > rest.len() {
                return Err(bad(
                    off,
                    format!(
                        "record length {len} (header {hd_len}, {} bytes left)",
                        rest.len()
                    ),
                ));
            }
            // SAFETY: `rest[..len]` holds a whole record: its header's own length, checked above.
            let r: RecordRef<RecordHeader> = unsafe { RecordRef::new(&rest[..len]) };
            let feed_id = r.header().instrument_id;
            let id = self.ids.get(&feed_id).copied();
            match (r.header().rtype, id) {
                (rtype::MBO, Some(id)) => {
                    let m = r
                        .get::<MboMsg>()
                        .ok_or_else(|| bad(off, format!("MBO record of {len} bytes is short")))?;
                    let mut m = m.clone();
                    m.hd.instrument_id = id;
                    engine.on_mbo(&m)?;
                    fed += 1;
                }
                (rtype::MBP_1, Some(id)) => {
                    let m = r
                        .get::<Mbp1Msg>()
                        .ok_or_else(|| bad(off, format!("MBP-1 record of {len} bytes is short")))?;
                    let l = &m.levels[0];
                    let ts = self.quote_ts(id, m.ts_recv);
                    if m.action as u8 == b'T' {
                        engine.on_trade_print(id, ts, m.price, m.size, m.side as u8)?;
                    }
                    let (b, a) = (level(l.bid_px, l.bid_sz), level(l.ask_px, l.ask_sz));
                    engine.on_quote(id, ts, b, a)?;
                    fed += 1;
                }
                (rtype::MBP_10, Some(id)) => {
                    let m = r.get::<Mbp10Msg>().ok_or_else(|| {
                        bad(off, format!("MBP-10 record of {len} bytes is short"))
                    })?;
                    let l = &m.levels[0];
                    let ts = self.quote_ts(id, m.ts_recv);
                    if m.action as u8 == b'T' {
                        engine.on_trade_print(id, ts, m.price, m.size, m.side as u8)?;
                    }
                    let (b, a) = (level(l.bid_px, l.bid_sz), level(l.ask_px, l.ask_sz));
                    engine.on_quote(id, ts, b, a)?;
                    fed += 1;
                }
                (rtype::MBP_0, Some(id)) => {
                    let m = r
                        .get::<TradeMsg>()
                        .ok_or_else(|| bad(off, format!("trade record of {len} bytes is short")))?;
                    let ts = self.quote_ts(id, m.ts_recv);
                    engine.on_trade_print(id, ts, m.price, m.size, m.side as u8)?;
                    fed += 1;
                }
                // definitions, status, system, symbol mappings, errors: the control plane's;
                // market records of an instrument the session does not trade
                _ => skipped += 1,
            }
            off += len;
        }
        self.records += fed;
        self.skipped += skipped;
        Ok((fed, skipped))
    }

    /// Marks the book of `id` untrusted through the F_MAYBE_BAD_BOOK path: a no-op record
    /// (action N) flagged MAYBE_BAD_BOOK and not LAST, so no event runs on it.
    pub fn mark_untrusted(&mut self, engine: &mut Engine<BrokerVenue>, id: u32) -> Result<()> {
        let ts = engine.now();
        let m = MboMsg {
            hd: RecordHeader::new::<MboMsg>(rtype::MBO, 0, id, ts),
            ts_recv: ts,
            action: b'N' as _,
            side: b'N' as _,
            price: UNDEF_PRICE,
            flags: FlagSet::empty().set_maybe_bad_book(),
            ..Default::default()
        };
        engine.on_mbo(&m)?;
        match self.gaps.iter_mut().find(|(k, _)| *k == id) {
            Some((_, n)) => *n += 1,
            None => self.gaps.push((id, 1)),
        }
        Ok(())
    }
}
