//! Real-file checks of `scan` (file summaries) and `records` (typed columns): every file of
//! the DBN test corpus decodes, the v1/v2/v3 copies of a schema give the same frames, and
//! the definition files give the contract facts a trader relies on (tick, multiplier, expiry).

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use tradecore::records::{read_dbn, Column, Frame};
use tradecore::scan::scan;

fn corpus() -> PathBuf {
    common::shared_data().join("dbn/dbn-test-corpus")
}

fn nautilus(name: &str) -> PathBuf {
    common::shared_data().join("dbn/nautilus").join(name)
}

/// Corpus files grouped by schema: "mbo" -> [test_data.mbo.dbn, test_data.mbo.v1.dbn.zst, ...].
fn corpus_by_schema() -> BTreeMap<String, Vec<PathBuf>> {
    let mut out: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for e in std::fs::read_dir(corpus()).expect("corpus dir") {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let schema = name
            .trim_start_matches("test_data.")
            .split('.')
            .next()
            .unwrap()
            .to_string();
        out.entry(schema).or_default().push(p);
    }
    out
}

fn u64s<'a>(f: &'a Frame, name: &str) -> &'a [u64] {
    match f.column(name) {
        Some(Column::U64(v)) => v,
        other => panic!("{name}: {other:?}"),
    }
}

fn prices<'a>(f: &'a Frame, name: &str) -> &'a [f64] {
    match f.column(name) {
        Some(Column::Price(v)) => v,
        other => panic!("{name}: {other:?}"),
    }
}

/// Frames compared with NaN equal to NaN (undefined prices).
fn same_frame(a: &Frame, b: &Frame) -> bool {
    a.schema == b.schema
        && a.columns.len() == b.columns.len()
        && a.columns
            .iter()
            .zip(&b.columns)
            .all(|((na, ca), (nb, cb))| {
                na == nb
                    && match (ca, cb) {
                        (Column::Price(x), Column::Price(y)) => {
                            x.len() == y.len()
                                && x.iter()
                                    .zip(y)
                                    .all(|(p, q)| p == q || (p.is_nan() && q.is_nan()))
                        }
                        _ => ca == cb,
                    }
            })
}

