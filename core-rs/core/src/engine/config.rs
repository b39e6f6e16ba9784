//! The engine's configuration: the strategy around the model (decision, sizing, volatility
//! forecast, risk limits, features, portfolio settings), validated at once with every
//! problem listed.

use crate::bars::Timeframe;
use crate::decision::DecisionConfig;
use crate::error::{CoreError, Result};
use crate::features::{BarFeatureEngine, FeatureSet};
use crate::orders::{InstrumentId, InstrumentSpec};
use crate::risk::RiskLimits;
use crate::riskmodel::RiskModelConfig;
use crate::sim::SimConfig;
use crate::sizing::SizingConfig;

/// Settings of the strategy around the model. Validated on construction; every problem is
/// listed.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub sim: SimConfig,
    pub specs: Vec<InstrumentSpec>,
    /// Account equity at the start, account currency.
    pub initial_equity: f64,
    /// Thresholds (0.7 ensemble / 0.87 external), max risk score, horizon.
    pub decision: DecisionConfig,
    /// Fractional Kelly under a volatility target, bracket distances.
    pub sizing: SizingConfig,
    /// Half-life of the EWMA of squared one-second mid log returns behind the volatility
    /// forecast the decision and sizing steps read, seconds of event time.
    pub vol_halflife_s: f64,
    /// One-second returns needed before the volatility forecast exists (until then the
    /// decision sees unknown risk and holds).
    pub vol_min_samples: u32,
    /// Pre-trade risk limits (`tradecore::risk`): every new order and modify passes them.
    pub risk: RiskLimits,
    /// Equity is sampled at most this often (event time).
    pub equity_interval_ns: u64,
    /// Close every position at the end of the data (exit reason END).
    pub flatten_at_end: bool,
    /// The features handed to a predictor that reads them: a micro set (one row per book
    /// event, the predictor is asked every event) or a bar set (one row per completed
    /// `bar_timeframe` bar of the instrument's trades, the predictor is asked once per bar).
    pub features: FeatureSet,
    /// Base timeframe of a bar feature set (its coarser timeframes are built from it).
    pub bar_timeframe: Timeframe,
    /// Where the decision's volatility, VaR/CVaR and co-movement come from: None, the EWMA
    /// above with normal tails and no index; Some, the fitted GARCH/EGARCH and t-copula
    /// model of `tradecore::riskmodel` on mid bars at its interval (`vol_model = "garch"`).
    pub risk_model: Option<RiskModelConfig>,
    /// Portfolio: an instrument's own feature set and bar timeframe (its model was trained
    /// on them); the others stream `features` / `bar_timeframe`.
    pub instrument_features: Vec<(InstrumentId, FeatureSet, Timeframe)>,
    /// Portfolio: an instrument's own `max_position` instead of `risk.max_position`.
    pub position_limits: Vec<(InstrumentId, u32)>,
    /// Half-life (seconds of event time) of the streaming correlations of one-second mid
    /// returns that feed the risk gate's correlation screen over live positions.
    pub corr_halflife_s: f64,
    /// Joint one-second returns a pair needs before its correlation counts (0 before).
    pub corr_min_samples: u32,
    /// The trading window `[start, end)` in event time (UTC ns). Before `start` the data
    /// only builds books, features and forecasts (no decision, no equity sample); at `end`
    /// a backtest stops as at the end of its data (the end-of-data flatten included). This
    /// is how a date range of one file is backtested: its book still starts from the
    /// file's snapshot.
    pub trade_window: (u64, u64),
    /// Feature drift of the rows handed to the model against its training reference
    /// (`tradecore::drift`); None: not watched (no cost on the hot path).
    pub drift: Option<crate::drift::DriftSettings>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            sim: SimConfig::default(),
            specs: Vec::new(),
            initial_equity: 100_000.0,
            decision: DecisionConfig::default(),
            sizing: SizingConfig::default(),
            vol_halflife_s: 300.0,
            vol_min_samples: 60,
            risk: RiskLimits::default(),
            equity_interval_ns: 1_000_000_000,
            flatten_at_end: true,
            features: FeatureSet::default_micro(),
            bar_timeframe: Timeframe::parse("1m").expect("1m is a timeframe"),
            risk_model: None,
            instrument_features: Vec::new(),
            position_limits: Vec::new(),
            corr_halflife_s: 1800.0,
            corr_min_samples: 120,
            trade_window: (0, u64::MAX),
            drift: None,
        }
    }
}

