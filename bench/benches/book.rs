//! Criterion benches of the book replay path, split by stage so the cost of each is visible:
//! zstd decompression alone, DBN decode alone, L3 apply alone (pre-decoded records),
//! decode + apply from memory, and the whole replay from the `.dbn.zst` file.
//! Throughput is in records (elements), so criterion prints records/s directly.
//!
//! Run with `make bench` (or `cargo bench -p tradecore-bench`). The data file defaults to
//! the real ESH4 MBO day; set `TRADECORE_BENCH_MBO` to a larger file (e.g. 10M synthetic
//! events) to rerun the same benches on it.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use dbn::decode::DecodeRecordRef;
use dbn::MboMsg;
use rustc_hash::FxHashMap;
use tradecore::book::{BookView, L3Book, Side};
use tradecore::decode::DbnReader;
use tradecore::replay;
use tradecore_bench::{decompress, load, mbo_path, mbo_records, record_count};

fn config() -> Criterion {
    // Short windows: the machine is small and shared; criterion's CLI flags still override.
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args()
}

fn benches(c: &mut Criterion) {
    let path = mbo_path();
    let data = load(&path);
    let n_records = record_count(&data.dbn);
    let msgs = mbo_records(&data.dbn);
    eprintln!(
        "bench data: {} ({} records, {} MBO, {} B on disk, {} B uncompressed)",
        path.display(),
        n_records,
        msgs.len(),
        data.raw.len(),
        data.dbn.len()
    );

    let mut g = c.benchmark_group("book");
    g.throughput(Throughput::Elements(n_records));

    if data.compressed {
        // The floor of any replay from the .zst file on one core.
        g.bench_function("zstd_decompress", |b| {
            b.iter(|| black_box(decompress(black_box(&data.raw))))
        });
    }

    // The dbn crate's own decoder over a slice: the floor for decode without our wrapper.
    g.bench_function("decode_dbn_crate", |b| {
        b.iter(|| {
            let mut dec = dbn::decode::DbnDecoder::new(black_box(data.dbn.as_slice())).unwrap();
            let mut sum = 0u64;
            while let Some(rec) = dec.decode_record_ref().unwrap() {
                sum += rec.header().instrument_id as u64;
            }
            black_box(sum)
        })
    });

    // Our reader (position tracking, error mapping) over the same bytes. The copy of the
    // buffer that `from_bytes` takes by value is made outside the timed routine.
    g.bench_function("decode_only", |b| {
        b.iter_batched(
            || data.dbn.clone(),
            |bytes| {
                let mut reader = DbnReader::from_bytes("bench.dbn", bytes).unwrap();
                let mut sum = 0u64;
                while let Some(rec) = reader.next_record().unwrap() {
                    sum += rec.header().instrument_id as u64;
                }
                black_box(sum)
            },
            BatchSize::LargeInput,
        )
    });

    // DBN decode + L3 apply from memory: what the book costs per record when I/O and
    // decompression are out of the way. The sink reads the BBO like a 1-level replay would.
    g.bench_function("decode_apply_mem", |b| {
        b.iter_batched(
            || data.dbn.clone(),
            |bytes| {
                let reader = DbnReader::from_bytes("bench.dbn", bytes).unwrap();
                let mut sum = 0i64;
                let r = replay::replay_with(reader, |_, book| {
                    if let Some(l) = book.best(Side::Bid) {
                        sum = sum.wrapping_add(l.price);
                    }
                })
                .unwrap();
                black_box((sum, r.stats().boundaries))
            },
            BatchSize::LargeInput,
        )
    });

    // The whole batch replay as Python's `replay_book(path, levels=1)` runs it, minus
    // the numpy hand-off: open, decompress on a second thread, decode, apply, collect.
    g.bench_function("replay_book_file_l1", |b| {
        b.iter(|| black_box(replay::replay_book(black_box(&path), 1).unwrap()))
    });

    // The same work on one thread: read the file, decompress it whole, then decode and
    // apply. Set against the line above, it shows what the decompression thread and its
    // hand-offs cost or save on this machine.
    if data.compressed {
        g.bench_function("replay_book_zst_one_thread_l1", |b| {
            b.iter(|| {
                let raw = std::fs::read(black_box(&path)).unwrap();
                let reader = DbnReader::from_bytes(&path, decompress(&raw)).unwrap();
                let mut frame = replay::BookFrame::new(1);
                let r = replay::replay_with(reader, |b, book| frame.push(b, book)).unwrap();
                black_box((frame, r.stats()))
            })
        });
    }
    g.finish();

    // Pure L3 apply over pre-decoded MBO records, F_LAST handled as the replay does.
    let mut g = c.benchmark_group("l3");
    g.throughput(Throughput::Elements(msgs.len() as u64));
    g.bench_function("apply_only", |b| {
        b.iter_batched(
            L3Book::new,
            |mut book| {
                for m in &msgs {
                    book.apply(black_box(m));
                    if m.flags.is_last() {
                        black_box(book.end_event());
                    }
                }
                book
            },
            BatchSize::SmallInput,
        )
    });

    // The same split by phase: the start-of-day snapshot (deep book, every level new) and
    // the live events that follow it, applied to a copy of the book the snapshot built.
    let n_snap = msgs.iter().take_while(|m| m.flags.is_snapshot()).count();
    if n_snap > 0 && n_snap < msgs.len() {
        let (snap, live) = msgs.split_at(n_snap);
        let apply_all = |book: &mut L3Book, msgs: &[MboMsg]| {
            for m in msgs {
                book.apply(black_box(m));
                if m.flags.is_last() {
                    black_box(book.end_event());
                }
            }
        };
        let mut after_snap = L3Book::new();
        apply_all(&mut after_snap, snap);
        g.throughput(Throughput::Elements(snap.len() as u64));
        g.bench_function("apply_snapshot", |b| {
            b.iter_batched(
                L3Book::new,
                |mut book| {
                    apply_all(&mut book, snap);
                    book
                },
                BatchSize::SmallInput,
            )
        });
        g.throughput(Throughput::Elements(live.len() as u64));
        g.bench_function("apply_live", |b| {
            b.iter_batched(
                || after_snap.clone(),
                |mut book| {
                    apply_all(&mut book, live);
                    book
                },
                BatchSize::SmallInput,
            )
        });
    }

    // One part of apply on its own: the order-id -> slot lookup every C/M/F record pays,
    // on a map of the same kind (FxHashMap<u64, u32>) holding every id of the file.
    let index: FxHashMap<u64, u32> = msgs
        .iter()
        .enumerate()
        .map(|(i, m)| (m.order_id, i as u32))
        .collect();
    g.throughput(Throughput::Elements(msgs.len() as u64));
    g.bench_function("order_index_lookup", |b| {
        b.iter(|| {
            let mut sum = 0u64;
            for m in &msgs {
                if let Some(&i) = index.get(black_box(&m.order_id)) {
                    sum += i as u64;
                }
            }
            black_box(sum)
        })
    });
    g.finish();
}

criterion_group! {
    name = book;
    config = config();
    targets = benches
}
criterion_main!(book);
