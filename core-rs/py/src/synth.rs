//! Synthetic order-flow binding: `synth_mbo` writes a DBN MBO file (and optionally its
//! MBP-10 companion) with the GIL released and returns the summary as a dict.

use std::path::PathBuf;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use tradecore::synth::{self, SynthConfig, SynthSummary};
use tradecore::CoreError;

use crate::errors::to_py;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(synth_mbo, m)?)?;
    Ok(())
}

fn summary_dict<'py>(py: Python<'py>, s: &SynthSummary) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("records", s.records)?;
    d.set_item("events", s.events)?;
    d.set_item("boundaries", s.boundaries)?;
    d.set_item("snapshot_records", s.snapshot_records)?;
    d.set_item("adds", s.adds)?;
    d.set_item("cancels", s.cancels)?;
    d.set_item("modifies", s.modifies)?;
    d.set_item("trades", s.trades)?;
    d.set_item("fills", s.fills)?;
    d.set_item("mbp10_records", s.mbp10_records)?;
    d.set_item("start_ns", s.start_ns)?;
    d.set_item("end_ns", s.end_ns)?;
    let px = |p: Option<i64>| p.map(|p| p as f64 / tradecore::book::PRICE_SCALE as f64);
    let insts = PyList::empty(py);
    for i in &s.instruments {
        let e = PyDict::new(py);
        e.set_item("root", &i.root)?;
        e.set_item("symbol", &i.raw_symbol)?;
        e.set_item("instrument_id", i.instrument_id)?;
        e.set_item("tick_size", i.tick_size)?;
        e.set_item("multiplier", i.multiplier)?;
        e.set_item("events", i.events)?;
        e.set_item("trades", i.trades)?;
        e.set_item("volume", i.volume)?;
        e.set_item("last_bid", px(i.last_bid))?;
        e.set_item("last_ask", px(i.last_ask))?;
        e.set_item("resting_orders", i.resting_orders)?;
        insts.append(e)?;
    }
    d.set_item("instruments", insts)?;
    Ok(d)
}

/// Generates `events` live events of synthetic CME MBO flow into `out` (zstd if it ends
/// in `.zst`); with `mbp10`, also the MBP-10 view at every event boundary.
#[pyfunction]
#[pyo3(signature = (out, events, seed = 0, instruments = vec!["ES".to_string()], mbp10 = None))]
fn synth_mbo<'py>(
    py: Python<'py>,
    out: PathBuf,
    events: i64,
    seed: i128,
    instruments: Vec<String>,
    mbp10: Option<PathBuf>,
) -> PyResult<Bound<'py, PyDict>> {
    // A negative count is a config error like zero, not an overflow.
    let events = u64::try_from(events).map_err(|_| {
        to_py(CoreError::Config(format!(
            "synth: events must be positive, got {events}"
        )))
    })?;
    let seed: u64 = crate::errors::int_arg("seed", seed)?;
    let cfg = SynthConfig {
        events,
        seed,
        instruments,
        ..Default::default()
    };
    let summary = py
        .detach(|| synth::synth_mbo(&out, &cfg, mbp10.as_deref()))
        .map_err(to_py)?;
    summary_dict(py, &summary)
}