impl EngineConfig {
    pub fn validate(&self) -> Result<()> {
        let mut p = Vec::new();
        if let Err(CoreError::Config(e)) = self.sim.validate() {
            p.push(e);
        }
        if self.specs.is_empty() {
            p.push("specs: at least one instrument spec is needed".into());
        }
        if !(self.initial_equity.is_finite() && self.initial_equity > 0.0) {
            p.push(format!(
                "initial_equity must be > 0, got {}",
                self.initial_equity
            ));
        }
        for r in [self.decision.validate(), self.sizing.validate()] {
            if let Err(e) = r {
                p.push(e.to_string());
            }
        }
        if !(self.vol_halflife_s.is_finite() && self.vol_halflife_s > 0.0) {
            p.push(format!(
                "vol_halflife_s must be > 0, got {}",
                self.vol_halflife_s
            ));
        }
        if self.vol_min_samples < 2 {
            p.push(format!(
                "vol_min_samples must be >= 2, got {}",
                self.vol_min_samples
            ));
        }
        if let Err(e) = self.risk.validate() {
            p.push(e.to_string());
        }
        if self.equity_interval_ns == 0 {
            p.push("equity_interval_ns must be >= 1".into());
        }
        let (start, end) = self.trade_window;
        if start >= end {
            p.push(format!(
                "trade_window: the start ({start}) must be before the end ({end})"
            ));
        }
        if let Some(Err(e)) = self.risk_model.as_ref().map(|m| m.validate()) {
            p.push(e.to_string());
        }
        let own = self
            .instrument_features
            .iter()
            .map(|(id, f, tf)| (format!("features of instrument {id}"), f, *tf));
        for (what, f, tf) in
            std::iter::once(("features".to_string(), &self.features, self.bar_timeframe)).chain(own)
        {
            if !f.is_micro() {
                if f.needs_reference() {
                    p.push(format!("{what}: cross-instrument (reference) features are not streamed by the engine"));
                } else if let Err(e) = BarFeatureEngine::new(f, tf) {
                    p.push(format!("{what}: {e}"));
                }
            }
        }
        for (i, (id, _, _)) in self.instrument_features.iter().enumerate() {
            if self.instrument_features[..i]
                .iter()
                .any(|(k, _, _)| k == id)
            {
                p.push(format!("instrument_features: instrument {id} twice"));
            }
        }
        for (i, (id, m)) in self.position_limits.iter().enumerate() {
            if *m == 0 {
                p.push(format!(
                    "position_limits: instrument {id}: max_position 0 must be >= 1"
                ));
            }
            if self.position_limits[..i].iter().any(|(k, _)| k == id) {
                p.push(format!("position_limits: instrument {id} twice"));
            }
        }
        if !(self.corr_halflife_s.is_finite() && self.corr_halflife_s >= 1.0) {
            p.push(format!(
                "corr_halflife_s must be >= 1, got {}",
                self.corr_halflife_s
            ));
        }
        if self.corr_min_samples < 2 {
            p.push(format!(
                "corr_min_samples must be >= 2, got {}",
                self.corr_min_samples
            ));
        }
        if let Some(d) = &self.drift {
            // the reference must describe a row the engine streams (the model's own set)
            let want: Vec<&str> = d
                .reference
                .features
                .iter()
                .map(|f| f.name.as_str())
                .collect();
            let streams = |f: &FeatureSet| {
                f.names()
                    .iter()
                    .map(String::as_str)
                    .eq(want.iter().copied())
            };
            if !streams(&self.features)
                && !self.instrument_features.iter().any(|(_, f, _)| streams(f))
            {
                p.push(format!(
                    "drift: the reference's {} features are not the feature set the engine streams ({} features: {})",
                    want.len(),
                    self.features.len(),
                    self.features.hash()
                ));
            }
        }
        if p.is_empty() {
            Ok(())
        } else {
            Err(CoreError::Config(p.join("; ")))
        }
    }
}

/// A latency setting as a table writes it: `[kind, [params]]` with kind `constant` (`[ns]`),
/// `lognormal` (`[median_ns, sigma, max_ns]`) or `empirical` (`[ns, ...]`).
pub type LatencySetting = (String, Vec<f64>);

