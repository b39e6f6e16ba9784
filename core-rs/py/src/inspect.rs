//! DBN inspection bindings: `scan_dbn` (a file summary as a dict) and `read_dbn` (typed
//! columns per record type, numeric columns as numpy arrays moved out of Rust).

use numpy::PyArray1;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use tradecore::records::{self, Column};
use tradecore::scan::{self, InstrumentInfo};

use crate::errors::to_py;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(scan_dbn, m)?)?;
    m.add_function(wrap_pyfunction!(read_dbn, m)?)?;
    Ok(())
}

fn instrument_dict<'py>(py: Python<'py>, i: &InstrumentInfo) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("instrument_id", i.instrument_id)?;
    d.set_item("raw_symbol", &i.raw_symbol)?;
    d.set_item("tick_size", i.tick_size)?;
    d.set_item("tick_size_fixed", i.tick_size_fixed)?;
    d.set_item("multiplier", i.multiplier)?;
    d.set_item("unit_of_measure_qty", i.unit_of_measure_qty)?;
    d.set_item("contract_multiplier", i.contract_multiplier)?;
    d.set_item("expiration", i.expiration)?;
    d.set_item("activation", i.activation)?;
    d.set_item("currency", &i.currency)?;
    d.set_item("exchange", &i.exchange)?;
    d.set_item("asset", &i.asset)?;
    d.set_item("security_type", &i.security_type)?;
    d.set_item("instrument_class", &i.instrument_class)?;
    d.set_item("ts_recv", i.ts_recv)?;
    Ok(d)
}

/// Summarises a DBN file in one streaming pass; returns a dict (see `pycontrol.dbn_info`).
#[pyfunction]
fn scan_dbn<'py>(py: Python<'py>, path: std::path::PathBuf) -> PyResult<Bound<'py, PyDict>> {
    let s = py.detach(|| scan::scan(&path)).map_err(to_py)?;
    let d = PyDict::new(py);
    d.set_item("path", s.path.display().to_string())?;
    d.set_item("version", s.version)?;
    d.set_item("compressed", s.compressed)?;
    d.set_item("dataset", &s.dataset)?;
    d.set_item("schema", &s.schema)?;
    d.set_item("stype_in", &s.stype_in)?;
    d.set_item("stype_out", &s.stype_out)?;
    d.set_item("start", s.start)?;
    d.set_item("end", s.end)?;
    d.set_item("limit", s.limit)?;
    d.set_item("ts_out", s.ts_out)?;
    d.set_item("symbols", &s.symbols)?;
    d.set_item("partial", &s.partial)?;
    d.set_item("not_found", &s.not_found)?;
    let mappings = PyDict::new(py);
    for m in &s.mappings {
        mappings.set_item(&m.raw_symbol, &m.intervals)?;
    }
    d.set_item("mappings", mappings)?;
    d.set_item("records", s.records)?;
    let counts = PyDict::new(py);
    for (k, v) in &s.record_counts {
        counts.set_item(k, v)?;
    }
    d.set_item("record_counts", counts)?;
    d.set_item("ts_event_min", s.ts_event_min)?;
    d.set_item("ts_event_max", s.ts_event_max)?;
    d.set_item("out_of_order", s.out_of_order)?;
    d.set_item("instrument_ids", &s.instrument_ids)?;
    let insts = PyList::empty(py);
    for i in &s.instruments {
        insts.append(instrument_dict(py, i)?)?;
    }
    d.set_item("instruments", insts)?;
    d.set_item("stream_bytes", s.stream_bytes)?;
    let anomalies = PyDict::new(py);
    anomalies.set_item("out_of_order", s.out_of_order)?;
    anomalies.set_item("unknown_rtype", s.unknown_rtype)?;
    anomalies.set_item("schema_mismatch", s.schema_mismatch)?;
    d.set_item("anomalies", anomalies)?;
    d.set_item("issues", &s.issues)?;
    Ok(d)
}

/// `(kind, values)`: kind tells Python how to type the column ("price", "char", "str" or
/// the numpy dtype name); numeric values are numpy arrays, strings a list.
fn column<'py>(py: Python<'py>, c: Column) -> PyResult<(&'static str, Bound<'py, PyAny>)> {
    Ok(match c {
        Column::U64(v) => ("uint64", PyArray1::from_vec(py, v).into_any()),
        Column::I64(v) => ("int64", PyArray1::from_vec(py, v).into_any()),
        Column::U32(v) => ("uint32", PyArray1::from_vec(py, v).into_any()),
        Column::I32(v) => ("int32", PyArray1::from_vec(py, v).into_any()),
        Column::U16(v) => ("uint16", PyArray1::from_vec(py, v).into_any()),
        Column::I16(v) => ("int16", PyArray1::from_vec(py, v).into_any()),
        Column::U8(v) => ("uint8", PyArray1::from_vec(py, v).into_any()),
        Column::I8(v) => ("int8", PyArray1::from_vec(py, v).into_any()),
        Column::Price(v) => ("price", PyArray1::from_vec(py, v).into_any()),
        Column::Char(v) => ("char", PyArray1::from_vec(py, v).into_any()),
        Column::Str(v) => ("str", PyList::new(py, v)?.into_any()),
    })
}

/// Decodes a DBN file into columns; returns (frames, skipped). Each frame is a dict with
/// `schema`, `rtype` and `columns` (name -> (kind, values), in databento's order);
/// `skipped` counts records of types without a column layout, by record type name.
#[pyfunction]
fn read_dbn<'py>(
    py: Python<'py>,
    path: std::path::PathBuf,
) -> PyResult<(Bound<'py, PyList>, Bound<'py, PyDict>)> {
    let fr = py.detach(|| records::read_dbn(&path)).map_err(to_py)?;
    let frames = PyList::empty(py);
    for f in fr.frames {
        let d = PyDict::new(py);
        d.set_item("schema", &f.schema)?;
        d.set_item("rtype", f.rtype)?;
        let cols = PyDict::new(py);
        for (name, c) in f.columns {
            cols.set_item(name, column(py, c)?)?;
        }
        d.set_item("columns", cols)?;
        frames.append(d)?;
    }
    let skipped = PyDict::new(py);
    for (rt, n) in fr.skipped {
        skipped.set_item(scan::rtype_name(rt), n)?;
    }
    Ok((frames, skipped))
}
