//! Decision: from the ensemble's calibrated class probabilities (or an external signal) and
//! the risk features to BUY / SELL / HOLD with a confidence, an expected return, a 1-10 risk
//! score and a holding horizon. External signals go through the same function with a higher
//! confidence bar, so there is one place where "should we act" is decided.
//!
//! Conventions (see `docs/risk.md`):
//! - `class_values` are the ordinal direction classes the model predicts (`[-1, 0, 1]`,
//!   `[-2, -1, 0, 1, 2]`, ...). `P(up)` sums the classes > 0, `P(down)` those < 0.
//! - The direction is the larger of `P(up)` and `P(down)`; its mass is the confidence.
//! - `expected_return = vol_forecast * sum(p_i * c_i)`: a class of magnitude 1 stands for a
//!   move of about one forecast standard deviation over the horizon. It is a return
//!   (fraction of price), signed.
//! - Nothing here allocates: it runs once per model output on the hot path.

use crate::error::{CoreError, Result};
use crate::orders::SignalSource;

/// What to do with a signal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    Buy,
    Sell,
    Hold,
}

/// Why a signal became a HOLD (telemetry and journal: a hold is a decision too).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HoldReason {
    /// `P(up) == P(down)`: no direction to act on (includes all mass on the flat class).
    NoDirection,
    /// The direction's probability is below the source's threshold.
    LowConfidence,
    /// The risk score is above `max_risk_score`.
    RiskTooHigh,
    /// The more likely direction has an expected return of the other sign (a rare large move
    /// against outweighs a likely small one); acting would be a negative-expectation bet.
    AgainstExpectedReturn,
}

impl HoldReason {
    pub fn as_str(self) -> &'static str {
        match self {
            HoldReason::NoDirection => "NO_DIRECTION",
            HoldReason::LowConfidence => "LOW_CONFIDENCE",
            HoldReason::RiskTooHigh => "RISK_TOO_HIGH",
            HoldReason::AgainstExpectedReturn => "AGAINST_EXPECTED_RETURN",
        }
    }
}

/// The risk features of the instrument at decision time (from `pycontrol.risk` / the
/// streaming risk features). Returns and losses are fractions of price over the horizon;
/// VaR/CVaR are positive losses. Without a reference instrument pass 0 for correlation,
/// beta and tail dependence; any NaN scores 10 (unknown risk is not a reason to trade).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RiskInputs {
    /// Return standard deviation over the horizon (GARCH forecast), e.g. 0.001 = 0.1 %.
    pub vol_forecast: f64,
    pub var99: f64,
    pub cvar99: f64,
    pub corr_to_index: f64,
    pub beta_to_index: f64,
    /// Lower-tail dependence to the index (copula), 0..1.
    pub tail_dependence: f64,
}

/// Scales of the risk score. `vol_ref` is a typical return standard deviation over the
/// horizon: twice it saturates the volatility term. The default, 0.001, is ES at about 15 %
/// annualised volatility over 15 minutes of a 23-hour session.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RiskScoreConfig {
    pub vol_ref: f64,
}

impl Default for RiskScoreConfig {
    fn default() -> Self {
        RiskScoreConfig { vol_ref: 0.001 }
    }
}

/// Standard normal CVaR 99 in standard deviations: phi(2.3263) / 0.01. The tail-loss term
/// compares the forecast CVaR with what a normal distribution at `vol_ref` would give.
const NORMAL_CVAR99_Z: f64 = 2.665_214;

/// Weights of the four terms (sum 1): volatility dominates, as in `pycontrol.risk.score`;
/// tail loss adds fat tails; co-movement and tail dependence add "everything falls together".
pub const W_VOL: f64 = 0.35;
pub const W_TAIL_LOSS: f64 = 0.25;
pub const W_COMOVE: f64 = 0.2;
pub const W_TAIL_DEP: f64 = 0.2;

#[inline]
fn unit(x: f64) -> f64 {
    // NaN is maximal risk: `clamp` would keep NaN, so handle it before.
    if x.is_nan() {
        1.0
    } else {
        x.clamp(0.0, 1.0)
    }
}

