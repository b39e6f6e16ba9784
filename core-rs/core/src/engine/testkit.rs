//! Fixtures shared by the engine's test modules: the real ES day and a strategy on it.

use std::path::PathBuf;

use super::{EngineConfig, ExternalSignals};
use crate::book::PRICE_SCALE;
use crate::orders::InstrumentSpec;
use crate::sim::SimConfig;
use crate::sizing::SizingConfig;

pub const ES: u32 = 17077;

pub fn esh4() -> PathBuf {
    std::env::var_os("SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"))
        .join("dbn/nautilus/esh4-glbx-mdp3-20231225.mbo.dbn.zst")
}

/// A signal every 2 minutes of the live session (22:00-24:00 UTC), three buys then three sells,
/// with probability 0.9 (over the 0.87 external threshold).
pub fn alternating_signals() -> ExternalSignals {
    let start = 1_703_541_600_000_000_000u64; // 2023-12-25 22:00:00 UTC
    let (mut ts, mut ids, mut probs) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..60u64 {
        ts.push(start + 30_000_000_000 + i * 120_000_000_000);
        ids.push(ES);
        if (i / 3) % 2 == 0 {
            probs.extend([0.05, 0.05, 0.9]);
        } else {
            probs.extend([0.9, 0.05, 0.05]);
        }
    }
    ExternalSignals::new(vec![-1, 0, 1], ts, ids, probs, 60_000_000_000).unwrap()
}

pub fn es_config(seed: u64) -> EngineConfig {
    EngineConfig {
        sim: SimConfig {
            order_latency: crate::sim::LatencyModel::LogNormal {
                median_ns: 200_000.0,
                sigma: 0.5,
                max_ns: 5_000_000,
            },
            feed_latency: crate::sim::LatencyModel::Constant(20_000),
            seed,
        },
        specs: vec![InstrumentSpec {
            instrument_id: ES,
            tick_size: PRICE_SCALE / 4,
            multiplier: 50.0,
            fee_per_contract: 1.5,
        }],
        sizing: SizingConfig {
            max_qty: 2,
            // Tight brackets (half a horizon sigma) so exits by stop and target happen in
            // the two live hours of this holiday session.
            stop_k: 0.5,
            ..SizingConfig::default()
        },
        vol_min_samples: 30,
        ..EngineConfig::default()
    }
}
