//! Sizing and brackets: how many contracts a BUY/SELL decision gets, and the stop-loss and
//! take-profit that travel with every entry (OCO children placed when the entry fills).
//!
//! 1. Bracket. The stop sits `stop_k * vol_forecast * entry` away from the entry, rounded
//!    AWAY from the entry to the tick grid (never inside the distance, never on the entry);
//!    the take-profit sits at least `reward_risk` times the realised stop distance away,
//!    rounded away too. So the bracket's reward:risk is >= the configured one (>= 2:1).
//! 2. Kelly. With win probability `p` (the decision's calibrated confidence, read as the
//!    chance the take-profit is hit before the stop) and net payoff ratio
//!    `b = (reward * mult - 2 fee) / (risk * mult + 2 fee)` per contract, full Kelly is
//!    `f* = p - (1 - p) / b`; we use `kelly = kelly_fraction * f*` (kelly_fraction <= 0.5:
//!    full Kelly is too aggressive when `p` is an estimate). `kelly <= 0` means no bet.
//! 3. Quantity = min(Kelly qty, volatility-target qty, max_qty), where Kelly qty risks
//!    `kelly * equity` on the stop (`floor(kelly * equity / loss_per_contract)`) and the
//!    volatility-target qty keeps the position's forecast P&L standard deviation over the
//!    horizon at most `vol_target * equity`.
//!
//! Prices are fixed-point (1e-9), as everywhere in the core.

use crate::book::PRICE_SCALE;
use crate::decision::{Action, Decision};
use crate::error::{CoreError, Result};
use crate::orders::{Bracket, InstrumentSpec, OrderSide};

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SizingConfig {
    /// Fraction of full Kelly, in (0, 0.5].
    pub kelly_fraction: f64,
    /// Target standard deviation of the position's P&L over the horizon, as a fraction of
    /// equity (0.01 = 1 %).
    pub vol_target: f64,
    /// Stop distance in forecast standard deviations (of the horizon return).
    pub stop_k: f64,
    /// Take-profit distance over stop distance, >= 2.
    pub reward_risk: f64,
    /// Hard cap per entry (the risk gates' max order quantity is a second, separate cap).
    pub max_qty: u32,
}

impl Default for SizingConfig {
    /// Quarter Kelly, 1 % vol target, stop at 2 sigma, 2:1 reward:risk, at most 10 lots.
    fn default() -> Self {
        SizingConfig {
            kelly_fraction: 0.25,
            vol_target: 0.01,
            stop_k: 2.0,
            reward_risk: 2.0,
            max_qty: 10,
        }
    }
}

impl SizingConfig {
    /// Every bad field at once, in one `CoreError::Config`.
    pub fn validate(&self) -> Result<()> {
        let mut bad = Vec::new();
        if !(self.kelly_fraction > 0.0 && self.kelly_fraction <= 0.5) {
            bad.push(format!(
                "kelly_fraction = {} must be in (0, 0.5] (at most half Kelly)",
                self.kelly_fraction
            ));
        }
        for (name, v) in [("vol_target", self.vol_target), ("stop_k", self.stop_k)] {
            if !(v.is_finite() && v > 0.0) {
                bad.push(format!("{name} = {v} must be finite and > 0"));
            }
        }
        if !(self.reward_risk.is_finite() && self.reward_risk >= 2.0) {
            bad.push(format!(
                "reward_risk = {} must be finite and >= 2",
                self.reward_risk
            ));
        }
        if self.max_qty == 0 {
            bad.push("max_qty = 0 must be >= 1".to_string());
        }
        if bad.is_empty() {
            Ok(())
        } else {
            Err(CoreError::Config(format!(
                "SizingConfig: {}",
                bad.join("; ")
            )))
        }
    }
}

/// A sized entry: quantity, its bracket, and the Kelly fraction of equity applied.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sized {
    pub qty: u32,
    pub bracket: Bracket,
    pub kelly: f64,
}

#[inline]
fn floor_tick(x: i64, tick: i64) -> i64 {
    x.div_euclid(tick) * tick
}

#[inline]
fn ceil_tick(x: i64, tick: i64) -> Option<i64> {
    let f = floor_tick(x, tick);
    if f == x {
        Some(x)
    } else {
        f.checked_add(tick)
    }
}

fn overflow() -> CoreError {
    CoreError::invalid(
        "entry_price",
        "bracket prices overflow the fixed-point range",
    )
}

