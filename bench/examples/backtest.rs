//! Backtest throughput: the whole engine (L3 book, micro features, external-signal
//! predictor, decision, sizing, risk gate, simulated exchange with the L3 FIFO queue model,
//! positions and P&L) in events (MBO records) per second, interleaved rounds, best and
//! median. Compare with hftbacktest's L3 replay (`bench/peers/book_peers.py`, events in
//! memory, L3 FIFO queue model, no strategy).
//! `cargo run --release -p tradecore-bench --example backtest -- [rounds]`; the data file is
//! `$TRADECORE_BENCH_MBO` or the ESH4 day.

use std::hint::black_box;
use std::time::Instant;

use dbn::MboMsg;
use tradecore::book::L3Book;
use tradecore::engine::{
    specs_for_files, Backtest, Engine, EngineConfig, ExternalSignals, Predictor,
};
use tradecore::features::{FeatureSet, MicroEngine};
use tradecore::orders::SignalSource;
use tradecore::sim::{LatencyModel, SimConfig};
use tradecore::sizing::SizingConfig;
use tradecore_bench::{load, mbo_path, mbo_records};

/// A strong signal every `every_ns` per instrument, alternating buy and sell, so the run
/// places entries, brackets, exits and fills all day.
fn signals(ids: &[u32], first: u64, last: u64, every_ns: u64) -> ExternalSignals {
    let (mut ts, mut inst, mut probs) = (Vec::new(), Vec::new(), Vec::new());
    let mut t = first + every_ns;
    let mut k = 0u64;
    while t < last {
        for &id in ids {
            ts.push(t);
            inst.push(id);
            if k.is_multiple_of(2) {
                probs.extend([0.02f32, 0.03, 0.95]);
            } else {
                probs.extend([0.95f32, 0.03, 0.02]);
            }
        }
        k += 1;
        t += every_ns;
    }
    ExternalSignals::new(vec![-1, 0, 1], ts, inst, probs, u64::MAX).expect("valid signals")
}

/// The same signals, but asking the engine for the micro features every event (as a model
/// does): measures the engine with its feature path on.
struct WithFeatures(ExternalSignals);

impl Predictor for WithFeatures {
    fn classes(&self) -> &[i8] {
        self.0.classes()
    }
    fn source(&self) -> SignalSource {
        self.0.source()
    }
    fn predict(
        &mut self,
        id: u32,
        ts: u64,
        features: &[f32],
        out: &mut [f32],
    ) -> tradecore::Result<Option<()>> {
        black_box(features);
        self.0.predict(id, ts, features, out)
    }
}

/// Reference stages in the same rounds: the L3 book alone, and book + micro features.
fn book_only(recs: &[MboMsg]) -> usize {
    let mut b = L3Book::new();
    for m in recs {
        b.apply(m);
        if m.flags.is_last() {
            b.end_event();
        }
    }
    b.order_count()
}

fn book_features(recs: &[MboMsg]) -> f64 {
    let set = FeatureSet::default_micro();
    let mut f = MicroEngine::new(&set).expect("micro");
    let mut row = vec![0.0; set.len()];
    let mut b = L3Book::new();
    let mut acc = 0.0;
    for m in recs {
        b.apply(m);
        f.on_mbo(m);
        if m.flags.is_last() {
            b.end_event();
            f.on_event(m.ts_recv, &b, &mut row);
            acc += row[0];
        }
    }
    acc
}

fn config(specs: &[tradecore::orders::InstrumentSpec]) -> EngineConfig {
    EngineConfig {
        sim: SimConfig {
            order_latency: LatencyModel::LogNormal {
                median_ns: 200_000.0,
                sigma: 0.5,
                max_ns: 5_000_000,
            },
            feed_latency: LatencyModel::Constant(20_000),
            seed: 1,
        },
        specs: specs.to_vec(),
        sizing: SizingConfig {
            max_qty: 2,
            stop_k: 0.5,
            ..SizingConfig::default()
        },
        vol_min_samples: 30,
        ..EngineConfig::default()
    }
}

