//! LOBSTER bindings: replay and verify a message/orderbook pair in Rust with the GIL
//! released; the per-row frame comes back as numpy columns (moved, not copied) with
//! LOBSTER integer prices, and Python converts them for display.

use numpy::PyArray1;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use tradecore::book::Side;
use tradecore::lobster::{self, LobsterSummary};

use crate::errors::to_py;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(replay_lobster, m)?)?;
    m.add_function(wrap_pyfunction!(verify_lobster, m)?)?;
    m.add("LOBSTER_PRICE_SCALE", lobster::LOBSTER_PRICE_SCALE)?;
    m.add("LOBSTER_EMPTY_ASK", lobster::EMPTY_ASK)?;
    m.add("LOBSTER_EMPTY_BID", lobster::EMPTY_BID)?;
    Ok(())
}

fn summary_dict<'py>(py: Python<'py>, s: &LobsterSummary) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("rows", s.rows)?;
    d.set_item("levels", s.levels)?;
    d.set_item("seeded", s.seeded)?;
    d.set_item("mismatches", s.mismatches)?;
    let first = PyList::empty(py);
    for m in &s.first_mismatches {
        let md = PyDict::new(py);
        md.set_item("row", m.row)?;
        md.set_item("side", if m.side == Side::Bid { "bid" } else { "ask" })?;
        md.set_item("level", m.level)?;
        md.set_item("price", m.price)?;
        md.set_item("expected", m.expected)?;
        md.set_item("predicted", m.predicted)?;
        md.set_item("kind", m.kind.as_str())?;
        md.set_item("text", m.to_string())?;
        first.append(md)?;
    }
    d.set_item("first_mismatches", first)?;
    let types = PyDict::new(py);
    for (code, n) in s.type_counts.iter().enumerate().skip(1) {
        types.set_item(code, n)?;
    }
    d.set_item("type_counts", types)?;
    Ok(d)
}

/// Replays a LOBSTER pair; returns (columns, summary). Prices are LOBSTER integers.
#[pyfunction]
fn replay_lobster<'py>(
    py: Python<'py>,
    message_path: std::path::PathBuf,
    orderbook_path: std::path::PathBuf,
    levels: i128,
) -> PyResult<(Bound<'py, PyDict>, Bound<'py, PyDict>)> {
    let levels: usize = crate::errors::int_arg("levels", levels)?;
    let (frame, summary) = py
        .detach(|| lobster::replay_lobster(&message_path, &orderbook_path, levels))
        .map_err(to_py)?;
    let cols = PyDict::new(py);
    cols.set_item("ts_ns", PyArray1::from_vec(py, frame.ts_ns))?;
    cols.set_item("type", PyArray1::from_vec(py, frame.msg_type))?;
    cols.set_item("order_id", PyArray1::from_vec(py, frame.order_id))?;
    cols.set_item("size", PyArray1::from_vec(py, frame.size))?;
    cols.set_item("price", PyArray1::from_vec(py, frame.price))?;
    cols.set_item("direction", PyArray1::from_vec(py, frame.direction))?;
    let [bpx, apx] = frame.px;
    let [bsz, asz] = frame.sz;
    for (side, px, sz) in [("bid", bpx, bsz), ("ask", apx, asz)] {
        for (i, p) in px.into_iter().enumerate() {
            cols.set_item(format!("{side}_px_{i:02}"), PyArray1::from_vec(py, p))?;
        }
        for (i, s) in sz.into_iter().enumerate() {
            cols.set_item(format!("{side}_sz_{i:02}"), PyArray1::from_vec(py, s))?;
        }
    }
    cols.set_item("seeded", PyArray1::from_vec(py, frame.seeded))?;
    cols.set_item("mismatches", PyArray1::from_vec(py, frame.mismatches))?;
    Ok((cols, summary_dict(py, &summary)?))
}

/// Replays and verifies a LOBSTER pair without keeping the per-row frame.
#[pyfunction]
fn verify_lobster<'py>(
    py: Python<'py>,
    message_path: std::path::PathBuf,
    orderbook_path: std::path::PathBuf,
    levels: i128,
) -> PyResult<Bound<'py, PyDict>> {
    let levels: usize = crate::errors::int_arg("levels", levels)?;
    let summary = py
        .detach(|| lobster::verify_lobster(&message_path, &orderbook_path, levels))
        .map_err(to_py)?;
    summary_dict(py, &summary)
}
