//! One streaming pass over a DBN file that says what it holds: version, compression,
//! metadata (dataset, schema, stype, time range, symbols and their mappings), record counts
//! per record type, the ts_event range, the instrument ids seen, and the instruments that
//! definition records describe (tick size, multiplier, expiry). Memory is bounded by the
//! number of distinct record types and instruments, never by the file size.

use std::path::{Path, PathBuf};

use dbn::{
    rtype, BboMsg, CbboMsg, Cmbp1Msg, ImbalanceMsg, InstrumentDefMsg, MboMsg, Mbp10Msg, Mbp1Msg,
    RType, RecordRef, StatMsg, StatusMsg, TradeMsg, UNDEF_PRICE, UNDEF_TIMESTAMP,
};

use crate::book::PRICE_SCALE;
use crate::decode::DbnReader;
use crate::error::Result;

/// One symbol's mapping from the metadata header: the symbol it resolves to per date range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SymbolMap {
    pub raw_symbol: String,
    /// (start date, end date exclusive, mapped symbol), dates as `YYYY-MM-DD`.
    pub intervals: Vec<(String, String, String)>,
}

/// An instrument as its latest definition record describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct InstrumentInfo {
    pub instrument_id: u32,
    pub raw_symbol: String,
    /// Minimum price increment, DBN fixed point (1e-9), and in price units.
    pub tick_size_fixed: i64,
    pub tick_size: f64,
    /// `unit_of_measure_qty` in units (e.g. 50.0 for ES), when defined.
    pub unit_of_measure_qty: Option<f64>,
    /// `contract_multiplier`, when defined (CME often leaves it undefined).
    pub contract_multiplier: Option<i32>,
    /// The dollar value of one price unit: `unit_of_measure_qty`, else `contract_multiplier`.
    pub multiplier: Option<f64>,
    /// Expiration and activation, ns since the UNIX epoch, when defined.
    pub expiration: Option<u64>,
    pub activation: Option<u64>,
    pub currency: String,
    pub exchange: String,
    pub asset: String,
    pub security_type: String,
    /// DBN instrument class code, e.g. "F" future, "C" call, "P" put, "S" spread.
    pub instrument_class: String,
    pub ts_recv: u64,
}

/// What [`scan`] found in one file.
#[derive(Debug, Clone, PartialEq)]
pub struct FileSummary {
    pub path: PathBuf,
    pub version: u8,
    pub compressed: bool,
    pub dataset: String,
    /// The metadata schema (e.g. "mbo"), or "mixed" when the file declares none.
    pub schema: String,
    pub stype_in: Option<String>,
    pub stype_out: String,
    /// Metadata query range, ns since the UNIX epoch (`end` absent when unbounded).
    pub start: u64,
    pub end: Option<u64>,
    pub limit: Option<u64>,
    pub ts_out: bool,
    pub symbols: Vec<String>,
    pub partial: Vec<String>,
    pub not_found: Vec<String>,
    pub mappings: Vec<SymbolMap>,
    pub records: u64,
    /// Records per record type, named as its schema where it has one ("mbo", "trades",
    /// "definition"; the keys of [`crate::records::Frames`]), in order of first sight.
    pub record_counts: Vec<(String, u64)>,
    pub ts_event_min: Option<u64>,
    pub ts_event_max: Option<u64>,
    /// Records whose index timestamp (ts_recv; ts_event for bars) is earlier than the
    /// previous record's. Databento writes files in order; a book replay rejects these.
    pub out_of_order: u64,
    /// Distinct instrument ids over all records, ascending.
    pub instrument_ids: Vec<u32>,
    /// One entry per instrument id defined in the file (latest definition wins), ascending id.
    pub instruments: Vec<InstrumentInfo>,
    /// Bytes of the (decompressed) DBN stream: metadata plus records.
    pub stream_bytes: u64,
    /// Records of no DBN record type (a strict read refuses the file at the first).
    pub unknown_rtype: u64,
    /// Records of a type other than the schema the header declares.
    pub schema_mismatch: u64,
    /// One line per kind of anomaly found (out of order, unknown type, off-schema type),
    /// with its count and the first record index and byte offset: empty for a clean file.
    pub issues: Vec<String>,
}

/// Name of a record type: the `dbn` name when known, else its hex code.
pub fn rtype_name(rt: u8) -> String {
    match RType::try_from(rt) {
        Ok(r) => r.as_str().to_string(),
        Err(_) => format!("0x{rt:02x}"),
    }
}

