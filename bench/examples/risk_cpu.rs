//! The decision and risk-gate stages timed in CPU time as well as wall time, interleaved
//! (each round runs every stage once). On the shared 2-core machine criterion's wall-clock
//! figures include the time our thread waits for a core; the thread's own CPU time (from
//! `/proc/thread-self/schedstat`, Linux) does not, so it approaches what the code costs when
//! it has a core. Same inputs as `benches/risk.rs`
//! (`tradecore_bench::risk_fixture`).
//! `cargo run --release -p tradecore-bench --example risk_cpu -- [rounds] [iterations]`

use std::hint::black_box;
use std::time::Instant;

use tradecore::sizing::size;
use tradecore_bench::risk_fixture::{RiskFixture, ENTRY, EQUITY};

/// CPU nanoseconds this thread has run, or None where the kernel does not report it.
fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rounds: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(30);
    let iters: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(200_000);

    let fx = RiskFixture::new();
    let mut eng = RiskFixture::engine();
    let mut now = 0u64;
    let d0 = fx.decide();

    let names = ["check_accept", "decide", "size", "decide_size_check"];
    let mut cpu: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    let mut wall: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    for _ in 0..rounds {
        for (k, name) in names.iter().enumerate() {
            let c0 = thread_cpu_ns();
            let t0 = Instant::now();
            let mut ok = 0u64;
            for _ in 0..iters {
                now += 1_000;
                match *name {
                    "check_accept" => {
                        let m = fx.market_at(now);
                        let ctx = fx.context(&m, now);
                        ok += eng.check(black_box(&fx.intent), black_box(&ctx)).is_ok() as u64
                    }
                    "decide" => ok += (fx.decide().risk_score > 0) as u64,
                    "size" => {
                        let s = size(black_box(&d0), ENTRY, EQUITY, &fx.spec, &fx.scfg).unwrap();
                        ok += s.is_some() as u64;
                    }
                    _ => ok += fx.decide_size_check(&mut eng, now) as u64,
                }
            }
            let w = t0.elapsed().as_nanos() as f64 / iters as f64;
            assert_eq!(
                ok, iters,
                "{name}: not every iteration took the accept path"
            );
            wall[k].push(w);
            if let (Some(a), Some(b)) = (c0, thread_cpu_ns()) {
                cpu[k].push((b - a) as f64 / iters as f64);
            }
        }
    }
    println!("{rounds} interleaved rounds x {iters} iterations, ns per call");
    println!(
        "{:<20} {:>9} {:>9} {:>9} {:>9}",
        "stage", "cpu best", "cpu med", "wall best", "wall med"
    );
    for (k, name) in names.iter().enumerate() {
        let wb = wall[k].iter().copied().fold(f64::INFINITY, f64::min);
        let wm = median(&mut wall[k]);
        let (cb, cm) = if cpu[k].is_empty() {
            (f64::NAN, f64::NAN)
        } else {
            (
                cpu[k].iter().copied().fold(f64::INFINITY, f64::min),
                median(&mut cpu[k]),
            )
        };
        println!("{name:<20} {cb:>9.1} {cm:>9.1} {wb:>9.1} {wm:>9.1}");
    }
    assert_eq!(eng.denials().total(), 0);
}
