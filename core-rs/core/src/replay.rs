//! File replay: streams a DBN file through per-instrument books (L3 from MBO, L2 from
//! MBP/BBO) and hands each event boundary (F_LAST) to a sink. `replay_book` is the batch
//! sink that collects top-N levels into columns for a DataFrame.

use std::path::Path;

use dbn::{rtype, BboMsg, MboMsg, Mbp10Msg, Mbp1Msg, RecordRef};

use crate::book::{
    AnomalyCounts, BookView, Integrity, L2Book, L3Book, LevelView, Side, PRICE_SCALE,
};
use crate::decode::DbnReader;
use crate::error::{CoreError, Result};

/// A book of either depth, behind the shared query surface.
#[derive(Debug, Clone)]
// One per instrument, made once: boxing either variant would add a pointer chase to
// every event for no memory worth saving.
#[allow(clippy::large_enum_variant)]
pub enum AnyBook {
    L3(L3Book),
    L2(L2Book),
}

impl BookView for AnyBook {
    #[inline]
    fn depth(&self, side: Side) -> usize {
        match self {
            AnyBook::L3(b) => b.depth(side),
            AnyBook::L2(b) => b.depth(side),
        }
    }
    #[inline]
    fn level(&self, side: Side, i: usize) -> Option<LevelView> {
        match self {
            AnyBook::L3(b) => b.level(side, i),
            AnyBook::L2(b) => b.level(side, i),
        }
    }
    fn integrity(&self) -> Integrity {
        match self {
            AnyBook::L3(b) => b.integrity(),
            AnyBook::L2(b) => b.integrity(),
        }
    }
}

impl AnyBook {
    pub fn anomalies(&self) -> AnomalyCounts {
        match self {
            AnyBook::L3(b) => b.anomalies(),
            AnyBook::L2(b) => b.anomalies(),
        }
    }

    #[inline]
    fn end_event(&mut self) -> bool {
        match self {
            AnyBook::L3(b) => b.end_event(),
            AnyBook::L2(b) => b.end_event(),
        }
    }
}

/// Header facts of the record that closed an event.
#[derive(Debug, Clone, Copy)]
pub struct Boundary {
    pub ts_event: u64,
    pub ts_recv: u64,
    pub instrument_id: u32,
    /// True when this boundary found the book crossed (also counted in anomalies).
    pub crossed: bool,
}

/// Counts of one replay.
#[derive(Debug, Clone, Default)]
pub struct ReplayStats {
    pub records: u64,
    pub book_records: u64,
    pub other_records: u64,
    pub boundaries: u64,
    /// Book records applied after the last boundary: at the end of a file, records whose
    /// event never closed. A venue that never sets F_LAST leaves every book record here
    /// (and an empty frame under [`Flush::Event`]).
    pub unflushed: u64,
    pub instruments: usize,
    pub anomalies: AnomalyCounts,
}

/// When a replay hands the book to its sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Flush {
    /// At every event boundary (F_LAST), as Databento marks them.
    #[default]
    Event,
    /// After every book record: for venues or files that never set F_LAST (each record
    /// then stands alone, and books between the records of one event are shown).
    Record,
}

/// Books per instrument. Few instruments per file, so a vector with a last-hit cache
/// beats hashing on every record.
#[derive(Debug, Default)]
pub struct Books {
    entries: Vec<(u32, AnyBook)>,
    last: usize,
    flush: Flush,
}

impl Books {
    #[inline]
    fn get(&mut self, id: u32, l3: bool) -> &mut AnyBook {
        if self.last < self.entries.len() && self.entries[self.last].0 == id {
            return &mut self.entries[self.last].1;
        }
        let i = match self.entries.iter().position(|(k, _)| *k == id) {
            Some(i) => i,
            None => {
                let book = if l3 {
                    AnyBook::L3(L3Book::new())
                } else {
                    AnyBook::L2(L2Book::new())
                };
                self.entries.push((id, book));
                self.entries.len() - 1
            }
        };
        self.last = i;
        &mut self.entries[i].1
    }

