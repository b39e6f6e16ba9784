//! Bars built from real trades equal Databento's own OHLCV bars; MBP-1 'T' records give the
//! same bars as the trades file; LOBSTER executions give bars holding all executed volume.

mod common;

use std::path::PathBuf;

use tradecore::bars::sources::{build_bars, load_dbn_ohlcv};
use tradecore::bars::{BarFrame, Timeframe};

const ESU4: u32 = 118;
const MIN: u64 = 60_000_000_000;

fn nautilus(name: &str) -> PathBuf {
    common::shared_data().join("dbn/nautilus").join(name)
}

/// Rows of one instrument as (ts, o, h, l, c, volume) tuples.
fn rows(f: &BarFrame, id: u32) -> Vec<(u64, f64, f64, f64, f64, f64)> {
    (0..f.len())
        .filter(|&i| f.instrument_id[i] == id)
        .map(|i| {
            (
                f.ts[i],
                f.open[i],
                f.high[i],
                f.low[i],
                f.close[i],
                f.volume[i],
            )
        })
        .collect()
}

#[test]
fn trades_give_databento_minute_bars_for_every_covered_minute() {
    let (built, stats) = build_bars(
        nautilus("futures_trades_2024-07-01T23-58_2024-07-02T00-02.dbn.zst"),
        Timeframe::M1,
    )
    .unwrap();
    assert_eq!((stats.records, stats.trades), (120, 120));
    let theirs = load_dbn_ohlcv(
        nautilus("futures_ohlcv-1m_2024-07-01T23-40_2024-07-02T00-10.dbn.zst"),
        None,
    )
    .unwrap();
    assert_eq!(rows(&theirs, ESU4).len(), 30);

    // The trades file was requested for [23:58, 00:02) (its name); its trades run from
    // 23:58:01.2 to 00:01:52.8, so the four minutes 23:58-00:01 are the covered ones.
    let start = 1_719_878_280_000_000_000u64; // 2024-07-01T23:58:00Z
    let end = start + 4 * MIN;
    let ours = rows(&built, ESU4);
    let want: Vec<_> = rows(&theirs, ESU4)
        .into_iter()
        .filter(|r| r.0 >= start && r.0 < end)
        .collect();
    assert_eq!(want.len(), 4);
    assert_eq!(ours, want);
    // Databento has bars just outside the window that these trades cannot rebuild.
    assert!(rows(&theirs, ESU4).iter().any(|r| r.0 == start - MIN));
    assert!(rows(&theirs, ESU4).iter().any(|r| r.0 == end));
}

#[test]
fn mbp1_trade_records_give_the_same_bars_as_the_trades_file() {
    for tf in [Timeframe::S1, Timeframe::M1, Timeframe::M5] {
        let (a, _) = build_bars(
            nautilus("futures_trades_2024-07-01T23-58_2024-07-02T00-02.dbn.zst"),
            tf,
        )
        .unwrap();
        let (b, stats) = build_bars(
            nautilus("futures_mbp-1_2024-07-01T23-58_2024-07-02T00-02.dbn.zst"),
            tf,
        )
        .unwrap();
        assert_eq!((stats.records, stats.trades), (2_288, 120));
        assert!(!a.is_empty());
        // VWAP is NaN-free here (every bar traded), so plain equality covers every column.
        assert_eq!(a, b, "timeframe {}", tf.label());
    }
}

#[test]
fn mbo_trades_build_and_out_of_time_bars_do_not_exist() {
    let (f, stats) = build_bars(common::esh4_mbo(), Timeframe::M1).unwrap();
    assert_eq!(stats.trades, 2_973);
    assert_eq!(f.trades.iter().sum::<u64>(), 2_973);
    assert!(f.ts.windows(2).all(|w| w[0] < w[1]));
    assert!(f.ts.iter().all(|t| t % MIN == 0));
}

#[test]
fn lobster_executions_sum_to_bar_volume() {
    let path =
        common::shared_data().join("lobster/AMZN_2012-06-21_34200000_57600000_message_1.csv.gz");
    let (f, stats) = build_bars(&path, Timeframe::M1).unwrap();
    assert_eq!(stats.records, 57_515);
    assert_eq!(stats.trades, 8_974 + 2_445);
    // 09:30-16:00 New York (EDT) is 13:30-20:00 UTC: 390 minutes at most.
    let open = 1_340_285_400_000_000_000u64; // 2012-06-21T13:30:00Z
    assert_eq!(f.ts[0], open);
    assert!(f.len() <= 390 && *f.ts.last().unwrap() < open + 390 * MIN);
    let total: f64 = f.volume.iter().sum();
    let sides: f64 = f.buy_volume.iter().chain(&f.sell_volume).sum();
    assert_eq!(total, sides, "every LOBSTER execution has a side");
    assert_eq!(f.trades.iter().sum::<u64>(), stats.trades);
    assert!(total > 0.0);
}
