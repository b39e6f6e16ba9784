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

type Inner = Counted<io::Chain<Cursor<Vec<u8>>, Source>>;

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
        let prelude = read_up_to(&mut source, PRELUDE_LEN)
            .map_err(|e| Self::map_io(path, e, Position::default(), &compressed_read))?;
        if prelude.is_empty() {
            return Err(CoreError::EmptyFile {
                path: path.to_path_buf(),
            });
        }
        let meta_len = check_prelude(path, &prelude)?;
        let version = prelude[3];
        let delivered = Arc::new(AtomicU64::new(0));
        let inner = Counted {
            inner: Cursor::new(prelude).chain(source),
            count: delivered.clone(),
        };
        let meta_end = PRELUDE_LEN as u64 + meta_len as u64;
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
        if let Some(fault) = e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<ZstdFault>())
        {
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
