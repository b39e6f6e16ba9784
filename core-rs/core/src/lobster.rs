//! LOBSTER (NASDAQ) replay and ground-truth book verification.
//!
//! A LOBSTER pair is a message file (one event per line) and an orderbook file whose row
//! `i` is the true top-N book after message `i`. [`replay_lobster`] rebuilds the book
//! from the messages and checks it against every row; [`verify_lobster`] does the same
//! without keeping the per-row frame.
//!
//! A level-N message file holds only the events that touch the top N levels at that
//! moment, so a level outside the window is unobservable. The rule we verify:
//! - a level that enters the window from outside (not by a message at its price) is
//!   seeded from the orderbook row and counted as seeded;
//! - a level that leaves the window is forgotten;
//! - every size of a level that stays inside the window must be predicted from the
//!   messages alone, and a tracked level that should be visible must be there.
//!
//! Every break of the rule is a [`Mismatch`]; after reporting one, the tracked level is
//! reset to the file's value so one fault is reported once, not on every later row.
//! Prices stay LOBSTER integers (USD x 10000) throughout; sizes are shares.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;

use crate::book::Side;
use crate::error::{CoreError, Result};

/// LOBSTER prices are USD x 10000.
pub const LOBSTER_PRICE_SCALE: i64 = 10_000;
/// Price of an unoccupied ask level in the orderbook file.
pub const EMPTY_ASK: i64 = 9_999_999_999;
/// Price of an unoccupied bid level in the orderbook file.
pub const EMPTY_BID: i64 = -9_999_999_999;
/// Upper bound on requested levels: LOBSTER serves far fewer; this only guards allocation.
pub const MAX_LEVELS: usize = 1000;
/// How many mismatches are kept in full for debugging (all are counted).
pub const KEPT_MISMATCHES: usize = 20;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const MESSAGE_COLUMNS: usize = 6;

/// Message event types (column 2 of the message file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum MsgType {
    Submit = 1,
    /// Partial cancellation.
    Cancel = 2,
    /// Total deletion of an order.
    Delete = 3,
    /// Execution of a visible order.
    Execute = 4,
    /// Execution of a hidden order: the visible book does not change.
    ExecuteHidden = 5,
    /// Cross trade (auction); later LOBSTER versions write it, the visible book does not change.
    Cross = 6,
    /// Trading halt / quoting / resume indicator; the orderbook row repeats the previous one.
    Halt = 7,
}

impl MsgType {
    fn from_code(c: i64) -> Option<Self> {
        Some(match c {
            1 => MsgType::Submit,
            2 => MsgType::Cancel,
            3 => MsgType::Delete,
            4 => MsgType::Execute,
            5 => MsgType::ExecuteHidden,
            6 => MsgType::Cross,
            7 => MsgType::Halt,
            _ => return None,
        })
    }

    /// Size change this message makes to its level: +1 adds, -1 removes, 0 none.
    #[inline]
    fn sign(self) -> i64 {
        match self {
            MsgType::Submit => 1,
            MsgType::Cancel | MsgType::Delete | MsgType::Execute => -1,
            MsgType::ExecuteHidden | MsgType::Cross | MsgType::Halt => 0,
        }
    }
}

/// One message line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message {
    /// Nanoseconds after midnight (exchange local time).
    pub ts_ns: i64,
    pub kind: MsgType,
    pub order_id: u64,
    pub size: i64,
    /// USD x 10000 (halts carry -1, 0 or 1 here).
    pub price: i64,
    /// 1 buy, -1 sell; for executions the side of the resting order.
    pub direction: i8,
}

impl Message {
    #[inline]
    pub fn side(&self) -> Side {
        if self.direction > 0 {
            Side::Bid
        } else {
            Side::Ask
        }
    }
}

/// The occupied levels of one orderbook row, best first, per side (`Side as usize`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BookRow {
    pub levels: [Vec<(i64, i64)>; 2],
}