/// The bracket for an entry at `entry_price`: stop at least `stop_dist` (fixed-point, > 0)
/// away, take-profit at least `reward_risk` times the realised stop distance away, both on
/// the tick grid and on the correct sides.
pub fn bracket(
    side: OrderSide,
    entry_price: i64,
    stop_dist: f64,
    reward_risk: f64,
    tick: i64,
) -> Result<Bracket> {
    if tick <= 0 {
        return Err(CoreError::invalid(
            "spec.tick_size",
            format!("{tick} must be > 0"),
        ));
    }
    if !(stop_dist.is_finite() && stop_dist > 0.0) {
        return Err(CoreError::invalid(
            "stop distance",
            format!("{stop_dist} must be finite and > 0"),
        ));
    }
    let ticks = (stop_dist / tick as f64).ceil().max(1.0);
    if ticks > (i64::MAX / tick) as f64 {
        return Err(overflow());
    }
    let dist = ticks as i64 * tick;
    let (stop, risk) = match side {
        OrderSide::Buy => {
            let s = floor_tick(entry_price.checked_sub(dist).ok_or_else(overflow)?, tick);
            (s, entry_price - s)
        }
        OrderSide::Sell => {
            let s = ceil_tick(entry_price.checked_add(dist).ok_or_else(overflow)?, tick)
                .ok_or_else(overflow)?;
            (s, s - entry_price)
        }
    };
    let reward = (reward_risk * risk as f64).ceil();
    if reward >= i64::MAX as f64 {
        return Err(overflow());
    }
    let reward = reward as i64;
    let take_profit = match side {
        OrderSide::Buy => ceil_tick(entry_price.checked_add(reward).ok_or_else(overflow)?, tick)
            .ok_or_else(overflow)?,
        OrderSide::Sell => floor_tick(entry_price.checked_sub(reward).ok_or_else(overflow)?, tick),
    };
    Ok(Bracket {
        stop_loss: stop,
        take_profit,
    })
}

/// Sizes a decision. `Ok(None)` for a HOLD, for `kelly <= 0`, for equity <= 0, or when the
/// quantity rounds to 0. Typed errors name the bad argument (zero tick size, non-finite
/// volatility, confidence outside [0, 1], non-positive entry price, invalid config).
pub fn size(
    d: &Decision,
    entry_price: i64,
    equity: f64,
    spec: &InstrumentSpec,
    cfg: &SizingConfig,
) -> Result<Option<Sized>> {
    // NaN/negative products are caught by `bracket` after the inputs are validated.
    let stop_dist = cfg.stop_k * d.vol_forecast * entry_price as f64;
    size_with_stop_distance(d, entry_price, equity, spec, cfg, stop_dist)
}

