//! Feature engine properties: batch equals streaming bit for bit, no look-ahead (features
//! of a series cut at t equal the full series' up to t), coarse timeframes use completed
//! bars only, bad bars are refused with their row named, and microstructure features on
//! the real ESH4 MBO file.

mod common;

use tradecore::bars::Timeframe;
use tradecore::features::{
    compute_bar_features, compute_bar_features_threads, compute_micro_features, BarFeatureEngine,
    FeatureBar, FeatureSet,
};
use tradecore::CoreError;

const MIN: u64 = 60_000_000_000;

/// A deterministic random-walk of 1m bars with gaps (some minutes have no bar).
fn bars(n: usize) -> Vec<FeatureBar> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut rnd = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut ts = 1_700_000_000 / 60 * 60 * 1_000_000_000;
    let mut px = 4500.0;
    (0..n)
        .map(|_| {
            ts += MIN
                * if rnd() < 0.1 {
                    1 + (rnd() * 30.0) as u64
                } else {
                    1
                };
            let open = px;
            px += ((rnd() - 0.5) * 8.0).round() * 0.25;
            let (hi, lo) = (open.max(px) + rnd().floor() * 0.25, open.min(px) - 0.25);
            FeatureBar {
                ts,
                open,
                high: hi,
                low: lo,
                close: px,
                volume: (rnd() * 1000.0).floor(),
            }
        })
        .collect()
}

#[test]
fn batch_equals_streaming_bit_for_bit() {
    let set = FeatureSet::default_bars();
    let xs = bars(3_000);
    let m = compute_bar_features(&set, Timeframe::M1, &xs, None, "<t>").unwrap();
    let mut eng = BarFeatureEngine::new(&set, Timeframe::M1).unwrap();
    let mut row = vec![0.0; eng.width()];
    let mut non_null = 0;
    for (i, b) in xs.iter().enumerate() {
        eng.push(b, None, &mut row).unwrap();
        for (j, v) in row.iter().enumerate() {
            assert_eq!(
                v.to_bits(),
                m.column(j)[i].to_bits(),
                "{} row {i}",
                m.names[j]
            );
            non_null += v.is_finite() as usize;
        }
    }
    // Every default feature warms up within 3000 one-minute bars except the slowest 1h ones.
    assert!(non_null > set.len() * 1_000, "{non_null}");
}

#[test]
fn threads_split_columns_without_changing_a_bit() {
    let set = FeatureSet::default_bars();
    let mut xs = bars(6_000);
    let one = compute_bar_features_threads(&set, Timeframe::M1, &xs, None, "<t>", 1).unwrap();
    let three = compute_bar_features_threads(&set, Timeframe::M1, &xs, None, "<t>", 3).unwrap();
    assert_eq!(one.names, three.names);
    let bits = |m: &tradecore::features::FeatureMatrix| -> Vec<u64> {
        m.columns.iter().flatten().map(|v| v.to_bits()).collect()
    };
    assert!(bits(&one) == bits(&three));
    assert_eq!(one.valid, three.valid);
    // Recycled columns full of old values give the same result: every value is written.
    let mut dirty = |n: usize| vec![-7.25e300; n];
    let reused = tradecore::features::compute_bar_features_with(
        &set,
        Timeframe::M1,
        &xs,
        None,
        "<t>",
        2,
        &mut dirty,
    )
    .unwrap();
    assert!(bits(&reused) == bits(&one));
    // Validity says exactly which values are NaN (null).
    for (j, col) in three.columns.iter().enumerate() {
        let nan = col.iter().filter(|v| v.is_nan()).count();
        assert_eq!(three.nulls[j], nan, "{}", three.names[j]);
        for (i, v) in col.iter().enumerate() {
            assert_eq!(three.valid[j][i / 8] >> (i % 8) & 1 == 1, !v.is_nan());
        }
    }
    xs[5_000].volume = f64::NAN;
    match compute_bar_features_threads(&set, Timeframe::M1, &xs, None, "<t>", 3) {
        Err(CoreError::BadLine { line: 5_000, .. }) => {}
        other => panic!(
            "expected BadLine at row 5000, got {:?}",
            other.map(|m| m.rows)
        ),
    }
}

#[test]
fn no_feature_reads_the_future() {
    let set = FeatureSet::default_bars();
    let xs = bars(1_500);
    let full = compute_bar_features(&set, Timeframe::M1, &xs, None, "<t>").unwrap();
    for cut in [1, 2, 7, 59, 60, 61, 299, 300, 777, 1_201, 1_499] {
        let part = compute_bar_features(&set, Timeframe::M1, &xs[..cut], None, "<t>").unwrap();
        for j in 0..set.len() {
            let (a, b) = (part.column(j), &full.column(j)[..cut]);
            for i in 0..cut {
                assert_eq!(
                    a[i].to_bits(),
                    b[i].to_bits(),
                    "{} cut {cut}",
                    set.names()[j]
                );
            }
        }
    }
}

