//! The engine's settings as Python passes them (keyword arguments, one set for a backtest, a
//! replay session and a broker session), and the one place they become an `EngineConfig` and
//! a predictor: external signals, the placebo stream, or a model (registry or folder).

use std::path::PathBuf;
use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::PyDict;
use tradecore::decision::DecisionConfig;
use tradecore::engine::inbox::{InboxPredictor, SignalInbox};
use tradecore::engine::placebo::Placebo;
use tradecore::engine::{self, Backtest, Engine, EngineConfig, ExternalSignals, Predictor};
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
}

const KEYS: [&str; 33] = [
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
            equity_interval_ns: self.equity_interval_ns,
            flatten_at_end: self.flatten_at_end,
            risk_model: self
                .risk_model_json
                .map(|t| RiskModelConfig::from_json(&t, "risk_model"))
                .transpose()?,
            ..EngineConfig::default()
        };
        let (predictor, model): (Box<dyn Predictor + Send>, _) =
            match (&model_source, self.placebo_interval_ns) {
                // The engine streams the model's own feature set (set in cfg here).
                (Some(src), _) => {
                    let p = ModelPredictor::for_engine(
                        src,
                        &mut cfg,
                        LoadOptions {
                            prefer_native: self.model_prefer_native,
                            ..LoadOptions::default()
                        },
                    )?;
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
