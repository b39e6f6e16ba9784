//! Where bars come from: trades in DBN files (trades, MBP-1/MBP-10 and MBO 'T' records)
//! and LOBSTER message files (executions, types 4 and 5) built into bars, and Databento
//! OHLCV files read as they are.
//!
//! DBN bars are timed by `ts_recv`, as Databento's own OHLCV schemas are, so bars built
//! here from a trades file equal Databento's bars; DBN files are written in `ts_recv` order.
//! LOBSTER times are seconds after midnight New York time on the date in the file name;
//! they are converted to UTC with the US Eastern daylight-saving rules.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use dbn::{rtype, MboMsg, Mbp10Msg, Mbp1Msg, OhlcvMsg, RecordRef, Schema, TradeMsg};

use super::{Aggressor, BarBuilder, BarFrame, PerInstrument, Reject, Timeframe};
use crate::book::UNDEF_PRICE;
use crate::decode::DbnReader;
use crate::error::{CoreError, Result};
use crate::lobster::{parse_message, LineSource, MsgType};

/// What a trade source held, beside its bars.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BuildStats {
    /// Records (DBN) or rows (LOBSTER) read.
    pub records: u64,
    /// Of those, trades that went into bars.
    pub trades: u64,
}

const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];

fn head(path: &Path, n: usize) -> Result<Vec<u8>> {
    let mut f = File::open(path).map_err(|e| CoreError::io(path, e))?;
    let mut buf = Vec::with_capacity(n);
    f.by_ref()
        .take(n as u64)
        .read_to_end(&mut buf)
        .map_err(|e| CoreError::io(path, e))?;
    Ok(buf)
}

/// True for a LOBSTER message file name: `TICKER_YYYY-MM-DD_start_end_message_N.csv[.gz]`
/// (other suffixes after the level, like `.first999`, are allowed).
pub fn is_lobster_message(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    lobster_date(name).is_some() && name.contains("_message_")
}

/// Builds `tf` bars from the trades in `path`: a DBN file (trades, MBP-1, MBP-10 or MBO
/// schema) or a LOBSTER message file. Rows are sorted by (ts, instrument_id). The last bar
/// of each instrument is emitted as it stands when the file ends, so it may cover only
/// part of its interval; every earlier bar is complete with respect to the file.
pub fn build_bars(path: impl AsRef<Path>, tf: Timeframe) -> Result<(BarFrame, BuildStats)> {
    let path = path.as_ref();
    let magic = head(path, 4)?;
    if magic.is_empty() {
        return Err(CoreError::EmptyFile {
            path: path.to_path_buf(),
        });
    }
    if magic.starts_with(b"DBN") || magic == ZSTD_MAGIC {
        return build_from_dbn(DbnReader::open(path)?, tf);
    }
    if is_lobster_message(path) {
        return build_from_lobster(path, tf);
    }
    Err(CoreError::UnknownFormat {
        path: path.to_path_buf(),
        detail: "expected a DBN file (trades, mbp-1, mbp-10 or mbo) or a LOBSTER message file \
                 named TICKER_YYYY-MM-DD_..._message_N.csv[.gz]"
            .into(),
    })
}

/// One trade of a DBN record, if the record is a trade: (instrument, ts_recv, price, size, side).
#[inline]
fn dbn_trade(rec: &RecordRef<'_>) -> Option<(u32, u64, i64, u32, std::ffi::c_char)> {
    let id = rec.header().instrument_id;
    let t = |ts: u64, price: i64, size: u32, side| Some((id, ts, price, size, side));
    match rec.header().rtype {
        rtype::MBP_0 => rec
            .get::<TradeMsg>()
            .and_then(|m| t(m.ts_recv, m.price, m.size, m.side)),
        rtype::MBP_1 => rec
            .get::<Mbp1Msg>()
            .filter(|m| m.action as u8 == b'T')
            .and_then(|m| t(m.ts_recv, m.price, m.size, m.side)),
        rtype::MBP_10 => rec
            .get::<Mbp10Msg>()
            .filter(|m| m.action as u8 == b'T')
            .and_then(|m| t(m.ts_recv, m.price, m.size, m.side)),
        // MBO 'F' fills restate the same trades from the resting orders' side.
        rtype::MBO => rec
            .get::<MboMsg>()
            .filter(|m| m.action as u8 == b'T')
            .and_then(|m| t(m.ts_recv, m.price, m.size, m.side)),
        _ => None,
    }
}