#[test]
fn coarse_timeframes_use_completed_bars_only() {
    let set = FeatureSet::from_names(&["tf1m_sma_1", "tf5m_sma_1", "tf5m_ret_1"]).unwrap();
    let t0 = 1_700_000_100 / 300 * 300 * 1_000_000_000;
    let bar = |k: u64, c: f64| FeatureBar {
        ts: t0 + k * MIN,
        open: c,
        high: c,
        low: c,
        close: c,
        volume: 1.0,
    };
    // Minutes 0..=4 make 5m bar A (close 5); then 5, 6 and, after a gap, 12.
    let xs: Vec<FeatureBar> = [0, 1, 2, 3, 4, 5, 6, 12]
        .iter()
        .map(|&k| bar(k, k as f64 + 1.0))
        .collect();
    let m = compute_bar_features(&set, Timeframe::M1, &xs, None, "<t>").unwrap();
    let sma5 = m.column(1);
    assert!(sma5[..4].iter().all(|v| v.is_nan()), "{sma5:?}");
    // The 1m bar that ends the 5m interval completes it: its close is known then.
    assert_eq!(&sma5[4..7], &[5.0, 5.0, 5.0]);
    // Minute 12 first completes the 5m bar of minutes 5-6 (close 7), then its own
    // interval 10-14 stays in progress.
    assert_eq!(sma5[7], 7.0);
    assert_eq!(m.column(2)[7], 7.0 / 5.0 - 1.0);
}

#[test]
fn bad_bars_are_refused_with_their_row() {
    let set = FeatureSet::from_names(&["tf1m_sma_2"]).unwrap();
    let good = bars(5);
    let cases: Vec<(usize, FeatureBar, &str)> = vec![
        (
            3,
            FeatureBar {
                close: f64::NAN,
                ..good[3]
            },
            "close",
        ),
        (
            2,
            FeatureBar {
                high: f64::INFINITY,
                ..good[2]
            },
            "high",
        ),
        (
            4,
            FeatureBar {
                volume: -1.0,
                ..good[4]
            },
            "volume",
        ),
        (
            1,
            FeatureBar {
                ts: good[0].ts,
                ..good[1]
            },
            "does not increase",
        ),
    ];
    for (row, bad, what) in cases {
        let mut xs = good.clone();
        xs[row] = bad;
        match compute_bar_features(&set, Timeframe::M1, &xs, None, "bars.csv") {
            Err(CoreError::BadLine { line, detail, path }) => {
                assert_eq!(line, row as u64);
                assert!(detail.contains(what), "{detail}");
                assert_eq!(path.to_str(), Some("bars.csv"));
            }
            other => panic!("row {row}: expected BadLine, got {other:?}"),
        }
    }
    // Bars closer than the declared base timeframe: finer bars declared as coarser.
    let set5 = FeatureSet::from_names(&["tf5m_sma_2"]).unwrap();
    match compute_bar_features(&set5, Timeframe::M5, &good, None, "bars.csv") {
        Err(CoreError::BadLine { line, detail, .. }) => {
            assert!(detail.contains("finer timeframe"), "{detail}");
            assert!(good[line as usize].ts - good[line as usize - 1].ts < 5 * MIN);
        }
        other => panic!("expected BadLine, got {other:?}"),
    }
    // A refused bar leaves the stream usable.
    let mut eng = BarFeatureEngine::new(&set, Timeframe::M1).unwrap();
    let mut out = [0.0];
    eng.push(&good[0], None, &mut out).unwrap();
    assert!(eng.push(&good[0], None, &mut out).is_err());
    eng.push(&good[1], None, &mut out).unwrap();
    assert_eq!(out[0], (good[0].close + good[1].close) / 2.0);
}

#[test]
fn finer_than_base_timeframes_and_micro_sets_are_refused() {
    let set = FeatureSet::from_names(&["tf1m_sma_2"]).unwrap();
    assert!(matches!(
        BarFeatureEngine::new(&set, Timeframe::M5),
        Err(CoreError::Config(_))
    ));
    assert!(BarFeatureEngine::new(&FeatureSet::default_micro(), Timeframe::M1).is_err());
}

#[test]
fn micro_features_on_real_mbo() {
    let set = FeatureSet::default_micro();
    let f = compute_micro_features(&set, common::esh4_mbo()).unwrap();
    let m = &f.matrix;
    assert!(m.rows > 10_000, "{}", m.rows);
    assert!(f.ts_recv.windows(2).all(|w| w[0] <= w[1]));
    let col = |name: &str| m.column(set.names().iter().position(|n| n == name).unwrap());
    let (spread, mid, micro) = (
        col("micro_spread"),
        col("micro_mid"),
        col("micro_microprice"),
    );
    let (imb1, sign, tfi) = (
        col("micro_imb_1"),
        col("micro_last_trade_sign"),
        col("micro_tfi_50"),
    );
    // The first event lands on the snapshot's book: best bid 4799.00, best ask 4799.50
    // (data README), so the first mid is within a few ticks of 4799.25.
    assert!((mid[0] - 4799.25).abs() <= 2.0, "{}", mid[0]);
    let mut checked = 0;
    for i in 0..m.rows {
        if spread[i].is_finite() && spread[i] > 0.0 {
            let (b, a) = (mid[i] - spread[i] / 2.0, mid[i] + spread[i] / 2.0);
            assert!(micro[i] >= b - 1e-9 && micro[i] <= a + 1e-9, "row {i}");
            checked += 1;
        }
        assert!(imb1[i].is_nan() || imb1[i].abs() <= 1.0);
        assert!(sign[i].is_nan() || [-1.0, 0.0, 1.0].contains(&sign[i]));
        assert!(tfi[i].is_nan() || tfi[i].abs() <= 1.0);
    }
    assert!(checked > 10_000);
    assert!(sign.contains(&1.0) && sign.contains(&-1.0));
    // Refuses non-MBO input with a typed error.
    let mbp = common::shared_data()
        .join("dbn/nautilus/futures_mbp-1_2024-07-01T23-58_2024-07-02T00-02.dbn.zst");
    assert!(matches!(
        compute_micro_features(&set, mbp),
        Err(CoreError::UnknownFormat { .. })
    ));
}
