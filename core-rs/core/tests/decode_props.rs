//! Property tests of the decoder on hostile input: random bytes, random bytes behind a
//! valid DBN prelude, and real files (plain and zstd) with random byte flips, insertions,
//! deletions and truncations. Whatever the bytes, decoding, scanning, framing and book
//! replay return `Ok` or a typed `CoreError` that names the input: they never panic.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use proptest::prelude::*;
use tradecore::decode::DbnReader;
use tradecore::records::read_frames;
use tradecore::replay::Replay;
use tradecore::scan::scan_reader;
use tradecore::{CoreError, Result};

const NAME: &str = "fuzz.dbn";

/// Real DBN streams, decompressed: small corpus files of several schemas and versions,
/// and the first part of a real MBO day (snapshot plus live events).
fn seeds() -> &'static Vec<Vec<u8>> {
    static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let corpus = common::shared_data().join("dbn/dbn-test-corpus");
        let mut out = Vec::new();
        for name in [
            "test_data.mbo.dbn",
            "test_data.mbo.v3.dbn",
            "test_data.mbp-10.dbn",
            "test_data.statistics.v1.dbn.zst",
            "test_data.status.dbn",
            "test_data.ohlcv-1m.v1.dbn.zst",
            "test_data.trades.v3.dbn.zst",
        ] {
            let p = corpus.join(name);
            if p.exists() {
                out.push(plain_bytes(&p, usize::MAX));
            }
        }
        let nautilus = common::shared_data().join("dbn/nautilus");
        out.push(plain_bytes(
            &nautilus.join("futures_definition_2024-07-01.dbn.zst"),
            usize::MAX,
        ));
        out.push(plain_bytes(&common::esh4_mbo(), 64 * 1024));
        out
    })
}

fn plain_bytes(p: &Path, limit: usize) -> Vec<u8> {
    let raw = std::fs::read(p).unwrap();
    let mut out = Vec::new();
    if raw.starts_with(&[0x28, 0xB5, 0x2F, 0xFD]) {
        let dec = zstd::stream::read::Decoder::new(&raw[..]).unwrap();
        dec.take(limit as u64).read_to_end(&mut out).unwrap();
    } else {
        out = raw;
        out.truncate(limit);
    }
    out
}

/// Runs every consumer of the decoder over `open()`; each must end in Ok or a CoreError.
fn consume(open: impl Fn() -> Result<DbnReader>) -> std::result::Result<(), TestCaseError> {
    let mut outcomes = Vec::new();
    outcomes.push(open().and_then(|r| {
        let mut replay = Replay::new(r);
        while replay.next_boundary()?.is_some() {}
        Ok(())
    }));
    outcomes.push(open().and_then(read_frames).map(drop));
    outcomes.push(open().and_then(scan_reader).map(drop));
    for o in outcomes {
        if let Err(e) = o {
            check_error(&e)?;
        }
    }
    Ok(())
}

fn check_error(e: &CoreError) -> std::result::Result<(), TestCaseError> {
    let msg = e.to_string();
    let path = e.path().expect("decode errors name their input");
    prop_assert!(path.to_string_lossy().contains("fuzz"), "{}", msg);
    prop_assert!(msg.contains(&*path.to_string_lossy()), "{}", msg);
    if let Some(pos) = e.position() {
        prop_assert!(msg.contains(&pos.offset.to_string()), "{}", msg);
    }
    Ok(())
}

#[derive(Debug, Clone)]
enum Mutation {
    Set(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        6 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        1 => (any::<usize>(), prop::collection::vec(any::<u8>(), 1..16)).prop_map(|(i, v)| Mutation::Insert(i, v)),
        1 => (any::<usize>(), 1usize..64).prop_map(|(i, n)| Mutation::Delete(i, n)),
        1 => any::<usize>().prop_map(Mutation::Truncate),
    ]
}

/// Mutations land mostly in the first 1 KiB (metadata and first records), where the
/// decoder has the most decisions to make.
fn mutate(mut bytes: Vec<u8>, muts: &[Mutation]) -> Vec<u8> {
    for m in muts {
        let len = bytes.len().max(1);
        let at = |i: usize| {
            if i % 3 == 0 {
                i % len
            } else {
                i % len.min(1024)
            }
        };
        match m {
            Mutation::Set(i, b) if !bytes.is_empty() => {
                let i = at(*i);
                bytes[i] = *b;
            }
            Mutation::Insert(i, v) => {
                let i = at(*i).min(bytes.len());
                bytes.splice(i..i, v.iter().copied());
            }
            Mutation::Delete(i, n) if !bytes.is_empty() => {
                let i = at(*i);
                let end = (i + n).min(bytes.len());
                bytes.drain(i..end);
            }
            Mutation::Truncate(i) => bytes.truncate(i % len),
            _ => {}
        }
    }
    bytes
}

