//! Fuzz targets of the core's input parsers. Each target takes bytes and must return `Ok`
//! or a typed `CoreError`: never panic, never hang. Under `cargo test` every target replays
//! its committed corpus (`corpus/<target>/`, small hand-made seeds) and then random
//! mutations of those seeds (and, for DBN, of real files from `../shared/data` when
//! present) through proptest; `make fuzz` raises the case count (`FUZZ_CASES`).
//!
//! bolero would be the natural driver, but its 0.13 generator pins `indexmap =2.11.2`,
//! which the `dbn` crate's dependency tree cannot share; proptest is already pinned here.

use std::io::Read;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use tradecore::decode::DbnReader;
use tradecore::{CoreError, Result};

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    files.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

fn shared_data() -> PathBuf {
    std::env::var_os("SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"))
}

/// A small MBO stream from the project's own synthetic generator (written to a temp file,
/// never committed), plus real DBN streams (decompressed, first 16 KiB) when the shared
/// data is there.
fn dbn_seeds() -> Vec<Vec<u8>> {
    let mut out = corpus("dbn");
    let tmp = std::env::temp_dir().join(format!("tradecore-fuzz-seed-{}.dbn", std::process::id()));
    let cfg = tradecore::synth::SynthConfig {
        events: 40,
        seed: 3,
        ..Default::default()
    };
    tradecore::synth::synth_mbo(&tmp, &cfg, None).expect("the synthetic seed is written");
    out.push(std::fs::read(&tmp).expect("the synthetic seed is read"));
    let _ = std::fs::remove_file(&tmp);
    let root = shared_data().join("dbn");
    for name in [
        "nautilus/esh4-glbx-mdp3-20231225.mbo.dbn.zst",
        "nautilus/futures_definition_2024-07-01.dbn.zst",
        "dbn-test-corpus/test_data.mbp-10.dbn",
        "dbn-test-corpus/test_data.ohlcv-1m.v1.dbn.zst",
        "dbn-test-corpus/test_data.statistics.v1.dbn.zst",
    ] {
        let Ok(raw) = std::fs::read(root.join(name)) else {
            continue;
        };
        let mut plain = Vec::new();
        if raw.starts_with(&[0x28, 0xB5, 0x2F, 0xFD]) {
            let dec = zstd::stream::read::Decoder::new(&raw[..]).unwrap();
            dec.take(16 << 10).read_to_end(&mut plain).unwrap();
        } else {
            plain = raw;
            plain.truncate(16 << 10);
        }
        out.push(plain);
    }
    out
}

/// An error must name the input it is about (or be one of the kinds without a file).
fn check(res: Result<()>, name: &str) {
    if let Err(e) = res {
        if let Some(p) = e.path() {
            assert!(
                e.to_string().contains(name),
                "error does not name {name}: {e}"
            );
            assert_eq!(p, Path::new(name), "{e}");
        }
    }
}

// ---- targets -------------------------------------------------------------------------

const DBN_NAME: &str = "fuzz.dbn";

/// The DBN decoder and everything built on it: frames, summary, book replay, bars.
fn dbn_target(bytes: &[u8]) {
    let open = || DbnReader::from_bytes(DBN_NAME, bytes.to_vec());
    check(
        open().and_then(tradecore::records::read_frames).map(drop),
        DBN_NAME,
    );
    check(
        open()
            .and_then(|r| tradecore::scan::scan_reader(r.lenient()))
            .map(drop),
        DBN_NAME,
    );
    check(
        open().and_then(|r| {
            let mut replay = tradecore::replay::Replay::new(r);
            while replay.next_boundary()?.is_some() {}
            let s = replay.stats();
            assert!(s.book_records + s.other_records == s.records);
            Ok(())
        }),
        DBN_NAME,
    );
    let tf = tradecore::bars::Timeframe::parse("1s").unwrap();
    check(
        open()
            .and_then(|r| tradecore::bars::sources::build_from_dbn(r, tf))
            .map(drop),
        DBN_NAME,
    );
}

const MSG_NAME: &str = "fuzz_message_1.csv";
const BOOK_NAME: &str = "fuzz_orderbook_1.csv";

/// The LOBSTER parser and replay: the input is split at its first NUL into the message
/// file and the orderbook file.
fn lobster_target(bytes: &[u8]) {
    let cut = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    let (msg, book) = (&bytes[..cut], bytes.get(cut + 1..).unwrap_or(&[]));
    for levels in [1, 2] {
        let m = tradecore::lobster::line_source_from_bytes(MSG_NAME, msg.to_vec());
        let b = tradecore::lobster::line_source_from_bytes(BOOK_NAME, book.to_vec());
        if let Err(e) = tradecore::lobster::replay_lobster_with(m, b, levels, |_, _, _, _| {}) {
            let s = e.to_string();
            assert!(s.contains(MSG_NAME) || s.contains(BOOK_NAME), "{s}");
        }
    }
}