fn stats(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(|a, b| a.partial_cmp(b).expect("finite"));
    (v[0], v[v.len() / 2])
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let path = mbo_path();
    let data = load(&path);
    let recs = mbo_records(&data.dbn);
    let n = recs.len() as f64;
    let specs: Vec<_> = specs_for_files(std::slice::from_ref(&path), None, 2.0)
        .expect("specs")
        .into_iter()
        .map(|(s, _, _)| s)
        .collect();
    let ids: Vec<u32> = specs.iter().map(|s| s.instrument_id).collect();
    let first = recs.iter().map(|m| m.ts_recv).min().unwrap_or(0);
    let last = recs.iter().map(|m| m.ts_recv).max().unwrap_or(0);
    let every = ((last - first) / 200).max(1);

    let (mut book, mut feats, mut with_feats) = (Vec::new(), Vec::new(), Vec::new());
    let mut mem = Vec::new();
    let mut quiet = Vec::new();
    let mut file = Vec::new();
    let mut fills = 0;
    for _ in 0..rounds {
        let t = Instant::now();
        black_box(book_only(&recs));
        book.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        black_box(book_features(&recs));
        feats.push(t.elapsed().as_secs_f64());
        let mut e = Engine::new(
            config(&specs),
            Box::new(WithFeatures(signals(&ids, first, last, every))),
        )
        .expect("engine");
        let t = Instant::now();
        for m in &recs {
            e.on_mbo(m).expect("on_mbo");
        }
        e.finish();
        with_feats.push(t.elapsed().as_secs_f64());
        black_box(&e);
        // Engine over pre-decoded records: the stage hftbacktest's replay figure covers.
        let mut e = Engine::new(config(&specs), Box::new(signals(&ids, first, last, every)))
            .expect("engine");
        let t = Instant::now();
        for m in &recs {
            e.on_mbo(m).expect("on_mbo");
        }
        e.finish();
        mem.push(t.elapsed().as_secs_f64());
        fills = e.sim().fills().len();
        black_box(&e);
        // The same with no signals: book + features + venue bookkeeping only.
        let mut e =
            Engine::new(config(&specs), Box::new(signals(&ids, first, first, 1))).expect("engine");
        let t = Instant::now();
        for m in &recs {
            e.on_mbo(m).expect("on_mbo");
        }
        e.finish();
        quiet.push(t.elapsed().as_secs_f64());
        black_box(&e);
        // From the .dbn.zst file, decode included (what `pycontrol backtest` runs).
        let e = Engine::new(config(&specs), Box::new(signals(&ids, first, last, every)))
            .expect("engine");
        let t = Instant::now();
        let mut bt = Backtest::new(std::slice::from_ref(&path), e).expect("backtest");
        bt.run().expect("run");
        file.push(t.elapsed().as_secs_f64());
        black_box(&bt);
    }
    let cases = [
        ("book", "reference: L3 book alone, records in memory", book),
        (
            "book_features",
            "reference: L3 book + micro features, records in memory",
            feats,
        ),
        (
            "engine_features",
            "engine with micro features computed (as for a model), records in memory",
            with_feats,
        ),
        (
            "engine_signals",
            "engine, external signals every 1/200 of the day, records in memory",
            mem,
        ),
        (
            "engine_quiet",
            "engine, records in memory, no signals",
            quiet,
        ),
        (
            "engine_file",
            "backtest from the .dbn.zst file (decode included)",
            file,
        ),
    ];
    if std::env::var_os("BACKTEST_JSON").is_some() {
        // One line for bench/peers/backtest_peers.py, which interleaves us with hftbacktest.
        let body: Vec<String> = cases
            .iter()
            .map(|(k, _, v)| {
                let xs: Vec<String> = v.iter().map(|x| format!("{x:e}")).collect();
                format!("\"{k}\": [{}]", xs.join(", "))
            })
            .collect();
        println!("{{\"records\": {}, {}}}", recs.len(), body.join(", "));
        return;
    }
    println!(
        "backtest throughput on {} ({} records, {rounds} rounds, {fills} fills per run)",
        path.display(),
        recs.len()
    );
    println!("| case | best ms | M events/s (best) | median ms | M events/s (median) |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    for (_, name, v) in cases {
        let (b, m) = stats(v);
        println!(
            "| {name} | {:.2} | {:.2} | {:.2} | {:.2} |",
            b * 1e3,
            n / b / 1e6,
            m * 1e3,
            n / m / 1e6
        );
    }
}
