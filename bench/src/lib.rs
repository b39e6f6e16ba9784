//! Helpers shared by the criterion benches (see `benches/`): where the bench data lives,
//! loading it into memory once, and pre-decoding MBO records so that each bench isolates
//! one stage (zstd, DBN decode, L3 apply).
//!
//! The data file defaults to the real ESH4 MBO day in `../shared/data`. Set
//! `TRADECORE_BENCH_MBO` to any `.dbn` or `.dbn.zst` MBO file (e.g. a 10M-event file from
//! the synthetic generator) to run the same benches on it.

use std::io::Read;
use std::path::{Path, PathBuf};

use dbn::MboMsg;
use tradecore::decode::DbnReader;

pub mod risk_fixture;

/// Env var naming an alternative MBO file for the benches.
pub const MBO_ENV: &str = "TRADECORE_BENCH_MBO";

const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];

/// `../shared/data` (or `$SHARED_DATA`), as the core's tests resolve it.
pub fn shared_data() -> PathBuf {
    std::env::var_os("SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"))
}

/// The MBO file the benches run on: `$TRADECORE_BENCH_MBO`, else the ESH4 day.
pub fn mbo_path() -> PathBuf {
    std::env::var_os(MBO_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| shared_data().join("dbn/nautilus/esh4-glbx-mdp3-20231225.mbo.dbn.zst"))
}

/// The file as it lies on disk (compressed or not), plus the uncompressed DBN stream.
pub struct BenchData {
    pub path: PathBuf,
    pub raw: Vec<u8>,
    pub dbn: Vec<u8>,
    pub compressed: bool,
}

/// Reads `path` once; a zstd file is decompressed here so that no timed loop pays for I/O.
pub fn load(path: &Path) -> BenchData {
    let raw = std::fs::read(path).unwrap_or_else(|e| {
        panic!(
            "bench data {} not readable ({e}); set {MBO_ENV} or SHARED_DATA",
            path.display()
        )
    });
    let compressed = raw.starts_with(&ZSTD_MAGIC);
    let dbn = if compressed {
        decompress(&raw)
    } else {
        raw.clone()
    };
    BenchData {
        path: path.to_path_buf(),
        raw,
        dbn,
        compressed,
    }
}

/// Streaming zstd decompression, the same decoder the core's reader runs on its thread.
pub fn decompress(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() * 4);
    zstd::stream::read::Decoder::new(raw)
        .and_then(|mut d| d.read_to_end(&mut out))
        .expect("zstd stream");
    out
}

/// Every MBO record of an uncompressed DBN stream, decoded once (for the pure-apply bench).
pub fn mbo_records(dbn: &[u8]) -> Vec<MboMsg> {
    let mut reader = DbnReader::from_bytes("bench.dbn", dbn.to_vec()).expect("DBN stream");
    let mut out = Vec::new();
    while let Some(rec) = reader.next_record().expect("record") {
        if let Some(m) = rec.get::<MboMsg>() {
            out.push(m.clone());
        }
    }
    out
}

/// Number of records in an uncompressed DBN stream.
pub fn record_count(dbn: &[u8]) -> u64 {
    let mut reader = DbnReader::from_bytes("bench.dbn", dbn.to_vec()).expect("DBN stream");
    let mut n = 0;
    while reader.next_record().expect("record").is_some() {
        n += 1;
    }
    n
}