/// A NUL-terminated `c_char` array as text; bytes that are not UTF-8 are replaced.
pub(crate) fn cstr(chars: &[std::ffi::c_char]) -> String {
    let bytes: Vec<u8> = chars
        .iter()
        .map(|&c| c as u8)
        .take_while(|&b| b != 0)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// A one-byte code as text; NUL is the empty string.
pub(crate) fn char_str(c: std::ffi::c_char) -> String {
    match c as u8 {
        0 => String::new(),
        b => (b as char).to_string(),
    }
}

fn defined_ts(ts: u64) -> Option<u64> {
    (ts != UNDEF_TIMESTAMP).then_some(ts)
}

impl InstrumentInfo {
    pub fn from_definition(d: &InstrumentDefMsg) -> Self {
        let px = |p: i64| p as f64 / PRICE_SCALE as f64;
        let uom = (d.unit_of_measure_qty != UNDEF_PRICE).then(|| px(d.unit_of_measure_qty));
        let cm = (d.contract_multiplier != i32::MAX).then_some(d.contract_multiplier);
        InstrumentInfo {
            instrument_id: d.hd.instrument_id,
            raw_symbol: cstr(&d.raw_symbol),
            tick_size_fixed: d.min_price_increment,
            tick_size: if d.min_price_increment == UNDEF_PRICE {
                f64::NAN
            } else {
                px(d.min_price_increment)
            },
            unit_of_measure_qty: uom,
            contract_multiplier: cm,
            multiplier: uom.or(cm.map(f64::from)),
            expiration: defined_ts(d.expiration),
            activation: defined_ts(d.activation),
            currency: cstr(&d.currency),
            exchange: cstr(&d.exchange),
            asset: cstr(&d.asset),
            security_type: cstr(&d.security_type),
            instrument_class: char_str(d.instrument_class),
            ts_recv: d.ts_recv,
        }
    }
}

/// The timestamp a file is ordered by: `ts_recv` where the record has one, else
/// `ts_event`. (dbn's own `raw_index_ts` panics on some record types it knows by name.)
pub(crate) fn index_ts(rec: &RecordRef<'_>) -> u64 {
    let hd = rec.header();
    let recv = match hd.rtype {
        rtype::MBO => rec.get::<MboMsg>().map(|m| m.ts_recv),
        rtype::MBP_0 => rec.get::<TradeMsg>().map(|m| m.ts_recv),
        rtype::MBP_1 => rec.get::<Mbp1Msg>().map(|m| m.ts_recv),
        rtype::MBP_10 => rec.get::<Mbp10Msg>().map(|m| m.ts_recv),
        rtype::BBO_1S | rtype::BBO_1M => rec.get::<BboMsg>().map(|m| m.ts_recv),
        rtype::CMBP_1 | rtype::TCBBO => rec.get::<Cmbp1Msg>().map(|m| m.ts_recv),
        rtype::CBBO_1S | rtype::CBBO_1M => rec.get::<CbboMsg>().map(|m| m.ts_recv),
        rtype::STATUS => rec.get::<StatusMsg>().map(|m| m.ts_recv),
        rtype::INSTRUMENT_DEF => rec.get::<InstrumentDefMsg>().map(|m| m.ts_recv),
        rtype::IMBALANCE => rec.get::<ImbalanceMsg>().map(|m| m.ts_recv),
        rtype::STATISTICS => rec.get::<StatMsg>().map(|m| m.ts_recv),
        _ => None,
    };
    recv.unwrap_or(hd.ts_event)
}

/// Reads `path` once and summarises it. Framing errors are the reader's typed errors;
/// records a strict read would refuse (unknown or undeclared types, time going back) are
/// counted and described in [`FileSummary::issues`], so a summary can describe a damaged file.
pub fn scan(path: impl AsRef<Path>) -> Result<FileSummary> {
    scan_reader(DbnReader::open(path)?.lenient())
}

/// Summarises what is left of an open reader (all of it, when freshly opened).
pub fn scan_reader(mut reader: DbnReader) -> Result<FileSummary> {
    let meta = reader.metadata().clone();
    let mut counts: Vec<(u8, u64)> = Vec::new();
    let mut ids: Vec<u32> = Vec::new();
    let mut instruments: Vec<InstrumentInfo> = Vec::new();
    let (mut ts_min, mut ts_max) = (None::<u64>, None::<u64>);
    let mut records = 0u64;
    let (mut prev_ts, mut out_of_order) = (0u64, 0u64);
    let mut first_back: Option<(crate::error::Position, u64, u64)> = None;
    loop {
        let at = reader.position();
        let Some(rec) = reader.next_record()? else {
            break;
        };
        records += 1;
        let hd = rec.header();
        match counts.iter_mut().find(|(r, _)| *r == hd.rtype) {
            Some((_, n)) => *n += 1,
            None => counts.push((hd.rtype, 1)),
        }
        // Few instruments per file: a sorted vector beats a set and keeps output ordered.
        if let Err(i) = ids.binary_search(&hd.instrument_id) {
            ids.insert(i, hd.instrument_id);
        }
        let ts = index_ts(&rec);
        if ts != UNDEF_TIMESTAMP {
            if ts < prev_ts {
                out_of_order += 1;
                first_back.get_or_insert((at, prev_ts, ts));
            }
            prev_ts = ts;
        }
        if hd.ts_event != UNDEF_TIMESTAMP {
            ts_min = Some(ts_min.map_or(hd.ts_event, |m| m.min(hd.ts_event)));
            ts_max = Some(ts_max.map_or(hd.ts_event, |m| m.max(hd.ts_event)));
        }
        if hd.rtype == rtype::INSTRUMENT_DEF {
            if let Some(d) = rec.get::<InstrumentDefMsg>() {
                let info = InstrumentInfo::from_definition(d);
                match instruments.binary_search_by_key(&info.instrument_id, |i| i.instrument_id) {
                    Ok(i) => instruments[i] = info,
                    Err(i) => instruments.insert(i, info),
                }
            }
        }
    }
    let stream_bytes = reader.position().offset;
    let an = reader.anomalies().clone();
    let mut issues = Vec::new();
    if let Some((at, prev, ts)) = first_back {
        issues.push(format!(
            "out_of_order: {out_of_order} record(s) go back in time, first at record {} \
             (byte offset {}): {ts} < previous {prev}",
            at.record, at.offset
        ));
    }
    if let Some((at, rt)) = an.first_unknown_rtype {
        issues.push(format!(
            "unknown_rtype: {} record(s) of no DBN record type, first at record {} \
             (byte offset {}): rtype {rt:#04x}",
            an.unknown_rtype, at.record, at.offset
        ));
    }
    if let Some((at, rt)) = an.first_schema_mismatch {
        issues.push(format!(
            "schema_mismatch: {} record(s) not of the declared schema {}, first at record {} \
             (byte offset {}): a {} record",
            an.schema_mismatch,
            meta.schema.map_or("(mixed)", |s| s.as_str()),
            at.record,
            at.offset,
            crate::records::schema_name(rt)
        ));
    }
    Ok(FileSummary {
        path: reader.path().to_path_buf(),
        version: reader.version(),
        compressed: reader.is_compressed(),
        dataset: meta.dataset.clone(),
        schema: meta
            .schema
            .map_or_else(|| "mixed".to_string(), |s| s.as_str().to_string()),
        stype_in: meta.stype_in.map(|s| s.as_str().to_string()),
        stype_out: meta.stype_out.as_str().to_string(),
        start: meta.start,
        end: meta.end.map(|e| e.get()),
        limit: meta.limit.map(|l| l.get()),
        ts_out: meta.ts_out,
        symbols: meta.symbols.clone(),
        partial: meta.partial.clone(),
        not_found: meta.not_found.clone(),
        mappings: meta
            .mappings
            .iter()
            .map(|m| SymbolMap {
                raw_symbol: m.raw_symbol.clone(),
                intervals: m
                    .intervals
                    .iter()
                    .map(|iv| {
                        (
                            iv.start_date.to_string(),
                            iv.end_date.to_string(),
                            iv.symbol.clone(),
                        )
                    })
                    .collect(),
            })
            .collect(),
        records,
        record_counts: counts
            .into_iter()
            .map(|(r, n)| (crate::records::frame_name(meta.schema, r), n))
            .collect(),
        ts_event_min: ts_min,
        ts_event_max: ts_max,
        out_of_order,
        instrument_ids: ids,
        instruments,
        stream_bytes,
        unknown_rtype: an.unknown_rtype,
        schema_mismatch: an.schema_mismatch,
        issues,
    })
}
