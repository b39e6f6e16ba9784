//! Bar bindings: build bars from a trade file, read Databento OHLCV bars, resample bar
//! columns. Work runs in `tradecore::bars` with the GIL released; columns come back as
//! numpy arrays (moved, not copied) in frame order.

use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use tradecore::bars::{self, BarFrame, Timeframe};

use crate::errors::to_py;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(build_bars, m)?)?;
    m.add_function(wrap_pyfunction!(load_dbn_ohlcv, m)?)?;
    m.add_function(wrap_pyfunction!(resample_bars, m)?)?;
    m.add_function(wrap_pyfunction!(trading_day_start, m)?)?;
    Ok(())
}

fn columns<'py>(py: Python<'py>, f: BarFrame) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("ts", PyArray1::from_vec(py, f.ts))?;
    d.set_item("instrument_id", PyArray1::from_vec(py, f.instrument_id))?;
    d.set_item("open", PyArray1::from_vec(py, f.open))?;
    d.set_item("high", PyArray1::from_vec(py, f.high))?;
    d.set_item("low", PyArray1::from_vec(py, f.low))?;
    d.set_item("close", PyArray1::from_vec(py, f.close))?;
    d.set_item("volume", PyArray1::from_vec(py, f.volume))?;
    d.set_item("vwap", PyArray1::from_vec(py, f.vwap))?;
    d.set_item("trades", PyArray1::from_vec(py, f.trades))?;
    d.set_item("buy_volume", PyArray1::from_vec(py, f.buy_volume))?;
    d.set_item("sell_volume", PyArray1::from_vec(py, f.sell_volume))?;
    Ok(d)
}

/// Builds `timeframe` bars from a DBN trades/MBP/MBO file or a LOBSTER message file;
/// returns (columns, stats).
#[pyfunction]
#[pyo3(signature = (path, timeframe = "1m"))]
fn build_bars<'py>(
    py: Python<'py>,
    path: std::path::PathBuf,
    timeframe: &str,
) -> PyResult<(Bound<'py, PyDict>, Bound<'py, PyDict>)> {
    let tf = Timeframe::parse(timeframe).map_err(to_py)?;
    let (frame, stats) = py
        .detach(|| bars::sources::build_bars(&path, tf))
        .map_err(to_py)?;
    let s = PyDict::new(py);
    s.set_item("records", stats.records)?;
    s.set_item("trades", stats.trades)?;
    Ok((columns(py, frame)?, s))
}

/// Reads a Databento OHLCV file's bars; `timeframe` picks one of several in a mixed file.
#[pyfunction]
#[pyo3(signature = (path, timeframe = None))]
fn load_dbn_ohlcv<'py>(
    py: Python<'py>,
    path: std::path::PathBuf,
    timeframe: Option<&str>,
) -> PyResult<Bound<'py, PyDict>> {
    let frame = py
        .detach(|| bars::sources::load_dbn_ohlcv(&path, timeframe))
        .map_err(to_py)?;
    columns(py, frame)
}

/// UTC ns of the 17:00 Chicago open of the CME trading day holding UTC ns `ts_ns`.
#[pyfunction]
fn trading_day_start(ts_ns: u64) -> u64 {
    tradecore::features::session::trading_day_start(ts_ns)
}

/// Resamples bar columns (rows in time order per instrument) to `timeframe`.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
#[pyo3(signature = (timeframe, ts, instrument_id, open, high, low, close, volume, vwap, trades, buy_volume, sell_volume))]
fn resample_bars<'py>(
    py: Python<'py>,
    timeframe: &str,
    ts: PyReadonlyArray1<'py, u64>,
    instrument_id: PyReadonlyArray1<'py, u32>,
    open: PyReadonlyArray1<'py, f64>,
    high: PyReadonlyArray1<'py, f64>,
    low: PyReadonlyArray1<'py, f64>,
    close: PyReadonlyArray1<'py, f64>,
    volume: PyReadonlyArray1<'py, f64>,
    vwap: PyReadonlyArray1<'py, f64>,
    trades: PyReadonlyArray1<'py, u64>,
    buy_volume: PyReadonlyArray1<'py, f64>,
    sell_volume: PyReadonlyArray1<'py, f64>,
) -> PyResult<Bound<'py, PyDict>> {
    let tf = Timeframe::parse(timeframe).map_err(to_py)?;
    let input = BarFrame {
        ts: ts.as_array().to_vec(),
        instrument_id: instrument_id.as_array().to_vec(),
        open: open.as_array().to_vec(),
        high: high.as_array().to_vec(),
        low: low.as_array().to_vec(),
        close: close.as_array().to_vec(),
        volume: volume.as_array().to_vec(),
        vwap: vwap.as_array().to_vec(),
        trades: trades.as_array().to_vec(),
        buy_volume: buy_volume.as_array().to_vec(),
        sell_volume: sell_volume.as_array().to_vec(),
    };
    let out = py
        .detach(|| bars::resample_frame(&input, tf, "<dataframe>"))
        .map_err(to_py)?;
    columns(py, out)
}
