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

use dbn::decode::{DbnMetadata, DecodeRecordRef};
use dbn::{Metadata, Record, RecordRef};

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
    /// The compressed file ends inside a zstd frame: the file is truncated, not corrupt.
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
                // Closed only when the reader is gone: nobody wants more data.
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
        // Unblock the worker, then reap it. It may be waiting to send a full chunk, or for
        // an empty buffer to fill: both channels must be closed, or a reader dropped before
        // the end of the file (an error, a replay left unfinished) hangs here forever.
        drop(std::mem::replace(&mut self.full, sync_channel(0).1));
        drop(std::mem::replace(&mut self.empty, sync_channel(0).0));
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

/// A record whose header the `dbn` crate must not see: it would panic (or, in release
/// builds, read through a misaligned pointer) on a length that is not a multiple of 8 or
/// shorter than its record type's layout.
#[derive(Debug)]
struct BadFraming {
    detail: String,
}

impl std::fmt::Display for BadFraming {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.detail)
    }
}

impl std::error::Error for BadFraming {}

/// Length in bytes of the layout of record type `rt` in DBN `version`: the least a record
/// of that type must span. Unknown types need only a header.
fn layout_len(version: u8, rt: u8) -> usize {
    use dbn::{rtype, v1, v2, v3};
    use std::mem::size_of;
    match rt {
        rtype::MBO => size_of::<v3::MboMsg>(),
        rtype::MBP_0 => size_of::<v3::TradeMsg>(),
        rtype::MBP_1 | rtype::TBBO => size_of::<v3::Mbp1Msg>(),
        rtype::MBP_10 => size_of::<v3::Mbp10Msg>(),
        rtype::BBO_1S | rtype::BBO_1M => size_of::<v3::BboMsg>(),
        rtype::CMBP_1 | rtype::TCBBO => size_of::<v3::Cmbp1Msg>(),
        rtype::CBBO_1S | rtype::CBBO_1M => size_of::<v3::CbboMsg>(),
        rtype::OHLCV_1S
        | rtype::OHLCV_1M
        | rtype::OHLCV_1H
        | rtype::OHLCV_1D
        | rtype::OHLCV_EOD
        | rtype::OHLCV_DEPRECATED => size_of::<v3::OhlcvMsg>(),
        rtype::STATUS => size_of::<v3::StatusMsg>(),
        rtype::IMBALANCE => size_of::<v3::ImbalanceMsg>(),
        rtype::INSTRUMENT_DEF => match version {
            1 => size_of::<v1::InstrumentDefMsg>(),
            2 => size_of::<v2::InstrumentDefMsg>(),
            _ => size_of::<v3::InstrumentDefMsg>(),
        },
        rtype::STATISTICS => match version {
            1 | 2 => size_of::<v1::StatMsg>(),
            _ => size_of::<v3::StatMsg>(),
        },
        rtype::ERROR => match version {
            1 => size_of::<v1::ErrorMsg>(),
            _ => size_of::<v3::ErrorMsg>(),
        },
        rtype::SYMBOL_MAPPING => match version {
            1 => size_of::<v1::SymbolMappingMsg>(),
            _ => size_of::<v3::SymbolMappingMsg>(),
        },
        rtype::SYSTEM => match version {
            1 => size_of::<v1::SystemMsg>(),
            _ => size_of::<v3::SystemMsg>(),
        },
        _ => size_of::<v3::RecordHeader>(),
    }
}

/// What the `dbn` decoder reads through: counts the bytes it is handed (to tell a clean
/// end from a partial record) and checks each record header before handing it over.
/// Reading stops just before a record with impossible framing; the next read fails with
/// [`BadFraming`], so every record before it is still decoded and the error names it.
struct Framed<R> {
    inner: R,
    count: Arc<AtomicU64>,
    version: u8,
    /// Stream offset of the next record header to check (records start after metadata).
    next: u64,
    /// Stream offset of the metadata's `ts_out` byte; with `ts_out` set, every record
    /// carries 8 more bytes (its send timestamp) that the decoder expects.
    ts_out_at: u64,
    ts_out: bool,
    /// Bytes read from `inner` but not yet handed over: a header cut by a read boundary.
    held: Vec<u8>,
    fault: Option<BadFraming>,
    /// Length and record type bytes of the last header that passed (none at first: a
    /// zero header must never match unchecked, its length would never advance).
    last_good: Option<[u8; 2]>,
}