/// How the rebuilt book broke the rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MismatchKind {
    /// A tracked level is visible with a different size.
    Size,
    /// A visible level we should have been tracking (it was visible on the previous row,
    /// or the message touched its price) is not tracked.
    Lost,
    /// A tracked level with positive size inside the visible window is not in the row.
    Missing,
    /// A tracked level went below zero and is not in the row.
    Negative,
}

impl MismatchKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MismatchKind::Size => "size",
            MismatchKind::Lost => "lost",
            MismatchKind::Missing => "missing",
            MismatchKind::Negative => "negative",
        }
    }
}

/// One break of the rule, with what a person needs to find it in the files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mismatch {
    /// 0-based row (= message index); the files' line is `row + 1`.
    pub row: u64,
    pub side: Side,
    /// 1-based level in the row (1 = best); None when the level is absent from the row.
    pub level: Option<u32>,
    /// USD x 10000.
    pub price: i64,
    /// Size in the orderbook file; None when the row does not show the price.
    pub expected: Option<i64>,
    /// Size the messages predict; None when the level was not tracked.
    pub predicted: Option<i64>,
    pub kind: MismatchKind,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let side = match self.side {
            Side::Bid => "bid",
            Side::Ask => "ask",
        };
        let opt = |v: Option<i64>| v.map_or_else(|| "-".to_string(), |v| v.to_string());
        let level = self
            .level
            .map_or_else(|| "-".to_string(), |l| l.to_string());
        write!(
            f,
            "row {} (line {}) {side} level {level} price {}.{:04}: {} expected {} predicted {}",
            self.row,
            self.row + 1,
            self.price.div_euclid(LOBSTER_PRICE_SCALE),
            self.price.rem_euclid(LOBSTER_PRICE_SCALE),
            self.kind.as_str(),
            opt(self.expected),
            opt(self.predicted),
        )
    }
}

/// Outcome of a replay.
#[derive(Debug, Clone, Default)]
pub struct LobsterSummary {
    pub rows: u64,
    pub levels: usize,
    /// Level entries seeded from the orderbook file (row 0's book before message 0,
    /// and every level that entered the window from outside).
    pub seeded: u64,
    pub mismatches: u64,
    /// The first [`KEPT_MISMATCHES`] mismatches, in file order.
    pub first_mismatches: Vec<Mismatch>,
    /// Messages per type code (index = code; 0 unused).
    pub type_counts: [u64; 8],
}

/// Predicts the book level by level and reconciles it with each orderbook row.
#[derive(Debug, Clone)]
pub struct Reconstructor {
    levels: usize,
    /// Per side: tracked (price, predicted size), a handful of entries.
    tracked: [Vec<(i64, i64)>; 2],
    /// Per side: prices visible on the previous row.
    prev_visible: [Vec<i64>; 2],
    rows: u64,
    summary: LobsterSummary,
}

impl Reconstructor {
    pub fn new(levels: usize) -> Result<Self> {
        check_levels(levels)?;
        Ok(Reconstructor {
            levels,
            tracked: Default::default(),
            prev_visible: Default::default(),
            rows: 0,
            summary: LobsterSummary {
                levels,
                ..Default::default()
            },
        })
    }

    pub fn summary(&self) -> &LobsterSummary {
        &self.summary
    }

    pub fn into_summary(self) -> LobsterSummary {
        self.summary
    }

