//! Session bindings: `EngineSession` owns a `tradecore::engine::Backtest` (the Rust engine on
//! the L3 simulated exchange, every risk gate on) that a replay session steps in chunks (GIL
//! released) and controls between chunks: trading state, limits, flatten, a snapshot, and
//! the orders, fills and denials drained since the last call (for the journal and telemetry).

use std::path::PathBuf;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use tradecore::book::PRICE_SCALE;
use tradecore::decision::DecisionConfig;
use tradecore::engine::live::SessionLog;
use tradecore::engine::{self, names, Backtest, Engine, EngineConfig, ExternalSignals};
use tradecore::orders::client_order_id;
use tradecore::orders::Leg;
use tradecore::risk::{RiskLimits, TradingState};
use tradecore::sim::{SimConfig, SimOrder};
use tradecore::sizing::SizingConfig;

use crate::backtest::latency;
use crate::errors::to_py;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<EngineSession>()?;
    Ok(())
}

fn px(p: i64) -> f64 {
    p as f64 / PRICE_SCALE as f64
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
    symbols: Vec<(u32, String)>,
}

impl EngineSession {
    fn symbol(&self, id: u32) -> String {
        self.symbols
            .iter()
            .find(|(k, _)| *k == id)
            .map_or_else(|| id.to_string(), |(_, s)| s.clone())
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
    #[new]
    #[pyo3(signature = (
        paths, *, definitions, fee_per_contract, seed, order_latency, feed_latency,
        initial_equity, min_confidence_ensemble, min_confidence_external, max_risk_score,
        horizon_ns, kelly_fraction, vol_target, stop_k, reward_risk, max_qty, risk_limits,
        equity_interval_ns, flatten_at_end, vol_halflife_s, vol_min_samples,
        signal_classes, signal_ts, signal_instrument_id, signal_probs, signal_max_age_ns
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        paths: Vec<PathBuf>,
        definitions: Option<PathBuf>,
        fee_per_contract: f64,
        seed: u64,
        order_latency: (String, Vec<f64>),
        feed_latency: (String, Vec<f64>),
        initial_equity: f64,
        min_confidence_ensemble: f64,
        min_confidence_external: f64,
        max_risk_score: u8,
        horizon_ns: u64,
        kelly_fraction: f64,
        vol_target: f64,
        stop_k: f64,
        reward_risk: f64,
        max_qty: u32,
        risk_limits: Vec<(String, f64)>,
        equity_interval_ns: u64,
        flatten_at_end: bool,
        vol_halflife_s: f64,
        vol_min_samples: u32,
        signal_classes: Vec<i8>,
        signal_ts: Vec<u64>,
        signal_instrument_id: Vec<u32>,
        signal_probs: Vec<f32>,
        signal_max_age_ns: u64,
    ) -> PyResult<Self> {
        py.detach(|| {
            let specs = engine::specs_for_files(&paths, definitions.as_deref(), fee_per_contract)?;
            let symbols = specs
                .iter()
                .map(|(s, _, n)| (s.instrument_id, n.clone()))
                .collect();
            let cfg = EngineConfig {
                sim: SimConfig {
                    order_latency: latency("order_latency", &order_latency.0, order_latency.1)?,
                    feed_latency: latency("feed_latency", &feed_latency.0, feed_latency.1)?,
                    seed,
                },
                specs: specs.into_iter().map(|(s, _, _)| s).collect(),
                initial_equity,
                decision: DecisionConfig {
                    min_confidence_ensemble,
                    min_confidence_external,
                    max_risk_score,
                    horizon_ns,
                    ..DecisionConfig::default()
                },
                sizing: SizingConfig {
                    kelly_fraction,
                    vol_target,
                    stop_k,
                    reward_risk,
                    max_qty,
                },
                vol_halflife_s,
                vol_min_samples,
                risk: RiskLimits::from_pairs(risk_limits.iter().map(|(k, v)| (k.as_str(), *v)))?,
                equity_interval_ns,
                flatten_at_end,
                ..EngineConfig::default()
            };
            // The predictor is the one seam a model plugs into (`Box<dyn Predictor>`); today
            // the session's signals are external (a file or the placebo stream).
            let signals = ExternalSignals::new(
                signal_classes,
                signal_ts,
                signal_instrument_id,
                signal_probs,
                signal_max_age_ns,
            )?;
            let engine = Engine::new(cfg, Box::new(signals))?;
            Ok(EngineSession {
                bt: Backtest::new(&paths, engine)?,
                log: SessionLog::default(),
                symbols,
            })
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

    /// Instrument id -> symbol.
    fn symbols<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (id, s) in &self.symbols {
            d.set_item(id, s)?;
        }
        Ok(d)
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
            let x = PyDict::new(py);
            x.set_item("ts", n.ts)?;
            x.set_item("intent_id", n.intent_id)?;
            x.set_item("reason", &n.reason)?;
            x.set_item("detail", &n.detail)?;
            denials.append(x)?;
        }
        out.set_item("new_orders", new)?;
        out.set_item("updated_orders", upd)?;
        out.set_item("fills", fills)?;
        out.set_item("denials", denials)?;
        Ok(out)
    }

    /// ACTIVE, REDUCING or HALTED.
    #[getter]
    fn state(&self) -> &'static str {
        self.bt.engine.trading_state().as_str()
    }

