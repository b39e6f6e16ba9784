//! Session bindings: `EngineSession` owns a `tradecore::engine::Backtest` (the Rust engine on
//! the L3 simulated exchange, every risk gate on) that a replay session steps in chunks (GIL
//! released) and controls between chunks: trading state, limits, flatten, a snapshot, and
//! the orders, fills and denials drained since the last call (for the journal and telemetry).

use std::path::PathBuf;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use tradecore::engine::inbox::SignalInbox;
use tradecore::engine::live::SessionLog;
use tradecore::engine::{names, Backtest};
use tradecore::orders::{client_order_id, Leg};
use tradecore::sim::SimOrder;

use crate::engine_args::{self, ModelInfo};
use crate::engine_view::{self, px, Symbols};
use crate::errors::to_py;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<EngineSession>()?;
    Ok(())
}

/// The Rust engine of a replay session. Same constructor arguments as `BacktestRun` (the
/// session builds both from one backtest config), then `step(n)`, `drain()`, the controls and
/// `snapshot()`.
// unsendable: the DBN readers hold a channel receiver (Send, not Sync); the session calls it
// from its event loop thread only.
#[pyclass(module = "pycontrol._core", unsendable)]
pub struct EngineSession {
    bt: Backtest,
    log: SessionLog,
    symbols: Symbols,
    model: Option<ModelInfo>,
    inbox: Option<SignalInbox>,
    /// Event-to-intent latency samples already handed out by `drain`.
    latency_seen: usize,
}

impl EngineSession {
    fn symbol(&self, id: u32) -> String {
        self.symbols.of(id)
    }

    fn order<'py>(&self, py: Python<'py>, o: &SimOrder) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("client_order_id", o.client_order_id)?;
        d.set_item("intent_id", o.intent_id)?;
        d.set_item("leg", o.leg as u8)?;
        d.set_item("leg_name", names::leg(o.leg))?;
        let parent = (o.leg != Leg::Entry).then(|| client_order_id(o.intent_id, Leg::Entry));
        d.set_item("parent_client_order_id", parent)?;
        d.set_item("instrument_id", o.instrument_id)?;
        d.set_item("symbol", self.symbol(o.instrument_id))?;
        d.set_item("side", names::side(o.side))?;
        d.set_item("order_type", names::order_type(o.order_type))?;
        d.set_item("qty", o.qty)?;
        d.set_item("price", o.price.map(px))?;
        d.set_item("stop_price", o.stop_price.map(px))?;
        d.set_item("status", o.status.as_str())?;
        d.set_item("filled_qty", o.filled_qty)?;
        d.set_item("ts", o.ts)?;
        d.set_item("reject_reason", o.reject_reason)?;
        Ok(d)
    }
}

#[pymethods]
impl EngineSession {
    /// `paths`: MBO files; keyword arguments: the engine settings (`EngineArgs`, as
    /// `BacktestRun`'s).
    #[new]
    #[pyo3(signature = (paths, **kwargs))]
    fn new(
        py: Python<'_>,
        paths: Vec<PathBuf>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let args = engine_args::parse(kwargs)?;
        py.detach(|| {
            let (bt, symbols, model, inbox) = args.backtest(&paths)?;
            Ok(EngineSession {
                bt,
                log: SessionLog::default(),
                symbols,
                model,
                inbox,
                latency_seen: 0,
            })
        })
        .map_err(to_py)
    }

    /// One external signal (`side` "BUY"/"SELL", `confidence` in (0, 1]) for the
    /// instrument's next event: the external threshold, decision, sizing and every gate, as
    /// any signal. Needs `signal_inbox=True`. `tag`: a correlation id for its verdict;
    /// `confirm`: trade only if the model's probability for the side is >= `confidence`.
    /// `ts`: when it was pushed (event time; default the engine's clock), its age is
    /// counted from there.
    #[pyo3(signature = (instrument_id, side, confidence, tag = 0, confirm = false, ts = None))]
    fn push_signal(
        &self,
        instrument_id: u32,
        side: &str,
        confidence: f32,
        tag: u64,
        confirm: bool,
        ts: Option<u64>,
    ) -> PyResult<()> {
        let now = ts.unwrap_or(self.bt.engine.now());
        let inbox = self.inbox.as_ref();
        engine_view::push_signal(inbox, instrument_id, side, confidence, now, tag, confirm)
    }