    /// Feeds message `i` and orderbook row `i`; returns (levels seeded, mismatches) of
    /// this row. After the call the tracked book equals the row.
    pub fn step(&mut self, msg: &Message, row: &BookRow) -> (u32, u32) {
        let r = self.rows;
        self.rows += 1;
        self.summary.rows = self.rows;
        self.summary.type_counts[msg.kind as usize] += 1;
        let mut seeded = 0u32;
        if r == 0 {
            seeded = self.seed_before_first(msg, row);
        }
        let sign = msg.kind.sign();
        if sign != 0 {
            let t = &mut self.tracked[msg.side() as usize];
            match t.iter_mut().find(|(p, _)| *p == msg.price) {
                Some(l) => l.1 += sign * msg.size,
                None => t.push((msg.price, sign * msg.size)),
            }
        }
        let mut mismatches = 0u32;
        for side in [Side::Bid, Side::Ask] {
            let (s, m) = self.reconcile(r, side, msg, &row.levels[side as usize]);
            seeded += s;
            mismatches += m;
        }
        self.summary.seeded += u64::from(seeded);
        (seeded, mismatches)
    }

    /// Row 0 has no row before it: the book before message 0 is row 0 with message 0
    /// undone. Levels it leaves occupied count as seeded.
    fn seed_before_first(&mut self, msg: &Message, row: &BookRow) -> u32 {
        for side in [Side::Bid, Side::Ask] {
            let s = side as usize;
            self.tracked[s].clear();
            self.tracked[s].extend_from_slice(&row.levels[s]);
        }
        let sign = msg.kind.sign();
        let mut inferred = None;
        if sign != 0 {
            let t = &mut self.tracked[msg.side() as usize];
            match t.iter_mut().find(|(p, _)| *p == msg.price) {
                Some(l) => l.1 -= sign * msg.size,
                None => {
                    // A removal that emptied its level: the level existed before, known
                    // from the message, not from the file.
                    t.push((msg.price, -sign * msg.size));
                    inferred = Some((msg.side(), msg.price));
                }
            }
        }
        let mut seeded = 0;
        for side in [Side::Bid, Side::Ask] {
            let s = side as usize;
            self.tracked[s].retain(|&(_, q)| q > 0);
            seeded += self.tracked[s]
                .iter()
                .filter(|&&(p, _)| inferred != Some((side, p)))
                .count() as u32;
            self.prev_visible[s].clear();
            self.prev_visible[s].extend(self.tracked[s].iter().map(|&(p, _)| p));
        }
        seeded
    }

    fn record(&mut self, m: Mismatch) {
        self.summary.mismatches += 1;
        if self.summary.first_mismatches.len() < KEPT_MISMATCHES {
            self.summary.first_mismatches.push(m);
        }
    }

    fn reconcile(&mut self, r: u64, side: Side, msg: &Message, vis: &[(i64, i64)]) -> (u32, u32) {
        let s = side as usize;
        let touched = msg.kind.sign() != 0 && msg.side() == side;
        let mut seeded = 0;
        let mut found = Vec::<Mismatch>::new();
        let mut tracked = std::mem::take(&mut self.tracked[s]);
        for (i, &(p, q)) in vis.iter().enumerate() {
            let level = Some(i as u32 + 1);
            match tracked.iter_mut().find(|(tp, _)| *tp == p) {
                Some(l) => {
                    if l.1 != q {
                        found.push(Mismatch {
                            row: r,
                            side,
                            level,
                            price: p,
                            expected: Some(q),
                            predicted: Some(l.1),
                            kind: MismatchKind::Size,
                        });
                        l.1 = q;
                    }
                }
                None => {
                    if self.prev_visible[s].contains(&p) || (touched && msg.price == p) {
                        found.push(Mismatch {
                            row: r,
                            side,
                            level,
                            price: p,
                            expected: Some(q),
                            predicted: None,
                            kind: MismatchKind::Lost,
                        });
                    } else {
                        seeded += 1;
                    }
                    tracked.push((p, q));
                }
            }
        }
        // Inside the window: at least as good as the worst visible level when the side
        // shows all N levels; anywhere when it shows fewer (the book has no more).
        let full = vis.len() >= self.levels;
        let worst = vis.last().map(|&(p, _)| p);
        let inside = |p: i64| -> bool {
            match (full, worst, side) {
                (false, _, _) | (true, None, _) => true,
                (true, Some(w), Side::Bid) => p >= w,
                (true, Some(w), Side::Ask) => p <= w,
            }
        };
        tracked.retain(|&(p, q)| {
            if vis.iter().any(|&(vp, _)| vp == p) {
                return true;
            }
            let kind = if q < 0 {
                Some(MismatchKind::Negative)
            } else if q > 0 && inside(p) {
                Some(MismatchKind::Missing)
            } else {
                None
            };
            if let Some(kind) = kind {
                found.push(Mismatch {
                    row: r,
                    side,
                    level: None,
                    price: p,
                    expected: None,
                    predicted: Some(q),
                    kind,
                });
            }
            false
        });
        self.tracked[s] = tracked;
        self.prev_visible[s].clear();
        self.prev_visible[s].extend(vis.iter().map(|&(p, _)| p));
        let n = found.len() as u32;
        for m in found {
            self.record(m);
        }
        (seeded, n)
    }
}