    fn set_state(&mut self, state: &str) -> PyResult<()> {
        let s = TradingState::parse(state).ok_or_else(|| {
            PyValueError::new_err(format!(
                "trading state must be ACTIVE, REDUCING or HALTED, got {state:?}"
            ))
        })?;
        self.bt.engine.set_trading_state(s);
        Ok(())
    }

    /// Every limit as (key, value) pairs.
    fn risk_limits(&self) -> Vec<(&'static str, f64)> {
        self.bt.engine.risk_limits().to_pairs().to_vec()
    }

    /// Overrides the given limits on top of the current ones. Invalid limits raise
    /// `ConfigError` listing every bad field, and the engine keeps its limits.
    fn set_risk_limits(&mut self, pairs: Vec<(String, f64)>) -> PyResult<()> {
        let current = self.bt.engine.risk_limits().to_pairs();
        let l = RiskLimits::from_pairs(
            current
                .iter()
                .map(|(k, v)| (*k, *v))
                .chain(pairs.iter().map(|(k, v)| (k.as_str(), *v))),
        )
        .map_err(to_py)?;
        self.bt.engine.set_risk_limits(l).map_err(to_py)
    }

    /// Reduce-only exits and cancels through the risk gate; the engine is REDUCING after.
    /// Returns (intents sent, intents denied).
    fn flatten(&mut self) -> (u64, u64) {
        self.bt.engine.flatten()
    }

    /// State, limits, positions with P&L, equity and the counters of the run.
    fn snapshot<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let e = &self.bt.engine;
        let d = PyDict::new(py);
        d.set_item("state", e.trading_state().as_str())?;
        d.set_item("now_ns", e.now())?;
        d.set_item("done", self.bt.is_done())?;
        d.set_item("equity", e.account_equity())?;
        let limits = PyDict::new(py);
        for (k, v) in e.risk_limits().to_pairs() {
            limits.set_item(k, v)?;
        }
        d.set_item("limits", limits)?;
        let positions = PyList::empty(py);
        for p in e.positions() {
            let x = PyDict::new(py);
            x.set_item("instrument_id", p.instrument_id)?;
            x.set_item("symbol", self.symbol(p.instrument_id))?;
            x.set_item("qty", p.qty)?;
            x.set_item("avg_price", p.avg_price)?;
            x.set_item("realized", p.realized)?;
            x.set_item("fees", p.fees)?;
            x.set_item("unrealized", p.unrealized())?;
            x.set_item("mark", p.mark.map(px))?;
            positions.append(x)?;
        }
        d.set_item("positions", positions)?;
        let t = &e.telemetry;
        let c = PyDict::new(py);
        c.set_item("records", t.records)?;
        c.set_item("events", t.events)?;
        c.set_item("signals", t.signals)?;
        c.set_item("decisions", t.decisions)?;
        c.set_item("intents", t.intents)?;
        c.set_item("orders", t.orders)?;
        c.set_item("fills", t.fills)?;
        c.set_item("denials", t.denials)?;
        d.set_item("counters", c)?;
        let by = PyDict::new(py);
        for (r, n) in &t.denials_by_reason {
            by.set_item(r, n)?;
        }
        d.set_item("denials_by_reason", by)?;
        let working = e
            .sim()
            .orders()
            .iter()
            .filter(|o| !o.status.is_terminal())
            .count();
        d.set_item("working", working)?;
        Ok(d)
    }
}