impl<R: Read> Framed<R> {
    fn new(inner: R, count: Arc<AtomicU64>, version: u8, records_start: u64) -> Self {
        Framed {
            inner,
            count,
            version,
            next: records_start,
            // Prelude, dataset, schema, start, end, limit, (v1: record count), stype in/out.
            ts_out_at: if version == 1 { 60 } else { 52 },
            ts_out: false,
            held: Vec::new(),
            fault: None,
            last_good: None,
        }
    }
}

impl<R: Read> Read for Framed<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if let Some(f) = self.fault.take() {
            return Err(io::Error::other(f));
        }
        let held = self.held.len().min(buf.len());
        buf[..held].copy_from_slice(&self.held[..held]);
        self.held.drain(..held);
        let fresh = if held < buf.len() {
            self.inner.read(&mut buf[held..])?
        } else {
            0
        };
        let mut n = held + fresh;
        let at_end = held < buf.len() && fresh == 0;
        let start = self.count.load(Ordering::Relaxed);
        if (start..start + n as u64).contains(&self.ts_out_at) {
            self.ts_out = buf[(self.ts_out_at - start) as usize] != 0;
        }
        let end = start + n as u64;
        let mut next = self.next;
        while next < end {
            let i = (next - start) as usize;
            if i + 1 >= n {
                // Length byte here, record type in the next read: keep the header whole.
                // At the end of input the partial header goes through as the truncation it is.
                if at_end {
                    next = u64::MAX;
                } else {
                    self.held.splice(0..0, buf[i..n].iter().copied());
                    n = i;
                }
                break;
            }
            let header = [buf[i], buf[i + 1]];
            let len = header[0] as usize * 4;
            if Some(header) == self.last_good {
                // Files are runs of one record type: skip the layout lookup.
                next += len as u64;
                continue;
            }
            let rt = header[1];
            let need = layout_len(self.version, rt) + if self.ts_out { 8 } else { 0 };
            if len < need || len % 8 != 0 {
                self.fault = Some(BadFraming {
                    detail: format!(
                        "record length {len} bytes is impossible for record type 0x{rt:02x} \
                         (layout {need} bytes, lengths are multiples of 8)"
                    ),
                });
                self.held.clear();
                n = i;
                break;
            }
            self.last_good = Some(header);
            next += len as u64;
        }
        self.next = next;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        if n == 0 {
            if let Some(f) = self.fault.take() {
                return Err(io::Error::other(f));
            }
            if !self.held.is_empty() {
                // Everything read so far is a cut header: read on to complete it.
                return self.read(buf);
            }
        }
        Ok(n)
    }
}

type Inner = Framed<io::Chain<Cursor<Vec<u8>>, Source>>;