/// The 1-10 risk score with explicit scales:
///
/// ```text
/// v = clamp(vol_forecast / (2 vol_ref))
/// l = clamp(max(var99, cvar99) / (2 * 2.665 * vol_ref))
/// c = clamp(0.5 |corr_to_index| + 0.5 min(|beta_to_index| / 2, 1))
/// t = clamp(tail_dependence)
/// score = 1 + round(9 (0.35 v + 0.25 l + 0.2 c + 0.2 t))
/// ```
///
/// Monotone non-decreasing in each input's magnitude; any NaN input scores 10.
pub fn risk_score_with(r: &RiskInputs, cfg: &RiskScoreConfig) -> u8 {
    // Unknown risk is maximal risk: saturating only the unknown term would let an unknown
    // volatility with calm co-movement score 6, which passes the default bar.
    if r.vol_forecast.is_nan()
        || r.var99.is_nan()
        || r.cvar99.is_nan()
        || r.corr_to_index.is_nan()
        || r.beta_to_index.is_nan()
        || r.tail_dependence.is_nan()
    {
        return 10;
    }
    let vref = if cfg.vol_ref.is_finite() && cfg.vol_ref > 0.0 {
        cfg.vol_ref
    } else {
        // An unusable scale cannot make risk look smaller than it is.
        f64::MIN_POSITIVE
    };
    let v = unit(r.vol_forecast / (2.0 * vref));
    let loss = if r.var99.is_nan() || r.cvar99.is_nan() {
        f64::NAN
    } else {
        r.var99.max(r.cvar99)
    };
    let l = unit(loss / (2.0 * NORMAL_CVAR99_Z * vref));
    let beta = if r.beta_to_index.is_nan() {
        f64::NAN
    } else {
        (r.beta_to_index.abs() / 2.0).min(1.0)
    };
    let c = unit(0.5 * unit(r.corr_to_index.abs()) + 0.5 * unit(beta));
    let t = unit(r.tail_dependence);
    let s = W_VOL * v + W_TAIL_LOSS * l + W_COMOVE * c + W_TAIL_DEP * t;
    (1.0 + (9.0 * s).round()).clamp(1.0, 10.0) as u8
}

/// [`risk_score_with`] at the default scales.
pub fn risk_score(r: &RiskInputs) -> u8 {
    risk_score_with(r, &RiskScoreConfig::default())
}

/// Decision rules. Defaults: act on ensemble signals at confidence >= 0.7, on external
/// signals at >= 0.87, only with risk score <= 6; hold for 15 minutes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DecisionConfig {
    pub min_confidence_ensemble: f64,
    pub min_confidence_external: f64,
    pub max_risk_score: u8,
    pub horizon_ns: u64,
    pub score: RiskScoreConfig,
}

impl Default for DecisionConfig {
    fn default() -> Self {
        DecisionConfig {
            min_confidence_ensemble: 0.7,
            min_confidence_external: 0.87,
            max_risk_score: 6,
            horizon_ns: 15 * 60 * 1_000_000_000,
            score: RiskScoreConfig::default(),
        }
    }
}

impl DecisionConfig {
    /// Every bad field at once, in one `CoreError::Config`.
    pub fn validate(&self) -> Result<()> {
        let mut bad = Vec::new();
        for (name, v) in [
            ("min_confidence_ensemble", self.min_confidence_ensemble),
            ("min_confidence_external", self.min_confidence_external),
        ] {
            if !(v > 0.0 && v <= 1.0) {
                bad.push(format!("{name} = {v} must be in (0, 1]"));
            }
        }
        if !(1..=10).contains(&self.max_risk_score) {
            bad.push(format!(
                "max_risk_score = {} must be in 1..=10",
                self.max_risk_score
            ));
        }
        if self.horizon_ns == 0 {
            bad.push("horizon_ns = 0 must be > 0".to_string());
        }
        if !(self.score.vol_ref.is_finite() && self.score.vol_ref > 0.0) {
            bad.push(format!(
                "score.vol_ref = {} must be finite and > 0",
                self.score.vol_ref
            ));
        }
        if bad.is_empty() {
            Ok(())
        } else {
            Err(CoreError::Config(format!(
                "DecisionConfig: {}",
                bad.join("; ")
            )))
        }
    }

