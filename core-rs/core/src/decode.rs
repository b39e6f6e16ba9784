//! Streaming DBN reader: opens `.dbn` and `.dbn.zst` files (DBN versions 1-3), upgrades
//! records to the current layout, tracks the record index and byte offset of every record,
//! and turns every failure into a typed [`CoreError`] naming the file and the place.
//!
//! Compressed files are decompressed on a second thread in fixed-size chunks through a
//! bounded channel: memory stays bounded whatever the file size, and decompression
//! overlaps decoding and book building (the two together are slower than either alone).

use std::fs::File;
use std::io::{self, BufReader, Cursor, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

use dbn::{Metadata, RecordRef};

use crate::error::{CoreError, Position, Result};

const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];
const DBN_MAGIC: &[u8; 3] = b"DBN";
const PRELUDE_LEN: usize = 8;
const CHUNK: usize = 1 << 18;
const CHUNKS_IN_FLIGHT: usize = 4;

/// Marks an I/O error raised by the decompression thread, so the reader can report it
/// as corrupt compression rather than as a decode error.
#[derive(Debug)]
struct ZstdFault {
    compressed_offset: u64,
    detail: String,
    /// zstd reports a frame cut short as UnexpectedEof: the file is truncated, not corrupt.
    truncated: bool,
}

impl std::fmt::Display for ZstdFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (compressed offset {})",
            self.detail, self.compressed_offset
        )
    }
}

impl std::error::Error for ZstdFault {}

/// Counts bytes read through it; shared with the owner through an atomic.
struct Counted<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

type Chunk = io::Result<Vec<u8>>;

/// Reader side of the decompression pipeline.
struct PipedReader {
    full: Receiver<Chunk>,
    empty: SyncSender<Vec<u8>>,
    cur: Vec<u8>,
    pos: usize,
    done: bool,
    worker: Option<JoinHandle<()>>,
}

