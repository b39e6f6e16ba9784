//! The engine's settings as Python passes them (keyword arguments, one set for a backtest, a
//! replay session and a broker session), and the one place they become an `EngineConfig` and
//! a predictor: external signals, the placebo stream, or a model (registry or folder).

use std::path::PathBuf;
use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::PyDict;
use tradecore::decision::DecisionConfig;
use tradecore::drift::DriftSettings;
use tradecore::engine::inbox::{InboxPredictor, SignalInbox};
use tradecore::engine::placebo::Placebo;
use tradecore::engine::{
    self, Backtest, Engine, EngineConfig, EngineSettings, ExternalSignals, Predictor, PredictorSet,
};
use tradecore::infer::predictor::ModelSource;
use tradecore::infer::swap::SlotControl;
use tradecore::infer::{GateCounters, LoadOptions, ModelPredictor};
use tradecore::orders::InstrumentSpec;
use tradecore::risk::RiskLimits;
use tradecore::riskmodel::RiskModelConfig;
use tradecore::sim::{LatencyModel, SimConfig};
use tradecore::sizing::SizingConfig;
use tradecore::CoreError;

use crate::engine_view::Symbols;
use crate::errors::{to_py, unknown_keys};

/// One instrument's model: `(instrument_id, model_registry, model_family, model_path)`.
pub type InstrumentModel = (u32, Option<PathBuf>, Option<String>, Option<PathBuf>);

/// Keyword arguments of `BacktestRun`, `EngineSession` and `LiveEngine` (after the data).
/// Signals: `model_registry` + `model_family` or `model_path` (a model), else
/// `placebo_interval_ns` (the placebo stream), else the `signal_*` rows (external).
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
pub struct EngineArgs {
    #[pyo3(default)]
    pub definitions: Option<PathBuf>,
    pub fee_per_contract: f64,
    pub seed: u64,
    pub order_latency: (String, Vec<f64>),
    pub feed_latency: (String, Vec<f64>),
    pub initial_equity: f64,
    pub min_confidence_ensemble: f64,
    pub min_confidence_external: f64,
    pub max_risk_score: u8,
    pub horizon_ns: u64,
    pub kelly_fraction: f64,
    pub vol_target: f64,
    pub stop_k: f64,
    pub reward_risk: f64,
    pub max_qty: u32,
    pub risk_limits: Vec<(String, f64)>,
    pub equity_interval_ns: u64,
    pub flatten_at_end: bool,
    pub vol_halflife_s: f64,
    pub vol_min_samples: u32,
    #[pyo3(default)]
    pub signal_classes: Vec<i8>,
    #[pyo3(default)]
    pub signal_ts: Vec<u64>,
    #[pyo3(default)]
    pub signal_instrument_id: Vec<u32>,
    #[pyo3(default)]
    pub signal_probs: Vec<f32>,
    #[pyo3(default)]
    pub signal_max_age_ns: u64,
    #[pyo3(default)]
    pub placebo_interval_ns: Option<u64>,
    #[pyo3(default)]
    pub placebo_seed: u64,
    #[pyo3(default)]
    pub model_registry: Option<PathBuf>,
    #[pyo3(default)]
    pub model_family: Option<String>,
    #[pyo3(default)]
    pub model_path: Option<PathBuf>,
    #[pyo3(default = true)]
    pub model_prefer_native: bool,
    #[pyo3(default)]
    pub risk_model_json: Option<String>,
    /// Put a signal inbox in front of the predictor: signals pushed from outside the loop
    /// (`push_signal`) are answered at their instrument's next event.
    #[pyo3(default)]
    pub signal_inbox: bool,
    /// Portfolio: a model per instrument, `(instrument_id, model_registry, model_family,
    /// model_path)` (registry + family, or a folder); each streams its own feature set.
    #[pyo3(default)]
    pub models: Vec<InstrumentModel>,
    /// Portfolio: `(instrument_id, max_position)` overrides of the risk limit.
    #[pyo3(default)]
    pub position_limits: Vec<(u32, u32)>,
    #[pyo3(default)]
    pub corr_halflife_s: Option<f64>,
    #[pyo3(default)]
    pub corr_min_samples: Option<u32>,
    /// The trading window (UTC ns): no decision before the start, the end of the data at
    /// the end (a date range inside one file).
    #[pyo3(default)]
    pub trade_start_ns: Option<u64>,
    #[pyo3(default)]
    pub trade_end_ns: Option<u64>,
    /// Feature drift: `{"reference_path", "psi_alert", "ks_alert", "window_rows",
    /// "check_every", "reduce_on_drift"}` as JSON (`tradecore::drift::DriftSettings`).
    #[pyo3(default)]
    pub drift_json: Option<String>,
}