/// A DBN file opened for streaming decode.
pub struct DbnReader {
    path: PathBuf,
    decoder: dbn::decode::DbnDecoder<Inner>,
    delivered: Arc<AtomicU64>,
    compressed_read: Arc<AtomicU64>,
    compressed: bool,
    version: u8,
    next_index: u64,
    next_offset: u64,
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
        let file_len = file.metadata().ok().map(|m| m.len());
        let (source, compressed) = if head.as_slice() == ZSTD_MAGIC {
            (
                Source::Piped(Box::new(PipedReader::spawn(file, compressed_read.clone()))),
                true,
            )
        } else {
            (
                Source::Plain(BufReader::with_capacity(1 << 17, file)),
                false,
            )
        };
        let plain_len = if compressed { None } else { file_len };
        Self::from_source(path, source, compressed, compressed_read, plain_len)
    }

    /// Decodes an uncompressed DBN stream held in memory (benchmarks, tests).
    pub fn from_bytes(name: impl AsRef<Path>, bytes: Vec<u8>) -> Result<Self> {
        let path = name.as_ref();
        if bytes.is_empty() {
            return Err(CoreError::EmptyFile {
                path: path.to_path_buf(),
            });
        }
        let len = bytes.len() as u64;
        Self::from_source(
            path,
            Source::Memory(Cursor::new(bytes)),
            false,
            Arc::new(AtomicU64::new(0)),
            Some(len),
        )
    }

    fn from_source(
        path: &Path,
        mut source: Source,
        compressed: bool,
        compressed_read: Arc<AtomicU64>,
        plain_len: Option<u64>,
    ) -> Result<Self> {
        let prelude = read_up_to(&mut source, PRELUDE_LEN)
            .map_err(|e| Self::map_io(path, e, Position::default(), &compressed_read))?;
        if prelude.is_empty() {
            return Err(CoreError::EmptyFile {
                path: path.to_path_buf(),
            });
        }
        let meta_len = check_prelude(path, &prelude)?;
        // The dbn crate allocates the declared metadata length up front: a corrupt length
        // would cost up to 4 GiB before failing. Where the stream length is known, a
        // length that runs past it is truncation, reported without the allocation.
        if let Some(len) = plain_len {
            if PRELUDE_LEN as u64 + meta_len as u64 > len {
                return Err(CoreError::Truncated {
                    path: path.to_path_buf(),
                    at: Position {
                        record: 0,
                        offset: len,
                    },
                    detail: format!(
                        "metadata declares {meta_len} bytes but only {} follow the prelude",
                        len.saturating_sub(PRELUDE_LEN as u64)
                    ),
                });
            }
        }
        let version = prelude[3];
        let delivered = Arc::new(AtomicU64::new(0));
        let meta_end = PRELUDE_LEN as u64 + meta_len as u64;
        let inner = Framed::new(
            Cursor::new(prelude).chain(source),
            delivered.clone(),
            version,
            meta_end,
        );
        let decoder = dbn::decode::DbnDecoder::new(inner).map_err(|e| {
            let at = Position {
                record: 0,
                offset: delivered.load(Ordering::Relaxed).min(meta_end),
            };
            Self::map_dbn(
                path,
                e,
                at,
                &compressed_read,
                delivered.load(Ordering::Relaxed) < meta_end,
            )
        })?;
        Ok(DbnReader {
            path: path.to_path_buf(),
            decoder,
            delivered,
            compressed_read,
            compressed,
            version,
            next_index: 0,
            next_offset: meta_end,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn metadata(&self) -> &Metadata {
        self.decoder.metadata()
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

    /// Position of the record returned by the last successful `next_record`.
    pub fn last_position(&self, last_len: usize) -> Position {
        Position {
            record: self.next_index.saturating_sub(1),
            offset: self.next_offset - last_len as u64,
        }
    }

    /// The next record, `None` at a clean end of file.
    #[inline]
    pub fn next_record(&mut self) -> Result<Option<RecordRef<'_>>> {
        let at = self.position();
        match self.decoder.decode_record_ref() {
            Ok(Some(rec)) => {
                self.next_index += 1;
                self.next_offset += rec.record_size() as u64;
                Ok(Some(rec))
            }
            Ok(None) => {
                // The dbn crate ends quietly on a partial record: compare what was
                // delivered with what was consumed to tell a clean end from truncation.
                let delivered = self.delivered.load(Ordering::Relaxed);
                if delivered > at.offset {
                    Err(CoreError::Truncated {
                        path: self.path.clone(),
                        at,
                        detail: format!(
                            "{} trailing bytes do not form a whole record",
                            delivered - at.offset
                        ),
                    })
                } else {
                    Ok(None)
                }
            }
            Err(e) => Err(Self::map_dbn(
                &self.path,
                e,
                at,
                &self.compressed_read,
                false,
            )),
        }
    }

    fn map_io(path: &Path, e: io::Error, at: Position, compressed_read: &AtomicU64) -> CoreError {
        if let Some(bad) = e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<BadFraming>())
        {
            return CoreError::BadRecord {
                path: path.to_path_buf(),
                at,
                detail: bad.detail.clone(),
            };
        }
        if let Some(fault) = e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<ZstdFault>())
        {
            if fault.truncated {
                return CoreError::Truncated {
                    path: path.to_path_buf(),
                    at,
                    detail: format!(
                        "compressed file ends inside a zstd frame (compressed byte offset {})",
                        fault.compressed_offset
                    ),
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
        let _ = compressed_read;
        CoreError::io(path, e)
    }

    fn map_dbn(
        path: &Path,
        e: dbn::Error,
        at: Position,
        compressed_read: &AtomicU64,
        short: bool,
    ) -> CoreError {
        match e {
            dbn::Error::Io { source, .. } => Self::map_io(path, source, at, compressed_read),
            other if short => CoreError::Truncated {
                path: path.to_path_buf(),
                at,
                detail: other.to_string(),
            },
            other => CoreError::BadRecord {
                path: path.to_path_buf(),
                at,
                detail: other.to_string(),
            },
        }
    }
}

#[cfg(test)]
mod framed_tests {
    use super::*;

    /// Hands out at most `step` bytes per read, so record headers get cut at every place.
    struct Trickle {
        data: Cursor<Vec<u8>>,
        step: usize,
    }

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(self.step);
            self.data.read(&mut buf[..n])
        }
    }

    const META_END: usize = 64;

    /// 64 bytes standing in for prelude and metadata, then `n` MBO-sized records.
    fn stream(n: usize) -> Vec<u8> {
        let mut v = vec![0u8; META_END];
        for _ in 0..n {
            let mut rec = vec![0u8; 56];
            rec[0] = 14; // 56 bytes in 4-byte words
            rec[1] = dbn::rtype::MBO;
            v.extend(rec);
        }
        v
    }

    fn framed(data: Vec<u8>, step: usize) -> Framed<Trickle> {
        let inner = Trickle {
            data: Cursor::new(data),
            step,
        };
        Framed::new(inner, Arc::new(AtomicU64::new(0)), 3, META_END as u64)
    }

    #[test]
    fn good_records_pass_whole_whatever_the_read_sizes() {
        let data = stream(20);
        for step in 1..=9 {
            let mut f = framed(data.clone(), step);
            let mut out = Vec::new();
            f.read_to_end(&mut out).unwrap();
            assert_eq!(out, data, "step {step}");
            assert_eq!(f.count.load(Ordering::Relaxed), data.len() as u64);
        }
    }

    #[test]
    fn a_bad_record_stops_the_stream_just_before_it() {
        for (len_byte, rt) in [
            (0u8, 0u8),
            (0, dbn::rtype::MBO),
            (3, dbn::rtype::MBO),
            (13, dbn::rtype::MBO),
        ] {
            let mut data = stream(20);
            let at = META_END + 7 * 56;
            data[at] = len_byte;
            data[at + 1] = rt;
            for step in 1..=9 {
                let mut f = framed(data.clone(), step);
                let mut out = Vec::new();
                let err = f.read_to_end(&mut out).unwrap_err();
                assert!(err.get_ref().unwrap().is::<BadFraming>(), "{err}");
                assert_eq!(out, data[..at], "len {len_byte} step {step}");
            }
        }
    }

    #[test]
    fn a_zero_header_as_the_first_record_is_rejected() {
        // Before any header has passed, nothing may skip the check.
        let mut data = stream(3);
        data[META_END] = 0;
        data[META_END + 1] = 0;
        let mut out = Vec::new();
        let err = framed(data.clone(), 4096)
            .read_to_end(&mut out)
            .unwrap_err();
        assert!(err.get_ref().unwrap().is::<BadFraming>());
        assert_eq!(out, data[..META_END]);
    }

    #[test]
    fn a_partial_header_at_the_end_is_delivered_for_truncation() {
        let mut data = stream(3);
        data.push(14);
        for step in 1..=9 {
            let mut f = framed(data.clone(), step);
            let mut out = Vec::new();
            f.read_to_end(&mut out).unwrap();
            assert_eq!(out, data, "step {step}");
        }
    }

    #[test]
    fn ts_out_adds_eight_bytes_to_every_layout() {
        let mut data = stream(4);
        data[52] = 1; // ts_out in v2/v3 metadata
        let mut f = framed(data.clone(), 64);
        let mut out = Vec::new();
        assert!(f.read_to_end(&mut out).is_err());
        assert_eq!(out, data[..META_END]);
    }
}
