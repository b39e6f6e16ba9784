//! Replays a DBN file through the books and prints counts and throughput
//! (`cargo run --release --example replay_file -- FILE [LEVELS] [REPEATS]`); handy for
//! profiling the decode + book path outside Python.

use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .expect("usage: replay_file FILE [LEVELS] [REPEATS]");
    let levels: usize = args.next().map_or(1, |s| s.parse().expect("LEVELS"));
    let repeats: usize = args.next().map_or(1, |s| s.parse().expect("REPEATS"));
    for _ in 0..repeats {
        let t = Instant::now();
        match tradecore::replay::replay_book(&path, levels) {
            Ok((frame, stats)) => {
                let s = t.elapsed().as_secs_f64();
                println!(
                    "records={} boundaries={} rows={} {:.3} ms {:.2} M rec/s",
                    stats.records,
                    stats.boundaries,
                    frame.len(),
                    s * 1e3,
                    stats.records as f64 / s / 1e6
                );
            }
            Err(e) => {
                eprintln!("error: {e}");
                std::process::exit(2);
            }
        }
    }
}