const KEYS: [&str; 40] = [
    "definitions",
    "fee_per_contract",
    "seed",
    "order_latency",
    "feed_latency",
    "initial_equity",
    "min_confidence_ensemble",
    "min_confidence_external",
    "max_risk_score",
    "horizon_ns",
    "kelly_fraction",
    "vol_target",
    "stop_k",
    "reward_risk",
    "max_qty",
    "risk_limits",
    "equity_interval_ns",
    "flatten_at_end",
    "vol_halflife_s",
    "vol_min_samples",
    "signal_classes",
    "signal_ts",
    "signal_instrument_id",
    "signal_probs",
    "signal_max_age_ns",
    "placebo_interval_ns",
    "placebo_seed",
    "model_registry",
    "model_family",
    "model_path",
    "model_prefer_native",
    "risk_model_json",
    "signal_inbox",
    "models",
    "position_limits",
    "corr_halflife_s",
    "corr_min_samples",
    "trade_start_ns",
    "trade_end_ns",
    "drift_json",
];

/// The model behind an engine's predictor: its counters over the run and, for a registry
/// family, the hot-swap handle.
pub struct ModelInfo {
    pub counters: Arc<GateCounters>,
    pub control: Option<SlotControl>,
}

/// An engine's configuration and predictor, built from [`EngineArgs`].
pub struct Built {
    pub cfg: EngineConfig,
    pub predictor: Box<dyn Predictor + Send>,
    pub model: Option<ModelInfo>,
    /// The handle signals are pushed through (`signal_inbox = True`).
    pub inbox: Option<SignalInbox>,
}

/// Extracts the keyword arguments; a key that is not an engine setting is a `ConfigError`
/// naming it (a typo must not silently fall back to a default).
pub fn parse(kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<EngineArgs> {
    let Some(kw) = kwargs else {
        return Err(to_py(CoreError::Config(
            "engine settings: none given (see EngineArgs)".into(),
        )));
    };
    let unknown = unknown_keys(kw, &KEYS)?;
    if !unknown.is_empty() {
        return Err(to_py(CoreError::Config(format!(
            "engine settings: unknown keys {unknown:?}"
        ))));
    }
    kw.extract()
}

/// A Python dict (a TOML table as `tomllib` reads it) as JSON values for the core's serde
/// configs: bool, int, float, str, list/tuple and dict; an infinite float becomes `"inf"` /
/// `"-inf"` (JSON has none; money limits read it), NaN `"nan"` (refused by validation).
/// Keys must be strings; any other value is a `ConfigError` naming its key.
pub fn table(d: &Bound<'_, PyDict>) -> PyResult<serde_json::Map<String, serde_json::Value>> {
    let mut m = serde_json::Map::new();
    for (k, v) in d.iter() {
        let k: String = k.extract().map_err(|_| {
            to_py(CoreError::Config(format!(
                "table keys must be strings, got {k}"
            )))
        })?;
        let v = json_of(&v, &k)?;
        m.insert(k, v);
    }
    Ok(m)
}

/// A float as a JSON value (see [`table`] for non-finite ones).
pub fn json_f64(x: f64) -> serde_json::Value {
    match serde_json::Number::from_f64(x) {
        Some(n) => serde_json::Value::Number(n),
        None if x.is_nan() => serde_json::Value::from("nan"),
        None if x > 0.0 => serde_json::Value::from("inf"),
        None => serde_json::Value::from("-inf"),
    }
}

fn json_of(v: &Bound<'_, PyAny>, key: &str) -> PyResult<serde_json::Value> {
    use pyo3::types::{PyBool, PyFloat, PyInt, PyList, PyString, PyTuple};
    use serde_json::Value;
    if v.is_none() {
        return Ok(Value::Null);
    }
    if v.is_instance_of::<PyBool>() {
        return Ok(Value::Bool(v.extract()?));
    }
    if v.is_instance_of::<PyInt>() {
        if let Ok(i) = v.extract::<i64>() {
            return Ok(Value::from(i));
        }
        if let Ok(u) = v.extract::<u64>() {
            return Ok(Value::from(u));
        }
        return Err(to_py(CoreError::Config(format!(
            "{key} = {v}: integer out of range"
        ))));
    }
    if v.is_instance_of::<PyFloat>() {
        return Ok(json_f64(v.extract()?));
    }
    if v.is_instance_of::<PyString>() {
        return Ok(Value::String(v.extract()?));
    }
    if let Ok(d) = v.cast::<PyDict>() {
        let mut m = serde_json::Map::new();
        for (k2, v2) in d.iter() {
            let k2: String = k2.extract().map_err(|_| {
                to_py(CoreError::Config(format!(
                    "{key}: table keys must be strings"
                )))
            })?;
            let x = json_of(&v2, &format!("{key}.{k2}"))?;
            m.insert(k2, x);
        }
        return Ok(Value::Object(m));
    }
    if v.is_instance_of::<PyList>() || v.is_instance_of::<PyTuple>() {
        let mut out = Vec::new();
        for (i, x) in v.try_iter()?.enumerate() {
            out.push(json_of(&x?, &format!("{key}[{i}]"))?);
        }
        return Ok(Value::Array(out));
    }
    Err(to_py(CoreError::Config(format!(
        "{key} = {v}: not a TOML value (bool, number, string, list or table)"
    ))))
}

/// The latency model of a setting (the core's rule, `engine::latency_model`).
pub(crate) fn latency(name: &str, kind: &str, params: Vec<f64>) -> Result<LatencyModel, CoreError> {
    engine::latency_model(name, kind, &params)
}

/// The core's engine settings (`EngineSettings`) as a dict: what applies when a table
/// leaves a key out.
#[pyfunction]
pub fn engine_settings_defaults(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    json_to_py(py, &EngineSettings::default().to_json())
}

/// An `[engine]` settings table (any subset of `EngineSettings::KEYS`) validated by the core
/// and completed with its defaults; `ConfigError` naming every unknown key, wrong type and
/// invalid value at once.
#[pyfunction]
pub fn engine_settings_from_table<'py>(
    py: Python<'py>,
    table: &Bound<'py, PyDict>,
) -> PyResult<Bound<'py, PyAny>> {
    let s = EngineSettings::from_table(&self::table(table)?).map_err(to_py)?;
    json_to_py(py, &s.to_json())
}