/// The latency model of a setting; an error naming `name` and what the kind takes.
pub fn latency_model(name: &str, kind: &str, params: &[f64]) -> Result<crate::sim::LatencyModel> {
    use crate::sim::LatencyModel;
    let bad = |want: &str| {
        CoreError::Config(format!(
            "{name}: {kind} latency takes {want}, got {params:?}"
        ))
    };
    match kind {
        "constant" => match params {
            [ns] if *ns >= 0.0 => Ok(LatencyModel::Constant(*ns as u64)),
            _ => Err(bad("[ns >= 0]")),
        },
        "lognormal" => match params {
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

/// The engine's settings as a session or backtest table writes them (the scalar part of
/// [`EngineConfig`]: the instruments, features, model and signals come from elsewhere), with
/// the core's defaults for every key left out. One definition: serde refuses unknown keys,
/// [`EngineSettings::from_table`] reports every bad key, type and value at once, and
/// [`EngineSettings::config`] builds the validated [`EngineConfig`].
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineSettings {
    pub fee_per_contract: f64,
    pub seed: u64,
    pub order_latency: LatencySetting,
    pub feed_latency: LatencySetting,
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
    pub equity_interval_ns: u64,
    pub flatten_at_end: bool,
    pub vol_halflife_s: f64,
    pub vol_min_samples: u32,
    pub corr_halflife_s: f64,
    pub corr_min_samples: u32,
}

impl Default for EngineSettings {
    fn default() -> Self {
        let c = EngineConfig::default();
        let lat = |m: &crate::sim::LatencyModel| -> LatencySetting {
            match m {
                crate::sim::LatencyModel::Constant(ns) => ("constant".into(), vec![*ns as f64]),
                crate::sim::LatencyModel::LogNormal {
                    median_ns,
                    sigma,
                    max_ns,
                } => ("lognormal".into(), vec![*median_ns, *sigma, *max_ns as f64]),
                crate::sim::LatencyModel::Empirical(v) => {
                    ("empirical".into(), v.iter().map(|x| *x as f64).collect())
                }
            }
        };
        EngineSettings {
            // a round turn of CME commissions and exchange fees is about $4: $2 a side
            fee_per_contract: 2.0,
            seed: c.sim.seed,
            order_latency: lat(&c.sim.order_latency),
            feed_latency: lat(&c.sim.feed_latency),
            initial_equity: c.initial_equity,
            min_confidence_ensemble: c.decision.min_confidence_ensemble,
            min_confidence_external: c.decision.min_confidence_external,
            max_risk_score: c.decision.max_risk_score,
            horizon_ns: c.decision.horizon_ns,
            kelly_fraction: c.sizing.kelly_fraction,
            vol_target: c.sizing.vol_target,
            stop_k: c.sizing.stop_k,
            reward_risk: c.sizing.reward_risk,
            max_qty: c.sizing.max_qty,
            equity_interval_ns: c.equity_interval_ns,
            flatten_at_end: c.flatten_at_end,
            vol_halflife_s: c.vol_halflife_s,
            vol_min_samples: c.vol_min_samples,
            corr_halflife_s: c.corr_halflife_s,
            corr_min_samples: c.corr_min_samples,
        }
    }
}

impl EngineSettings {
    /// The keys of the table (the field names).
    pub const KEYS: [&'static str; 20] = [
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
        "equity_interval_ns",
        "flatten_at_end",
        "vol_halflife_s",
        "vol_min_samples",
        "corr_halflife_s",
        "corr_min_samples",
    ];

    /// The defaults overridden by `table` (any subset). Every unknown key and value of the
    /// wrong type, then every invalid value of the resulting configuration, in one
    /// `CoreError::Config`.
    pub fn from_table(table: &serde_json::Map<String, serde_json::Value>) -> Result<Self> {
        let mut bad = Vec::new();
        for (k, v) in table {
            if !EngineSettings::KEYS.contains(&k.as_str()) {
                bad.push(format!(
                    "unknown key {k:?} (known: {})",
                    EngineSettings::KEYS.join(", ")
                ));
                continue;
            }
            let mut one = serde_json::Map::new();
            one.insert(k.clone(), v.clone());
            if let Err(e) = serde_json::from_value::<EngineSettings>(one.into()) {
                bad.push(format!("{k} = {v}: {e}"));
            }
        }
        if !bad.is_empty() {
            return Err(CoreError::Config(format!(
                "engine settings: {}",
                bad.join("; ")
            )));
        }
        let s: EngineSettings = serde_json::from_value(table.clone().into())
            .map_err(|e| CoreError::Config(format!("engine settings: {e}")))?;
        // Values: the configuration they build, every violation listed.
        s.config(Vec::new(), RiskLimits::default(), true)?;
        Ok(s)
    }

    /// The engine configuration of these settings for `specs` with `risk` limits. With
    /// `without_specs`, an empty `specs` is not a violation (checking a table alone).
    pub fn config(
        &self,
        specs: Vec<InstrumentSpec>,
        risk: RiskLimits,
        without_specs: bool,
    ) -> Result<EngineConfig> {
        let mut bad = Vec::new();
        let mut lat = |name: &str, s: &LatencySetting| match latency_model(name, &s.0, &s.1) {
            Ok(m) => m,
            Err(e) => {
                bad.push(e.to_string());
                crate::sim::LatencyModel::Constant(0)
            }
        };
        let order_latency = lat("order_latency", &self.order_latency);
        let feed_latency = lat("feed_latency", &self.feed_latency);
        if !(self.fee_per_contract.is_finite() && self.fee_per_contract >= 0.0) {
            bad.push(format!(
                "fee_per_contract must be >= 0, got {}",
                self.fee_per_contract
            ));
        }
        let mut specs = specs;
        for s in &mut specs {
            s.fee_per_contract = self.fee_per_contract;
        }
        let cfg = EngineConfig {
            sim: SimConfig {
                order_latency,
                feed_latency,
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
            risk,
            equity_interval_ns: self.equity_interval_ns,
            flatten_at_end: self.flatten_at_end,
            corr_halflife_s: self.corr_halflife_s,
            corr_min_samples: self.corr_min_samples,
            ..EngineConfig::default()
        };
        if let Err(CoreError::Config(e)) = cfg.validate() {
            for part in e.split("; ") {
                if !(without_specs && part.starts_with("specs:")) {
                    bad.push(part.to_string());
                }
            }
        }
        if bad.is_empty() {
            Ok(cfg)
        } else {
            Err(CoreError::Config(format!(
                "engine settings: {}",
                bad.join("; ")
            )))
        }
    }

    /// `(key, value)` of every setting as JSON (a session prints which settings apply).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "fee_per_contract": self.fee_per_contract,
            "seed": self.seed,
            "order_latency": [self.order_latency.0, self.order_latency.1],
            "feed_latency": [self.feed_latency.0, self.feed_latency.1],
            "initial_equity": self.initial_equity,
            "min_confidence_ensemble": self.min_confidence_ensemble,
            "min_confidence_external": self.min_confidence_external,
            "max_risk_score": self.max_risk_score,
            "horizon_ns": self.horizon_ns,
            "kelly_fraction": self.kelly_fraction,
            "vol_target": self.vol_target,
            "stop_k": self.stop_k,
            "reward_risk": self.reward_risk,
            "max_qty": self.max_qty,
            "equity_interval_ns": self.equity_interval_ns,
            "flatten_at_end": self.flatten_at_end,
            "vol_halflife_s": self.vol_halflife_s,
            "vol_min_samples": self.vol_min_samples,
            "corr_halflife_s": self.corr_halflife_s,
            "corr_min_samples": self.corr_min_samples,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn a_drift_reference_must_describe_the_streamed_features() {
        use crate::drift::{DriftReference, DriftSettings, FeatureReference};
        let reference = |names: Vec<String>| DriftReference {
            features: names
                .into_iter()
                .map(|name| FeatureReference {
                    name,
                    edges: vec![0.0],
                    shares: vec![0.5, 0.5],
                    nan_share: 0.0,
                })
                .collect(),
            rows: 10,
            calibration: None,
        };
        let mut cfg = EngineConfig {
            specs: vec![InstrumentSpec {
                instrument_id: 1,
                tick_size: crate::book::PRICE_SCALE / 4,
                multiplier: 50.0,
                fee_per_contract: 1.5,
            }],
            ..EngineConfig::default()
        };
        cfg.drift = Some(DriftSettings::new(reference(cfg.features.names())));
        cfg.validate().unwrap();
        cfg.drift = Some(DriftSettings::new(reference(vec!["micro_spread".into()])));
        let e = cfg.validate().unwrap_err().to_string();
        assert!(e.contains("drift: the reference's 1 features"), "{e}");
    }

    #[test]
    fn defaults_are_the_engine_configs_and_pass_validation() {
        let s = EngineSettings::from_table(&serde_json::Map::new()).unwrap();
        assert_eq!(s, EngineSettings::default());
        let c = s.config(Vec::new(), RiskLimits::default(), true).unwrap();
        let d = EngineConfig::default();
        assert_eq!(
            (c.initial_equity, c.vol_halflife_s, c.decision, c.sizing),
            (d.initial_equity, d.vol_halflife_s, d.decision, d.sizing)
        );
        assert_eq!(
            EngineSettings::KEYS.len(),
            s.to_json().as_object().unwrap().len()
        );
    }

    #[test]
    fn every_bad_key_and_value_is_reported_at_once() {
        let err = EngineSettings::from_table(&table(serde_json::json!({
            "max_qty": "ten",
            "seeed": 1,
            "order_latency": ["constant", [1.0, 2.0]],
        })))
        .unwrap_err()
        .to_string();
        for part in ["max_qty", "seeed", "order_latency"] {
            assert!(err.contains(part), "{part} missing: {err}");
        }
        let err = EngineSettings::from_table(&table(serde_json::json!({
            "initial_equity": -1.0,
            "vol_min_samples": 1,
            "kelly_fraction": 0.9,
        })))
        .unwrap_err()
        .to_string();
        for part in ["initial_equity", "vol_min_samples", "kelly_fraction"] {
            assert!(err.contains(part), "{part} missing: {err}");
        }
        let ok = EngineSettings::from_table(&table(serde_json::json!({
            "max_qty": 3,
            "order_latency": ["lognormal", [200000.0, 0.5, 5000000.0]],
        })))
        .unwrap();
        assert_eq!(ok.max_qty, 3);
    }
}