    pub fn min_confidence(&self, source: SignalSource) -> f64 {
        match source {
            SignalSource::Ensemble => self.min_confidence_ensemble,
            SignalSource::External => self.min_confidence_external,
        }
    }
}

/// The outcome of [`decide`]. `vol_forecast` is carried from the risk inputs because sizing
/// needs it (stop distance, volatility target) and sees only the decision.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Decision {
    pub action: Action,
    /// Probability of the chosen direction (of the more likely one for a HOLD).
    pub confidence: f64,
    /// Signed expected return over the horizon (fraction of price).
    pub expected_return: f64,
    pub risk_score: u8,
    pub horizon_ns: u64,
    pub source: SignalSource,
    /// `Some` exactly when `action == Hold`.
    pub hold_reason: Option<HoldReason>,
    pub vol_forecast: f64,
}

/// Probabilities must sum to 1 within this; calibrated outputs are float32 softmaxes.
pub const PROB_SUM_TOL: f64 = 1e-3;

/// Float32 probabilities carry about 1e-7 rounding: a model that outputs 0.7 must pass a
/// 0.7 threshold. Decision and the risk gate's confidence check both compare with this slack.
pub const CONFIDENCE_EPS: f64 = 1e-6;

/// `confidence >= min` up to float32 rounding (the one comparison the decision and the risk
/// gate share).
#[inline]
pub fn meets_confidence(confidence: f64, min: f64) -> bool {
    confidence + CONFIDENCE_EPS >= min
}

