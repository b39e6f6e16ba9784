//! Backtest bindings: `BacktestRun` owns a `tradecore::engine::Backtest`; Python steps it in
//! chunks (GIL released) to drive a progress bar, then reads the results as columns.

use std::path::PathBuf;
use std::sync::Arc;

use numpy::PyArray1;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use tradecore::book::PRICE_SCALE;
use tradecore::decision::DecisionConfig;
use tradecore::engine::{self, names, Backtest, Engine, EngineConfig, ExternalSignals, Predictor};
use tradecore::infer::predictor::ModelSource;
use tradecore::infer::{GateCounters, GateReason, LoadOptions, ModelPredictor};
use tradecore::risk::RiskLimits;
use tradecore::riskmodel::RiskModelConfig;
use tradecore::sim::{LatencyModel, SimConfig};
use tradecore::sizing::SizingConfig;
use tradecore::CoreError;

use crate::errors::to_py;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<BacktestRun>()?;
    m.add_function(wrap_pyfunction!(instrument_specs, m)?)?;
    Ok(())
}

pub(crate) fn latency(name: &str, kind: &str, params: Vec<f64>) -> Result<LatencyModel, CoreError> {
    let bad = |want: &str| {
        CoreError::Config(format!(
            "{name}: {kind} latency takes {want}, got {params:?}"
        ))
    };
    match kind {
        "constant" => match params.as_slice() {
            [ns] if *ns >= 0.0 => Ok(LatencyModel::Constant(*ns as u64)),
            _ => Err(bad("[ns >= 0]")),
        },
        "lognormal" => match params.as_slice() {
            [m, s, x] if *x >= 0.0 => Ok(LatencyModel::LogNormal {
                median_ns: *m,
                sigma: *s,
                max_ns: *x as u64,
            }),
            _ => Err(bad("[median_ns, sigma, max_ns]")),
        },
        "empirical" if params.iter().all(|x| *x >= 0.0) => Ok(LatencyModel::Empirical(
            params.iter().map(|x| *x as u64).collect(),
        )),
        _ => Err(CoreError::Config(format!(
            "{name}: unknown latency kind {kind:?} (constant, lognormal, empirical)"
        ))),
    }
}

fn px(p: i64) -> f64 {
    p as f64 / PRICE_SCALE as f64
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

/// A backtest over MBO files with external signals or a model in the engine (`model_registry`
/// + `model_family`: the production version; `model_path`: an export folder). Construct, call `step(n)` until it
/// returns 0, then read `orders()`, `fills()`, `trades()`, `equity()`, `denials()`,
/// `latency()`, `telemetry()`.
// unsendable: the DBN readers hold a channel receiver (Send, not Sync).
#[pyclass(module = "pycontrol._core", unsendable)]
pub struct BacktestRun {
    bt: Backtest,
    symbols: Vec<(u32, String)>,
    /// Model signals: the version served at the start and gate counts over the run.
    model: Option<(String, Arc<GateCounters>)>,
}

#[pymethods]
impl BacktestRun {
    #[new]
    #[pyo3(signature = (
        paths, *, definitions, fee_per_contract, seed, order_latency, feed_latency,
        initial_equity, min_confidence_ensemble, min_confidence_external, max_risk_score,
        horizon_ns, kelly_fraction, vol_target, stop_k, reward_risk, max_qty, risk_limits,
        equity_interval_ns, flatten_at_end, vol_halflife_s, vol_min_samples,
        signal_classes, signal_ts, signal_instrument_id, signal_probs, signal_max_age_ns,
        model_registry=None, model_family=None, model_path=None, model_prefer_native=true,
        risk_model_json=None
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
        model_registry: Option<PathBuf>,
        model_family: Option<String>,
        model_path: Option<PathBuf>,
        model_prefer_native: bool,
        risk_model_json: Option<String>,
    ) -> PyResult<Self> {
        py.detach(|| {
            let specs = engine::specs_for_files(&paths, definitions.as_deref(), fee_per_contract)?;
            let symbols = specs
                .iter()
                .map(|(s, _, n)| (s.instrument_id, n.clone()))
                .collect();
            let model_source = ModelSource::from_parts(model_registry, model_family, model_path)?;
            let mut cfg = EngineConfig {
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
                risk_model: risk_model_json
                    .map(|t| RiskModelConfig::from_json(&t, "risk_model"))
                    .transpose()?,
                ..EngineConfig::default()
            };
            let mut model = None;
            let predictor: Box<dyn Predictor + Send> = match &model_source {
                // The engine streams the model's own feature set (set in cfg here).
                Some(src) => {
                    let p = ModelPredictor::for_engine(
                        src,
                        &mut cfg,
                        LoadOptions {
                            prefer_native: model_prefer_native,
                            ..LoadOptions::default()
                        },
                    )?;
                    model = Some((p.version().to_string(), p.counters()));
                    Box::new(p)
                }
                None => Box::new(ExternalSignals::new(
                    signal_classes,
                    signal_ts,
                    signal_instrument_id,
                    signal_probs,
                    signal_max_age_ns,
                )?),
            };
            let engine = Engine::new(cfg, predictor)?;
            Ok(BacktestRun {
                bt: Backtest::new(&paths, engine)?,
                symbols,
                model,
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

    fn latency<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<i64>> {
        PyArray1::from_vec(py, self.bt.engine.latency_ns.clone())
    }

    /// Counters, positions and account figures at this point of the run.
    fn telemetry<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let e = &self.bt.engine;
        let t = &e.telemetry;
        let d = PyDict::new(py);
        for (k, v) in [
            ("records", t.records),
            ("events", t.events),
            ("signals", t.signals),
            ("decisions", t.decisions),
            ("not_sized", t.not_sized),
            ("intents", t.intents),
            ("denials", t.denials),
            ("orders", t.orders),
            ("fills", t.fills),
        ] {
            d.set_item(k, v)?;
        }
        let by = |v: &Vec<(String, u64)>| -> PyResult<Bound<'py, PyDict>> {
            let m = PyDict::new(py);
            for (k, n) in v {
                m.set_item(k, n)?;
            }
            Ok(m)
        };
        d.set_item("denials_by_reason", by(&t.denials_by_reason)?)?;
        d.set_item("holds_by_reason", by(&t.holds_by_reason)?)?;
        if let Some((version, c)) = &self.model {
            let m = PyDict::new(py);
            m.set_item("version", version)?;
            m.set_item("passed", c.passed())?;
            let g = PyDict::new(py);
            for r in GateReason::ALL {
                g.set_item(r.label(), c.gated(r))?;
            }
            m.set_item("gated_by_reason", g)?;
            d.set_item("model", m)?;
        }
        d.set_item("equity", e.account_equity())?;
        let pos = PyList::empty(py);
        for p in e.positions() {
            let x = PyDict::new(py);
            x.set_item("instrument_id", p.instrument_id)?;
            x.set_item("qty", p.qty)?;
            x.set_item("avg_price", p.avg_price)?;
            x.set_item("realized", p.realized)?;
            x.set_item("fees", p.fees)?;
            x.set_item("cash_flow", p.cash_flow)?;
            x.set_item("unrealized", p.unrealized())?;
            x.set_item("multiplier", p.multiplier)?;
            pos.append(x)?;
        }
        d.set_item("positions", pos)?;
        Ok(d)
    }
}
