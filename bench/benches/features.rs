//! Criterion benches of the feature engine:
//! - `features_micro`: the full default microstructure set on the replayed ESH4 MBO day
//!   (records pre-decoded, so decode is not timed): L3 book alone vs book + features, in
//!   events/s; before criterion runs, the per-event cost of the features alone is timed
//!   event by event and its median/p99 printed (timer overhead subtracted).
//! - `features_bars`: the whole default bar set (1m/5m/30m/1h) on 1 M synthetic 1m bars,
//!   the batch path `compute_bar_features` (compare `bench/peers/features_polars.py`).
//!
//! Run with `make bench` (or `cargo bench -p tradecore-bench --bench features`).

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dbn::MboMsg;
use tradecore::bars::Timeframe;
use tradecore::book::L3Book;
use tradecore::decode::DbnReader;
use tradecore::features::{compute_bar_features, FeatureBar, FeatureSet, MicroEngine};

fn mbo_path() -> PathBuf {
    let data = std::env::var_os("SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"));
    data.join("dbn/nautilus/esh4-glbx-mdp3-20231225.mbo.dbn.zst")
}

fn mbo_records() -> Vec<MboMsg> {
    let path = mbo_path();
    let mut r = DbnReader::open(&path)
        .unwrap_or_else(|e| panic!("bench data {}: {e}; set SHARED_DATA", path.display()));
    let mut out = Vec::new();
    while let Some(rec) = r.next_record().unwrap() {
        if let Some(m) = rec.get::<MboMsg>() {
            out.push(m.clone());
        }
    }
    out
}

/// 1 M one-minute bars of a tick-size random walk with occasional gaps (xorshift, fixed
/// seed: the same bars every run).
pub fn synthetic_bars(n: usize) -> Vec<FeatureBar> {
    let mut s = 0x2545_f491_4f6c_dd1du64;
    let mut rnd = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut ts = 1_704_067_200u64 * 1_000_000_000;
    let mut px = 4_800.0f64;
    (0..n)
        .map(|_| {
            ts += 60_000_000_000
                * if rnd() < 0.02 {
                    2 + (rnd() * 60.0) as u64
                } else {
                    1
                };
            let open = px;
            px = (px + ((rnd() - 0.5) * 12.0).round() * 0.25).max(1.0);
            FeatureBar {
                ts,
                open,
                high: open.max(px) + (rnd() * 3.0).floor() * 0.25,
                low: open.min(px) - (rnd() * 3.0).floor() * 0.25,
                close: px,
                volume: (rnd() * 2_000.0).floor() + 1.0,
            }
        })
        .collect()
}

/// Runs the MBO records through a book and the micro engine; with `lat`, times each
/// event's feature work (its records' `on_mbo` + the boundary's `on_event`, not the book).
fn replay_micro(msgs: &[MboMsg], set: &FeatureSet, mut lat: Option<&mut Vec<u32>>) -> f64 {
    let mut book = L3Book::new();
    let mut eng = MicroEngine::new(set).unwrap();
    let mut row = vec![0.0; eng.width()];
    let mut acc = 0.0;
    let mut pending = Duration::ZERO;
    for m in msgs {
        book.apply(m);
        let t0 = lat.is_some().then(Instant::now);
        eng.on_mbo(m);
        if m.flags.is_last() {
            book.end_event();
            eng.on_event(m.ts_recv, &book, &mut row);
            acc += row[0];
        }
        if let (Some(t0), Some(l)) = (t0, lat.as_deref_mut()) {
            pending += t0.elapsed();
            if m.flags.is_last() {
                l.push(pending.as_nanos() as u32);
                pending = Duration::ZERO;
            }
        }
    }
    acc
}

fn timer_overhead_ns() -> f64 {
    let mut v: Vec<u32> = (0..100_000)
        .map(|_| {
            let t = Instant::now();
            t.elapsed().as_nanos() as u32
        })
        .collect();
    v.sort_unstable();
    v[v.len() / 2] as f64
}

fn pct(v: &[u32], q: f64) -> f64 {
    v[((v.len() - 1) as f64 * q) as usize] as f64
}

fn micro(c: &mut Criterion) {
    let msgs = mbo_records();
    let set = FeatureSet::default_micro();
    let events = msgs.iter().filter(|m| m.flags.is_last()).count() as u64;

    // Per-event latency: five passes, all samples pooled. A record costs the engine
    // `on_mbo` and a boundary adds `on_event`; each event sums its records.
    let over = timer_overhead_ns();
    let mut lat = Vec::new();
    for _ in 0..5 {
        replay_micro(&msgs, &set, Some(&mut lat));
    }
    lat.sort_unstable();
    eprintln!(
        "features_micro per-event ({} features, {} events x5; timer overhead {:.0} ns \
         subtracted once per event, so multi-record events read high): median {:.0} ns, \
         p90 {:.0} ns, p99 {:.0} ns",
        set.len(),
        events,
        over,
        (pct(&lat, 0.5) - over).max(0.0),
        (pct(&lat, 0.9) - over).max(0.0),
        (pct(&lat, 0.99) - over).max(0.0),
    );

    let mut g = c.benchmark_group("features_micro");
    g.throughput(Throughput::Elements(events));
    g.bench_function("book_only", |b| {
        b.iter(|| {
            let mut book = L3Book::new();
            for m in &msgs {
                book.apply(m);
                if m.flags.is_last() {
                    book.end_event();
                }
            }
            black_box(book.order_count())
        })
    });
    g.bench_function("book_plus_default_micro_set", |b| {
        b.iter(|| black_box(replay_micro(&msgs, &set, None)))
    });
    g.finish();
}

fn bars(c: &mut Criterion) {
    let bars = synthetic_bars(1_000_000);
    let set = FeatureSet::default_bars();
    let mut g = c.benchmark_group("features_bars");
    g.sample_size(10);
    g.throughput(Throughput::Elements(bars.len() as u64));
    g.bench_function("default_set_1M_1m_bars", |b| {
        b.iter(|| {
            let m = compute_bar_features(&set, Timeframe::M1, &bars, None, "<bench>").unwrap();
            black_box(m.columns.len())
        })
    });
    g.finish();
}

fn config() -> Criterion {
    // Short windows: the machine is small and shared; criterion's CLI flags still override.
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args()
}

criterion_group! {
    name = benches;
    config = config();
    targets = micro, bars
}
criterion_main!(benches);
