//! Backtest bindings: `BacktestRun` owns a `tradecore::engine::Backtest`; Python steps it in
//! chunks (GIL released) to drive a progress bar, then reads the results as columns.

use std::path::PathBuf;

use numpy::PyArray1;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use tradecore::engine::{self, names, Backtest};

use crate::engine_args::{self, ModelInfo};
use crate::engine_view::{self, px, Symbols};
use crate::errors::to_py;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<BacktestRun>()?;
    m.add_function(wrap_pyfunction!(instrument_specs, m)?)?;
    Ok(())
}

/// Specs per instrument of the files: list of dicts (instrument_id, symbol, tick_size,
/// multiplier, fee_per_contract, source).
#[pyfunction]
#[pyo3(signature = (paths, definitions=None, fee_per_contract=0.0))]
fn instrument_specs<'py>(
    py: Python<'py>,
    paths: Vec<PathBuf>,
    definitions: Option<PathBuf>,
    fee_per_contract: f64,
) -> PyResult<Bound<'py, PyList>> {
    let specs = py
        .detach(|| engine::specs_for_files(&paths, definitions.as_deref(), fee_per_contract))
        .map_err(to_py)?;
    let out = PyList::empty(py);
    for (s, src, sym) in specs {
        let d = PyDict::new(py);
        d.set_item("instrument_id", s.instrument_id)?;
        d.set_item("symbol", sym)?;
        d.set_item("tick_size", px(s.tick_size))?;
        d.set_item("multiplier", s.multiplier)?;
        d.set_item("fee_per_contract", s.fee_per_contract)?;
        d.set_item("source", format!("{src:?}"))?;
        out.append(d)?;
    }
    Ok(out)
}

/// A backtest over MBO files with external signals, the placebo stream or a model in the
/// engine (`EngineArgs`). Construct, call `step(n)` until it returns 0, then read `orders()`, `fills()`, `trades()`, `equity()`, `denials()`,
/// `latency()`, `telemetry()`.
// unsendable: the DBN readers hold a channel receiver (Send, not Sync).
#[pyclass(module = "pycontrol._core", unsendable)]
pub struct BacktestRun {
    bt: Backtest,
    symbols: Symbols,
    /// Model signals: gate counts over the run, the swap handle.
    model: Option<ModelInfo>,
}

#[pymethods]
impl BacktestRun {
    /// `paths`: MBO files; keyword arguments: the engine settings (`EngineArgs`).
    #[new]
    #[pyo3(signature = (paths, **kwargs))]
    fn new(
        py: Python<'_>,
        paths: Vec<PathBuf>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let args = engine_args::parse(kwargs)?;
        py.detach(|| {
            let (bt, symbols, model, _inbox) = args.backtest(&paths)?;
            Ok(BacktestRun { bt, symbols, model })
        })
        .map_err(to_py)
    }

    /// Feeds up to `n` records (GIL released); returns how many (0 once finished).
    fn step(&mut self, py: Python<'_>, n: u64) -> PyResult<u64> {
        let bt = &mut self.bt;
        py.detach(|| bt.step(n)).map_err(to_py)
    }

    #[getter]
    fn done(&self) -> bool {
        self.bt.is_done()
    }

