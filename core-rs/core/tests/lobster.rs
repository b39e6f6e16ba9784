//! The LOBSTER replay against the real sample files: every pair reconstructs with no
//! mismatch against its ground-truth orderbook file.

mod common;

use tradecore::lobster::{replay_lobster, verify_lobster, EMPTY_ASK};

fn pair(stem: &str, level: usize, ext: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let d = common::shared_data().join("lobster");
    (
        d.join(format!("{stem}_message_{level}{ext}")),
        d.join(format!("{stem}_orderbook_{level}{ext}")),
    )
}

const AMZN: &str = "AMZN_2012-06-21_34200000_57600000";
const AAPL: &str = "AAPL_2012-06-21_34200000_57600000";

#[test]
fn amzn_level1_and_level5_verify() {
    for (level, rows) in [(1, 57_515), (5, 155_935)] {
        let (m, o) = pair(AMZN, level, ".csv.gz");
        let s = verify_lobster(&m, &o, level).unwrap();
        assert_eq!(s.rows, rows);
        assert_eq!(s.mismatches, 0, "{:?}", s.first_mismatches);
        assert!(s.seeded > 0 && s.seeded < s.rows, "seeded {}", s.seeded);
    }
}

#[test]
fn aapl_level10_first_rows_verify_and_frame_matches_row_count() {
    let (m, o) = pair(AAPL, 10, ".first999.csv");
    let (f, s) = replay_lobster(&m, &o, 10).unwrap();
    assert_eq!((s.rows, s.mismatches), (999, 0), "{:?}", s.first_mismatches);
    assert_eq!(f.len(), 999);
    assert_eq!(
        f.seeded.iter().map(|&x| u64::from(x)).sum::<u64>(),
        s.seeded
    );
    // Real asks are far from the dummy price.
    assert!(f.px[1][0].iter().all(|&p| p != EMPTY_ASK && p > 0));
}

#[test]
fn wrong_level_count_is_a_typed_error() {
    let (m, o) = pair(AMZN, 5, ".csv.gz");
    let e = verify_lobster(&m, &o, 10).unwrap_err();
    assert!(
        matches!(e, tradecore::CoreError::BadLine { line: 1, .. }),
        "{e}"
    );
}
