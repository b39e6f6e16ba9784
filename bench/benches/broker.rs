//! Criterion bench of a paper/live session's hot path: one broker quote through the Rust
//! engine on a `BrokerVenue` (quote -> synthetic MBO records -> book -> volatility ->
//! predictor -> decision -> sizing -> risk gate -> outbox). The quotes are the real ESH4
//! day's top of book at each event where it changed; signals are the placebo stream every
//! second of event time (so some quotes carry a full decision, most only the book update).
//! Run: `cargo bench -p tradecore-bench --bench broker -- --warm-up-time 1 --measurement-time 3`.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use tradecore::book::{BookView, L3Book, Side, PRICE_SCALE};
use tradecore::engine::broker::BrokerVenue;
use tradecore::engine::placebo::Placebo;
use tradecore::engine::{Engine, EngineConfig};
use tradecore::orders::InstrumentSpec;
use tradecore_bench::{load, mbo_path, mbo_records};

type Quote = (u32, u64, Option<(i64, u32)>, Option<(i64, u32)>);

/// The top of book after every event where it changed.
fn quotes() -> Vec<Quote> {
    let recs = mbo_records(&load(&mbo_path()).dbn);
    let mut book = L3Book::new();
    let mut out = Vec::new();
    let mut last = None;
    for m in &recs {
        book.apply(m);
        if !m.flags.is_last() {
            continue;
        }
        book.end_event();
        let lvl = |s| {
            book.best(s)
                .map(|l| (l.price, l.size.min(u32::MAX as u64) as u32))
        };
        let q = (lvl(Side::Bid), lvl(Side::Ask));
        if q.0.is_none() || q.1.is_none() || Some(q) == last {
            continue;
        }
        last = Some(q);
        out.push((m.hd.instrument_id, m.ts_recv, q.0, q.1));
    }
    out
}

fn engine(id: u32) -> Engine<BrokerVenue> {
    let specs = vec![InstrumentSpec {
        instrument_id: id,
        tick_size: PRICE_SCALE / 4,
        multiplier: 50.0,
        fee_per_contract: 2.0,
    }];
    let cfg = EngineConfig {
        specs: specs.clone(),
        vol_min_samples: 10,
        ..EngineConfig::default()
    };
    let p = Placebo::new(1_000_000_000, 7).expect("placebo");
    Engine::with_venue(cfg, Box::new(p), BrokerVenue::new(specs).expect("venue")).expect("engine")
}

fn broker(c: &mut Criterion) {
    let q = quotes();
    let id = q[0].0;
    let mut g = c.benchmark_group("broker");
    g.throughput(Throughput::Elements(q.len() as u64));
    g.bench_function("on_quote_day", |b| {
        b.iter_batched(
            || engine(id),
            |mut e| {
                for &(i, ts, bid, ask) in &q {
                    e.on_quote(i, ts, bid, ask).expect("quote");
                    e.venue_mut().take_outbox();
                }
                e
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, broker);
criterion_main!(benches);
