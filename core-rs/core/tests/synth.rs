//! The synthetic generator's files read back through the core's own DBN reader and replay:
//! valid metadata, a replay without anomalies, and the L3 rebuild equal to the MBP-10
//! ground truth written from the generator's book.

use std::path::PathBuf;

use tradecore::decode::DbnReader;
use tradecore::replay::replay_book;
use tradecore::synth::{synth_mbo, SynthConfig};
use tradecore::CoreError;

/// A fresh directory under the system temp dir (removed when dropped).
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let d = std::env::temp_dir().join(format!("tradecore-synth-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        TempDir(d)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn cfg(events: u64, seed: u64, roots: &[&str]) -> SynthConfig {
    SynthConfig {
        events,
        seed,
        instruments: roots.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

#[test]
fn file_has_mbo_metadata_and_symbol_mappings() {
    let dir = TempDir::new("meta");
    let out = dir.0.join("a.mbo.dbn.zst");
    let s = synth_mbo(&out, &cfg(2_000, 1, &["ES", "CL"]), None).unwrap();
    let mut r = DbnReader::open(&out).unwrap();
    assert!(r.is_compressed());
    assert_eq!(r.version(), 3);
    let m = r.metadata().clone();
    assert_eq!(m.dataset, "GLBX.MDP3");
    assert_eq!(m.schema, Some(dbn::Schema::Mbo));
    assert_eq!(m.stype_in, Some(dbn::SType::RawSymbol));
    assert_eq!(m.symbols, ["ESZ6", "CLF7"]);
    assert_eq!(m.start, s.start_ns);
    assert_eq!(m.end.map(|e| e.get()), Some(s.end_ns));
    let ids: Vec<String> = m
        .mappings
        .iter()
        .map(|x| x.intervals[0].symbol.clone())
        .collect();
    let want: Vec<String> = s
        .instruments
        .iter()
        .map(|i| i.instrument_id.to_string())
        .collect();
    assert_eq!(ids, want);
    let mut n = 0u64;
    let mut last_recv = 0;
    while let Some(rec) = r.next_record().unwrap() {
        let m = rec.get::<dbn::MboMsg>().expect("only MBO records");
        assert!(m.ts_recv >= last_recv && m.ts_recv < s.end_ns);
        last_recv = m.ts_recv;
        n += 1;
    }
    assert_eq!(n, s.records);
}

#[test]
fn replay_is_clean_and_equals_the_mbp10_ground_truth() {
    let dir = TempDir::new("mbp10");
    let (mbo, mbp) = (dir.0.join("x.mbo.dbn"), dir.0.join("x.mbp10.dbn.zst"));
    let s = synth_mbo(&mbo, &cfg(20_000, 9, &["NQ", "RTY", "GC"]), Some(&mbp)).unwrap();
    let (l3, st3) = replay_book(&mbo, 10).unwrap();
    let (l2, st2) = replay_book(&mbp, 10).unwrap();
    assert_eq!(st3.anomalies.total(), 0, "{:?}", st3.anomalies);
    assert_eq!(st2.anomalies.total(), 0, "{:?}", st2.anomalies);
    assert_eq!(st3.records, s.records);
    assert_eq!(st3.boundaries, s.boundaries);
    assert_eq!(st2.records, s.mbp10_records);
    assert_eq!(l3.len(), l2.len());
    assert_eq!(l3.ts_event, l2.ts_event);
    assert_eq!(l3.ts_recv, l2.ts_recv);
    assert_eq!(l3.instrument_id, l2.instrument_id);
    // Every level of every row, both sides: price, size and order count.
    assert_eq!(l3.level_rows(), l2.level_rows());
    assert!(l3.crossed.iter().all(|c| !c));
}

#[test]
fn same_config_same_bytes() {
    let dir = TempDir::new("det");
    let (a, b) = (dir.0.join("a.dbn.zst"), dir.0.join("b.dbn.zst"));
    synth_mbo(&a, &cfg(3_000, 77, &["ES"]), None).unwrap();
    synth_mbo(&b, &cfg(3_000, 77, &["ES"]), None).unwrap();
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
}

#[test]
fn unwritable_path_is_an_io_error_naming_it() {
    let dir = TempDir::new("io");
    let out = dir.0.join("no-such-dir").join("x.dbn.zst");
    match synth_mbo(&out, &cfg(10, 0, &["ES"]), None) {
        Err(CoreError::Io { path, .. }) => assert_eq!(path, out),
        other => panic!("expected an Io error, got {other:?}"),
    }
}

#[test]
fn companion_on_the_output_path_is_a_config_error() {
    let dir = TempDir::new("same");
    let out = dir.0.join("x.dbn.zst");
    let err = synth_mbo(&out, &cfg(10, 0, &["ES"]), Some(&out)).unwrap_err();
    assert!(matches!(err, CoreError::Config(_)), "{err}");
    assert!(!out.exists());
}