/// Decides from class probabilities. Errors (typed, naming the argument and index) on
/// mismatched lengths, fewer than two classes, non-finite or out-of-range probabilities, a
/// sum not within [`PROB_SUM_TOL`] of 1, duplicate class values, or an invalid config.
pub fn decide(
    probs: &[f32],
    class_values: &[i8],
    risk: &RiskInputs,
    source: SignalSource,
    cfg: &DecisionConfig,
) -> Result<Decision> {
    cfg.validate()?;
    if probs.len() != class_values.len() {
        return Err(CoreError::invalid(
            "probs",
            format!(
                "{} probabilities for {} class values",
                probs.len(),
                class_values.len()
            ),
        ));
    }
    if probs.len() < 2 {
        return Err(CoreError::invalid(
            "probs",
            format!("need at least 2 classes, got {}", probs.len()),
        ));
    }
    let (mut up, mut down, mut sum, mut ev) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
    for (i, (&p, &c)) in probs.iter().zip(class_values).enumerate() {
        if !p.is_finite() || !(0.0..=1.0).contains(&p) {
            return Err(CoreError::invalid(
                format!("probs[{i}]"),
                format!("{p} is not a probability in [0, 1]"),
            ));
        }
        if class_values[..i].contains(&c) {
            return Err(CoreError::invalid(
                format!("class_values[{i}]"),
                format!("duplicate class value {c}"),
            ));
        }
        let p = p as f64;
        sum += p;
        ev += p * c as f64;
        if c > 0 {
            up += p;
        } else if c < 0 {
            down += p;
        }
    }
    if (sum - 1.0).abs() > PROB_SUM_TOL {
        return Err(CoreError::invalid(
            "probs",
            format!("sum to {sum}, not 1 (tolerance {PROB_SUM_TOL})"),
        ));
    }
    // Renormalise so the confidence of a float32 softmax is a probability of the whole.
    let inv = 1.0 / sum;
    let (up, down, ev) = (up * inv, down * inv, ev * inv);
    let score = risk_score_with(risk, &cfg.score);
    let expected_return = if risk.vol_forecast.is_finite() {
        risk.vol_forecast * ev
    } else {
        0.0
    };
    let (dir, confidence) = if up > down {
        (Action::Buy, up)
    } else if down > up {
        (Action::Sell, down)
    } else {
        (Action::Hold, up)
    };
    let hold_reason = if dir == Action::Hold {
        Some(HoldReason::NoDirection)
    } else if !meets_confidence(confidence, cfg.min_confidence(source)) {
        Some(HoldReason::LowConfidence)
    } else if score > cfg.max_risk_score {
        Some(HoldReason::RiskTooHigh)
    } else if (dir == Action::Buy && ev <= 0.0) || (dir == Action::Sell && ev >= 0.0) {
        Some(HoldReason::AgainstExpectedReturn)
    } else {
        None
    };
    Ok(Decision {
        action: if hold_reason.is_some() {
            Action::Hold
        } else {
            dir
        },
        confidence,
        expected_return,
        risk_score: score,
        horizon_ns: cfg.horizon_ns,
        source,
        hold_reason,
        vol_forecast: risk.vol_forecast,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CALM: RiskInputs = RiskInputs {
        vol_forecast: 0.0005,
        var99: 0.0012,
        cvar99: 0.0013,
        corr_to_index: 0.0,
        beta_to_index: 0.0,
        tail_dependence: 0.0,
    };
    const FIVE: [i8; 5] = [-2, -1, 0, 1, 2];

    fn d(probs: &[f32], risk: &RiskInputs, src: SignalSource) -> Decision {
        decide(probs, &FIVE, risk, src, &DecisionConfig::default()).unwrap()
    }

    #[test]
    fn score_hand_computed() {
        // v = 0.0005/0.002 = 0.25; l = 0.0013/(2*2.665214*0.001) = 0.24388; c = t = 0
        // s = 0.35*0.25 + 0.25*0.24388 = 0.14847 -> 1 + round(1.336) = 2
        assert_eq!(risk_score(&CALM), 2);
        let extreme = RiskInputs {
            vol_forecast: 1.0,
            var99: 1.0,
            cvar99: 1.0,
            corr_to_index: -1.0,
            beta_to_index: 3.0,
            tail_dependence: 1.0,
        };
        assert_eq!(risk_score(&extreme), 10);
        let zero = RiskInputs {
            vol_forecast: 0.0,
            var99: 0.0,
            cvar99: 0.0,
            corr_to_index: 0.0,
            beta_to_index: 0.0,
            tail_dependence: 0.0,
        };
        assert_eq!(risk_score(&zero), 1);
        // vol at 2x ref saturates: 1 + round(9*0.35) = 4
        assert_eq!(
            risk_score(&RiskInputs {
                vol_forecast: 0.002,
                ..zero
            }),
            4
        );
    }

    #[test]
    fn score_nan_is_max_risk_and_monotone() {
        let nan = RiskInputs {
            vol_forecast: f64::NAN,
            var99: f64::NAN,
            cvar99: f64::NAN,
            corr_to_index: f64::NAN,
            beta_to_index: f64::NAN,
            tail_dependence: f64::NAN,
        };
        assert_eq!(risk_score(&nan), 10);
        // One unknown input is enough: an unknown vol with calm co-movement must not pass.
        for k in 0..6 {
            let mut r = [0.0005, 0.0012, 0.0013, 0.0, 0.0, 0.0];
            r[k] = f64::NAN;
            let r = RiskInputs {
                vol_forecast: r[0],
                var99: r[1],
                cvar99: r[2],
                corr_to_index: r[3],
                beta_to_index: r[4],
                tail_dependence: r[5],
            };
            assert_eq!(risk_score(&r), 10, "NaN at input {k}");
        }
        let mut prev = 0;
        for k in 0..50 {
            let r = RiskInputs {
                vol_forecast: k as f64 * 0.0001,
                ..CALM
            };
            let s = risk_score(&r);
            assert!(s >= prev, "score fell from {prev} to {s} at vol step {k}");
            prev = s;
        }
    }

    #[test]
    fn buy_sell_hold_by_confidence_and_source() {
        let buy = d(&[0.02, 0.03, 0.1, 0.45, 0.4], &CALM, SignalSource::Ensemble);
        assert_eq!(buy.action, Action::Buy);
        assert!((buy.confidence - 0.85).abs() < 1e-6);
        // ev = -0.04 - 0.03 + 0.45 + 0.8 = 1.18 -> 1.18 * vol
        assert!((buy.expected_return - 1.18 * 0.0005).abs() < 1e-8);
        assert_eq!(buy.hold_reason, None);
        assert_eq!(buy.horizon_ns, DecisionConfig::default().horizon_ns);
        // The same signal from outside needs 0.87.
        let ext = d(&[0.02, 0.03, 0.1, 0.45, 0.4], &CALM, SignalSource::External);
        assert_eq!(ext.action, Action::Hold);
        assert_eq!(ext.hold_reason, Some(HoldReason::LowConfidence));
        let ext_ok = d(&[0.01, 0.02, 0.07, 0.5, 0.4], &CALM, SignalSource::External);
        assert_eq!(ext_ok.action, Action::Buy);
        let sell = decide(
            &[0.8, 0.1, 0.1],
            &[-1, 0, 1],
            &CALM,
            SignalSource::Ensemble,
            &DecisionConfig::default(),
        )
        .unwrap();
        assert_eq!(sell.action, Action::Sell);
        assert!(sell.expected_return < 0.0);
        // Exactly at the threshold acts (>=).
        let at = decide(
            &[0.2, 0.1, 0.7],
            &[-1, 0, 1],
            &CALM,
            SignalSource::Ensemble,
            &DecisionConfig::default(),
        )
        .unwrap();
        assert_eq!(at.action, Action::Buy);
    }

    #[test]
    fn hold_reasons() {
        let flat = d(&[0.0, 0.1, 0.8, 0.1, 0.0], &CALM, SignalSource::Ensemble);
        assert_eq!(flat.hold_reason, Some(HoldReason::NoDirection));
        let risky = RiskInputs {
            vol_forecast: 0.01,
            var99: 0.03,
            cvar99: 0.04,
            corr_to_index: 0.9,
            beta_to_index: 1.2,
            tail_dependence: 0.5,
        };
        assert!(risk_score(&risky) > 6);
        let r = d(&[0.0, 0.0, 0.05, 0.5, 0.45], &risky, SignalSource::Ensemble);
        assert_eq!(
            (r.action, r.hold_reason),
            (Action::Hold, Some(HoldReason::RiskTooHigh))
        );
        // Likely small up, rare large down, at a low bar: negative expectation.
        let cfg = DecisionConfig {
            min_confidence_ensemble: 0.5,
            ..Default::default()
        };
        let against = decide(
            &[0.45, 0.0, 0.0, 0.55, 0.0],
            &FIVE,
            &CALM,
            SignalSource::Ensemble,
            &cfg,
        )
        .unwrap();
        assert_eq!(against.hold_reason, Some(HoldReason::AgainstExpectedReturn));
    }

    #[test]
    fn bad_inputs_are_typed_errors_naming_the_place() {
        let cfg = DecisionConfig::default();
        let e = decide(
            &[0.5, f32::NAN, 0.5],
            &[-1, 0, 1],
            &CALM,
            SignalSource::Ensemble,
            &cfg,
        )
        .unwrap_err();
        assert!(
            matches!(&e, CoreError::InvalidInput { what, .. } if what == "probs[1]"),
            "{e}"
        );
        let e = decide(
            &[0.5, 0.2, 0.5],
            &[-1, 0, 1],
            &CALM,
            SignalSource::Ensemble,
            &cfg,
        )
        .unwrap_err();
        assert!(e.to_string().contains("sum to"), "{e}");
        let e = decide(
            &[0.5, 0.5],
            &[-1, 0, 1],
            &CALM,
            SignalSource::Ensemble,
            &cfg,
        )
        .unwrap_err();
        assert!(matches!(e, CoreError::InvalidInput { .. }));
        let e = decide(&[0.5, 0.5], &[1, 1], &CALM, SignalSource::Ensemble, &cfg).unwrap_err();
        assert!(e.to_string().contains("duplicate"), "{e}");
        let e = decide(&[1.5, -0.5], &[-1, 1], &CALM, SignalSource::Ensemble, &cfg).unwrap_err();
        assert!(e.to_string().contains("probs[0]"), "{e}");
        let bad = DecisionConfig {
            min_confidence_ensemble: f64::NAN,
            max_risk_score: 0,
            horizon_ns: 0,
            ..cfg
        };
        let e = decide(&[0.5, 0.5], &[-1, 1], &CALM, SignalSource::Ensemble, &bad).unwrap_err();
        let msg = e.to_string();
        for field in ["min_confidence_ensemble", "max_risk_score", "horizon_ns"] {
            assert!(msg.contains(field), "{field} missing from {msg}");
        }
        assert!(DecisionConfig::default().validate().is_ok());
    }
}