/// The JSON-Logic evaluator: the input is split at its first NUL into rule and data.
fn jsonlogic_target(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    let (rule, data) = text.split_once('\0').unwrap_or((&text, "null"));
    if let Err(e) = tradecore::gates::evaluate_named("fuzz", rule, data) {
        assert!(matches!(e, CoreError::JsonLogic { .. }), "{e}");
    }
}

/// The config loaders: feature sets, risk-model params, model manifests, LightGBM dumps,
/// timeframes and feature names, all from the same text.
fn config_target(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    let _ = tradecore::features::set::FeatureSet::from_json(&text);
    let _ = tradecore::riskmodel::RiskModelConfig::from_json(&text, "fuzz.json");
    let _ = tradecore::infer::Manifest::parse(Path::new("fuzz"), &text);
    let _ = tradecore::infer::trees::TreeEnsemble::parse(Path::new("fuzz.txt"), &text);
    for line in text.lines().take(8) {
        let _ = tradecore::bars::Timeframe::parse(line);
        let _ = tradecore::features::set::FeatureSpec::parse(line);
    }
}

// ---- drivers -------------------------------------------------------------------------

fn cases(default: u32) -> u32 {
    std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A seed (by index) and edits: (position, byte) overwrites, a run of inserted bytes, and a
/// truncation point, all taken modulo the seed's length.
type Mutation = (usize, Vec<(usize, u8)>, (usize, Vec<u8>), Option<usize>);

fn mutation() -> impl Strategy<Value = Mutation> {
    (
        any::<usize>(),
        prop::collection::vec((any::<usize>(), any::<u8>()), 0..8),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 0..4)),
        prop::option::of(any::<usize>()),
    )
}

fn mutate(seeds: &[Vec<u8>], (seed, sets, (at, insert), cut): Mutation) -> Vec<u8> {
    let mut b = seeds[seed % seeds.len()].clone();
    if b.is_empty() {
        return insert;
    }
    for (i, v) in sets {
        let n = b.len();
        b[i % n] = v;
    }
    let at = at % (b.len() + 1);
    b.splice(at..at, insert);
    if let Some(c) = cut {
        b.truncate(c % (b.len() + 1));
    }
    b
}

fn run(target: fn(&[u8]), seeds: Vec<Vec<u8>>, default_cases: u32) {
    assert!(!seeds.is_empty(), "a fuzz target needs a seed");
    for s in &seeds {
        target(s);
    }
    let cfg = ProptestConfig {
        cases: cases(default_cases),
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(cfg, |(m in mutation(), raw in prop::collection::vec(any::<u8>(), 0..64))| {
        target(&mutate(&seeds, m));
        target(&raw);
    });
}

#[test]
fn fuzz_dbn_decoder_and_book_replay() {
    run(dbn_target, dbn_seeds(), 400);
}

#[test]
fn fuzz_lobster_parser() {
    run(lobster_target, corpus("lobster"), 400);
}

#[test]
fn fuzz_jsonlogic() {
    run(jsonlogic_target, corpus("jsonlogic"), 400);
}

#[test]
fn fuzz_config_loaders() {
    run(config_target, corpus("config"), 300);
}

// ---- regressions: inputs the fuzzers (and the adversarial run) found -----------------

/// A deeply nested rule: must be a typed error (serde_json's depth limit), not a stack
/// overflow in the evaluator.
#[test]
fn regression_deep_jsonlogic_rule() {
    let rule = format!("{}1{}", "{\"!\":[".repeat(5000), "]}".repeat(5000));
    jsonlogic_target(rule.as_bytes());
}

/// Message times going backwards: a typed error naming the message file and line.
#[test]
fn regression_lobster_time_goes_back() {
    let msg = b"34200.5,1,1,10,1000000,1\n34200.1,1,2,10,1000100,-1\n";
    let book = b"1000100,10,1000000,10\n1000100,10,1000000,10\n";
    let m = tradecore::lobster::line_source_from_bytes(MSG_NAME, msg.to_vec());
    let b = tradecore::lobster::line_source_from_bytes(BOOK_NAME, book.to_vec());
    let e = tradecore::lobster::replay_lobster_with(m, b, 1, |_, _, _, _| {}).unwrap_err();
    assert!(matches!(e, CoreError::BadLine { line: 2, .. }), "{e}");
    assert!(e.to_string().contains("goes back"), "{e}");
}

/// Found by `fuzz_config_loaders`: a timeframe ending in a multi-byte character split a
/// string inside it (a panic in `Timeframe::parse`); now a typed config error.
#[test]
fn regression_timeframe_with_a_multibyte_unit() {
    for s in [
        "\u{fffd}s\u{fffd}2\u{fffd}",
        "1\u{e9}",
        "\u{1f600}",
        "5m\u{0301}",
    ] {
        let e = tradecore::bars::Timeframe::parse(s).unwrap_err();
        assert!(matches!(e, CoreError::Config(_)), "{e}");
    }
}
