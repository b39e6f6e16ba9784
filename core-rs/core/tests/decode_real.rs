//! The streaming reader on real files: versions, compression, and early drop.

mod common;

use tradecore::book::Side;
use tradecore::decode::DbnReader;
use tradecore::replay::{replay_book, Replay};

#[test]
fn reads_the_esh4_day_with_positions() {
    let mut r = DbnReader::open(common::esh4_mbo()).unwrap();
    assert_eq!(r.version(), 1);
    assert!(r.is_compressed());
    let mut n = 0u64;
    while r.next_record().unwrap().is_some() {
        n += 1;
    }
    assert_eq!(n, 68_792);
    assert_eq!(r.position().record, 68_792);
}

#[test]
fn dropping_a_replay_midway_does_not_hang() {
    for stop in [0usize, 1, 100, 20_000] {
        let mut replay = Replay::open(common::esh4_mbo()).unwrap();
        for _ in 0..stop {
            replay.next_boundary().unwrap();
        }
        drop(replay);
    }
}

#[test]
fn versions_one_to_three_replay_to_the_same_books() {
    let dir = common::shared_data().join("dbn/dbn-test-corpus");
    let frames: Vec<_> = [
        "test_data.mbp-10.v1.dbn.zst",
        "test_data.mbp-10.v2.dbn.zst",
        "test_data.mbp-10.v3.dbn.zst",
        "test_data.mbp-10.dbn",
    ]
    .iter()
    .map(|f| replay_book(dir.join(f), 10).unwrap().0)
    .collect();
    assert!(!frames[0].is_empty());
    for f in &frames[1..] {
        assert_eq!(f.ts_event, frames[0].ts_event);
        for side in [Side::Bid, Side::Ask] {
            for level in 0..10 {
                let (a, b) = (f.prices(side, level), frames[0].prices(side, level));
                assert!(a
                    .iter()
                    .zip(&b)
                    .all(|(x, y)| x == y || (x.is_nan() && y.is_nan())));
                assert_eq!(f.sizes(side, level), frames[0].sizes(side, level));
            }
        }
    }
}