    /// The verdicts of tagged signals since the last call (see `LiveEngine`).
    fn drain_signal_verdicts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        engine_view::drain_verdicts(py, self.inbox.as_ref())
    }

    /// Signals pushed and not yet answered.
    #[getter]
    fn pending_signals(&self) -> usize {
        self.inbox.as_ref().map_or(0, |i| i.pending())
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

    /// Instrument id -> symbol.
    fn symbols<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        self.symbols.dict(py)
    }

    /// What happened since the last call: `new_orders`, `updated_orders` (status or filled
    /// quantity changed), `fills`, `denials`, each a list of dicts in event order.
    fn drain<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = self.log.drain(&self.bt);
        let out = PyDict::new(py);
        let new = PyList::empty(py);
        for o in &d.new_orders {
            new.append(self.order(py, o)?)?;
        }
        let upd = PyList::empty(py);
        for o in &d.updated_orders {
            upd.append(self.order(py, o)?)?;
        }
        let fills = PyList::empty(py);
        for f in &d.fills {
            let x = PyDict::new(py);
            x.set_item("client_order_id", f.client_order_id)?;
            x.set_item("instrument_id", f.instrument_id)?;
            x.set_item("symbol", self.symbol(f.instrument_id))?;
            x.set_item("side", names::side(f.side))?;
            x.set_item("price", px(f.price))?;
            x.set_item("qty", f.qty)?;
            x.set_item("ts", f.ts)?;
            x.set_item("fee", f.fee)?;
            x.set_item("liquidity", names::liquidity(f.liquidity))?;
            fills.append(x)?;
        }
        let denials = PyList::empty(py);
        for n in &d.denials {
            denials.append(engine_view::denial(py, n)?)?;
        }
        out.set_item("new_orders", new)?;
        out.set_item("updated_orders", upd)?;
        out.set_item("fills", fills)?;
        out.set_item("denials", denials)?;
        // the engine's event-to-intent latency (wall clock, us) of the intents since the last
        // drain: a replay's dashboard histogram and /metrics read it like a live session's
        let lat =
            &self.bt.engine.latency_ns[self.latency_seen.min(self.bt.engine.latency_ns.len())..];
        let us: Vec<f64> = lat.iter().map(|ns| *ns as f64 / 1000.0).collect();
        self.latency_seen = self.bt.engine.latency_ns.len();
        out.set_item("latency_us", us)?;
        let drift = PyList::empty(py);
        for ev in self.bt.engine.drain_drift_events() {
            drift.append(engine_view::drift_event(py, &ev, &self.symbols)?)?;
        }
        out.set_item("drift_events", drift)?;
        Ok(out)
    }

    /// ACTIVE, REDUCING or HALTED.
    #[getter]
    fn state(&self) -> &'static str {
        self.bt.engine.trading_state().as_str()
    }

    fn set_state(&mut self, state: &str) -> PyResult<()> {
        engine_view::set_state(&mut self.bt.engine, state)
    }

    /// Every limit as (key, value) pairs.
    fn risk_limits(&self) -> Vec<(&'static str, f64)> {
        self.bt.engine.risk_limits().to_pairs().to_vec()
    }

    /// Overrides the given limits (a dict of any subset, or (key, value) pairs) on top of
    /// the current ones. Invalid limits raise `ConfigError` listing every bad key and value,
    /// and the engine keeps its limits.
    fn set_risk_limits(&mut self, limits: &Bound<'_, PyAny>) -> PyResult<()> {
        engine_view::set_risk_limits(&mut self.bt.engine, limits)
    }

    /// One instrument's own `max_position` (None: back to the limits' `max_position`);
    /// `ConfigError` for 0. `snapshot()["max_position_by_instrument"]` reads them back.
    #[pyo3(signature = (instrument_id, max_position))]
    fn set_position_limit(
        &mut self,
        instrument_id: u32,
        max_position: Option<u32>,
    ) -> PyResult<()> {
        engine_view::set_position_limit(&mut self.bt.engine, instrument_id, max_position)
    }

    /// Reduce-only exits and cancels through the risk gate; the engine is REDUCING after.
    /// Returns (intents sent, intents denied).
    fn flatten(&mut self) -> (u64, u64) {
        self.bt.engine.flatten()
    }

    /// State, limits, positions with P&L, equity, the counters of the run and the model.
    fn snapshot<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let e = &self.bt.engine;
        let d = engine_view::snapshot(py, e, &self.symbols, self.model.as_ref())?;
        d.set_item("done", self.bt.is_done())?;
        let working = e
            .sim()
            .orders()
            .iter()
            .filter(|o| !o.status.is_terminal())
            .count();
        d.set_item("working", working)?;
        Ok(d)
    }

    /// Asks the model slot to load the registry's production version now (it lands at a
    /// later event, between two events). Raises `ValueError` without a registry model.
    fn request_model_swap(&self) -> PyResult<()> {
        engine_view::request_model_swap(self.model.as_ref())
    }
}