    /// Sets when boundaries are reported ([`Flush`]).
    pub fn set_flush(&mut self, flush: Flush) {
        self.flush = flush;
    }

    pub fn book(&self, id: u32) -> Option<&AnyBook> {
        self.entries.iter().find(|(k, _)| *k == id).map(|(_, b)| b)
    }

    pub fn iter(&self) -> impl Iterator<Item = (u32, &AnyBook)> {
        self.entries.iter().map(|(k, b)| (*k, b))
    }

    /// Applies one record; returns the boundary if it closed an event.
    #[inline]
    pub fn apply(&mut self, rec: &RecordRef<'_>) -> Option<Boundary> {
        let hd = rec.header();
        let (flags, ts_recv) = match hd.rtype {
            rtype::MBO => {
                let m = rec.get::<MboMsg>()?;
                let AnyBook::L3(b) = self.get(hd.instrument_id, true) else {
                    return None;
                };
                b.apply(m);
                (m.flags, m.ts_recv)
            }
            rtype::MBP_1 => {
                let m = rec.get::<Mbp1Msg>()?;
                self.apply_l2(hd.instrument_id, m.flags, m.action, &m.levels)?;
                (m.flags, m.ts_recv)
            }
            rtype::MBP_10 => {
                let m = rec.get::<Mbp10Msg>()?;
                self.apply_l2(hd.instrument_id, m.flags, m.action, &m.levels)?;
                (m.flags, m.ts_recv)
            }
            rtype::BBO_1S | rtype::BBO_1M => {
                let m = rec.get::<BboMsg>()?;
                self.apply_l2(hd.instrument_id, m.flags, b'N' as _, &m.levels)?;
                (m.flags, m.ts_recv)
            }
            _ => return None,
        };
        if !flags.is_last() && self.flush == Flush::Event {
            return None;
        }
        let crossed = self.entries[self.last].1.end_event();
        Some(Boundary {
            ts_event: hd.ts_event,
            ts_recv,
            instrument_id: hd.instrument_id,
            crossed,
        })
    }

    #[inline]
    fn apply_l2(
        &mut self,
        id: u32,
        flags: dbn::FlagSet,
        action: std::ffi::c_char,
        levels: &[dbn::BidAskPair],
    ) -> Option<()> {
        match self.get(id, false) {
            AnyBook::L2(b) => {
                b.apply(flags, action, levels);
                Some(())
            }
            AnyBook::L3(_) => None,
        }
    }

    pub fn anomalies(&self) -> AnomalyCounts {
        let mut a = AnomalyCounts::default();
        for (_, b) in &self.entries {
            a.add(&b.anomalies());
        }
        a
    }
}

/// True for record types whose `ts_recv` orders the file.
#[inline]
fn book_ts_recv(rec: &RecordRef<'_>) -> Option<u64> {
    match rec.header().rtype {
        rtype::MBO => rec.get::<MboMsg>().map(|m| m.ts_recv),
        rtype::MBP_1 => rec.get::<Mbp1Msg>().map(|m| m.ts_recv),
        rtype::MBP_10 => rec.get::<Mbp10Msg>().map(|m| m.ts_recv),
        _ => None,
    }
}

/// A file replay in progress: the reader, its books, and the counts so far. Steps from
/// one event boundary to the next; batch replays and notebooks both drive it.
pub struct Replay {
    reader: DbnReader,
    books: Books,
    stats: ReplayStats,
    prev_ts: u64,
}