impl PipedReader {
    fn spawn(file: File, compressed_read: Arc<AtomicU64>) -> Self {
        let (full_tx, full_rx) = sync_channel::<Chunk>(CHUNKS_IN_FLIGHT);
        let (empty_tx, empty_rx) = sync_channel::<Vec<u8>>(CHUNKS_IN_FLIGHT + 2);
        for _ in 0..CHUNKS_IN_FLIGHT {
            let _ = empty_tx.send(Vec::with_capacity(CHUNK));
        }
        let worker = std::thread::spawn(move || {
            let counted = Counted {
                inner: file,
                count: compressed_read.clone(),
            };
            let mut dec = match zstd::stream::read::Decoder::new(counted) {
                Ok(d) => d,
                Err(e) => {
                    let _ = full_tx.send(Err(e));
                    return;
                }
            };
            loop {
                // A closed recycle channel means the reader is gone: stop.
                let Ok(mut buf) = empty_rx.recv() else {
                    return;
                };
                buf.resize(CHUNK, 0);
                let mut filled = 0;
                let res = loop {
                    match dec.read(&mut buf[filled..]) {
                        Ok(0) => break Ok(()),
                        Ok(n) => {
                            filled += n;
                            if filled == CHUNK {
                                break Ok(());
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => break Err(e),
                    }
                };
                buf.truncate(filled);
                let eof = filled < CHUNK;
                match res {
                    Err(e) => {
                        if filled > 0 && full_tx.send(Ok(buf)).is_err() {
                            return;
                        }
                        let fault = ZstdFault {
                            compressed_offset: compressed_read.load(Ordering::Relaxed),
                            detail: e.to_string(),
                            truncated: e.kind() == io::ErrorKind::UnexpectedEof,
                        };
                        let _ = full_tx.send(Err(io::Error::other(fault)));
                        return;
                    }
                    Ok(()) => {
                        if filled > 0 && full_tx.send(Ok(buf)).is_err() {
                            return;
                        }
                        if eof {
                            return;
                        }
                    }
                }
            }
        });
        PipedReader {
            full: full_rx,
            empty: empty_tx,
            cur: Vec::new(),
            pos: 0,
            done: false,
            worker: Some(worker),
        }
    }
}

impl Read for PipedReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.cur.len() {
            if self.done {
                return Ok(0);
            }
            match self.full.recv() {
                Ok(Ok(next)) => {
                    let old = std::mem::replace(&mut self.cur, next);
                    self.pos = 0;
                    let _ = self.empty.try_send(old);
                }
                Ok(Err(e)) => {
                    self.done = true;
                    return Err(e);
                }
                Err(_) => {
                    self.done = true;
                    return Ok(0);
                }
            }
        }
        let n = out.len().min(self.cur.len() - self.pos);
        out[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl Drop for PipedReader {
    fn drop(&mut self) {
        // Unblock the worker wherever it waits (sending a full chunk, or receiving an
        // empty one) by closing both channels, then reap it.
        let (_, dummy_rx) = sync_channel(0);
        drop(std::mem::replace(&mut self.full, dummy_rx));
        let (dummy_tx, _) = sync_channel(0);
        drop(std::mem::replace(&mut self.empty, dummy_tx));
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

enum Source {
    Plain(BufReader<File>),
    Piped(Box<PipedReader>),
    Memory(Cursor<Vec<u8>>),
}

impl Read for Source {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Source::Plain(r) => r.read(buf),
            Source::Piped(r) => r.read(buf),
            Source::Memory(r) => r.read(buf),
        }
    }
}

/// Bytes of the read buffer kept 8-aligned (records are read in place as structs).
const BUF_WORDS: usize = 1 << 15;

/// A DBN file opened for streaming decode.
///
/// Records are framed here rather than by the `dbn` crate's decoder: the record types of
/// the hot path (MBO, MBP, BBO, trades, OHLCV, status) have one layout in DBN versions
/// 1-3, so they are read in place; only the few types whose layout changed between
/// versions (definitions, statistics, symbol mappings, errors, system messages) go
/// through `dbn`'s version upgrade. Every record's length is checked against its type
/// before it is handed out, so a malformed file is an error, never a panic.
pub struct DbnReader {
    path: PathBuf,
    source: Source,
    metadata: Metadata,
    buf: Vec<u64>,
    start: usize,
    end: usize,
    eof: bool,
    scratch: Vec<u64>,
    // Kept for the lifetime of the reader: the worker thread updates it.
    _compressed_read: Arc<AtomicU64>,
    compressed: bool,
    version: u8,
    next_index: u64,
    next_offset: u64,
    /// Record types this file may hold (bit per rtype): the declared schema's type plus the
    /// control messages of live streams, or every known type when no schema is declared.
    allowed: [u64; 4],
    /// False for a lenient reader ([`DbnReader::lenient`]): records of other types are
    /// counted in [`ReaderAnomalies`] instead of ending the read with an error.
    strict: bool,
    anomalies: ReaderAnomalies,
}

/// Records a lenient reader let through, counted, with the first place each kind was seen
/// (a strict reader raises at the first one instead).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReaderAnomalies {
    /// Records whose rtype is no DBN record type.
    pub unknown_rtype: u64,
    /// Records of a known type other than the schema the header declares.
    pub schema_mismatch: u64,
    /// (position, rtype) of the first record of each kind.
    pub first_unknown_rtype: Option<(Position, u8)>,
    pub first_schema_mismatch: Option<(Position, u8)>,
}

/// Control messages a live stream interleaves with any schema's records.
const CONTROL_RTYPES: [u8; 3] = [
    dbn::rtype::SYMBOL_MAPPING,
    dbn::rtype::SYSTEM,
    dbn::rtype::ERROR,
];

/// The record types a file declaring `schema` may hold (all known types when `None`).
fn allowed_rtypes(schema: Option<dbn::Schema>) -> [u64; 4] {
    let mut bits = [0u64; 4];
    let mut set = |rt: u8| bits[(rt >> 6) as usize] |= 1 << (rt & 63);
    match schema {
        Some(schema) => {
            set(dbn::RType::from(schema) as u8);
            for rt in CONTROL_RTYPES {
                set(rt);
            }
            // DBN v1 bar files may use the pre-split OHLCV record type.
            if matches!(
                schema,
                dbn::Schema::Ohlcv1S
                    | dbn::Schema::Ohlcv1M
                    | dbn::Schema::Ohlcv1H
                    | dbn::Schema::Ohlcv1D
                    | dbn::Schema::OhlcvEod
            ) {
                set(dbn::rtype::OHLCV_DEPRECATED);
            }
        }
        None => {
            for rt in 0..=u8::MAX {
                if dbn::RType::try_from(rt).is_ok() {
                    set(rt);
                }
            }
        }
    }
    bits
}

/// Bytes of the metadata after the 8-byte prelude before its symbology: the fixed fields
/// of DBN versions 1-3 (dataset .. reserved, schema_definition_length).
const META_FIXED: usize = 104;

/// The metadata length the decoded symbology implies, in bytes after the prelude. A
/// header decoded under the wrong version (a version byte that lies) reads its fields
/// from the wrong places and lands on another length, or on a symbol width its version
/// never writes.
fn implied_metadata_len(m: &Metadata) -> usize {
    let w = m.symbol_cstr_len;
    let list = |v: &Vec<String>| 4 + v.len() * w;
    let mappings: usize = m
        .mappings
        .iter()
        .map(|mp| w + 4 + mp.intervals.len() * (4 + 4 + w))
        .sum();
    META_FIXED + list(&m.symbols) + list(&m.partial) + list(&m.not_found) + 4 + mappings
}

/// Header facts of a DBN stream, checked before the `dbn` crate sees it.
fn check_prelude(path: &Path, prelude: &[u8]) -> Result<u32> {
    if prelude.len() < PRELUDE_LEN {
        return Err(CoreError::Truncated {
            path: path.to_path_buf(),
            at: Position {
                record: 0,
                offset: prelude.len() as u64,
            },
            detail: format!("metadata prelude has {} of 8 bytes", prelude.len()),
        });
    }
    if &prelude[..3] != DBN_MAGIC {
        return Err(CoreError::BadMagic {
            path: path.to_path_buf(),
            found: prelude[..4].to_vec(),
        });
    }
    let version = prelude[3];
    if !(1..=3).contains(&version) {
        return Err(CoreError::UnsupportedVersion {
            path: path.to_path_buf(),
            version,
        });
    }
    Ok(u32::from_le_bytes([
        prelude[4], prelude[5], prelude[6], prelude[7],
    ]))
}

/// Refuses a header whose decoded content does not fit its own version and length.
fn check_metadata(path: &Path, version: u8, meta_len: usize, m: &Metadata) -> Result<()> {
    let width = if version == 1 { 22 } else { 71 };
    let bad = |detail: String| CoreError::BadRecord {
        path: path.to_path_buf(),
        at: Position {
            record: 0,
            offset: 0,
        },
        detail,
    };
    if m.symbol_cstr_len != width {
        return Err(bad(format!(
            "metadata: symbol width {} where DBN version {version} writes {width} \
             (is the version byte right?)",
            m.symbol_cstr_len
        )));
    }
    let implied = implied_metadata_len(m);
    // Encoders pad the metadata to a multiple of 8 bytes.
    if implied > meta_len || meta_len - implied >= 8 {
        return Err(bad(format!(
            "metadata: header says {meta_len} bytes, its content as DBN version {version} \
             spans {implied} (is the version byte right?)"
        )));
    }
    Ok(())
}

fn read_up_to(r: &mut impl Read, n: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; n];
    let mut filled = 0;
    while filled < n {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(k) => filled += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(filled);
    Ok(buf)
}

/// True for record types whose layout in `version` differs from DBN 3.
#[inline]
fn needs_upgrade(version: u8, rtype: u8) -> bool {
    use dbn::rtype::*;
    match version {
        1 => matches!(
            rtype,
            INSTRUMENT_DEF | SYMBOL_MAPPING | ERROR | SYSTEM | STATISTICS
        ),
        2 => matches!(rtype, INSTRUMENT_DEF | STATISTICS),
        _ => false,
    }
}

/// The length of a record of `rtype` as stored in `version` (before any ts_out suffix),
/// `None` for types without a known layout (only their header is checked).
#[inline]
fn layout_len(version: u8, rtype: u8) -> Option<usize> {
    use dbn::rtype::*;
    use std::mem::size_of;
    Some(match rtype {
        MBO => size_of::<dbn::MboMsg>(),
        MBP_0 => size_of::<dbn::TradeMsg>(),
        MBP_1 => size_of::<dbn::Mbp1Msg>(),
        MBP_10 => size_of::<dbn::Mbp10Msg>(),
        BBO_1S | BBO_1M => size_of::<dbn::BboMsg>(),
        CMBP_1 | CBBO_1S | CBBO_1M | TCBBO => size_of::<dbn::Cmbp1Msg>(),
        OHLCV_DEPRECATED | OHLCV_1S | OHLCV_1M | OHLCV_1H | OHLCV_1D | OHLCV_EOD => {
            size_of::<dbn::OhlcvMsg>()
        }
        STATUS => size_of::<dbn::StatusMsg>(),
        IMBALANCE => size_of::<dbn::ImbalanceMsg>(),
        INSTRUMENT_DEF => match version {
            1 => size_of::<dbn::v1::InstrumentDefMsg>(),
            2 => size_of::<dbn::v2::InstrumentDefMsg>(),
            _ => size_of::<dbn::InstrumentDefMsg>(),
        },
        STATISTICS => match version {
            1 | 2 => size_of::<dbn::v1::StatMsg>(),
            _ => size_of::<dbn::StatMsg>(),
        },
        SYMBOL_MAPPING => match version {
            1 => size_of::<dbn::v1::SymbolMappingMsg>(),
            _ => size_of::<dbn::SymbolMappingMsg>(),
        },
        ERROR => match version {
            1 => size_of::<dbn::v1::ErrorMsg>(),
            _ => size_of::<dbn::ErrorMsg>(),
        },
        SYSTEM => match version {
            1 => size_of::<dbn::v1::SystemMsg>(),
            _ => size_of::<dbn::SystemMsg>(),
        },
        _ => return None,
    })
}

fn as_bytes(words: &[u64]) -> &[u8] {
    // SAFETY: u64 storage viewed as bytes; u8 has no alignment or validity requirements.
    unsafe { std::slice::from_raw_parts(words.as_ptr().cast::<u8>(), words.len() * 8) }
}

fn as_bytes_mut(words: &mut [u64]) -> &mut [u8] {
    // SAFETY: as above; the borrow is unique.
    unsafe { std::slice::from_raw_parts_mut(words.as_mut_ptr().cast::<u8>(), words.len() * 8) }
}

impl DbnReader {
    /// Opens `path`, detecting zstd compression from its magic bytes.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let mut file = File::open(path).map_err(|e| CoreError::io(path, e))?;
        let head = read_up_to(&mut file, 4).map_err(|e| CoreError::io(path, e))?;
        if head.is_empty() {
            return Err(CoreError::EmptyFile {
                path: path.to_path_buf(),
            });
        }
        let file = {
            use std::io::Seek;
            let mut f = file;
            f.seek(io::SeekFrom::Start(0))
                .map_err(|e| CoreError::io(path, e))?;
            f
        };
        let compressed_read = Arc::new(AtomicU64::new(0));
        let (source, compressed) = if head.as_slice() == ZSTD_MAGIC {
            (
                Source::Piped(Box::new(PipedReader::spawn(file, compressed_read.clone()))),
                true,
            )
        } else {
            (
                Source::Plain(BufReader::with_capacity(1 << 16, file)),
                false,
            )
        };
        Self::from_source(path, source, compressed, compressed_read)
    }

    /// Decodes an uncompressed DBN stream held in memory (benchmarks, tests).
    pub fn from_bytes(name: impl AsRef<Path>, bytes: Vec<u8>) -> Result<Self> {
        let path = name.as_ref();
        if bytes.is_empty() {
            return Err(CoreError::EmptyFile {
                path: path.to_path_buf(),
            });
        }
        Self::from_source(
            path,
            Source::Memory(Cursor::new(bytes)),
            false,
            Arc::new(AtomicU64::new(0)),
        )
    }

    fn from_source(
        path: &Path,
        mut source: Source,
        compressed: bool,
        compressed_read: Arc<AtomicU64>,
    ) -> Result<Self> {
        let io_err = |e, offset| Self::map_io(path, e, Position { record: 0, offset });
        let mut head = read_up_to(&mut source, PRELUDE_LEN).map_err(|e| io_err(e, 0))?;
        if head.is_empty() {
            return Err(CoreError::EmptyFile {
                path: path.to_path_buf(),
            });
        }
        let meta_len = check_prelude(path, &head)? as usize;
        let version = head[3];
        // Read through `take` so a corrupt length cannot make us allocate gigabytes up front.
        let mut rest = Vec::new();
        source
            .by_ref()
            .take(meta_len as u64)
            .read_to_end(&mut rest)
            .map_err(|e| io_err(e, PRELUDE_LEN as u64))?;
        let meta_end = (PRELUDE_LEN + meta_len) as u64;
        if rest.len() < meta_len {
            return Err(CoreError::Truncated {
                path: path.to_path_buf(),
                at: Position {
                    record: 0,
                    offset: (PRELUDE_LEN + rest.len()) as u64,
                },
                detail: format!("metadata has {} of {meta_len} bytes", rest.len()),
            });
        }
        head.extend_from_slice(&rest);
        let decode = |policy| {
            dbn::decode::dbn::MetadataDecoder::with_upgrade_policy(Cursor::new(&head), policy)
                .decode()
                .map_err(|e| CoreError::BadRecord {
                    path: path.to_path_buf(),
                    at: Position {
                        record: 0,
                        offset: 0,
                    },
                    detail: format!(
                        "metadata: {e} (read as DBN version {version}; is the version byte right?)"
                    ),
                })
        };
        // Checked as written (the upgrade rewrites the symbol width), kept upgraded.
        check_metadata(
            path,
            version,
            meta_len,
            &decode(dbn::VersionUpgradePolicy::AsIs)?,
        )?;
        let metadata = decode(dbn::VersionUpgradePolicy::UpgradeToV3)?;
        let allowed = allowed_rtypes(metadata.schema);
        Ok(DbnReader {
            path: path.to_path_buf(),
            source,
            metadata,
            buf: vec![0; BUF_WORDS],
            start: 0,
            end: 0,
            eof: false,
            // The length byte allows records up to 1020 bytes (more than any layout):
            // scratch must hold any record the framing accepts.
            scratch: vec![
                0;
                (u8::MAX as usize * dbn::RecordHeader::LENGTH_MULTIPLIER)
                    .max(dbn::MAX_RECORD_LEN)
                    .div_ceil(8)
            ],
            _compressed_read: compressed_read,
            compressed,
            version,
            next_index: 0,
            next_offset: meta_end,
            allowed,
            strict: true,
            anomalies: ReaderAnomalies::default(),
        })
    }

    /// A reader that counts records of unknown or undeclared types (see
    /// [`DbnReader::anomalies`]) and hands them out, instead of failing at the first: for
    /// summaries that must describe a damaged file. Framing errors still end the read.
    pub fn lenient(mut self) -> Self {
        self.strict = false;
        self
    }

    /// What a lenient reader let through so far.
    pub fn anomalies(&self) -> &ReaderAnomalies {
        &self.anomalies
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Metadata, upgraded to the current DBN version.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// The DBN version found in the file (records are upgraded to the current layout).
    pub fn version(&self) -> u8 {
        self.version
    }

    pub fn is_compressed(&self) -> bool {
        self.compressed
    }

    /// Index and byte offset of the next record to be returned.
    pub fn position(&self) -> Position {
        Position {
            record: self.next_index,
            offset: self.next_offset,
        }
    }

    /// Makes at least `need` unread bytes available unless the stream ends first.
    #[cold]
    fn fill(&mut self, need: usize) -> Result<()> {
        if self.start > 0 {
            let (s, e) = (self.start, self.end);
            as_bytes_mut(&mut self.buf).copy_within(s..e, 0);
            self.end -= s;
            self.start = 0;
        }
        if need > self.buf.len() * 8 {
            self.buf.resize(need.div_ceil(8), 0);
        }
        while !self.eof && self.end < need {
            let end = self.end;
            match self.source.read(&mut as_bytes_mut(&mut self.buf)[end..]) {
                Ok(0) => self.eof = true,
                Ok(n) => self.end += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Self::map_io(&self.path, e, self.position())),
            }
        }
        Ok(())
    }

    /// The next record, `None` at a clean end of file.
    #[inline]
    pub fn next_record(&mut self) -> Result<Option<RecordRef<'_>>> {
        const HEADER: usize = std::mem::size_of::<dbn::RecordHeader>();
        if self.end - self.start < HEADER {
            self.fill(HEADER)?;
            if self.end == self.start {
                return Ok(None);
            }
            if self.end - self.start < HEADER {
                return Err(self.truncated(self.end - self.start));
            }
        }
        let head = &as_bytes(&self.buf)[self.start..self.start + 2];
        let (len, rtype) = (
            head[0] as usize * dbn::RecordHeader::LENGTH_MULTIPLIER,
            head[1],
        );
        // With ts_out every record carries its 8-byte send timestamp after the body; the
        // upgrader reads the pair as one struct and panics if the record is shorter.
        let suffix = if self.metadata.ts_out { 8 } else { 0 };
        let layout = layout_len(self.version, rtype);
        let min = layout.unwrap_or(std::mem::size_of::<dbn::RecordHeader>()) + suffix;
        if len < min {
            return Err(CoreError::BadRecord {
                path: self.path.clone(),
                at: self.position(),
                detail: format!(
                    "record of rtype {rtype:#04x} says it is {len} bytes, needs at least {min}"
                ),
            });
        }
        if layout.is_some() && len != min {
            // Every version writes each type at exactly its layout's size: another length
            // means a damaged length byte or a header whose version byte lies.
            return Err(CoreError::BadRecord {
                path: self.path.clone(),
                at: self.position(),
                detail: format!(
                    "record of rtype {rtype:#04x} says it is {len} bytes, but that type is \
                     {min} bytes in DBN version {}",
                    self.version
                ),
            });
        }
        if self.allowed[(rtype >> 6) as usize] & (1 << (rtype & 63)) == 0 {
            self.off_schema(rtype)?;
        }
        if self.end - self.start < len {
            self.fill(len)?;
            if self.end - self.start < len {
                return Err(self.truncated(self.end - self.start));
            }
        }
        let at = self.start;
        self.start += len;
        self.next_index += 1;
        self.next_offset += len as u64;
        if needs_upgrade(self.version, rtype) {
            return self.upgrade(at, len).map(Some);
        }
        if at % 8 != 0 {
            // Records are 4-byte multiples: an odd one shifts the rest off 8-byte
            // alignment, so copy into aligned scratch before viewing it as a struct.
            let src = &as_bytes(&self.buf)[at..at + len];
            as_bytes_mut(&mut self.scratch)[..len].copy_from_slice(src);
            // SAFETY: scratch is 8-aligned and holds a whole record of checked length.
            return Ok(Some(unsafe {
                RecordRef::new(&as_bytes(&self.scratch)[..len])
            }));
        }
        // SAFETY: the slice is 8-aligned (u64 storage, 8-aligned offset) and holds one
        // whole record whose length was checked against its record type above.
        Ok(Some(unsafe {
            RecordRef::new(&as_bytes(&self.buf)[at..at + len])
        }))
    }