#[test]
fn every_corpus_file_decodes_and_versions_agree() {
    let groups = corpus_by_schema();
    assert_eq!(groups.len(), 15, "schemas found: {:?}", groups.keys());
    for (schema, files) in &groups {
        let mut frames = Vec::new();
        for p in files {
            let fr = read_dbn(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            assert_eq!(fr.frames.len(), 1, "{}", p.display());
            assert_eq!(&fr.frames[0].schema, schema, "{}", p.display());
            assert!(fr.skipped.is_empty(), "{}", p.display());
            frames.push((p, fr.frames.into_iter().next().unwrap()));
        }
        let (p0, f0) = &frames[0];
        let expected_rows = if schema == "ohlcv-1d" { 0 } else { f0.len() };
        assert_eq!(f0.len(), expected_rows);
        if schema != "ohlcv-1d" {
            assert!(f0.len() >= 2, "{} has {} rows", p0.display(), f0.len());
        }
        for (p, f) in &frames[1..] {
            assert!(
                same_frame(f0, f),
                "{} differs from {}",
                p.display(),
                p0.display()
            );
        }
    }
}

#[test]
fn empty_ohlcv_file_still_has_its_columns() {
    let fr = read_dbn(corpus().join("test_data.ohlcv-1d.v3.dbn.zst")).unwrap();
    let f = &fr.frames[0];
    assert_eq!(f.schema, "ohlcv-1d");
    assert!(f.is_empty());
    assert!(f.column("close").is_some());
}

#[test]
fn trades_equal_the_trade_records_of_the_mbp1_file() {
    let trades = read_dbn(nautilus(
        "futures_trades_2024-07-01T23-58_2024-07-02T00-02.dbn.zst",
    ))
    .unwrap();
    let mbp = read_dbn(nautilus(
        "futures_mbp-1_2024-07-01T23-58_2024-07-02T00-02.dbn.zst",
    ))
    .unwrap();
    let t = trades.get("trades").expect("trades frame");
    let m = mbp.get("mbp-1").expect("mbp-1 frame");
    assert_eq!(t.len(), 120);
    assert_eq!(m.len(), 2288);
    let Some(Column::Char(actions)) = m.column("action") else {
        panic!()
    };
    let rows: Vec<usize> = (0..m.len()).filter(|&i| actions[i] == b'T').collect();
    assert_eq!(rows.len(), 120);
    let Some(Column::U32(mseq)) = m.column("sequence") else {
        panic!()
    };
    let Some(Column::U32(tseq)) = t.column("sequence") else {
        panic!()
    };
    let Some(Column::U32(msz)) = m.column("size") else {
        panic!()
    };
    let Some(Column::U32(tsz)) = t.column("size") else {
        panic!()
    };
    for (k, &i) in rows.iter().enumerate() {
        assert_eq!(u64s(m, "ts_event")[i], u64s(t, "ts_event")[k]);
        assert_eq!(mseq[i], tseq[k]);
        assert_eq!(prices(m, "price")[i], prices(t, "price")[k]);
        assert_eq!(msz[i], tsz[k]);
    }
}

#[test]
fn es_definitions_give_tick_multiplier_and_expiry() {
    let s = scan(nautilus("futures_definition_2024-07-01.dbn.zst")).unwrap();
    assert_eq!(s.schema, "definition");
    assert_eq!(s.records, 2);
    let es = s
        .instruments
        .iter()
        .find(|i| i.raw_symbol == "ESU4")
        .expect("ESU4");
    assert_eq!(es.instrument_id, 118);
    assert_eq!(es.tick_size_fixed, 250_000_000);
    assert_eq!(es.tick_size, 0.25);
    assert_eq!(es.multiplier, Some(50.0));
    // ESU4 expires on the third Friday of September 2024, 13:30 UTC.
    assert_eq!(es.expiration, Some(1_726_839_000_000_000_000));
    assert_eq!(es.currency, "USD");
    assert_eq!(es.asset, "ES");
    assert_eq!(es.instrument_class, "F");
    let nq = s
        .instruments
        .iter()
        .find(|i| i.raw_symbol == "NQU4")
        .expect("NQU4");
    assert_eq!(
        (nq.instrument_id, nq.tick_size, nq.multiplier),
        (4358, 0.25, Some(20.0))
    );

    let m = scan(nautilus("definition-glbx-es-fut.dbn.zst")).unwrap();
    let esm3 = m
        .instruments
        .iter()
        .find(|i| i.raw_symbol == "ESM3")
        .expect("ESM3");
    assert_eq!(
        (esm3.instrument_id, esm3.tick_size, esm3.multiplier),
        (95414, 0.25, Some(50.0))
    );
    // ESM3: third Friday of June 2023, 13:30 UTC.
    assert_eq!(esm3.expiration, Some(1_686_922_200_000_000_000));
}

#[test]
fn scan_of_a_mixed_instrument_ohlcv_file() {
    let s = scan(nautilus(
        "futures_ohlcv-1m_2024-07-01T23-40_2024-07-02T00-10.dbn.zst",
    ))
    .unwrap();
    assert_eq!(s.version, 1);
    assert!(s.compressed);
    assert_eq!(s.dataset, "GLBX.MDP3");
    assert_eq!(s.schema, "ohlcv-1m");
    assert_eq!(s.records, 60);
    assert_eq!(s.record_counts, vec![("ohlcv-1m".to_string(), 60)]);
    assert_eq!(s.instrument_ids, vec![118, 4358]);
    assert!(s.ts_event_min.unwrap() < s.ts_event_max.unwrap());
    assert!(s.instruments.is_empty());
}

#[test]
fn scan_of_the_mbo_day_counts_every_record() {
    let s = scan(common::esh4_mbo()).unwrap();
    assert_eq!(s.records, 68_792);
    assert_eq!(s.record_counts, vec![("mbo".to_string(), 68_792)]);
    assert_eq!(s.instrument_ids, vec![17077]);
    assert_eq!(s.out_of_order, 0);
    assert!(s.stream_bytes > 68_792 * 56);
    // 2023-12-24 13:00:05 .. 2023-12-25 23:59:59 UTC.
    assert!(s.ts_event_min.unwrap() >= 1_703_422_805_000_000_000);
    assert!(s.ts_event_max.unwrap() < 1_703_548_800_000_000_000);
}

#[test]
fn scan_reads_symbols_and_mappings_from_metadata() {
    let s = scan(corpus().join("test_data.mbo.v3.dbn.zst")).unwrap();
    assert_eq!(s.version, 3);
    assert_eq!(s.schema, "mbo");
    assert_eq!(s.records, 2);
    assert_eq!(s.instrument_ids, vec![5482]);
    let v1 = scan(corpus().join("test_data.mbo.v1.dbn.zst")).unwrap();
    assert_eq!(v1.version, 1);
    assert_eq!(
        (v1.symbols.clone(), v1.mappings.clone()),
        (s.symbols.clone(), s.mappings.clone())
    );
    let plain = scan(corpus().join("test_data.mbo.dbn")).unwrap();
    assert!(!plain.compressed);
    assert_eq!(plain.version, 2);
}

#[test]
fn dropping_a_compressed_reader_early_returns() {
    // The decompression thread must notice the reader is gone wherever it is waiting;
    // before the fix this test never finished.
    for n in [0usize, 1, 5_000, 30_000] {
        let mut r = tradecore::decode::DbnReader::open(common::esh4_mbo()).unwrap();
        for _ in 0..n {
            r.next_record().unwrap().unwrap();
        }
        assert_eq!(r.position().record, n as u64);
        drop(r);
    }
}
