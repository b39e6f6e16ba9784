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
        if p.is_empty() {
            Ok(())
        } else {
            Err(CoreError::Config(p.join("; ")))
        }
    }
}