    /// A record of a type the file should not hold: an error, or counted when lenient.
    #[cold]
    fn off_schema(&mut self, rtype: u8) -> Result<()> {
        let at = self.position();
        let known = dbn::RType::try_from(rtype).is_ok();
        if self.strict {
            let path = self.path.clone();
            return Err(if known {
                CoreError::SchemaMismatch {
                    path,
                    at,
                    detail: format!(
                        "a {} record (rtype {rtype:#04x}) in a file whose header declares schema {}",
                        crate::records::schema_name(rtype),
                        self.metadata
                            .schema
                            .map_or("(mixed)", |s| s.as_str())
                    ),
                }
            } else {
                CoreError::BadRecord {
                    path,
                    at,
                    detail: format!("unknown record type (rtype {rtype:#04x})"),
                }
            });
        }
        let a = &mut self.anomalies;
        if known {
            a.schema_mismatch += 1;
            a.first_schema_mismatch.get_or_insert((at, rtype));
        } else {
            a.unknown_rtype += 1;
            a.first_unknown_rtype.get_or_insert((at, rtype));
        }
        Ok(())
    }

    #[cold]
    fn upgrade(&mut self, at: usize, len: usize) -> Result<RecordRef<'_>> {
        let bytes = as_bytes(&self.buf)[at..at + len].to_vec();
        let pos = Position {
            record: self.next_index - 1,
            offset: self.next_offset - len as u64,
        };
        let bad = |detail: String| CoreError::BadRecord {
            path: self.path.clone(),
            at: pos,
            detail,
        };
        let mut dec = dbn::decode::dbn::RecordDecoder::with_version(
            Cursor::new(bytes),
            self.version,
            dbn::VersionUpgradePolicy::UpgradeToV3,
            self.metadata.ts_out,
        )
        .map_err(|e| bad(e.to_string()))?;
        let rec = dec
            .decode_ref()
            .map_err(|e| bad(e.to_string()))?
            .ok_or_else(|| bad("record could not be upgraded".into()))?;
        let up = rec.as_ref();
        if up.len() > self.scratch.len() * 8 {
            return Err(bad(format!("upgraded record of {} bytes", up.len())));
        }
        let n = up.len();
        as_bytes_mut(&mut self.scratch)[..n].copy_from_slice(up);
        // SAFETY: scratch is 8-aligned and now holds one whole upgraded record.
        Ok(unsafe { RecordRef::new(&as_bytes(&self.scratch)[..n]) })
    }

    fn truncated(&self, have: usize) -> CoreError {
        CoreError::Truncated {
            path: self.path.clone(),
            at: self.position(),
            detail: format!("the file ends {have} bytes into a record"),
        }
    }

    fn map_io(path: &Path, e: io::Error, at: Position) -> CoreError {
        if let Some(fault) = e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<ZstdFault>())
        {
            if fault.truncated {
                return CoreError::Truncated {
                    path: path.to_path_buf(),
                    at,
                    detail: format!("compressed stream ends inside a zstd frame: {fault}"),
                };
            }
            return CoreError::CorruptCompression {
                path: path.to_path_buf(),
                compressed_offset: fault.compressed_offset,
                detail: fault.detail.clone(),
            };
        }
        if e.kind() == io::ErrorKind::UnexpectedEof {
            return CoreError::Truncated {
                path: path.to_path_buf(),
                at,
                detail: e.to_string(),
            };
        }
        CoreError::io(path, e)
    }
}