fn check_levels(levels: usize) -> Result<()> {
    if levels == 0 || levels > MAX_LEVELS {
        return Err(CoreError::Config(format!(
            "LOBSTER levels must be 1..={MAX_LEVELS}, got {levels}"
        )));
    }
    Ok(())
}

/// A text file read line by line into one reused buffer, gzip or plain.
pub struct LineSource {
    path: PathBuf,
    inner: Box<dyn BufRead + Send>,
    buf: Vec<u8>,
    line: u64,
}

impl LineSource {
    /// Opens `path`; gzip is recognised by its magic bytes, not by the file name.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|e| CoreError::io(path, e))?;
        let mut raw = BufReader::with_capacity(1 << 16, file);
        let head = raw.fill_buf().map_err(|e| CoreError::io(path, e))?;
        if head.is_empty() {
            return Err(CoreError::EmptyFile {
                path: path.to_path_buf(),
            });
        }
        let inner: Box<dyn BufRead + Send> = if head.starts_with(&GZIP_MAGIC) {
            Box::new(BufReader::with_capacity(1 << 16, MultiGzDecoder::new(raw)))
        } else {
            Box::new(raw)
        };
        Ok(Self::from_reader(path, inner))
    }

    /// Reads from any buffered reader; `path` is only used to name errors.
    pub fn from_reader(path: impl AsRef<Path>, inner: Box<dyn BufRead + Send>) -> Self {
        LineSource {
            path: path.as_ref().to_path_buf(),
            inner,
            buf: Vec::with_capacity(256),
            line: 0,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// 1-based number of the line last returned.
    pub fn line(&self) -> u64 {
        self.line
    }

    /// Reads the next line into the buffer; false at the end of the file.
    pub fn advance(&mut self) -> Result<bool> {
        self.buf.clear();
        let n = self
            .inner
            .read_until(b'\n', &mut self.buf)
            .map_err(|e| CoreError::io(&self.path, e))?;
        if n == 0 {
            return Ok(false);
        }
        self.line += 1;
        if self.buf.last() == Some(&b'\n') {
            self.buf.pop();
        }
        if self.buf.last() == Some(&b'\r') {
            self.buf.pop();
        }
        Ok(true)
    }

    /// The line last read, without its line ending.
    pub fn current(&self) -> &[u8] {
        &self.buf
    }

    pub fn bad(&self, detail: impl Into<String>) -> CoreError {
        CoreError::BadLine {
            path: self.path.clone(),
            line: self.line,
            detail: detail.into(),
        }
    }
}

/// Parses a signed decimal integer; the whole field must be digits after the sign.
#[inline]
fn parse_int(f: &[u8]) -> Option<i64> {
    let (neg, digits) = match f.first()? {
        b'-' => (true, &f[1..]),
        b'+' => (false, &f[1..]),
        _ => (false, f),
    };
    if digits.is_empty() || digits.len() > 18 {
        return None;
    }
    let mut v: i64 = 0;
    for &c in digits {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v * 10 + i64::from(d);
    }
    Some(if neg { -v } else { v })
}

/// Parses non-negative decimal seconds into nanoseconds. Fractions longer than 9 digits
/// occur in real files (float artefacts such as `43002.632812672004`) and are rounded.
#[inline]
fn parse_seconds_ns(f: &[u8]) -> Option<i64> {
    let (int, frac) = match f.iter().position(|&c| c == b'.') {
        Some(i) => (&f[..i], &f[i + 1..]),
        None => (f, &f[f.len()..]),
    };
    if int.is_empty() || int.len() > 9 || frac.len() > 30 {
        return None;
    }
    let digit = |c: u8| -> Option<i64> {
        let d = c.wrapping_sub(b'0');
        (d <= 9).then_some(i64::from(d))
    };
    let mut secs: i64 = 0;
    for &c in int {
        secs = secs * 10 + digit(c)?;
    }
    let mut ns: i64 = 0;
    for i in 0..9 {
        ns = ns * 10 + frac.get(i).map_or(Some(0), |&c| digit(c))?;
    }
    let mut round_up = false;
    for (i, &c) in frac.iter().enumerate().skip(9) {
        let d = digit(c)?;
        if i == 9 {
            round_up = d >= 5;
        }
    }
    Some(secs * 1_000_000_000 + ns + i64::from(round_up))
}

fn field_name(i: usize) -> &'static str {
    ["time", "type", "order id", "size", "price", "direction"][i]
}