/// Builds bars from the trades of an opened DBN stream.
pub fn build_from_dbn(mut reader: DbnReader, tf: Timeframe) -> Result<(BarFrame, BuildStats)> {
    match reader.metadata().schema {
        Some(Schema::Trades | Schema::Mbp1 | Schema::Mbp10 | Schema::Mbo | Schema::Tbbo) | None => {
        }
        Some(other) => {
            return Err(CoreError::UnknownFormat {
                path: reader.path().to_path_buf(),
                detail: format!(
                    "DBN schema {other} holds no trades to build bars from \
                     (use trades, mbp-1, mbp-10 or mbo; OHLCV files are loaded, not built)"
                ),
            })
        }
    }
    let mut builders: PerInstrument<BarBuilder> = PerInstrument::default();
    let mut frame = BarFrame::default();
    let mut stats = BuildStats::default();
    loop {
        let at = reader.position();
        let Some(rec) = reader.next_record()? else {
            break;
        };
        stats.records += 1;
        let Some((id, ts, price, size, side)) = dbn_trade(&rec) else {
            continue;
        };
        stats.trades += 1;
        let b = builders.get_or(id, || BarBuilder::new(tf));
        match b.push(ts, price, size as f64, Aggressor::from_dbn(side)) {
            Ok(Some(bar)) => frame.push(id, &bar),
            Ok(None) => {}
            Err(Reject::Decreasing { prev, ts }) => {
                return Err(CoreError::OutOfOrder {
                    path: reader.path().to_path_buf(),
                    at,
                    prev,
                    ts,
                })
            }
            Err(e) => {
                return Err(CoreError::BadRecord {
                    path: reader.path().to_path_buf(),
                    at,
                    detail: format!("trade of instrument {id}: {e}"),
                })
            }
        }
    }
    for (id, b) in builders.iter_mut() {
        if let Some(bar) = b.flush() {
            frame.push(id, &bar);
        }
    }
    frame.sort();
    Ok((frame, stats))
}

/// The bar length an OHLCV record type stands for ("1s", "1m", "1h", "1d", "eod"), or
/// `None` for a record that is not a bar (and for the pre-0.3.3 rtype, which carries no
/// cadence: the file's schema says it).
fn ohlcv_label(rt: u8) -> Option<&'static str> {
    match rt {
        rtype::OHLCV_1S => Some("1s"),
        rtype::OHLCV_1M => Some("1m"),
        rtype::OHLCV_1H => Some("1h"),
        rtype::OHLCV_1D => Some("1d"),
        rtype::OHLCV_EOD => Some("eod"),
        _ => None,
    }
}