    /// ACTIVE, REDUCING or HALTED (a breaker or `reduce_on_drift` moves it during a run).
    #[getter]
    fn state(&self) -> &'static str {
        self.bt.engine.trading_state().as_str()
    }

    /// Instrument id -> symbol.
    fn symbols<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        self.symbols.dict(py)
    }

    fn orders<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let o = self.bt.engine.sim().orders();
        let d = PyDict::new(py);
        d.set_item("ts", o.iter().map(|x| x.ts as i64).collect::<Vec<_>>())?;
        d.set_item(
            "client_order_id",
            o.iter().map(|x| x.client_order_id).collect::<Vec<_>>(),
        )?;
        d.set_item(
            "intent_id",
            o.iter().map(|x| x.intent_id).collect::<Vec<_>>(),
        )?;
        d.set_item(
            "instrument_id",
            o.iter().map(|x| x.instrument_id).collect::<Vec<_>>(),
        )?;
        d.set_item(
            "side",
            o.iter().map(|x| names::side(x.side)).collect::<Vec<_>>(),
        )?;
        d.set_item(
            "order_type",
            o.iter()
                .map(|x| names::order_type(x.order_type))
                .collect::<Vec<_>>(),
        )?;
        d.set_item("qty", o.iter().map(|x| x.qty).collect::<Vec<_>>())?;
        d.set_item(
            "price",
            o.iter().map(|x| x.price.map(px)).collect::<Vec<_>>(),
        )?;
        d.set_item(
            "stop_price",
            o.iter().map(|x| x.stop_price.map(px)).collect::<Vec<_>>(),
        )?;
        d.set_item(
            "leg",
            o.iter().map(|x| names::leg(x.leg)).collect::<Vec<_>>(),
        )?;
        d.set_item(
            "status",
            o.iter().map(|x| x.status.as_str()).collect::<Vec<_>>(),
        )?;
        d.set_item(
            "filled_qty",
            o.iter().map(|x| x.filled_qty).collect::<Vec<_>>(),
        )?;
        d.set_item(
            "reject_reason",
            o.iter().map(|x| x.reject_reason).collect::<Vec<_>>(),
        )?;
        Ok(d)
    }

    fn fills<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let f = self.bt.engine.sim().fills();
        let d = PyDict::new(py);
        d.set_item("ts", f.iter().map(|x| x.ts as i64).collect::<Vec<_>>())?;
        d.set_item(
            "client_order_id",
            f.iter().map(|x| x.client_order_id).collect::<Vec<_>>(),
        )?;
        d.set_item(
            "instrument_id",
            f.iter().map(|x| x.instrument_id).collect::<Vec<_>>(),
        )?;
        d.set_item(
            "side",
            f.iter().map(|x| names::side(x.side)).collect::<Vec<_>>(),
        )?;
        d.set_item("price", f.iter().map(|x| px(x.price)).collect::<Vec<_>>())?;
        d.set_item("qty", f.iter().map(|x| x.qty).collect::<Vec<_>>())?;
        d.set_item("fee", f.iter().map(|x| x.fee).collect::<Vec<_>>())?;
        d.set_item(
            "liquidity",
            f.iter()
                .map(|x| names::liquidity(x.liquidity))
                .collect::<Vec<_>>(),
        )?;
        Ok(d)
    }

    fn trades<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let t = &self.bt.engine.trades;
        let d = PyDict::new(py);
        d.set_item(
            "instrument_id",
            t.iter().map(|x| x.instrument_id).collect::<Vec<_>>(),
        )?;
        d.set_item(
            "side",
            t.iter().map(|x| names::side(x.side)).collect::<Vec<_>>(),
        )?;
        d.set_item("qty", t.iter().map(|x| x.qty).collect::<Vec<_>>())?;
        d.set_item(
            "entry_ts",
            t.iter().map(|x| x.entry_ts as i64).collect::<Vec<_>>(),
        )?;
        d.set_item(
            "exit_ts",
            t.iter().map(|x| x.exit_ts as i64).collect::<Vec<_>>(),
        )?;
        d.set_item(
            "entry_price",
            t.iter().map(|x| x.entry_price).collect::<Vec<_>>(),
        )?;
        d.set_item(
            "exit_price",
            t.iter().map(|x| x.exit_price).collect::<Vec<_>>(),
        )?;
        d.set_item("pnl", t.iter().map(|x| x.pnl).collect::<Vec<_>>())?;
        d.set_item("fees", t.iter().map(|x| x.fees).collect::<Vec<_>>())?;
        d.set_item(
            "exit_reason",
            t.iter().map(|x| x.exit_reason.as_str()).collect::<Vec<_>>(),
        )?;
        Ok(d)
    }

    fn equity<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let e = &self.bt.engine.equity;
        let d = PyDict::new(py);
        d.set_item(
            "ts",
            PyArray1::from_vec(py, e.iter().map(|x| x.ts as i64).collect()),
        )?;
        d.set_item(
            "equity",
            PyArray1::from_vec(py, e.iter().map(|x| x.equity).collect()),
        )?;
        d.set_item(
            "position",
            PyArray1::from_vec(py, e.iter().map(|x| x.position).collect()),
        )?;
        d.set_item(
            "price",
            PyArray1::from_vec(py, e.iter().map(|x| x.price).collect()),
        )?;
        Ok(d)
    }

    fn denials<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let x = &self.bt.engine.denials;
        let d = PyDict::new(py);
        d.set_item("ts", x.iter().map(|v| v.ts as i64).collect::<Vec<_>>())?;
        d.set_item(
            "intent_id",
            x.iter().map(|v| v.intent_id).collect::<Vec<_>>(),
        )?;
        d.set_item(
            "reason",
            x.iter().map(|v| v.reason.clone()).collect::<Vec<_>>(),
        )?;
        d.set_item(
            "detail",
            x.iter().map(|v| v.detail.clone()).collect::<Vec<_>>(),
        )?;
        Ok(d)
    }

    /// Holds over time: columns minute (UTC ns, start of the event-time minute), reason,
    /// count (the decision step's holds; `telemetry()["holds_by_reason"]` are their sums).
    fn holds<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let x = &self.bt.engine.telemetry.holds_by_minute;
        let d = PyDict::new(py);
        d.set_item("minute", x.iter().map(|v| v.0).collect::<Vec<_>>())?;
        d.set_item("reason", x.iter().map(|v| v.1).collect::<Vec<_>>())?;
        d.set_item("count", x.iter().map(|v| v.2).collect::<Vec<_>>())?;
        Ok(d)
    }

    fn latency<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<i64>> {
        PyArray1::from_vec(py, self.bt.engine.latency_ns.clone())
    }

    /// Counters, positions and account figures at this point of the run.
    fn telemetry<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        engine_view::telemetry(py, &self.bt.engine, &self.symbols, self.model.as_ref())
    }
}