fn json_to_py<'py>(py: Python<'py>, v: &serde_json::Value) -> PyResult<Bound<'py, PyAny>> {
    py.import("json")?.call_method1("loads", (v.to_string(),))
}

impl EngineArgs {
    /// A backtest over the MBO files `paths` with these settings (specs from the files and
    /// `definitions`): the engine on the simulated exchange, the symbols, the model.
    pub fn backtest(
        self,
        paths: &[PathBuf],
    ) -> Result<(Backtest, Symbols, Option<ModelInfo>, Option<SignalInbox>), CoreError> {
        let specs =
            engine::specs_for_files(paths, self.definitions.as_deref(), self.fee_per_contract)?;
        let symbols = specs
            .iter()
            .map(|(s, _, n)| (s.instrument_id, n.clone()))
            .collect();
        let built = self.build(specs.into_iter().map(|(s, _, _)| s).collect())?;
        let engine = Engine::new(built.cfg, built.predictor)?;
        let bt = Backtest::new(paths, engine)?;
        Ok((bt, Symbols(symbols), built.model, built.inbox))
    }

    /// The engine's configuration for instruments `specs`, and its predictor. A model sets
    /// the feature set the engine streams (its manifest's).
    pub fn build(self, specs: Vec<InstrumentSpec>) -> Result<Built, CoreError> {
        let model_source =
            ModelSource::from_parts(self.model_registry, self.model_family, self.model_path)?;
        let mut cfg = EngineConfig {
            sim: SimConfig {
                order_latency: latency(
                    "order_latency",
                    &self.order_latency.0,
                    self.order_latency.1,
                )?,
                feed_latency: latency("feed_latency", &self.feed_latency.0, self.feed_latency.1)?,
                seed: self.seed,
            },
            specs,
            initial_equity: self.initial_equity,
            decision: DecisionConfig {
                min_confidence_ensemble: self.min_confidence_ensemble,
                min_confidence_external: self.min_confidence_external,
                max_risk_score: self.max_risk_score,
                horizon_ns: self.horizon_ns,
                ..DecisionConfig::default()
            },
            sizing: SizingConfig {
                kelly_fraction: self.kelly_fraction,
                vol_target: self.vol_target,
                stop_k: self.stop_k,
                reward_risk: self.reward_risk,
                max_qty: self.max_qty,
            },
            vol_halflife_s: self.vol_halflife_s,
            vol_min_samples: self.vol_min_samples,
            risk: RiskLimits::from_pairs(self.risk_limits.iter().map(|(k, v)| (k.as_str(), *v)))?,
            position_limits: self.position_limits.clone(),
            corr_halflife_s: self
                .corr_halflife_s
                .unwrap_or(EngineConfig::default().corr_halflife_s),
            corr_min_samples: self
                .corr_min_samples
                .unwrap_or(EngineConfig::default().corr_min_samples),
            equity_interval_ns: self.equity_interval_ns,
            flatten_at_end: self.flatten_at_end,
            trade_window: (
                self.trade_start_ns.unwrap_or(0),
                self.trade_end_ns.unwrap_or(u64::MAX),
            ),
            risk_model: self
                .risk_model_json
                .map(|t| RiskModelConfig::from_json(&t, "risk_model"))
                .transpose()?,
            drift: self
                .drift_json
                .map(|t| DriftSettings::from_json(&t))
                .transpose()?,
            ..EngineConfig::default()
        };
        let opts = LoadOptions {
            prefer_native: self.model_prefer_native,
            ..LoadOptions::default()
        };
        // Portfolio: one model per instrument, each on its own feature set.
        let mut routes: Vec<(u32, Box<dyn Predictor + Send>)> = Vec::new();
        let mut first_model = None;
        for (id, registry, family, path) in self.models {
            let src = ModelSource::from_parts(registry, family, path)?.ok_or_else(|| {
                CoreError::Config(format!(
                    "models: instrument {id} needs model_registry + model_family or model_path"
                ))
            })?;
            let mut own = cfg.clone();
            let p = ModelPredictor::for_engine(&src, &mut own, opts.clone())?;
            cfg.instrument_features
                .push((id, own.features, own.bar_timeframe));
            first_model.get_or_insert(ModelInfo {
                counters: p.counters(),
                control: p.control(),
            });
            routes.push((id, Box::new(p)));
        }
        let base_given = model_source.is_some()
            || self.placebo_interval_ns.is_some()
            || !self.signal_classes.is_empty();
        let (predictor, model): (Box<dyn Predictor + Send>, _) =
            if !routes.is_empty() && !base_given {
                (Box::new(PredictorSet::new(routes, None)?), first_model)
            } else {
                let (base, model): (Box<dyn Predictor + Send>, _) =
                    match (&model_source, self.placebo_interval_ns) {
                        // The engine streams the model's own feature set (set in cfg here).
                        (Some(src), _) => {
                            let p = ModelPredictor::for_engine(src, &mut cfg, opts)?;
                            let info = ModelInfo {
                                counters: p.counters(),
                                control: p.control(),
                            };
                            (Box::new(p), Some(info))
                        }
                        (None, Some(interval)) => {
                            (Box::new(Placebo::new(interval, self.placebo_seed)?), None)
                        }
                        (None, None) => (
                            Box::new(ExternalSignals::new(
                                // Pushed signals only: a predictor that never answers by itself.
                                if self.signal_inbox && self.signal_classes.is_empty() {
                                    vec![-1, 0, 1]
                                } else {
                                    self.signal_classes
                                },
                                self.signal_ts,
                                self.signal_instrument_id,
                                self.signal_probs,
                                self.signal_max_age_ns,
                            )?),
                            None,
                        ),
                    };
                if routes.is_empty() {
                    (base, model)
                } else {
                    (
                        Box::new(PredictorSet::new(routes, Some(base))?),
                        model.or(first_model),
                    )
                }
            };
        // The inbox goes in front of everything: a pushed signal wins at its instrument.
        let (predictor, inbox): (Box<dyn Predictor + Send>, _) = if self.signal_inbox {
            let inbox = SignalInbox::default();
            let p = InboxPredictor::new(predictor, inbox.clone(), self.signal_max_age_ns)?;
            (Box::new(p), Some(inbox))
        } else {
            (predictor, None)
        };
        Ok(Built {
            cfg,
            predictor,
            model,
            inbox,
        })
    }
}