/// [`size`] with the stop distance (fixed-point, > 0) chosen by the caller, e.g. `k x ATR`
/// instead of `stop_k x vol_forecast x entry`; `cfg.stop_k` is not used. The volatility
/// target still uses the decision's `vol_forecast`.
pub fn size_with_stop_distance(
    d: &Decision,
    entry_price: i64,
    equity: f64,
    spec: &InstrumentSpec,
    cfg: &SizingConfig,
    stop_dist: f64,
) -> Result<Option<Sized>> {
    cfg.validate()?;
    let side = match d.action {
        Action::Buy => OrderSide::Buy,
        Action::Sell => OrderSide::Sell,
        Action::Hold => return Ok(None),
    };
    if spec.tick_size <= 0 {
        return Err(CoreError::invalid(
            "spec.tick_size",
            format!(
                "{} must be > 0 (instrument {})",
                spec.tick_size, spec.instrument_id
            ),
        ));
    }
    if !(spec.multiplier.is_finite() && spec.multiplier > 0.0) {
        return Err(CoreError::invalid(
            "spec.multiplier",
            format!(
                "{} must be finite and > 0 (instrument {})",
                spec.multiplier, spec.instrument_id
            ),
        ));
    }
    if !(spec.fee_per_contract.is_finite() && spec.fee_per_contract >= 0.0) {
        return Err(CoreError::invalid(
            "spec.fee_per_contract",
            format!("{} must be finite and >= 0", spec.fee_per_contract),
        ));
    }
    if !(d.confidence.is_finite() && (0.0..=1.0).contains(&d.confidence)) {
        return Err(CoreError::invalid(
            "decision.confidence",
            format!("{} is not a probability", d.confidence),
        ));
    }
    if !(d.vol_forecast.is_finite() && d.vol_forecast > 0.0) {
        return Err(CoreError::invalid(
            "decision.vol_forecast",
            format!("{} must be finite and > 0", d.vol_forecast),
        ));
    }
    if entry_price <= 0 {
        return Err(CoreError::invalid(
            "entry_price",
            format!("{entry_price} must be > 0"),
        ));
    }
    if !equity.is_finite() {
        return Err(CoreError::invalid(
            "equity",
            format!("{equity} is not finite"),
        ));
    }
    if equity <= 0.0 {
        return Ok(None);
    }
    let entry = entry_price as f64;
    let br = bracket(
        side,
        entry_price,
        stop_dist,
        cfg.reward_risk,
        spec.tick_size,
    )?;
    let scale = PRICE_SCALE as f64;
    let risk_pts = (br.stop_loss - entry_price).unsigned_abs() as f64 / scale;
    let reward_pts = (br.take_profit - entry_price).unsigned_abs() as f64 / scale;
    let round_trip_fee = 2.0 * spec.fee_per_contract;
    let loss_per_contract = risk_pts * spec.multiplier + round_trip_fee;
    let win_per_contract = reward_pts * spec.multiplier - round_trip_fee;
    if win_per_contract <= 0.0 {
        return Ok(None);
    }
    let b = win_per_contract / loss_per_contract;
    let p = d.confidence;
    let kelly = cfg.kelly_fraction * (p - (1.0 - p) / b);
    if kelly <= 0.0 {
        return Ok(None);
    }
    let qty_kelly = (kelly * equity / loss_per_contract).floor();
    let pnl_sd_per_contract = d.vol_forecast * entry / scale * spec.multiplier;
    let qty_vol = (cfg.vol_target * equity / pnl_sd_per_contract).floor();
    let qty = qty_kelly.min(qty_vol).min(cfg.max_qty as f64);
    if qty < 1.0 {
        return Ok(None);
    }
    Ok(Some(Sized {
        qty: qty as u32,
        bracket: br,
        kelly,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orders::SignalSource;

    const P: i64 = PRICE_SCALE;
    /// ES: quarter-point tick, $50 a point, $2 a side.
    const ES: InstrumentSpec = InstrumentSpec {
        instrument_id: 1,
        tick_size: P / 4,
        multiplier: 50.0,
        fee_per_contract: 2.0,
    };

    fn dec(action: Action, confidence: f64, vol: f64) -> Decision {
        Decision {
            action,
            confidence,
            expected_return: 0.0,
            risk_score: 3,
            horizon_ns: 1,
            source: SignalSource::Ensemble,
            hold_reason: None,
            vol_forecast: vol,
        }
    }

    #[test]
    fn bracket_hand_computed_buy_and_sell() {
        // entry 5000.00, vol 0.001, k 2 -> 10.0 points = 40 ticks exactly.
        let cfg = SizingConfig::default();
        let s = size(&dec(Action::Buy, 0.8, 0.001), 5000 * P, 1e6, &ES, &cfg)
            .unwrap()
            .unwrap();
        assert_eq!(s.bracket.stop_loss, 4990 * P);
        assert_eq!(s.bracket.take_profit, 5020 * P);
        // b = (20*50 - 4) / (10*50 + 4) = 996/504; f* = 0.8 - 0.2/b; kelly = f*/4
        let b = 996.0 / 504.0;
        let k = 0.25 * (0.8 - 0.2 / b);
        assert!((s.kelly - k).abs() < 1e-12);
        // Kelly qty floor(k*1e6/504) = 348; vol qty floor(0.01*1e6/(0.001*5000*50)) = 40;
        // max_qty 10 caps.
        assert_eq!(s.qty, 10);
        let sell = size(&dec(Action::Sell, 0.8, 0.001), 5000 * P, 1e6, &ES, &cfg)
            .unwrap()
            .unwrap();
        assert_eq!(sell.bracket.stop_loss, 5010 * P);
        assert_eq!(sell.bracket.take_profit, 4980 * P);
    }

    #[test]
    fn vol_target_and_kelly_bind() {
        let cfg = SizingConfig {
            max_qty: 1000,
            ..Default::default()
        };
        // vol qty = floor(0.01 * 1e5 / 250) = 4; Kelly qty = floor(k*1e5/504) = 34.
        let s = size(&dec(Action::Buy, 0.8, 0.001), 5000 * P, 1e5, &ES, &cfg)
            .unwrap()
            .unwrap();
        assert_eq!(s.qty, 4);
        // A small edge: p = 0.36 with b ~ 1.976: f* = 0.36 - 0.64/1.976 = 0.0361;
        // kelly = 0.00903; Kelly qty = floor(0.00903*1e5/504) = 1 < vol qty 4.
        let s = size(&dec(Action::Buy, 0.36, 0.001), 5000 * P, 1e5, &ES, &cfg)
            .unwrap()
            .unwrap();
        assert_eq!(s.qty, 1);
        // No edge: p = 1/3 with b < 2 -> f* < 0 -> None.
        assert_eq!(
            size(&dec(Action::Buy, 0.33, 0.001), 5000 * P, 1e5, &ES, &cfg).unwrap(),
            None
        );
        // Rounds to 0.
        assert_eq!(
            size(&dec(Action::Buy, 0.8, 0.001), 5000 * P, 100.0, &ES, &cfg).unwrap(),
            None
        );
        assert_eq!(
            size(&dec(Action::Hold, 0.9, 0.001), 5000 * P, 1e6, &ES, &cfg).unwrap(),
            None
        );
        assert_eq!(
            size(&dec(Action::Buy, 0.9, 0.001), 5000 * P, -5.0, &ES, &cfg).unwrap(),
            None
        );
    }

    #[test]
    fn off_grid_entry_rounds_away_and_keeps_reward_risk() {
        let tick = P / 4;
        for entry in [5000 * P + 1, 5000 * P + P / 8, 5000 * P + tick - 1] {
            for side in [OrderSide::Buy, OrderSide::Sell] {
                let b = bracket(side, entry, 3.3 * P as f64, 2.0, tick).unwrap();
                assert_eq!(b.stop_loss % tick, 0);
                assert_eq!(b.take_profit % tick, 0);
                let risk = (entry - b.stop_loss) * side.sign();
                let reward = (b.take_profit - entry) * side.sign();
                assert!(risk as f64 >= 3.3 * P as f64, "stop inside: {risk}");
                assert!(reward >= 2 * risk, "reward {reward} < 2 x risk {risk}");
            }
        }
        // A tiny distance still gets one full tick.
        let b = bracket(OrderSide::Buy, 5000 * P, 1.0, 2.0, tick).unwrap();
        assert_eq!(b.stop_loss, 5000 * P - tick);
        assert_eq!(b.take_profit, 5000 * P + 2 * tick);
    }

    #[test]
    fn caller_chosen_stop_distance() {
        // An ATR of 6 points x k 1.5 = 9 points = 36 ticks: stop 4991, take-profit 5018.
        let cfg = SizingConfig::default();
        let d = dec(Action::Buy, 0.8, 0.001);
        let s = size_with_stop_distance(&d, 5000 * P, 1e6, &ES, &cfg, 9.0 * P as f64)
            .unwrap()
            .unwrap();
        assert_eq!(
            (s.bracket.stop_loss, s.bracket.take_profit),
            (4991 * P, 5018 * P)
        );
        let e = size_with_stop_distance(&d, 5000 * P, 1e6, &ES, &cfg, f64::NAN).unwrap_err();
        assert!(e.to_string().contains("stop distance"), "{e}");
    }

    #[test]
    fn typed_errors() {
        let cfg = SizingConfig::default();
        let d = dec(Action::Buy, 0.8, 0.001);
        let zero_tick = InstrumentSpec { tick_size: 0, ..ES };
        let e = size(&d, 5000 * P, 1e6, &zero_tick, &cfg).unwrap_err();
        assert!(matches!(&e, CoreError::InvalidInput { what, .. } if what == "spec.tick_size"));
        let e = size(&dec(Action::Buy, f64::NAN, 0.001), 5000 * P, 1e6, &ES, &cfg).unwrap_err();
        assert!(e.to_string().contains("decision.confidence"), "{e}");
        let e = size(&dec(Action::Buy, 0.8, f64::NAN), 5000 * P, 1e6, &ES, &cfg).unwrap_err();
        assert!(e.to_string().contains("decision.vol_forecast"), "{e}");
        let e = size(&d, 0, 1e6, &ES, &cfg).unwrap_err();
        assert!(e.to_string().contains("entry_price"), "{e}");
        let e = size(&d, 5000 * P, f64::INFINITY, &ES, &cfg).unwrap_err();
        assert!(e.to_string().contains("equity"), "{e}");
        let e = size(&d, i64::MAX - 5, 1e6, &ES, &cfg).unwrap_err();
        assert!(e.to_string().contains("overflow"), "{e}");
        let bad = SizingConfig {
            kelly_fraction: 0.6,
            reward_risk: 1.5,
            max_qty: 0,
            stop_k: f64::NAN,
            vol_target: 0.01,
        };
        let msg = size(&d, 5000 * P, 1e6, &ES, &bad).unwrap_err().to_string();
        for f in ["kelly_fraction", "reward_risk", "max_qty", "stop_k"] {
            assert!(msg.contains(f), "{f} missing in {msg}");
        }
        assert!(SizingConfig::default().validate().is_ok());
    }
}