impl Replay {
    pub fn new(reader: DbnReader) -> Self {
        Replay {
            reader,
            books: Books::default(),
            stats: ReplayStats::default(),
            prev_ts: 0,
        }
    }

    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Ok(Self::new(DbnReader::open(path)?))
    }

    /// Sets when boundaries are reported ([`Flush`]); before the first record.
    pub fn set_flush(&mut self, flush: Flush) {
        self.books.set_flush(flush);
    }

    pub fn reader(&self) -> &DbnReader {
        &self.reader
    }

    pub fn books(&self) -> &Books {
        &self.books
    }

    /// Counts so far (anomalies summed over all books).
    pub fn stats(&self) -> ReplayStats {
        let mut s = self.stats.clone();
        s.instruments = self.books.entries.len();
        s.anomalies = self.books.anomalies();
        s
    }

    /// The book the last boundary touched.
    pub fn last_book(&self) -> Option<&AnyBook> {
        self.books.entries.get(self.books.last).map(|(_, b)| b)
    }

    /// Advances to the next event boundary; `None` at the end of the file.
    #[inline]
    pub fn next_boundary(&mut self) -> Result<Option<Boundary>> {
        loop {
            match self.next_record()? {
                None => return Ok(None),
                Some(Some(b)) => return Ok(Some(b)),
                Some(None) => {}
            }
        }
    }

    /// Applies exactly one record: `None` at the end of the file, else the boundary the
    /// record closed, if any. Records must be in `ts_recv` order (as Databento writes them).
    #[inline]
    pub fn next_record(&mut self) -> Result<Option<Option<Boundary>>> {
        let at = self.reader.position();
        let Some(rec) = self.reader.next_record()? else {
            return Ok(None);
        };
        self.stats.records += 1;
        if let Some(ts) = book_ts_recv(&rec) {
            if ts < self.prev_ts {
                return Err(CoreError::OutOfOrder {
                    path: self.reader.path().to_path_buf(),
                    at,
                    prev: self.prev_ts,
                    ts,
                });
            }
            self.prev_ts = ts;
            self.stats.book_records += 1;
        } else {
            self.stats.other_records += 1;
        }
        let is_book = book_ts_recv(&rec).is_some();
        let boundary = self.books.apply(&rec);
        if boundary.is_some() {
            self.stats.boundaries += 1;
            self.stats.unflushed = 0;
        } else if is_book {
            self.stats.unflushed += 1;
        }
        Ok(Some(boundary))
    }
}

/// Streams `reader` through books, calling `sink` at every event boundary with the book
/// that the event touched.
pub fn replay_with<F>(reader: DbnReader, sink: F) -> Result<Replay>
where
    F: FnMut(&Boundary, &AnyBook),
{
    replay_flush_with(reader, Flush::Event, sink)
}

/// [`replay_with`], calling `sink` at the boundaries `flush` chooses.
pub fn replay_flush_with<F>(reader: DbnReader, flush: Flush, mut sink: F) -> Result<Replay>
where
    F: FnMut(&Boundary, &AnyBook),
{
    let mut replay = Replay::new(reader);
    replay.set_flush(flush);
    while let Some(b) = replay.next_boundary()? {
        let book = &replay.books.entries[replay.books.last].1;
        sink(&b, book);
    }
    Ok(replay)
}

/// Top-N book state at every event boundary. Levels are stored row-major (one
/// `LevelView` per side and level per row: a single push each, which keeps the replay
/// loop tight) and turned into columns once at the end by [`BookFrame::level_column`].
#[derive(Debug, Clone, Default)]
pub struct BookFrame {
    pub levels: usize,
    pub ts_event: Vec<u64>,
    pub ts_recv: Vec<u64>,
    pub instrument_id: Vec<u32>,
    pub untrusted: Vec<bool>,
    pub crossed: Vec<bool>,
    /// Row-major `[row][side][level]`; an empty level has size 0 and `UNDEF_PRICE`.
    rows: Vec<LevelView>,
}

const EMPTY_LEVEL: LevelView = LevelView {
    price: crate::book::UNDEF_PRICE,
    size: 0,
    count: 0,
};