/// Parses one message line (also used by the bar builder for LOBSTER executions).
pub fn parse_message(src: &LineSource) -> Result<Message> {
    let line = src.current();
    let mut f: [&[u8]; MESSAGE_COLUMNS] = [&[]; MESSAGE_COLUMNS];
    let mut n = 0;
    for part in line.split(|&c| c == b',') {
        if n < MESSAGE_COLUMNS {
            f[n] = part;
        }
        n += 1;
    }
    if n != MESSAGE_COLUMNS {
        return Err(src.bad(format!(
            "message line has {n} columns, expected {MESSAGE_COLUMNS} (time,type,order id,size,price,direction)"
        )));
    }
    let bad_field = |i: usize| {
        src.bad(format!(
            "message column {} ({}) is not valid: {:?}",
            i + 1,
            field_name(i),
            String::from_utf8_lossy(f[i])
        ))
    };
    let ts_ns = parse_seconds_ns(f[0]).ok_or_else(|| bad_field(0))?;
    let code = parse_int(f[1]).ok_or_else(|| bad_field(1))?;
    let kind = MsgType::from_code(code)
        .ok_or_else(|| src.bad(format!("unknown message type {code} (known: 1-7)")))?;
    let order_id = parse_int(f[2])
        .and_then(|v| u64::try_from(v).ok())
        .ok_or_else(|| bad_field(2))?;
    let size = parse_int(f[3])
        .filter(|&v| v >= 0)
        .ok_or_else(|| bad_field(3))?;
    let price = parse_int(f[4]).ok_or_else(|| bad_field(4))?;
    let direction = match parse_int(f[5]) {
        Some(1) => 1,
        Some(-1) => -1,
        _ => return Err(bad_field(5)),
    };
    Ok(Message {
        ts_ns,
        kind,
        order_id,
        size,
        price,
        direction,
    })
}

