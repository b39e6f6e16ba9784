//! The stage split of the book replay, measured interleaved: every round runs each stage
//! once, in turn, and the table keeps the best and the median round of each. On a shared,
//! loaded machine this keeps the stages comparable (they see the same load), and the best
//! round approaches what the code does when it has the cores. Run by `make bench` after
//! criterion; also handy under `perf record`:
//! `cargo run --release -p tradecore-bench --example stages -- [rounds] [stage-filter]`.
//! The data file is `$TRADECORE_BENCH_MBO` or the ESH4 day (see `tradecore_bench::mbo_path`).

use std::hint::black_box;
use std::time::Instant;

use tradecore::book::{BookView, L3Book, LevelView, PRICE_SCALE};
use tradecore::decode::DbnReader;
use tradecore::replay;
use tradecore_bench::{decompress, load, mbo_path, mbo_records, record_count};

/// A stage times itself, so that set-up (copying the input) stays out of the figure.
type Stage<'a> = (&'static str, Box<dyn Fn() -> f64 + 'a>);

/// Seconds `f` takes.
fn time<T>(f: impl FnOnce() -> T) -> f64 {
    let t = Instant::now();
    black_box(f());
    t.elapsed().as_secs_f64()
}

/// One boundary of a one-level frame, as one record (the alternative layout to columns).
#[repr(C)]
struct Row {
    ts_event: u64,
    ts_recv: u64,
    px: [f64; 2],
    sz: [u64; 2],
    ct: [u32; 2],
    instrument_id: u32,
    untrusted: bool,
    crossed: bool,
}

impl Row {
    #[inline]
    fn of(b: &replay::Boundary, book: &impl BookView) -> Row {
        let (bid, ask) = book.bbo();
        let px = |l: Option<LevelView>| l.map_or(f64::NAN, |l| l.price as f64 / PRICE_SCALE as f64);
        Row {
            ts_event: b.ts_event,
            ts_recv: b.ts_recv,
            px: [px(bid), px(ask)],
            sz: [bid.map_or(0, |l| l.size), ask.map_or(0, |l| l.size)],
            ct: [bid.map_or(0, |l| l.count), ask.map_or(0, |l| l.count)],
            instrument_id: b.instrument_id,
            untrusted: book.integrity().untrusted,
            crossed: b.crossed,
        }
    }
}

/// A one-level frame with room for `n` boundaries in every column.
fn reserved_frame(n: usize) -> replay::BookFrame {
    let mut f = replay::BookFrame::new(1);
    f.reserve(n);
    f
}

fn main() {
    let mut args = std::env::args().skip(1);
    let rounds: usize = args.next().map_or(30, |s| s.parse().expect("rounds"));
    let filter = args.next().unwrap_or_default();
    let path = mbo_path();
    let data = load(&path);
    let n = record_count(&data.dbn);
    let msgs = mbo_records(&data.dbn);

    let apply = |msgs: &[dbn::MboMsg]| {
        let mut book = L3Book::new();
        for m in msgs {
            book.apply(m);
            if m.flags.is_last() {
                black_box(book.end_event());
            }
        }
        book
    };
    let stages: Vec<Stage> = vec![
        (
            "zstd_decompress",
            Box::new(|| time(|| decompress(&data.raw))),
        ),
        (
            // One call into a buffer of the final size: no window-to-output copy, no chunking.
            "zstd_decompress_bulk",
            Box::new(|| time(|| zstd::bulk::decompress(&data.raw, data.dbn.len()).unwrap())),
        ),
        (
            "decode_only",
            Box::new(|| {
                let bytes = data.dbn.clone();
                time(|| {
                    let mut r = DbnReader::from_bytes("m.dbn", bytes).unwrap();
                    while let Some(rec) = r.next_record().unwrap() {
                        black_box(rec.header().rtype);
                    }
                })
            }),
        ),
        ("l3_apply_only", Box::new(|| time(|| apply(&msgs)))),
        (
            "decode_apply_mem",
            Box::new(|| {
                let bytes = data.dbn.clone();
                time(|| {
                    let r = DbnReader::from_bytes("m.dbn", bytes).unwrap();
                    replay::replay_with(r, |_, _| {}).unwrap().stats()
                })
            }),
        ),
        (
            "replay_book_mem_l1",
            Box::new(|| {
                let bytes = data.dbn.clone();
                time(|| {
                    let r = DbnReader::from_bytes("m.dbn", bytes).unwrap();
                    let mut frame = replay::BookFrame::new(1);
                    let stats = replay::replay_with(r, |b, book| frame.push(b, book)).unwrap();
                    (frame, stats.stats())
                })
            }),
        ),
        (
            // As above with every column reserved up front: what `BookFrame`'s growth costs.
            "replay_book_mem_l1_reserved",
            Box::new(|| {
                let bytes = data.dbn.clone();
                time(|| {
                    let r = DbnReader::from_bytes("m.dbn", bytes).unwrap();
                    let mut frame = reserved_frame(n as usize);
                    let stats = replay::replay_with(r, |b, book| frame.push(b, book)).unwrap();
                    (frame, stats.stats())
                })
            }),
        ),
        (
            // As above with one row struct per boundary instead of 11 column pushes.
            "replay_book_mem_l1_rows",
            Box::new(|| {
                let bytes = data.dbn.clone();
                time(|| {
                    let r = DbnReader::from_bytes("m.dbn", bytes).unwrap();
                    let mut rows: Vec<Row> = Vec::new();
                    let stats =
                        replay::replay_with(r, |b, book| rows.push(Row::of(b, book))).unwrap();
                    (rows, stats.stats())
                })
            }),
        ),
        (
            "replay_book_file_l1",
            Box::new(|| time(|| replay::replay_book(&path, 1).unwrap())),
        ),
        (
            "replay_book_zst_one_thread_l1",
            Box::new(|| {
                time(|| {
                    let raw = std::fs::read(&path).unwrap();
                    let r = DbnReader::from_bytes(&path, decompress(&raw)).unwrap();
                    let mut frame = replay::BookFrame::new(1);
                    let stats = replay::replay_with(r, |b, book| frame.push(b, book)).unwrap();
                    (frame, stats.stats())
                })
            }),
        ),
    ];
    let stages: Vec<Stage> = stages
        .into_iter()
        .filter(|(name, _)| name.contains(&filter))
        .collect();
    let mut times = vec![Vec::with_capacity(rounds); stages.len()];
    for (_, f) in &stages {
        f(); // warm-up
    }
    for _ in 0..rounds {
        for (i, (_, f)) in stages.iter().enumerate() {
            times[i].push(f());
        }
    }
    println!(
        "{} ({n} records, {} MBO), {rounds} interleaved rounds",
        path.display(),
        msgs.len()
    );
    println!(
        "{:<32} {:>9} {:>9} {:>11} {:>11}",
        "stage", "best ms", "median ms", "best M/s", "ns/rec best"
    );
    for ((name, _), t) in stages.iter().zip(&mut times) {
        t.sort_by(f64::total_cmp);
        let (best, med) = (t[0], t[t.len() / 2]);
        // The apply-only stage runs over MBO records only; the others over all records.
        let k = if *name == "l3_apply_only" {
            msgs.len() as u64
        } else {
            n
        };
        println!(
            "{name:<32} {:>9.3} {:>9.3} {:>11.2} {:>11.1}",
            best * 1e3,
            med * 1e3,
            k as f64 / best / 1e6,
            best * 1e9 / k as f64
        );
    }
}