fn temp_file(bytes: &[u8]) -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let p = std::env::temp_dir().join(format!(
        "tradecore-fuzz-{}-{}.dbn.zst",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&p, bytes).unwrap();
    p
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        consume(|| DbnReader::from_bytes(NAME, bytes.clone()))?;
    }

    #[test]
    fn random_bytes_after_a_valid_prelude_never_panic(
        version in 1u8..=3,
        meta_len in prop_oneof![0u32..400, any::<u32>()],
        body in prop::collection::vec(any::<u8>(), 0..800),
    ) {
        let mut bytes = b"DBN".to_vec();
        bytes.push(version);
        bytes.extend_from_slice(&meta_len.to_le_bytes());
        bytes.extend_from_slice(&body);
        consume(|| DbnReader::from_bytes(NAME, bytes.clone()))?;
    }

    #[test]
    fn mutated_real_files_never_panic(
        seed in 0usize..64,
        muts in prop::collection::vec(mutation(), 1..6),
    ) {
        let seeds = seeds();
        let bytes = mutate(seeds[seed % seeds.len()].clone(), &muts);
        consume(|| DbnReader::from_bytes(NAME, bytes.clone()))?;
    }
}

proptest! {
    // Each case writes a file and starts a decompression thread: fewer cases.
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn mutated_compressed_files_never_panic(
        seed in 0usize..64,
        muts in prop::collection::vec(mutation(), 1..4),
    ) {
        let seeds = seeds();
        let plain = &seeds[seed % seeds.len()];
        let compressed = zstd::encode_all(&plain[..], 3).unwrap();
        let path = temp_file(&mutate(compressed, &muts));
        let res = consume(|| DbnReader::open(&path));
        std::fs::remove_file(&path).ok();
        res?;
    }
}

#[test]
fn seeds_decode_cleanly_before_mutation() {
    let seeds = seeds();
    assert!(seeds.len() >= 5, "only {} seed files found", seeds.len());
    for s in seeds {
        let mut r = DbnReader::from_bytes(NAME, s.clone()).unwrap();
        let mut n = 0;
        // The 64 KiB prefix of the MBO day ends mid-record: that one is Truncated.
        loop {
            match r.next_record() {
                Ok(Some(_)) => n += 1,
                Ok(None) => break,
                Err(CoreError::Truncated { .. }) if s.len() == 64 * 1024 => break,
                Err(e) => panic!("{e}"),
            }
        }
        assert!(n > 0 || s.len() < 1024);
    }
}

/// A 60-byte record (lengths are 4-byte multiples; known types are 8-byte multiples, so
/// only a record of unknown type that a lenient reader lets through can be 60) leaves the
/// next one off 8-byte alignment, so the reader copies it to aligned scratch; the longest
/// length the header can state (1020 bytes) must fit there. Was an index panic.
#[test]
fn longest_record_after_a_misaligning_one_decodes() {
    let plain = plain_bytes(
        &common::shared_data().join("dbn/dbn-test-corpus/test_data.mbo.dbn"),
        usize::MAX,
    );
    let meta_end = 8 + u32::from_le_bytes(plain[4..8].try_into().unwrap()) as usize;
    let mut bytes = plain[..meta_end + 56].to_vec();
    bytes[meta_end] = 15; // 60 bytes: an unknown type's body plus 4 bytes of padding
    bytes[meta_end + 1] = 0x98;
    bytes.extend_from_slice(&[0; 4]);
    let mut long = vec![0u8; 1020];
    long[0] = 255;
    long[1] = 0x99; // a record type without a layout: only the header is required
    bytes.extend_from_slice(&long);
    // A strict reader refuses the first unknown type; a lenient one counts both.
    let e = DbnReader::from_bytes(NAME, bytes.clone())
        .unwrap()
        .next_record()
        .map(|_| ())
        .unwrap_err();
    assert!(
        e.to_string().contains("unknown record type (rtype 0x98)"),
        "{e}"
    );
    let mut r = DbnReader::from_bytes(NAME, bytes).unwrap().lenient();
    assert_eq!(r.next_record().unwrap().unwrap().header().record_size(), 60);
    assert_eq!(
        r.next_record().unwrap().unwrap().header().record_size(),
        1020
    );
    assert!(r.next_record().unwrap().is_none());
    assert_eq!(r.anomalies().unknown_rtype, 2);
}