/// Parses one orderbook line into `row`, reusing its buffers.
fn parse_book_row(src: &LineSource, levels: usize, row: &mut BookRow) -> Result<()> {
    let line = src.current();
    for v in &mut row.levels {
        v.clear();
    }
    let want = 4 * levels;
    let mut vals = [0i64; 4];
    let mut n = 0usize;
    let mut empty_seen = [false; 2];
    for part in line.split(|&c| c == b',') {
        if n >= want {
            n += 1;
            continue;
        }
        vals[n % 4] = parse_int(part).ok_or_else(|| {
            src.bad(format!(
                "orderbook column {} is not an integer: {:?}",
                n + 1,
                String::from_utf8_lossy(part)
            ))
        })?;
        n += 1;
        if n % 4 != 0 {
            continue;
        }
        let level = n / 4;
        let [ask_px, ask_sz, bid_px, bid_sz] = vals;
        for (side, px, sz, empty) in [
            (Side::Ask, ask_px, ask_sz, EMPTY_ASK),
            (Side::Bid, bid_px, bid_sz, EMPTY_BID),
        ] {
            let s = side as usize;
            if sz < 0 {
                return Err(src.bad(format!("orderbook level {level} has negative size {sz}")));
            }
            if px == empty {
                empty_seen[s] = true;
                continue;
            }
            // Levels are best first with empty ones last; the window test relies on it.
            let ordered = match (side, row.levels[s].last()) {
                (_, None) => true,
                (Side::Ask, Some(&(prev, _))) => px > prev,
                (Side::Bid, Some(&(prev, _))) => px < prev,
            };
            if empty_seen[s] || !ordered {
                return Err(src.bad(format!(
                    "orderbook level {level} {} price {px} is out of order",
                    if side == Side::Ask { "ask" } else { "bid" }
                )));
            }
            row.levels[s].push((px, sz));
        }
    }
    if n != want {
        let detail = if n % 4 == 0 {
            format!(
                "orderbook line has {n} columns ({} levels), but {levels} levels were requested ({want} columns)",
                n / 4
            )
        } else {
            format!(
                "orderbook line has {n} columns, expected {want} (4 per level, {levels} levels)"
            )
        };
        return Err(src.bad(detail));
    }
    Ok(())
}

/// Top-N reconciled book and the message at every row, column by column.
#[derive(Debug, Clone, Default)]
pub struct LobsterFrame {
    pub levels: usize,
    pub ts_ns: Vec<i64>,
    pub msg_type: Vec<u8>,
    pub order_id: Vec<u64>,
    pub size: Vec<i64>,
    pub price: Vec<i64>,
    pub direction: Vec<i8>,
    /// `[side][level]` columns (`Side as usize`); empty levels carry the LOBSTER dummy
    /// prices ([`EMPTY_BID`], [`EMPTY_ASK`]) and size 0.
    pub px: [Vec<Vec<i64>>; 2],
    pub sz: [Vec<Vec<i64>>; 2],
    /// Level entries seeded at this row.
    pub seeded: Vec<u32>,
    /// Mismatches found at this row.
    pub mismatches: Vec<u32>,
}

impl LobsterFrame {
    pub fn new(levels: usize) -> Self {
        fn cols(levels: usize) -> [Vec<Vec<i64>>; 2] {
            [(); 2].map(|_| (0..levels).map(|_| Vec::new()).collect())
        }
        LobsterFrame {
            levels,
            px: cols(levels),
            sz: cols(levels),
            ..Default::default()
        }
    }

    pub fn len(&self) -> usize {
        self.ts_ns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ts_ns.is_empty()
    }

    /// Appends one row. The reconciled book equals the row's visible levels (predicted
    /// where tracked, seeded where they entered), so it is written from them.
    fn push(&mut self, msg: &Message, row: &BookRow, seeded: u32, mismatches: u32) {
        self.ts_ns.push(msg.ts_ns);
        self.msg_type.push(msg.kind as u8);
        self.order_id.push(msg.order_id);
        self.size.push(msg.size);
        self.price.push(msg.price);
        self.direction.push(msg.direction);
        for (side, empty) in [(Side::Bid, EMPTY_BID), (Side::Ask, EMPTY_ASK)] {
            let s = side as usize;
            let vis = &row.levels[s];
            for i in 0..self.levels {
                let (p, q) = vis.get(i).copied().unwrap_or((empty, 0));
                self.px[s][i].push(p);
                self.sz[s][i].push(q);
            }
        }
        self.seeded.push(seeded);
        self.mismatches.push(mismatches);
    }
}