impl BookFrame {
    pub fn new(levels: usize) -> Self {
        BookFrame {
            levels,
            ..Default::default()
        }
    }

    pub fn len(&self) -> usize {
        self.ts_event.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ts_event.is_empty()
    }

    /// Makes room for `rows` more boundaries (when the count is known, e.g. a rerun).
    pub fn reserve(&mut self, rows: usize) {
        self.ts_event.reserve(rows);
        self.ts_recv.reserve(rows);
        self.instrument_id.reserve(rows);
        self.untrusted.reserve(rows);
        self.crossed.reserve(rows);
        self.rows.reserve(rows * 2 * self.levels);
    }

    #[inline]
    pub fn push(&mut self, b: &Boundary, book: &impl BookView) {
        self.ts_event.push(b.ts_event);
        self.ts_recv.push(b.ts_recv);
        self.instrument_id.push(b.instrument_id);
        for side in [Side::Bid, Side::Ask] {
            for i in 0..self.levels {
                self.rows.push(book.level(side, i).unwrap_or(EMPTY_LEVEL));
            }
        }
        self.untrusted.push(book.integrity().untrusted);
        self.crossed.push(b.crossed);
    }

    /// All levels, row-major `[row][side][level]` (empty levels: size 0, `UNDEF_PRICE`).
    pub fn level_rows(&self) -> &[LevelView] {
        &self.rows
    }

    /// One level of one side for every row.
    pub fn level_column(&self, side: Side, level: usize) -> impl Iterator<Item = &LevelView> {
        let width = 2 * self.levels;
        let first = side as usize * self.levels + level;
        self.rows.iter().skip(first).step_by(width.max(1))
    }

    /// Prices of one level in price units, NaN where the level is empty.
    pub fn prices(&self, side: Side, level: usize) -> Vec<f64> {
        self.level_column(side, level)
            .map(|l| {
                if l.size == 0 {
                    f64::NAN
                } else {
                    l.price as f64 / PRICE_SCALE as f64
                }
            })
            .collect()
    }

    /// Arrow validity bitmap (LSB first) of one level's prices: bit set where the level
    /// exists. `None` when every row has the level, as Arrow allows.
    pub fn price_validity(&self, side: Side, level: usize) -> Option<Vec<u8>> {
        // Rows counted from the level store: the scalar columns may have been moved out.
        let rows = self.rows.len() / (2 * self.levels).max(1);
        let mut bits = vec![0u8; rows.div_ceil(8)];
        let mut all = true;
        for (i, l) in self.level_column(side, level).enumerate() {
            if l.size > 0 {
                bits[i / 8] |= 1 << (i % 8);
            } else {
                all = false;
            }
        }
        (!all).then_some(bits)
    }

    pub fn sizes(&self, side: Side, level: usize) -> Vec<u64> {
        self.level_column(side, level).map(|l| l.size).collect()
    }

    pub fn counts(&self, side: Side, level: usize) -> Vec<u32> {
        self.level_column(side, level).map(|l| l.count).collect()
    }
}

/// Replays `path` and returns the top `levels` of the touched book at every boundary.
pub fn replay_book(path: impl AsRef<Path>, levels: usize) -> Result<(BookFrame, ReplayStats)> {
    replay_book_flush(path, levels, Flush::Event)
}

/// [`replay_book`] with a row at the boundaries `flush` chooses (one per record with
/// [`Flush::Record`]).
pub fn replay_book_flush(
    path: impl AsRef<Path>,
    levels: usize,
    flush: Flush,
) -> Result<(BookFrame, ReplayStats)> {
    if levels == 0 || levels > 50 {
        return Err(CoreError::Config(format!(
            "levels must be 1..=50, got {levels}"
        )));
    }
    let mut frame = BookFrame::new(levels);
    let replay = replay_flush_with(DbnReader::open(path)?, flush, |b, book| frame.push(b, book))?;
    Ok((frame, replay.stats()))
}