/// Reads the bars of a Databento OHLCV file (1s, 1m, 1h, 1d or EOD), per instrument, with
/// `ts` = the bar's open time. VWAP, trade count and buy/sell volume are not in the format:
/// VWAP is NaN and the counts are 0.
///
/// A file holding bars of more than one timeframe (a mixed-schema live capture) is refused
/// with [`CoreError::SchemaMismatch`] naming both timeframes and the first record of the
/// second, unless `only` picks one ("1m", ...): then the others are left out. Records that
/// are not bars (trades, MBO ... in a live capture) are skipped.
pub fn load_dbn_ohlcv(path: impl AsRef<Path>, only: Option<&str>) -> Result<BarFrame> {
    if let Some(o) = only {
        if !["1s", "1m", "1h", "1d", "eod"].contains(&o) {
            return Err(CoreError::Config(format!(
                "{}: timeframe {o:?}: Databento OHLCV bars are 1s, 1m, 1h, 1d or eod",
                path.as_ref().display()
            )));
        }
    }
    let mut reader = DbnReader::open(path)?;
    match reader.metadata().schema {
        Some(
            Schema::Ohlcv1S
            | Schema::Ohlcv1M
            | Schema::Ohlcv1H
            | Schema::Ohlcv1D
            | Schema::OhlcvEod,
        )
        | None => {}
        Some(other) => {
            return Err(CoreError::UnknownFormat {
                path: reader.path().to_path_buf(),
                detail: format!(
                    "DBN schema {other} holds no OHLCV bars (build bars from trades instead)"
                ),
            })
        }
    }
    let schema_label = reader.metadata().schema.and_then(|sc| match sc {
        Schema::Ohlcv1S => Some("1s"),
        Schema::Ohlcv1M => Some("1m"),
        Schema::Ohlcv1H => Some("1h"),
        Schema::Ohlcv1D => Some("1d"),
        Schema::OhlcvEod => Some("eod"),
        _ => None,
    });
    // The first timeframe seen, and the record that showed it.
    let mut first: Option<(&'static str, u64)> = None;
    let mut frame = BarFrame::default();
    loop {
        let at = reader.position();
        let Some(rec) = reader.next_record()? else {
            break;
        };
        let Some(m) = rec.get::<OhlcvMsg>() else {
            continue;
        };
        let Some(label) = ohlcv_label(m.hd.rtype).or(schema_label) else {
            return Err(CoreError::SchemaMismatch {
                path: reader.path().to_path_buf(),
                at,
                detail: "OHLCV bar of unknown cadence (old rtype and no OHLCV schema in \
                         the metadata)"
                    .into(),
            });
        };
        if let Some(o) = only {
            if label != o {
                continue;
            }
        }
        match first {
            None => first = Some((label, at.record)),
            Some((f, f_at)) if f != label => {
                return Err(CoreError::SchemaMismatch {
                    path: reader.path().to_path_buf(),
                    at,
                    detail: format!(
                        "mixed bar timeframes: {label} bars here, {f} bars since record \
                         {f_at}; refusing to mix them (load one with timeframe=\"{f}\" or \
                         timeframe=\"{label}\")"
                    ),
                });
            }
            Some(_) => {}
        }
        let bar = super::Bar {
            ts: m.hd.ts_event,
            open: m.open,
            high: m.high,
            low: m.low,
            close: m.close,
            volume: m.volume as f64,
            vwap: f64::NAN,
            buy_volume: 0.0,
            sell_volume: 0.0,
            trades: 0,
        };
        if [bar.open, bar.high, bar.low, bar.close].contains(&UNDEF_PRICE) {
            return Err(CoreError::BadRecord {
                path: reader.path().to_path_buf(),
                at,
                detail: "OHLCV bar with an undefined price".into(),
            });
        }
        frame.push(m.hd.instrument_id, &bar);
    }
    frame.sort();
    Ok(frame)
}

/// (year, month, day) from a LOBSTER file name `TICKER_YYYY-MM-DD_...`.
fn lobster_date(name: &str) -> Option<(i64, u32, u32)> {
    let date = name.split('_').nth(1)?;
    let mut it = date.split('-');
    let (y, m, d) = (it.next()?, it.next()?, it.next()?);
    if it.next().is_some() || y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    let (y, m, d) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    ((1..=12).contains(&m) && (1..=31).contains(&d)).then_some((y, m, d))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Day of month of the `n`th (1-based) Sunday of a month, or the last one for `n` = 0.
fn sunday(y: i64, m: u32, n: u32) -> u32 {
    // 1970-01-01 was a Thursday: weekday 0 = Sunday is (days + 4) mod 7.
    let first = (days_from_civil(y, m, 1) + 4).rem_euclid(7) as u32;
    let first_sunday = 1 + (7 - first) % 7;
    if n > 0 {
        return first_sunday + 7 * (n - 1);
    }
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    let days_in_month = (days_from_civil(ny, nm, 1) - days_from_civil(y, m, 1)) as u32;
    first_sunday + 7 * ((days_in_month - first_sunday) / 7)
}

/// UTC offset of New York time at noon on a date, in seconds (-4 h in summer time,
/// -5 h otherwise). Noon is safe for a trading day: the switches happen at 02:00.
pub fn us_eastern_offset_secs(y: i64, m: u32, d: u32) -> Result<i64> {
    let (start, end) = if y >= 2007 {
        ((3, sunday(y, 3, 2)), (11, sunday(y, 11, 1)))
    } else if y >= 1987 {
        ((4, sunday(y, 4, 1)), (10, sunday(y, 10, 0)))
    } else {
        return Err(CoreError::Config(format!(
            "New York daylight-saving rules before 1987 are not implemented (date {y}-{m:02}-{d:02})"
        )));
    };
    let summer = (m, d) >= start && (m, d) < end;
    Ok(if summer { -4 * 3600 } else { -5 * 3600 })
}

/// Builds bars from the executions (types 4 and 5) of a LOBSTER message file, plain or
/// gzip-compressed. LOBSTER's direction is that of the executed resting order, so a
/// sell order executed (-1) is a buyer-initiated trade and vice versa. Prices (USD x
/// 10000) become DBN fixed point; sizes are shares. The instrument id is 0.
pub fn build_from_lobster(path: &Path, tf: Timeframe) -> Result<(BarFrame, BuildStats)> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let (y, m, d) = lobster_date(name).ok_or_else(|| CoreError::UnknownFormat {
        path: path.to_path_buf(),
        detail: "LOBSTER file name must be TICKER_YYYY-MM-DD_..._message_N.csv".into(),
    })?;
    let offset = us_eastern_offset_secs(y, m, d)?;
    let midnight_utc = days_from_civil(y, m, d) * 86_400 - offset;
    let midnight_ns = u64::try_from(midnight_utc)
        .map_err(|_| CoreError::Config(format!("{y}-{m:02}-{d:02} is before 1970")))?
        * 1_000_000_000;

    // One LOBSTER parser serves the book verifier and the bars (plain or gzip, typed
    // errors naming the line).
    let mut src = LineSource::open(path)?;
    let mut b = BarBuilder::new(tf);
    let mut frame = BarFrame::default();
    let mut stats = BuildStats::default();
    while src.advance()? {
        if src.current().is_empty() {
            continue;
        }
        stats.records += 1;
        let m = parse_message(&src)?;
        if !matches!(m.kind, MsgType::Execute | MsgType::ExecuteHidden) {
            continue;
        }
        let price = m
            .price
            .checked_mul(100_000)
            .filter(|p| *p > 0)
            .ok_or_else(|| src.bad(format!("price {} is not a positive price", m.price)))?;
        let ts = u64::try_from(m.ts_ns)
            .map_err(|_| src.bad(format!("time {} ns is before midnight", m.ts_ns)))?;
        // The direction is the executed resting order's: a sell order hit is a buy.
        let side = if m.direction < 0 {
            Aggressor::Buy
        } else {
            Aggressor::Sell
        };
        stats.trades += 1;
        match b.push(midnight_ns + ts, price, m.size as f64, side) {
            Ok(Some(bar)) => frame.push(0, &bar),
            Ok(None) => {}
            Err(e) => return Err(e.at_line(path, src.line())),
        }
    }
    if let Some(bar) = b.flush() {
        frame.push(0, &bar);
    }
    Ok((frame, stats))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_days_and_eastern_offsets() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2012, 6, 21), 15_512);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        // 2012: summer time from 11 March to 4 November.
        assert_eq!(us_eastern_offset_secs(2012, 6, 21).unwrap(), -4 * 3600);
        assert_eq!(us_eastern_offset_secs(2012, 3, 10).unwrap(), -5 * 3600);
        assert_eq!(us_eastern_offset_secs(2012, 3, 11).unwrap(), -4 * 3600);
        assert_eq!(us_eastern_offset_secs(2012, 11, 3).unwrap(), -4 * 3600);
        assert_eq!(us_eastern_offset_secs(2012, 11, 4).unwrap(), -5 * 3600);
        assert_eq!(us_eastern_offset_secs(2012, 12, 24).unwrap(), -5 * 3600);
        // 2005 (old rules): first Sunday of April (3rd) to last Sunday of October (30th).
        assert_eq!(us_eastern_offset_secs(2005, 4, 2).unwrap(), -5 * 3600);
        assert_eq!(us_eastern_offset_secs(2005, 4, 3).unwrap(), -4 * 3600);
        assert_eq!(us_eastern_offset_secs(2005, 10, 29).unwrap(), -4 * 3600);
        assert_eq!(us_eastern_offset_secs(2005, 10, 30).unwrap(), -5 * 3600);
        assert!(us_eastern_offset_secs(1980, 6, 1).is_err());
    }

    #[test]
    fn lobster_names_and_times() {
        assert_eq!(
            lobster_date("AMZN_2012-06-21_34200000_57600000_message_1.csv.gz"),
            Some((2012, 6, 21))
        );
        assert_eq!(lobster_date("AMZN_21-06-2012_x"), None);
        assert!(is_lobster_message(Path::new(
            "/x/AAPL_2012-06-21_34200000_57600000_message_10.first999.csv"
        )));
        assert!(!is_lobster_message(Path::new(
            "AAPL_2012-06-21_34200000_57600000_orderbook_10.csv"
        )));
    }

    /// An uncompressed DBN v3 trades stream of instrument 7, one trade per `ts_recv`.
    fn trades_dbn(ts_recv: &[u64]) -> Vec<u8> {
        use dbn::encode::{dbn::Encoder, EncodeRecord};
        let meta = dbn::Metadata::builder()
            .version(3)
            .dataset("GLBX.MDP3")
            .schema(Some(Schema::Trades))
            .start(0)
            .stype_in(Some(dbn::SType::InstrumentId))
            .stype_out(dbn::SType::InstrumentId)
            .build();
        let mut enc = Encoder::new(Vec::new(), &meta).unwrap();
        for &ts in ts_recv {
            let mut m = TradeMsg {
                price: 100 * crate::book::PRICE_SCALE,
                size: 1,
                action: b'T' as _,
                side: b'A' as _,
                ts_recv: ts,
                ..Default::default()
            };
            m.hd.instrument_id = 7;
            m.hd.ts_event = ts;
            enc.encode_record(&m).unwrap();
        }
        enc.get_ref().clone()
    }

    #[test]
    fn dbn_trades_out_of_time_order_name_the_record() {
        let s = 1_000_000_000;
        let ok = DbnReader::from_bytes("ok.dbn", trades_dbn(&[s, 2 * s, 61 * s])).unwrap();
        let (f, stats) = build_from_dbn(ok, Timeframe::M1).unwrap();
        assert_eq!((stats.records, stats.trades), (3, 3));
        assert_eq!(
            (f.ts.clone(), f.instrument_id.clone()),
            (vec![0, 60 * s], vec![7, 7])
        );
        assert_eq!(f.sell_volume, vec![2.0, 1.0]);

        let bad = DbnReader::from_bytes("bad.dbn", trades_dbn(&[s, 3 * s, 2 * s])).unwrap();
        match build_from_dbn(bad, Timeframe::M1) {
            Err(CoreError::OutOfOrder { at, prev, ts, .. }) => {
                assert_eq!((at.record, prev, ts), (2, 3 * s, 2 * s));
            }
            other => panic!("expected OutOfOrder at record 2, got {other:?}"),
        }
    }

    fn write_tmp(name: &str, body: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("tradecore-bars-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, body).unwrap();
        p
    }

    #[test]
    fn lobster_executions_become_utc_bars() {
        let p = write_tmp(
            "TEST_2012-06-21_0_0_message_1.csv",
            "34200.1,1,1,100,2238100,1\n\
             34200.2,4,1,30,2238100,1\n\
             34200.9,5,0,20,2238400,-1\n\
             34260.0,4,2,5,2237500,-1\n\
             34261.0,7,0,0,-1,-1\n",
        );
        let (f, stats) = build_from_lobster(&p, Timeframe::M1).unwrap();
        assert_eq!((stats.records, stats.trades), (5, 3));
        // 09:30 EDT = 13:30 UTC.
        let t0 =
            (days_from_civil(2012, 6, 21) as u64 * 86_400 + 13 * 3600 + 30 * 60) * 1_000_000_000;
        assert_eq!(f.ts, vec![t0, t0 + 60_000_000_000]);
        assert_eq!(f.volume, vec![50.0, 5.0]);
        assert_eq!((f.open[0], f.high[0], f.close[0]), (223.81, 223.84, 223.84));
        // A buy limit executed is a sell-initiated trade.
        assert_eq!((f.buy_volume[0], f.sell_volume[0]), (20.0, 30.0));
        assert_eq!((f.buy_volume[1], f.sell_volume[1]), (5.0, 0.0));
    }

    #[test]
    fn lobster_bad_rows_are_named() {
        let p = write_tmp(
            "BAD_2012-06-21_0_0_message_1.csv",
            "34200.2,4,1,30,2238100,1\n34200.1,4,1,30,2238100,1\n",
        );
        match build_from_lobster(&p, Timeframe::M1) {
            Err(CoreError::BadLine {
                line: 2, detail, ..
            }) => assert!(detail.contains("earlier")),
            other => panic!("expected line 2 out of order, got {other:?}"),
        }
        let p = write_tmp(
            "BAD2_2012-06-21_0_0_message_1.csv",
            "34200.2,4,1,30,2238100\n",
        );
        assert!(matches!(
            build_from_lobster(&p, Timeframe::M1),
            Err(CoreError::BadLine { line: 1, .. })
        ));
        let p = write_tmp("notes.txt", "hello\n");
        assert!(matches!(
            build_bars(&p, Timeframe::M1),
            Err(CoreError::UnknownFormat { .. })
        ));
    }
}