/// Replays a message file against its orderbook file, calling `sink` after every row
/// with the message, the row, and the row's (seeded, mismatches).
pub fn replay_lobster_with<F>(
    mut messages: LineSource,
    mut orderbook: LineSource,
    levels: usize,
    mut sink: F,
) -> Result<LobsterSummary>
where
    F: FnMut(&Message, &BookRow, u32, u32),
{
    let mut rec = Reconstructor::new(levels)?;
    let mut row = BookRow::default();
    let mut prev_ts = i64::MIN;
    loop {
        let msg = if messages.advance()? {
            let m = parse_message(&messages)?;
            // LOBSTER writes messages in time order; a step back means a damaged or
            // spliced file, whose book states cannot be checked against each other.
            if m.ts_ns < prev_ts {
                return Err(messages.bad(format!(
                    "message time {}.{:09} s goes back from {}.{:09} s on the line before \
                     (messages must be in time order)",
                    m.ts_ns / 1_000_000_000,
                    m.ts_ns % 1_000_000_000,
                    prev_ts / 1_000_000_000,
                    prev_ts % 1_000_000_000
                )));
            }
            prev_ts = m.ts_ns;
            Some(m)
        } else {
            None
        };
        let have_row = orderbook.advance()?;
        if have_row {
            parse_book_row(&orderbook, levels, &mut row)?;
        }
        let msg = match (msg, have_row) {
            (Some(m), true) => m,
            (None, false) => break,
            (Some(_), false) => {
                return Err(CoreError::BadLine {
                    path: orderbook.path().to_path_buf(),
                    line: orderbook.line() + 1,
                    detail: format!(
                        "orderbook file ends after {} rows but the message file {} continues",
                        orderbook.line(),
                        messages.path().display()
                    ),
                })
            }
            (None, true) => {
                return Err(CoreError::BadLine {
                    path: messages.path().to_path_buf(),
                    line: messages.line() + 1,
                    detail: format!(
                        "message file ends after {} rows but the orderbook file {} continues",
                        messages.line(),
                        orderbook.path().display()
                    ),
                })
            }
        };
        let (seeded, mismatches) = rec.step(&msg, &row);
        sink(&msg, &row, seeded, mismatches);
    }
    Ok(rec.into_summary())
}

/// Replays and verifies a LOBSTER pair; returns the per-row frame and the summary.
pub fn replay_lobster(
    message_path: impl AsRef<Path>,
    orderbook_path: impl AsRef<Path>,
    levels: usize,
) -> Result<(LobsterFrame, LobsterSummary)> {
    check_levels(levels)?;
    let messages = LineSource::open(message_path)?;
    let orderbook = LineSource::open(orderbook_path)?;
    let mut frame = LobsterFrame::new(levels);
    let summary = replay_lobster_with(messages, orderbook, levels, |m, r, s, x| {
        frame.push(m, r, s, x)
    })?;
    Ok((frame, summary))
}

/// Replays and verifies a LOBSTER pair, keeping only the summary.
pub fn verify_lobster(
    message_path: impl AsRef<Path>,
    orderbook_path: impl AsRef<Path>,
    levels: usize,
) -> Result<LobsterSummary> {
    check_levels(levels)?;
    let messages = LineSource::open(message_path)?;
    let orderbook = LineSource::open(orderbook_path)?;
    replay_lobster_with(messages, orderbook, levels, |_, _, _, _| {})
}

/// A [`LineSource`] over bytes already in memory (plain text); `path` names errors.
pub fn line_source_from_bytes(path: impl AsRef<Path>, bytes: Vec<u8>) -> LineSource {
    LineSource::from_reader(path, Box::new(std::io::Cursor::new(bytes)))
}

#[cfg(test)]
mod tests;
