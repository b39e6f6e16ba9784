//! Batch replay bindings: a whole file through the books in Rust, GIL released,
//! returned as numpy columns (moved, not copied) that Python wraps into a DataFrame.

use numpy::PyArray1;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use tradecore::book::{AnomalyCounts, Side};
use tradecore::replay::{self, ReplayStats};

use crate::errors::to_py;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(replay_book, m)?)?;
    Ok(())
}

pub fn anomalies_dict<'py>(py: Python<'py>, a: &AnomalyCounts) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (k, v) in a.fields() {
        d.set_item(k, v)?;
    }
    Ok(d)
}

pub fn stats_dict<'py>(py: Python<'py>, s: &ReplayStats) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("records", s.records)?;
    d.set_item("book_records", s.book_records)?;
    d.set_item("other_records", s.other_records)?;
    d.set_item("boundaries", s.boundaries)?;
    d.set_item("unflushed", s.unflushed)?;
    d.set_item("instruments", s.instruments)?;
    d.set_item("anomalies", anomalies_dict(py, &s.anomalies)?)?;
    Ok(d)
}

/// Replays a DBN file; returns (columns, validity, stats). Columns are in frame order;
/// `validity` maps a price column to its Arrow validity bitmap when some rows lack that
/// level, so Python assembles Arrow arrays from these buffers without copying.
#[pyfunction]
#[pyo3(signature = (path, levels = 10, flush = "event"))]
fn replay_book<'py>(
    py: Python<'py>,
    path: std::path::PathBuf,
    levels: i128,
    flush: &str,
) -> PyResult<(Bound<'py, PyDict>, Bound<'py, PyDict>, Bound<'py, PyDict>)> {
    let levels: usize = crate::errors::int_arg("levels", levels)?;
    let flush = match flush {
        "event" => replay::Flush::Event,
        "record" => replay::Flush::Record,
        other => {
            return Err(to_py(tradecore::CoreError::Config(format!(
                "flush must be \"event\" or \"record\", got {other:?}"
            ))))
        }
    };
    let (mut frame, stats) = py
        .detach(|| replay::replay_book_flush(&path, levels, flush))
        .map_err(to_py)?;
    let cols = PyDict::new(py);
    cols.set_item(
        "ts_event",
        PyArray1::from_vec(py, std::mem::take(&mut frame.ts_event)),
    )?;
    cols.set_item(
        "ts_recv",
        PyArray1::from_vec(py, std::mem::take(&mut frame.ts_recv)),
    )?;
    cols.set_item(
        "instrument_id",
        PyArray1::from_vec(py, std::mem::take(&mut frame.instrument_id)),
    )?;
    let validity = PyDict::new(py);
    for (name, side) in [("bid", Side::Bid), ("ask", Side::Ask)] {
        for i in 0..frame.levels {
            let col = format!("{name}_px_{i:02}");
            if let Some(bits) = frame.price_validity(side, i) {
                validity.set_item(&col, PyArray1::from_vec(py, bits))?;
            }
            cols.set_item(col, PyArray1::from_vec(py, frame.prices(side, i)))?;
        }
        for i in 0..frame.levels {
            let col = frame.sizes(side, i);
            cols.set_item(format!("{name}_sz_{i:02}"), PyArray1::from_vec(py, col))?;
        }
        for i in 0..frame.levels {
            let col = frame.counts(side, i);
            cols.set_item(format!("{name}_ct_{i:02}"), PyArray1::from_vec(py, col))?;
        }
    }
    cols.set_item(
        "untrusted",
        PyArray1::from_vec(py, std::mem::take(&mut frame.untrusted)),
    )?;
    cols.set_item(
        "crossed",
        PyArray1::from_vec(py, std::mem::take(&mut frame.crossed)),
    )?;
    Ok((cols, validity, stats_dict(py, &stats)?))
}
