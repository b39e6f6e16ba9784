//! Pre-trade risk gates: every order intent passes [`RiskEngine::check`] before it reaches a
//! venue (simulated or broker). A denial is a value with a [`ReasonCode`] and a detail, and
//! is counted per reason for telemetry. Cancels always pass: taking risk off must never be
//! blocked by a risk check.
//!
//! Modelled on NautilusTrader's RiskEngine (trading states ACTIVE / REDUCING / HALTED,
//! SCREAMING_SNAKE reason strings, order throttles); the code is our own.
//!
//! Gate order (the first violated gate is the reason; a single order may violate several):
//! invalid intent; daily loss and drawdown (these also move the state to HALTED); trading
//! state; reduce-only; order quantity; stale / untrusted / crossed book; price band (and a
//! reference price at all); per-order notional; confidence and risk score; position; gross
//! exposure; daily traded notional; correlation screen; rate throttles (last, so only orders
//! that pass everything else spend a token).
//!
//! Conventions: prices are fixed-point (1e-9), money is account currency, times are event
//! nanoseconds. "Reduces" means: the instrument's position is non-zero, the order is on the
//! opposite side, and its quantity is at most the absolute position (so it cannot flip).
//! `RiskContext::working_qty` is the signed quantity of our working orders that can add
//! exposure on the intent's instrument (entries; bracket children only ever reduce and are
//! excluded); for a Modify it must exclude the order being modified, whose new quantity is
//! `intent.qty`. The accept path allocates nothing; only a denial formats its detail.

use crate::book::PRICE_SCALE;
use crate::decision::meets_confidence;
use crate::error::{CoreError, Result};
use crate::orders::{InstrumentId, IntentAction, OrderIntent, OrderSide, OrderType, SignalSource};

/// ACTIVE trades normally; REDUCING accepts only orders that reduce a position; HALTED
/// accepts nothing but cancels (the kill switch, and where a loss breach lands).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TradingState {
    Active,
    Reducing,
    Halted,
}

impl TradingState {
    pub fn as_str(self) -> &'static str {
        match self {
            TradingState::Active => "ACTIVE",
            TradingState::Reducing => "REDUCING",
            TradingState::Halted => "HALTED",
        }
    }

    pub fn parse(s: &str) -> Option<TradingState> {
        match s {
            "ACTIVE" => Some(TradingState::Active),
            "REDUCING" => Some(TradingState::Reducing),
            "HALTED" => Some(TradingState::Halted),
            _ => None,
        }
    }
}

/// Why an order was denied. The discriminant indexes [`DenialCounts`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum ReasonCode {
    TradingHalted,
    TradingReducing,
    MaxOrderQty,
    MaxPosition,
    MaxTotalPosition,
    MaxGrossExposure,
    MaxNotional,
    MaxDailyExposure,
    DailyLossLimit,
    DrawdownBreaker,
    SubmitRateLimit,
    ModifyRateLimit,
    PriceBand,
    StaleMarketData,
    BookUntrusted,
    BookCrossed,
    MinConfidence,
    MaxRiskScore,
    CorrelatedExposure,
    ReduceOnly,
    InvalidIntent,
}

impl ReasonCode {
    pub const COUNT: usize = 21;
    pub const ALL: [ReasonCode; ReasonCode::COUNT] = [
        ReasonCode::TradingHalted,
        ReasonCode::TradingReducing,
        ReasonCode::MaxOrderQty,
        ReasonCode::MaxPosition,
        ReasonCode::MaxTotalPosition,
        ReasonCode::MaxGrossExposure,
        ReasonCode::MaxNotional,
        ReasonCode::MaxDailyExposure,
        ReasonCode::DailyLossLimit,
        ReasonCode::DrawdownBreaker,
        ReasonCode::SubmitRateLimit,
        ReasonCode::ModifyRateLimit,
        ReasonCode::PriceBand,
        ReasonCode::StaleMarketData,
        ReasonCode::BookUntrusted,
        ReasonCode::BookCrossed,
        ReasonCode::MinConfidence,
        ReasonCode::MaxRiskScore,
        ReasonCode::CorrelatedExposure,
        ReasonCode::ReduceOnly,
        ReasonCode::InvalidIntent,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReasonCode::TradingHalted => "TRADING_HALTED",
            ReasonCode::TradingReducing => "TRADING_REDUCING",
            ReasonCode::MaxOrderQty => "MAX_ORDER_QTY",
            ReasonCode::MaxPosition => "MAX_POSITION",
            ReasonCode::MaxTotalPosition => "MAX_TOTAL_POSITION",
            ReasonCode::MaxGrossExposure => "MAX_GROSS_EXPOSURE",
            ReasonCode::MaxNotional => "MAX_NOTIONAL",
            ReasonCode::MaxDailyExposure => "MAX_DAILY_EXPOSURE",
            ReasonCode::DailyLossLimit => "DAILY_LOSS_LIMIT",
            ReasonCode::DrawdownBreaker => "DRAWDOWN_BREAKER",
            ReasonCode::SubmitRateLimit => "SUBMIT_RATE_LIMIT",
            ReasonCode::ModifyRateLimit => "MODIFY_RATE_LIMIT",
            ReasonCode::PriceBand => "PRICE_BAND",
            ReasonCode::StaleMarketData => "STALE_MARKET_DATA",
            ReasonCode::BookUntrusted => "BOOK_UNTRUSTED",
            ReasonCode::BookCrossed => "BOOK_CROSSED",
            ReasonCode::MinConfidence => "MIN_CONFIDENCE",
            ReasonCode::MaxRiskScore => "MAX_RISK_SCORE",
            ReasonCode::CorrelatedExposure => "CORRELATED_EXPOSURE",
            ReasonCode::ReduceOnly => "REDUCE_ONLY",
            ReasonCode::InvalidIntent => "INVALID_INTENT",
        }
    }

    pub fn parse(s: &str) -> Option<ReasonCode> {
        ReasonCode::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// Every limit the gates enforce. Money limits may be `f64::INFINITY` (no limit); none may be
/// NaN. [`RiskLimits::default`] holds the documented defaults (`configs/risk/default.toml`).
///
/// The one definition of the `[risk]` table: a serde structure that refuses unknown keys and
/// fills every key left out with its default. [`RiskLimits::with_table`] reads a table (the
/// TOML as Python parsed it) on top of any limits and reports every bad key and value at
/// once; money limits take a number or `"inf"` (no limit).
#[derive(Clone, Copy, Debug, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RiskLimits {
    /// Contracts per order.
    pub max_order_qty: u32,
    /// Absolute net contracts per instrument, counting working entries (an instrument may
    /// have its own, [`RiskEngine::set_position_limit`]).
    pub max_position: u32,
    /// Portfolio: sum over instruments of absolute net contracts after the order (the
    /// intent's instrument with its working entries).
    pub max_total_position: u32,
    /// Sum over instruments of |position| x price x multiplier, after the order.
    #[serde(deserialize_with = "money")]
    pub max_gross_exposure: f64,
    /// qty x price x multiplier of one order.
    #[serde(deserialize_with = "money")]
    pub max_notional_per_order: f64,
    /// Notional traded today plus this order (reduce-only orders exempt).
    #[serde(deserialize_with = "money")]
    pub max_daily_exposure: f64,
    /// Positive amount; realized + unrealized P&L at or below its negative halts trading.
    #[serde(deserialize_with = "money")]
    pub daily_loss_limit: f64,
    /// Fraction of the equity peak; a drawdown at or beyond it halts trading.
    pub max_drawdown: f64,
    pub submit_rate_per_sec: u32,
    pub submit_burst: u32,
    pub modify_rate_per_sec: u32,
    pub modify_burst: u32,
    /// Limit / stop price distance from the reference (mid, else last trade), basis points.
    pub price_band_bps: u32,
    /// Market data older than this (event time) is stale.
    pub max_data_age_ns: u64,
    pub min_confidence_ensemble: f64,
    pub min_confidence_external: f64,
    pub max_risk_score: u8,
    /// Deny adding exposure whose direction-adjusted correlation with an existing position
    /// exceeds this.
    pub max_correlation: f64,
}

impl Default for RiskLimits {
    fn default() -> Self {
        RiskLimits {
            max_order_qty: 10,
            max_position: 20,
            max_total_position: 100,
            // 10 lots of NQ (~21000 x 20) is ~4.2 M: the sizing default (max_qty 10) must fit.
            max_gross_exposure: 10_000_000.0,
            max_notional_per_order: 5_000_000.0,
            max_daily_exposure: 50_000_000.0,
            daily_loss_limit: 10_000.0,
            max_drawdown: 0.10,
            submit_rate_per_sec: 10,
            submit_burst: 20,
            modify_rate_per_sec: 20,
            modify_burst: 40,
            price_band_bps: 100,
            max_data_age_ns: 2_000_000_000,
            min_confidence_ensemble: 0.7,
            min_confidence_external: 0.87,
            max_risk_score: 6,
            max_correlation: 0.8,
        }
    }
}

impl RiskLimits {
    /// The field names, which are also the keys of [`RiskLimits::from_pairs`] and the TOML.
    pub const KEYS: [&'static str; 18] = [
        "max_order_qty",
        "max_position",
        "max_total_position",
        "max_gross_exposure",
        "max_notional_per_order",
        "max_daily_exposure",
        "daily_loss_limit",
        "max_drawdown",
        "submit_rate_per_sec",
        "submit_burst",
        "modify_rate_per_sec",
        "modify_burst",
        "price_band_bps",
        "max_data_age_ns",
        "min_confidence_ensemble",
        "min_confidence_external",
        "max_risk_score",
        "max_correlation",
    ];

    /// Defaults overridden by `(key, value)` pairs. Unknown keys, non-integral values for
    /// integer fields and every invalid value are reported together in one
    /// `CoreError::Config`.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, f64)>) -> Result<Self> {
        let mut l = RiskLimits::default();
        let mut bad = Vec::new();
        for (k, v) in pairs {
            if let Err(e) = l.set(k, v) {
                bad.push(e);
            }
        }
        if let Err(CoreError::Config(msg)) = l.validate() {
            if bad.is_empty() {
                return Err(CoreError::Config(msg));
            }
            bad.push(msg.trim_start_matches("RiskLimits: ").to_string());
        }
        if bad.is_empty() {
            Ok(l)
        } else {
            Err(CoreError::Config(format!("RiskLimits: {}", bad.join("; "))))
        }
    }

    /// Keys of whole-number limits (an integral float is accepted for them: Python's view of
    /// the limits is all floats).
    const WHOLE: [&'static str; 10] = [
        "max_risk_score",
        "max_order_qty",
        "max_position",
        "max_total_position",
        "submit_rate_per_sec",
        "submit_burst",
        "modify_rate_per_sec",
        "modify_burst",
        "price_band_bps",
        "max_data_age_ns",
    ];

    /// These limits overridden by the keys of `table` (any subset; a `[risk]` TOML table as
    /// JSON values). Every unknown key, value of the wrong type and out-of-range value is
    /// reported together in one `CoreError::Config` naming each key; the result passed
    /// [`RiskLimits::validate`].
    pub fn with_table(&self, table: &serde_json::Map<String, serde_json::Value>) -> Result<Self> {
        use serde_json::Value;
        let mut out = *self;
        let mut bad = Vec::new();
        for (k, v) in table {
            if !RiskLimits::KEYS.contains(&k.as_str()) {
                bad.push(format!(
                    "unknown key {k:?} (known: {})",
                    RiskLimits::KEYS.join(", ")
                ));
                continue;
            }
            // Type check by serde itself: the one-key table on top of the defaults.
            let v = match v {
                Value::Number(n)
                    if RiskLimits::WHOLE.contains(&k.as_str())
                        && n.as_f64().is_some_and(|x| x.fract() == 0.0 && x >= 0.0)
                        && !n.is_u64() =>
                {
                    Value::from(n.as_f64().unwrap_or(0.0) as u64)
                }
                _ => v.clone(),
            };
            let mut one = serde_json::Map::new();
            one.insert(k.clone(), v.clone());
            match serde_json::from_value::<RiskLimits>(Value::Object(one)) {
                Ok(parsed) => {
                    let x = parsed
                        .to_pairs()
                        .into_iter()
                        .find(|(n, _)| n == k)
                        .map_or(f64::NAN, |(_, x)| x);
                    if let Err(e) = out.set(k, x) {
                        bad.push(e);
                    }
                }
                Err(e) => bad.push(format!("{k} = {v}: {e}")),
            }
        }
        if let Err(CoreError::Config(msg)) = out.validate() {
            bad.push(msg.trim_start_matches("RiskLimits: ").to_string());
        }
        if bad.is_empty() {
            Ok(out)
        } else {
            Err(CoreError::Config(format!("RiskLimits: {}", bad.join("; "))))
        }
    }

    /// `(key, value)` for every field, in [`RiskLimits::KEYS`] order.
    pub fn to_pairs(&self) -> [(&'static str, f64); 18] {
        [
            ("max_order_qty", self.max_order_qty as f64),
            ("max_position", self.max_position as f64),
            ("max_total_position", self.max_total_position as f64),
            ("max_gross_exposure", self.max_gross_exposure),
            ("max_notional_per_order", self.max_notional_per_order),
            ("max_daily_exposure", self.max_daily_exposure),
            ("daily_loss_limit", self.daily_loss_limit),
            ("max_drawdown", self.max_drawdown),
            ("submit_rate_per_sec", self.submit_rate_per_sec as f64),
            ("submit_burst", self.submit_burst as f64),
            ("modify_rate_per_sec", self.modify_rate_per_sec as f64),
            ("modify_burst", self.modify_burst as f64),
            ("price_band_bps", self.price_band_bps as f64),
            ("max_data_age_ns", self.max_data_age_ns as f64),
            ("min_confidence_ensemble", self.min_confidence_ensemble),
            ("min_confidence_external", self.min_confidence_external),
            ("max_risk_score", self.max_risk_score as f64),
            ("max_correlation", self.max_correlation),
        ]
    }

    fn set(&mut self, key: &str, v: f64) -> std::result::Result<(), String> {
        fn int(key: &str, v: f64, max: f64) -> std::result::Result<f64, String> {
            if v.is_finite() && v.fract() == 0.0 && (0.0..=max).contains(&v) {
                Ok(v)
            } else {
                Err(format!("{key} = {v} must be a whole number in 0..={max}"))
            }
        }
        let u32max = u32::MAX as f64;
        match key {
            "max_order_qty" => self.max_order_qty = int(key, v, u32max)? as u32,
            "max_position" => self.max_position = int(key, v, u32max)? as u32,
            "max_total_position" => self.max_total_position = int(key, v, u32max)? as u32,
            "max_gross_exposure" => self.max_gross_exposure = v,
            "max_notional_per_order" => self.max_notional_per_order = v,
            "max_daily_exposure" => self.max_daily_exposure = v,
            "daily_loss_limit" => self.daily_loss_limit = v,
            "max_drawdown" => self.max_drawdown = v,
            "submit_rate_per_sec" => self.submit_rate_per_sec = int(key, v, u32max)? as u32,
            "submit_burst" => self.submit_burst = int(key, v, u32max)? as u32,
            "modify_rate_per_sec" => self.modify_rate_per_sec = int(key, v, u32max)? as u32,
            "modify_burst" => self.modify_burst = int(key, v, u32max)? as u32,
            "price_band_bps" => self.price_band_bps = int(key, v, u32max)? as u32,
            // 2^53: the largest whole number an f64 carries exactly (104 days in ns).
            "max_data_age_ns" => {
                self.max_data_age_ns = int(key, v, 9_007_199_254_740_992.0)? as u64
            }
            "min_confidence_ensemble" => self.min_confidence_ensemble = v,
            "min_confidence_external" => self.min_confidence_external = v,
            "max_risk_score" => self.max_risk_score = int(key, v, 255.0)? as u8,
            "max_correlation" => self.max_correlation = v,
            _ => {
                return Err(format!(
                    "unknown key {key:?} (known: {})",
                    RiskLimits::KEYS.join(", ")
                ))
            }
        }
        Ok(())
    }

    /// Every invalid field at once, in one `CoreError::Config`.
    pub fn validate(&self) -> Result<()> {
        let mut bad = Vec::new();
        for (name, v) in [
            ("max_order_qty", self.max_order_qty),
            ("max_position", self.max_position),
            ("max_total_position", self.max_total_position),
            ("submit_rate_per_sec", self.submit_rate_per_sec),
            ("submit_burst", self.submit_burst),
            ("modify_rate_per_sec", self.modify_rate_per_sec),
            ("modify_burst", self.modify_burst),
            ("price_band_bps", self.price_band_bps),
        ] {
            if v == 0 {
                bad.push(format!("{name} = 0 must be >= 1"));
            }
        }
        for (name, v) in [
            ("max_gross_exposure", self.max_gross_exposure),
            ("max_notional_per_order", self.max_notional_per_order),
            ("max_daily_exposure", self.max_daily_exposure),
            ("daily_loss_limit", self.daily_loss_limit),
        ] {
            // NaN is rejected explicitly; +inf means "no limit".
            if v.is_nan() || v <= 0.0 {
                bad.push(format!("{name} = {v} must be > 0 (inf for no limit)"));
            }
        }
        if !(self.max_drawdown > 0.0 && self.max_drawdown <= 1.0) {
            bad.push(format!(
                "max_drawdown = {} must be a fraction in (0, 1]",
                self.max_drawdown
            ));
        }
        if self.max_data_age_ns == 0 {
            bad.push("max_data_age_ns = 0 must be >= 1".to_string());
        }
        for (name, v) in [
            ("min_confidence_ensemble", self.min_confidence_ensemble),
            ("min_confidence_external", self.min_confidence_external),
        ] {
            if !(0.0..=1.0).contains(&v) {
                bad.push(format!("{name} = {v} must be in [0, 1]"));
            }
        }
        if !(1..=10).contains(&self.max_risk_score) {
            bad.push(format!(
                "max_risk_score = {} must be in 1..=10",
                self.max_risk_score
            ));
        }
        if !(self.max_correlation > 0.0 && self.max_correlation <= 1.0) {
            bad.push(format!(
                "max_correlation = {} must be in (0, 1]",
                self.max_correlation
            ));
        }
        if bad.is_empty() {
            Ok(())
        } else {
            Err(CoreError::Config(format!("RiskLimits: {}", bad.join("; "))))
        }
    }

    pub fn min_confidence(&self, source: SignalSource) -> f64 {
        match source {
            SignalSource::Ensemble => self.min_confidence_ensemble,
            SignalSource::External => self.min_confidence_external,
        }
    }
}

/// A money limit: a number, or `"inf"` for no limit (JSON has no infinity).
fn money<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<f64, D::Error> {
    struct V;
    impl serde::de::Visitor<'_> for V {
        type Value = f64;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an amount (a number, or \"inf\" for no limit)")
        }
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> std::result::Result<f64, E> {
            Ok(v)
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> std::result::Result<f64, E> {
            Ok(v as f64)
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> std::result::Result<f64, E> {
            Ok(v as f64)
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<f64, E> {
            match v.to_ascii_lowercase().as_str() {
                "inf" | "+inf" | "infinity" => Ok(f64::INFINITY),
                _ => Err(E::invalid_value(serde::de::Unexpected::Str(v), &self)),
            }
        }
    }
    d.deserialize_any(V)
}

/// The intent's instrument's market at check time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MarketState {
    pub instrument_id: InstrumentId,
    pub mid: Option<i64>,
    pub last_trade: Option<i64>,
    /// Event time of the last book update.
    pub last_update_ns: u64,
    /// The book's integrity flags say it can be trusted (no gap, not mid-snapshot).
    pub book_trusted: bool,
    pub crossed: bool,
}

/// One instrument's position. The intent's instrument must have an entry (qty may be 0): it
/// carries the multiplier the notional checks need.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PositionState {
    pub instrument_id: InstrumentId,
    /// Signed net contracts.
    pub qty: i64,
    /// Mark price, fixed-point.
    pub mark: i64,
    pub multiplier: f64,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AccountState {
    pub equity: f64,
    pub equity_peak: f64,
    pub realized_pnl_today: f64,
    pub unrealized_pnl: f64,
    pub traded_notional_today: f64,
}

/// Pairwise return correlations between instruments (from the copula/correlation model).
#[derive(Clone, Debug, PartialEq)]
pub struct CorrelationMatrix {
    ids: Vec<InstrumentId>,
    values: Vec<f64>,
}

impl CorrelationMatrix {
    /// `values` is row-major `ids.len()` x `ids.len()`, finite, in [-1, 1], symmetric.
    pub fn new(ids: Vec<InstrumentId>, values: Vec<f64>) -> Result<Self> {
        let n = ids.len();
        if values.len() != n * n {
            return Err(CoreError::invalid(
                "correlations.values",
                format!("{} values for {n} ids (need {})", values.len(), n * n),
            ));
        }
        for (i, id) in ids.iter().enumerate() {
            if ids[..i].contains(id) {
                return Err(CoreError::invalid(
                    format!("correlations.ids[{i}]"),
                    format!("duplicate instrument id {id}"),
                ));
            }
        }
        for i in 0..n {
            for j in 0..n {
                let v = values[i * n + j];
                if !(-1.0..=1.0).contains(&v) {
                    return Err(CoreError::invalid(
                        format!("correlations.values[{i}][{j}]"),
                        format!("{v} is not a correlation in [-1, 1]"),
                    ));
                }
                if (v - values[j * n + i]).abs() > 1e-9 {
                    return Err(CoreError::invalid(
                        format!("correlations.values[{i}][{j}]"),
                        format!("{v} differs from [{j}][{i}] = {}", values[j * n + i]),
                    ));
                }
            }
        }
        Ok(CorrelationMatrix { ids, values })
    }

    pub fn ids(&self) -> &[InstrumentId] {
        &self.ids
    }

    /// Sets the correlation of the `i`-th and `j`-th ids (both halves; the caller keeps it
    /// in [-1, 1]).
    pub(crate) fn set(&mut self, i: usize, j: usize, v: f64) {
        let n = self.ids.len();
        self.values[i * n + j] = v;
        self.values[j * n + i] = v;
    }

    /// Correlation of `a` and `b`, `None` when either is unknown.
    #[inline]
    pub fn get(&self, a: InstrumentId, b: InstrumentId) -> Option<f64> {
        let i = self.ids.iter().position(|&x| x == a)?;
        let j = self.ids.iter().position(|&x| x == b)?;
        Some(self.values[i * self.ids.len() + j])
    }
}

/// Everything a check reads besides the intent; borrowed, so building one costs nothing.
#[derive(Clone, Copy, Debug)]
pub struct RiskContext<'a> {
    pub now_ns: u64,
    pub market: &'a MarketState,
    pub positions: &'a [PositionState],
    pub account: &'a AccountState,
    /// See the module docs: signed working entry quantity on the intent's instrument.
    pub working_qty: i64,
    pub correlations: Option<&'a CorrelationMatrix>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Denial {
    pub reason: ReasonCode,
    pub detail: String,
}

/// Denials per reason since the engine was built.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DenialCounts {
    counts: [u64; ReasonCode::COUNT],
}

impl DenialCounts {
    pub fn get(&self, r: ReasonCode) -> u64 {
        self.counts[r as usize]
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// `(reason, count)` for every reason, zeros included, in [`ReasonCode::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (ReasonCode, u64)> + '_ {
        ReasonCode::ALL
            .iter()
            .map(|&r| (r, self.counts[r as usize]))
    }
}

/// One token = `TOKEN` units, so refill (`rate` tokens per second = `rate` units per ns) is
/// exact integer arithmetic: no drift over a long session, and the property test can model it.
const TOKEN: u64 = 1_000_000_000;

/// Event-time token bucket; starts full.
#[derive(Clone, Copy, Debug)]
struct TokenBucket {
    units: u64,
    cap: u64,
    rate: u64,
    last_ns: Option<u64>,
}

impl TokenBucket {
    fn new(rate_per_sec: u32, burst: u32) -> Self {
        let cap = burst as u64 * TOKEN;
        TokenBucket {
            units: cap,
            cap,
            rate: rate_per_sec as u64,
            last_ns: None,
        }
    }

    fn reconfigure(&mut self, rate_per_sec: u32, burst: u32) {
        self.cap = burst as u64 * TOKEN;
        self.rate = rate_per_sec as u64;
        self.units = self.units.min(self.cap);
    }

    /// Tops up for the time since the last call. Time going backwards adds nothing.
    #[inline]
    fn refill(&mut self, now: u64) {
        if let Some(last) = self.last_ns {
            let dt = now.saturating_sub(last);
            self.units = self
                .units
                .saturating_add(dt.saturating_mul(self.rate))
                .min(self.cap);
            self.last_ns = Some(last.max(now));
        } else {
            self.last_ns = Some(now);
        }
    }

    #[inline]
    fn has_token(&self) -> bool {
        self.units >= TOKEN
    }

    #[inline]
    fn take(&mut self) {
        self.units -= TOKEN;
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Submit,
    Modify,
}

/// The pre-trade risk engine: limits, trading state, throttles and denial counters.
#[derive(Clone, Debug)]
pub struct RiskEngine {
    limits: RiskLimits,
    /// Per-instrument `max_position` overrides (a portfolio's instruments differ in size).
    position_limits: Vec<(InstrumentId, u32)>,
    state: TradingState,
    submit: TokenBucket,
    modify: TokenBucket,
    denials: DenialCounts,
}

#[inline]
fn deny(reason: ReasonCode, detail: impl FnOnce() -> String) -> std::result::Result<(), Denial> {
    // The closure keeps formatting (and its allocation) off every path that passes.
    Err(Denial {
        reason,
        detail: detail(),
    })
}

/// Fixed point to price units by a multiply: a division costs several times more and this
/// runs a few times per check.
const INV_PRICE_SCALE: f64 = 1.0 / PRICE_SCALE as f64;

#[inline]
fn px(p: i64) -> f64 {
    p as f64 * INV_PRICE_SCALE
}

impl RiskEngine {
    pub fn new(limits: RiskLimits) -> Result<Self> {
        limits.validate()?;
        Ok(RiskEngine {
            submit: TokenBucket::new(limits.submit_rate_per_sec, limits.submit_burst),
            modify: TokenBucket::new(limits.modify_rate_per_sec, limits.modify_burst),
            limits,
            position_limits: Vec::new(),
            state: TradingState::Active,
            denials: DenialCounts::default(),
        })
    }

    pub fn limits(&self) -> &RiskLimits {
        &self.limits
    }

    pub fn state(&self) -> TradingState {
        self.state
    }

    /// The operator's switch (kill switch = `Halted`; flatten = `Reducing`). A halt from a
    /// loss breach stays until someone sets the state again.
    pub fn set_state(&mut self, s: TradingState) {
        self.state = s;
    }

    /// New limits take effect at the next check; throttles keep their tokens (capped at the
    /// new burst) so a config reload cannot be used to refill them.
    pub fn set_limits(&mut self, l: RiskLimits) -> Result<()> {
        l.validate()?;
        self.submit
            .reconfigure(l.submit_rate_per_sec, l.submit_burst);
        self.modify
            .reconfigure(l.modify_rate_per_sec, l.modify_burst);
        self.limits = l;
        Ok(())
    }

    pub fn denials(&self) -> &DenialCounts {
        &self.denials
    }

    /// The `max_position` of one instrument (`Some(n)`, n >= 1) instead of the limits'
    /// (`None`: back to it). Refused for 0.
    pub fn set_position_limit(&mut self, id: InstrumentId, max: Option<u32>) -> Result<()> {
        if max == Some(0) {
            return Err(CoreError::Config(format!(
                "max_position of instrument {id} = 0 must be >= 1"
            )));
        }
        self.position_limits.retain(|(k, _)| *k != id);
        if let Some(m) = max {
            self.position_limits.push((id, m));
        }
        Ok(())
    }

    /// Every per-instrument `max_position` override, in the order set.
    pub fn position_limits(&self) -> &[(InstrumentId, u32)] {
        &self.position_limits
    }

    /// The `max_position` that applies to `id`.
    #[inline]
    pub fn max_position(&self, id: InstrumentId) -> u32 {
        self.position_limits
            .iter()
            .find(|(k, _)| *k == id)
            .map_or(self.limits.max_position, |(_, m)| *m)
    }

    /// Checks one intent. `Ok(())` means it may be sent. A daily-loss or drawdown breach also
    /// moves the engine to HALTED. Cancels always pass.
    pub fn check(
        &mut self,
        intent: &OrderIntent,
        ctx: &RiskContext,
    ) -> std::result::Result<(), Denial> {
        let kind = match intent.action {
            IntentAction::Cancel { .. } => return Ok(()),
            IntentAction::New => Kind::Submit,
            IntentAction::Modify { .. } => Kind::Modify,
        };
        let r = self.evaluate(intent, ctx, kind, true);
        if let Err(d) = &r {
            self.denials.counts[d.reason as usize] += 1;
        }
        r
    }

    /// Checks an intent that already passed [`RiskEngine::check`] once and was held before
    /// it reached the venue (a disconnect, a broker restart window): every gate again, with
    /// the state and limits of now, except the throttles (its token was spent when it was
    /// first checked; a release must not count twice). Denials are counted; a breach halts.
    pub fn recheck(
        &mut self,
        intent: &OrderIntent,
        ctx: &RiskContext,
    ) -> std::result::Result<(), Denial> {
        let kind = match intent.action {
            IntentAction::Cancel { .. } => return Ok(()),
            IntentAction::New => Kind::Submit,
            IntentAction::Modify { .. } => Kind::Modify,
        };
        let r = self.evaluate(intent, ctx, kind, false);
        if let Err(d) = &r {
            self.denials.counts[d.reason as usize] += 1;
        }
        r
    }

    /// What [`RiskEngine::check`] (`throttle` true) or [`RiskEngine::recheck`] (false) would
    /// answer now, without any effect: no token spent, no state change, nothing counted
    /// (audits and tests).
    pub fn preview(
        &self,
        intent: &OrderIntent,
        ctx: &RiskContext,
        throttle: bool,
    ) -> std::result::Result<(), Denial> {
        let kind = match intent.action {
            IntentAction::Cancel { .. } => return Ok(()),
            IntentAction::New => Kind::Submit,
            IntentAction::Modify { .. } => Kind::Modify,
        };
        self.clone().evaluate(intent, ctx, kind, throttle)
    }

    fn evaluate(
        &mut self,
        it: &OrderIntent,
        ctx: &RiskContext,
        kind: Kind,
        throttle: bool,
    ) -> std::result::Result<(), Denial> {
        use ReasonCode as R;
        // A copy (Copy, ~100 bytes) so breaches can set `self.state` while limits are read.
        let l = self.limits;
        let l = &l;
        let m = ctx.market;
        let a = ctx.account;

        // --- the intent itself
        if it.qty == 0 {
            return deny(R::InvalidIntent, || "qty is 0".into());
        }
        if it.instrument_id != m.instrument_id {
            return deny(R::InvalidIntent, || {
                format!(
                    "market state is for instrument {}, intent for {}",
                    m.instrument_id, it.instrument_id
                )
            });
        }
        let order_price = match it.order_type {
            OrderType::Market => None,
            OrderType::Limit => match it.price {
                Some(p) => Some(p),
                None => return deny(R::InvalidIntent, || "limit order without price".into()),
            },
            OrderType::Stop => match it.stop_price {
                Some(p) => Some(p),
                None => return deny(R::InvalidIntent, || "stop order without stop_price".into()),
            },
        };
        if it.confidence.is_nan() {
            return deny(R::InvalidIntent, || "confidence is NaN".into());
        }
        if let Some(b) = it.bracket {
            let ordered = match it.side {
                OrderSide::Buy => b.stop_loss < b.take_profit,
                OrderSide::Sell => b.stop_loss > b.take_profit,
            };
            if !ordered {
                return deny(R::InvalidIntent, || {
                    format!(
                        "{:?} bracket stop {} / take-profit {} on the wrong sides",
                        it.side, b.stop_loss, b.take_profit
                    )
                });
            }
        }
        let Some(own) = ctx
            .positions
            .iter()
            .find(|p| p.instrument_id == it.instrument_id)
        else {
            return deny(R::InvalidIntent, || {
                format!(
                    "no position entry (multiplier) for instrument {}",
                    it.instrument_id
                )
            });
        };
        if !(own.multiplier.is_finite() && own.multiplier > 0.0) {
            return deny(R::InvalidIntent, || {
                format!("multiplier {} is not finite and > 0", own.multiplier)
            });
        }

        // --- account breakers: fail closed on non-finite account values
        let pnl = a.realized_pnl_today + a.unrealized_pnl;
        if pnl.is_nan() || pnl <= -l.daily_loss_limit {
            self.state = TradingState::Halted;
            return deny(R::DailyLossLimit, || {
                format!(
                    "daily P&L {pnl:.2} at or below -{:.2}; trading halted",
                    l.daily_loss_limit
                )
            });
        }
        let dd_breached = !(a.equity.is_finite() && a.equity_peak.is_finite())
            || (a.equity_peak > 0.0 && a.equity_peak - a.equity >= l.max_drawdown * a.equity_peak);
        if dd_breached {
            self.state = TradingState::Halted;
            return deny(R::DrawdownBreaker, || {
                format!(
                    "equity {:.2} vs peak {:.2} breaches max drawdown {}; trading halted",
                    a.equity, a.equity_peak, l.max_drawdown
                )
            });
        }

        // --- trading state and reduce-only
        let signed = it.side.sign() * it.qty as i64;
        let pos = own.qty;
        let reduces = pos != 0 && signed.signum() == -pos.signum() && it.qty as i64 <= pos.abs();
        match self.state {
            TradingState::Halted => {
                return deny(R::TradingHalted, || "trading is halted".into());
            }
            TradingState::Reducing if !reduces => {
                return deny(R::TradingReducing, || {
                    format!(
                        "reducing: {:?} {} does not reduce position {pos}",
                        it.side, it.qty
                    )
                });
            }
            _ => {}
        }
        if it.reduce_only && !reduces {
            return deny(R::ReduceOnly, || {
                format!(
                    "reduce-only {:?} {} against position {pos}",
                    it.side, it.qty
                )
            });
        }
        if it.qty > l.max_order_qty {
            return deny(R::MaxOrderQty, || {
                format!("qty {} > max_order_qty {}", it.qty, l.max_order_qty)
            });
        }

        // --- market data
        let age = ctx.now_ns.saturating_sub(m.last_update_ns);
        if age > l.max_data_age_ns {
            return deny(R::StaleMarketData, || {
                format!("book is {age} ns old (max {})", l.max_data_age_ns)
            });
        }
        if !m.book_trusted {
            return deny(R::BookUntrusted, || "book integrity not trusted".into());
        }
        if m.crossed {
            return deny(R::BookCrossed, || "book is crossed".into());
        }
        let Some(reference) = m.mid.or(m.last_trade) else {
            return deny(R::PriceBand, || {
                "no mid or last trade to check the price against".into()
            });
        };
        if let Some(p) = order_price {
            let dev = (p as i128 - reference as i128).abs() * 10_000;
            if dev > l.price_band_bps as i128 * (reference as i128).abs() {
                return deny(R::PriceBand, || {
                    format!(
                        "price {} is more than {} bps from reference {}",
                        px(p),
                        l.price_band_bps,
                        px(reference)
                    )
                });
            }
        }
        let notional = it.qty as f64 * px(order_price.unwrap_or(reference)).abs() * own.multiplier;
        if notional > l.max_notional_per_order {
            return deny(R::MaxNotional, || {
                format!(
                    "order notional {notional:.2} > max_notional_per_order {:.2}",
                    l.max_notional_per_order
                )
            });
        }

        // --- signal quality (exits are exempt: closing must not need conviction)
        if !it.reduce_only {
            let min = l.min_confidence(it.source);
            if !meets_confidence(it.confidence, min) {
                return deny(R::MinConfidence, || {
                    format!("confidence {} < {min} ({:?})", it.confidence, it.source)
                });
            }
            if it.risk_score > l.max_risk_score {
                return deny(R::MaxRiskScore, || {
                    format!("risk score {} > {}", it.risk_score, l.max_risk_score)
                });
            }
        }

        // --- exposure: only orders that add to |position incl. working| are limited
        let before = pos.saturating_add(ctx.working_qty);
        let after = before.saturating_add(signed);
        let increases = after.unsigned_abs() > before.unsigned_abs();
        let max_pos = self.max_position(it.instrument_id);
        if increases && after.unsigned_abs() > max_pos as u64 {
            return deny(R::MaxPosition, || {
                format!(
                    "position {pos} + working {} + order {signed} = {after} exceeds max_position {max_pos}",
                    ctx.working_qty
                )
            });
        }
        if increases {
            let mut total = after.unsigned_abs();
            for p in ctx.positions {
                if p.instrument_id != it.instrument_id {
                    total = total.saturating_add(p.qty.unsigned_abs());
                }
            }
            if total > l.max_total_position as u64 {
                return deny(R::MaxTotalPosition, || {
                    format!(
                        "contracts across instruments after the order {total} exceed max_total_position {}",
                        l.max_total_position
                    )
                });
            }
        }
        if increases {
            let mut gross = after.unsigned_abs() as f64 * px(reference).abs() * own.multiplier;
            for p in ctx.positions {
                if p.instrument_id != it.instrument_id {
                    gross += p.qty.unsigned_abs() as f64 * px(p.mark).abs() * p.multiplier;
                }
            }
            // NaN (a bad multiplier elsewhere) must deny, not pass.
            if gross.is_nan() || gross > l.max_gross_exposure {
                return deny(R::MaxGrossExposure, || {
                    format!(
                        "gross exposure after order {gross:.2} > max_gross_exposure {:.2}",
                        l.max_gross_exposure
                    )
                });
            }
        }
        if !it.reduce_only {
            let traded = a.traded_notional_today + notional;
            if traded.is_nan() || traded > l.max_daily_exposure {
                return deny(R::MaxDailyExposure, || {
                    format!(
                        "traded notional today {traded:.2} with this order > max_daily_exposure {:.2}",
                        l.max_daily_exposure
                    )
                });
            }
            if increases {
                if let Some(cm) = ctx.correlations {
                    for p in ctx.positions {
                        if p.instrument_id == it.instrument_id || p.qty == 0 {
                            continue;
                        }
                        if let Some(c) = cm.get(it.instrument_id, p.instrument_id) {
                            // Same-direction exposure to a positively correlated instrument
                            // (or opposite to a negatively correlated one) concentrates risk.
                            let eff = c * (signed.signum() * p.qty.signum()) as f64;
                            if eff > l.max_correlation {
                                let (other, q) = (p.instrument_id, p.qty);
                                return deny(R::CorrelatedExposure, || {
                                    format!(
                                        "{:?} adds to exposure correlated {c:.3} with instrument {other} (position {q}); max {}",
                                        it.side, l.max_correlation
                                    )
                                });
                            }
                        }
                    }
                }
            }
        }

        // --- throttles last: only orders that pass everything else spend a token
        if !throttle {
            return Ok(());
        }
        let (bucket, reason, rate, burst) = match kind {
            Kind::Submit => (
                &mut self.submit,
                R::SubmitRateLimit,
                l.submit_rate_per_sec,
                l.submit_burst,
            ),
            Kind::Modify => (
                &mut self.modify,
                R::ModifyRateLimit,
                l.modify_rate_per_sec,
                l.modify_burst,
            ),
        };
        bucket.refill(ctx.now_ns);
        if !bucket.has_token() {
            return deny(reason, || format!("more than {rate}/s (burst {burst})"));
        }
        bucket.take();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orders::{Bracket, TimeInForce};

    const P: i64 = PRICE_SCALE;
    const ES: InstrumentId = 1;
    const NQ: InstrumentId = 2;
    const NOW: u64 = 1_000_000_000_000;

    fn intent(side: OrderSide, qty: u32) -> OrderIntent {
        OrderIntent {
            intent_id: 1,
            ts: NOW,
            instrument_id: ES,
            action: IntentAction::New,
            side,
            qty,
            order_type: OrderType::Limit,
            price: Some(5000 * P),
            stop_price: None,
            tif: TimeInForce::Day,
            reduce_only: false,
            bracket: None,
            source: SignalSource::Ensemble,
            confidence: 0.8,
            risk_score: 3,
        }
    }

    fn market() -> MarketState {
        MarketState {
            instrument_id: ES,
            mid: Some(5000 * P),
            last_trade: Some(5000 * P),
            last_update_ns: NOW - 1_000,
            book_trusted: true,
            crossed: false,
        }
    }

    fn account() -> AccountState {
        AccountState {
            equity: 1_000_000.0,
            equity_peak: 1_000_000.0,
            realized_pnl_today: 0.0,
            unrealized_pnl: 0.0,
            traded_notional_today: 0.0,
        }
    }

    fn pos(id: InstrumentId, qty: i64) -> PositionState {
        PositionState {
            instrument_id: id,
            qty,
            mark: if id == ES { 5000 * P } else { 20000 * P },
            multiplier: if id == ES { 50.0 } else { 20.0 },
        }
    }

    struct World {
        market: MarketState,
        positions: Vec<PositionState>,
        account: AccountState,
        working: i64,
        corr: Option<CorrelationMatrix>,
        now: u64,
    }

    impl World {
        fn new() -> Self {
            World {
                market: market(),
                positions: vec![pos(ES, 0), pos(NQ, 0)],
                account: account(),
                working: 0,
                corr: None,
                now: NOW,
            }
        }

        fn check(&self, eng: &mut RiskEngine, it: &OrderIntent) -> std::result::Result<(), Denial> {
            let ctx = RiskContext {
                now_ns: self.now,
                market: &self.market,
                positions: &self.positions,
                account: &self.account,
                working_qty: self.working,
                correlations: self.corr.as_ref(),
            };
            eng.check(it, &ctx)
        }
    }

    fn engine() -> RiskEngine {
        RiskEngine::new(RiskLimits::default()).unwrap()
    }

    fn reason(r: std::result::Result<(), Denial>) -> ReasonCode {
        r.expect_err("expected a denial").reason
    }

    #[test]
    fn accepts_a_plain_order_and_counts_nothing() {
        let mut e = engine();
        assert_eq!(
            World::new().check(&mut e, &intent(OrderSide::Buy, 1)),
            Ok(())
        );
        assert_eq!(e.denials().total(), 0);
        assert_eq!(e.state(), TradingState::Active);
    }

    #[test]
    fn reason_names_are_unique_screaming_snake_and_parse_back() {
        let mut seen = std::collections::HashSet::new();
        for (i, r) in ReasonCode::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i, "ALL order must match discriminants");
            let s = r.as_str();
            assert!(s.chars().all(|c| c.is_ascii_uppercase() || c == '_'), "{s}");
            assert!(seen.insert(s));
            assert_eq!(ReasonCode::parse(s), Some(*r));
        }
    }

    #[test]
    fn halted_denies_everything_but_cancels() {
        let mut e = engine();
        e.set_state(TradingState::Halted);
        let w = World::new();
        assert_eq!(
            reason(w.check(&mut e, &intent(OrderSide::Buy, 1))),
            ReasonCode::TradingHalted
        );
        let cancel = OrderIntent {
            action: IntentAction::Cancel { client_order_id: 4 },
            qty: 0, // even a nonsense cancel passes: cancels are never blocked
            ..intent(OrderSide::Buy, 1)
        };
        assert_eq!(w.check(&mut e, &cancel), Ok(()));
        assert_eq!(e.denials().get(ReasonCode::TradingHalted), 1);
        assert_eq!(e.denials().total(), 1);
    }

    #[test]
    fn reducing_accepts_only_reductions() {
        let mut e = engine();
        e.set_state(TradingState::Reducing);
        let mut w = World::new();
        w.positions[0].qty = 3;
        assert_eq!(
            reason(w.check(&mut e, &intent(OrderSide::Buy, 1))),
            ReasonCode::TradingReducing
        );
        // Selling more than the position would flip it: not a reduction.
        assert_eq!(
            reason(w.check(&mut e, &intent(OrderSide::Sell, 4))),
            ReasonCode::TradingReducing
        );
        assert_eq!(w.check(&mut e, &intent(OrderSide::Sell, 3)), Ok(()));
    }

    #[test]
    fn reduce_only_must_reduce() {
        let mut e = engine();
        let mut w = World::new();
        let ro = |side, qty| OrderIntent {
            reduce_only: true,
            confidence: 0.0, // exits need no conviction
            risk_score: 10,
            ..intent(side, qty)
        };
        assert_eq!(
            reason(w.check(&mut e, &ro(OrderSide::Sell, 1))),
            ReasonCode::ReduceOnly
        );
        w.positions[0].qty = -2;
        assert_eq!(
            reason(w.check(&mut e, &ro(OrderSide::Sell, 1))),
            ReasonCode::ReduceOnly
        );
        assert_eq!(
            reason(w.check(&mut e, &ro(OrderSide::Buy, 3))),
            ReasonCode::ReduceOnly
        );
        assert_eq!(w.check(&mut e, &ro(OrderSide::Buy, 2)), Ok(()));
    }

    #[test]
    fn max_order_qty() {
        let mut e = RiskEngine::new(RiskLimits {
            max_order_qty: 2,
            ..Default::default()
        })
        .unwrap();
        let w = World::new();
        assert_eq!(
            reason(w.check(&mut e, &intent(OrderSide::Buy, 3))),
            ReasonCode::MaxOrderQty
        );
        assert_eq!(w.check(&mut e, &intent(OrderSide::Buy, 2)), Ok(()));
    }

    #[test]
    fn an_instrument_may_have_its_own_position_limit_and_the_portfolio_a_total_one() {
        let mut e = RiskEngine::new(RiskLimits {
            max_total_position: 6,
            ..RiskLimits::default()
        })
        .unwrap();
        let mut w = World::new();
        e.set_position_limit(ES, Some(2)).unwrap();
        assert_eq!(e.max_position(ES), 2);
        assert_eq!(e.max_position(NQ), RiskLimits::default().max_position);
        assert!(w.check(&mut e, &intent(OrderSide::Buy, 2)).is_ok());
        let d = w.check(&mut e, &intent(OrderSide::Buy, 3)).unwrap_err();
        assert_eq!(d.reason, ReasonCode::MaxPosition);
        assert!(d.detail.contains("max_position 2"), "{}", d.detail);
        // Global: 5 NQ elsewhere + 2 ES = 7 > 6, although ES's own limit would pass.
        w.positions = vec![pos(ES, 0), pos(NQ, 5)];
        assert_eq!(
            reason(w.check(&mut e, &intent(OrderSide::Buy, 2))),
            ReasonCode::MaxTotalPosition
        );
        assert!(w.check(&mut e, &intent(OrderSide::Buy, 1)).is_ok());
        // Reducing never counts against either.
        w.positions = vec![pos(ES, 2), pos(NQ, 5)];
        assert!(w.check(&mut e, &intent(OrderSide::Sell, 2)).is_ok());
        assert!(e.set_position_limit(ES, Some(0)).is_err());
        e.set_position_limit(ES, None).unwrap();
        assert_eq!(e.max_position(ES), RiskLimits::default().max_position);
    }

    #[test]
    fn max_position_counts_working_orders_and_lets_reductions_through() {
        let mut e = RiskEngine::new(RiskLimits {
            max_position: 5,
            ..Default::default()
        })
        .unwrap();
        let mut w = World::new();
        w.positions[0].qty = 3;
        w.working = 2;
        assert_eq!(
            reason(w.check(&mut e, &intent(OrderSide::Buy, 1))),
            ReasonCode::MaxPosition
        );
        w.working = 1;
        assert_eq!(w.check(&mut e, &intent(OrderSide::Buy, 1)), Ok(()));
        // Over the limit already (limit lowered): selling still passes.
        w.positions[0].qty = 9;
        w.working = 0;
        assert_eq!(w.check(&mut e, &intent(OrderSide::Sell, 2)), Ok(()));
        // Short side too.
        w.positions[0].qty = -5;
        assert_eq!(
            reason(w.check(&mut e, &intent(OrderSide::Sell, 1))),
            ReasonCode::MaxPosition
        );
    }

    #[test]
    fn max_gross_exposure_sums_instruments() {
        // ES 1 lot = 250k; NQ 2 lots at 20000 x 20 = 800k.
        let mut e = RiskEngine::new(RiskLimits {
            max_gross_exposure: 1_000_000.0,
            ..Default::default()
        })
        .unwrap();
        let mut w = World::new();
        w.positions[1].qty = -2;
        assert_eq!(
            reason(w.check(&mut e, &intent(OrderSide::Buy, 1))),
            ReasonCode::MaxGrossExposure
        );
        w.positions[1].qty = -1;
        assert_eq!(w.check(&mut e, &intent(OrderSide::Buy, 1)), Ok(()));
    }

    #[test]
    fn max_notional_per_order() {
        let mut e = RiskEngine::new(RiskLimits {
            max_notional_per_order: 600_000.0,
            ..Default::default()
        })
        .unwrap();
        let w = World::new();
        assert_eq!(
            reason(w.check(&mut e, &intent(OrderSide::Buy, 3))),
            ReasonCode::MaxNotional
        );
        assert_eq!(w.check(&mut e, &intent(OrderSide::Buy, 2)), Ok(()));
        // Applies to exits too: a fat-fingered flatten is still a fat finger.
        let mut w = World::new();
        w.positions[0].qty = 5;
        let exit = OrderIntent {
            reduce_only: true,
            ..intent(OrderSide::Sell, 3)
        };
        assert_eq!(reason(w.check(&mut e, &exit)), ReasonCode::MaxNotional);
    }

    #[test]
    fn max_daily_exposure_exempts_exits() {
        let mut e = RiskEngine::new(RiskLimits {
            max_daily_exposure: 1_000_000.0,
            ..Default::default()
        })
        .unwrap();
        let mut w = World::new();
        w.account.traded_notional_today = 800_000.0;
        assert_eq!(
            reason(w.check(&mut e, &intent(OrderSide::Buy, 1))),
            ReasonCode::MaxDailyExposure
        );
        w.positions[0].qty = 1;
        let exit = OrderIntent {
            reduce_only: true,
            ..intent(OrderSide::Sell, 1)
        };
        assert_eq!(w.check(&mut e, &exit), Ok(()));
    }

    #[test]
    fn daily_loss_limit_halts() {
        let mut e = engine();
        let mut w = World::new();
        w.account.realized_pnl_today = -6_000.0;
        w.account.unrealized_pnl = -3_999.0;
        assert_eq!(w.check(&mut e, &intent(OrderSide::Buy, 1)), Ok(()));
        w.account.unrealized_pnl = -4_000.0;
        assert_eq!(
            reason(w.check(&mut e, &intent(OrderSide::Buy, 1))),
            ReasonCode::DailyLossLimit
        );
        assert_eq!(e.state(), TradingState::Halted);
        // Recovery does not un-halt: a person must.
        w.account.unrealized_pnl = 0.0;
        assert_eq!(
            reason(w.check(&mut e, &intent(OrderSide::Buy, 1))),
            ReasonCode::TradingHalted
        );
        // NaN P&L fails closed.
        let mut e = engine();
        w.account.unrealized_pnl = f64::NAN;
        assert_eq!(
            reason(w.check(&mut e, &intent(OrderSide::Buy, 1))),
            ReasonCode::DailyLossLimit
        );
    }

    #[test]
    fn drawdown_breaker_halts() {
        let mut e = engine();
        let mut w = World::new();
        w.account.equity_peak = 1_000_000.0;
        w.account.equity = 900_001.0;
        assert_eq!(w.check(&mut e, &intent(OrderSide::Buy, 1)), Ok(()));
        w.account.equity = 900_000.0;
        assert_eq!(
            reason(w.check(&mut e, &intent(OrderSide::Buy, 1))),
            ReasonCode::DrawdownBreaker
        );
        assert_eq!(e.state(), TradingState::Halted);
    }

    #[test]
    fn submit_rate_limit_event_time_bucket() {
        let mut e = RiskEngine::new(RiskLimits {
            submit_rate_per_sec: 2,
            submit_burst: 3,
            ..Default::default()
        })
        .unwrap();
        let mut w = World::new();
        for _ in 0..3 {
            assert_eq!(w.check(&mut e, &intent(OrderSide::Buy, 1)), Ok(()));
        }
        assert_eq!(
            reason(w.check(&mut e, &intent(OrderSide::Buy, 1))),
            ReasonCode::SubmitRateLimit
        );
        // 2/s: one token after 0.5 s of event time, not before.
        w.now += 499_999_999;
        w.market.last_update_ns = w.now;
        assert_eq!(
            reason(w.check(&mut e, &intent(OrderSide::Buy, 1))),
            ReasonCode::SubmitRateLimit
        );
        w.now += 1;
        assert_eq!(w.check(&mut e, &intent(OrderSide::Buy, 1)), Ok(()));
        assert_eq!(e.denials().get(ReasonCode::SubmitRateLimit), 2);
        // Denied orders for other reasons spend no token.
        w.now += 500_000_000;
        w.market.last_update_ns = w.now;
        let big = intent(OrderSide::Buy, 50);
        assert_eq!(reason(w.check(&mut e, &big)), ReasonCode::MaxOrderQty);
        assert_eq!(w.check(&mut e, &intent(OrderSide::Buy, 1)), Ok(()));
    }

    #[test]
    fn modify_rate_limit_is_separate() {
        let mut e = RiskEngine::new(RiskLimits {
            modify_rate_per_sec: 1,
            modify_burst: 1,
            submit_burst: 1,
            ..Default::default()
        })
        .unwrap();
        let w = World::new();
        let modify = OrderIntent {
            action: IntentAction::Modify { client_order_id: 8 },
            ..intent(OrderSide::Buy, 1)
        };
        assert_eq!(w.check(&mut e, &modify), Ok(()));
        assert_eq!(
            reason(w.check(&mut e, &modify)),
            ReasonCode::ModifyRateLimit
        );
        // The submit bucket is untouched by modifies.
        assert_eq!(w.check(&mut e, &intent(OrderSide::Buy, 1)), Ok(()));
    }

    #[test]
    fn price_band_against_mid_then_last() {
        let mut e = engine(); // 100 bps = 50 points at 5000
        let mut w = World::new();
        let at = |p: i64| OrderIntent {
            price: Some(p),
            ..intent(OrderSide::Buy, 1)
        };
        assert_eq!(w.check(&mut e, &at(5050 * P)), Ok(()));
        assert_eq!(
            reason(w.check(&mut e, &at(5050 * P + 1))),
            ReasonCode::PriceBand
        );
        assert_eq!(
            reason(w.check(&mut e, &at(4949 * P))),
            ReasonCode::PriceBand
        );
        // Stop orders are banded on their trigger.
        let stop = OrderIntent {
            order_type: OrderType::Stop,
            price: None,
            stop_price: Some(6000 * P),
            ..intent(OrderSide::Buy, 1)
        };
        assert_eq!(reason(w.check(&mut e, &stop)), ReasonCode::PriceBand);
        // No mid: last trade is the reference.
        w.market.mid = None;
        w.market.last_trade = Some(5100 * P);
        assert_eq!(w.check(&mut e, &at(5140 * P)), Ok(()));
        w.market.last_trade = None;
        let d = w.check(&mut e, &at(5000 * P)).unwrap_err();
        assert_eq!(d.reason, ReasonCode::PriceBand);
        assert!(d.detail.contains("no mid"), "{}", d.detail);
    }

    #[test]
    fn stale_untrusted_and_crossed_books() {
        let mut e = engine();
        let mut w = World::new();
        w.market.last_update_ns = NOW - 2_000_000_001;
        assert_eq!(
            reason(w.check(&mut e, &intent(OrderSide::Buy, 1))),
            ReasonCode::StaleMarketData
        );
        w.market.last_update_ns = NOW - 2_000_000_000;
        assert_eq!(w.check(&mut e, &intent(OrderSide::Buy, 1)), Ok(()));
        w.market.book_trusted = false;
        assert_eq!(
            reason(w.check(&mut e, &intent(OrderSide::Buy, 1))),
            ReasonCode::BookUntrusted
        );
        w.market.book_trusted = true;
        w.market.crossed = true;
        assert_eq!(
            reason(w.check(&mut e, &intent(OrderSide::Buy, 1))),
            ReasonCode::BookCrossed
        );
    }

    #[test]
    fn min_confidence_per_source_and_max_risk_score() {
        let mut e = engine();
        let w = World::new();
        let with = |confidence, source, risk_score| OrderIntent {
            confidence,
            source,
            risk_score,
            ..intent(OrderSide::Buy, 1)
        };
        assert_eq!(
            reason(w.check(&mut e, &with(0.69, SignalSource::Ensemble, 3))),
            ReasonCode::MinConfidence
        );
        // A float32 0.7 passes a 0.7 bar.
        assert_eq!(
            w.check(&mut e, &with(0.7f32 as f64, SignalSource::Ensemble, 3)),
            Ok(())
        );
        assert_eq!(
            reason(w.check(&mut e, &with(0.8, SignalSource::External, 3))),
            ReasonCode::MinConfidence
        );
        assert_eq!(
            w.check(&mut e, &with(0.9, SignalSource::External, 6)),
            Ok(())
        );
        assert_eq!(
            reason(w.check(&mut e, &with(0.9, SignalSource::External, 7))),
            ReasonCode::MaxRiskScore
        );
    }

    #[test]
    fn correlated_exposure_screen() {
        let mut e = engine();
        let mut w = World::new();
        w.corr = Some(CorrelationMatrix::new(vec![ES, NQ], vec![1.0, 0.9, 0.9, 1.0]).unwrap());
        w.positions[1].qty = 1; // long NQ
        let d = w.check(&mut e, &intent(OrderSide::Buy, 1)).unwrap_err();
        assert_eq!(d.reason, ReasonCode::CorrelatedExposure);
        assert!(d.detail.contains("instrument 2"), "{}", d.detail);
        // Short ES against long NQ is a hedge.
        assert_eq!(w.check(&mut e, &intent(OrderSide::Sell, 1)), Ok(()));
        // At 0.8 exactly it passes (the limit is "exceeds").
        w.corr = Some(CorrelationMatrix::new(vec![ES, NQ], vec![1.0, 0.8, 0.8, 1.0]).unwrap());
        assert_eq!(w.check(&mut e, &intent(OrderSide::Buy, 1)), Ok(()));
        // Negative correlation: long ES with short NQ concentrates.
        w.corr = Some(CorrelationMatrix::new(vec![ES, NQ], vec![1.0, -0.95, -0.95, 1.0]).unwrap());
        w.positions[1].qty = -1;
        assert_eq!(
            reason(w.check(&mut e, &intent(OrderSide::Buy, 1))),
            ReasonCode::CorrelatedExposure
        );
        assert_eq!(
            CorrelationMatrix::new(vec![ES, NQ], vec![1.0; 4])
                .unwrap()
                .get(ES, 99),
            None
        );
    }

    #[test]
    fn invalid_intents() {
        let mut e = engine();
        let mut w = World::new();
        let cases = [
            OrderIntent {
                qty: 0,
                ..intent(OrderSide::Buy, 1)
            },
            OrderIntent {
                instrument_id: NQ,
                ..intent(OrderSide::Buy, 1)
            },
            OrderIntent {
                price: None,
                ..intent(OrderSide::Buy, 1)
            },
            OrderIntent {
                order_type: OrderType::Stop,
                ..intent(OrderSide::Buy, 1)
            },
            OrderIntent {
                confidence: f64::NAN,
                ..intent(OrderSide::Buy, 1)
            },
            OrderIntent {
                bracket: Some(Bracket {
                    stop_loss: 5010 * P,
                    take_profit: 5020 * P,
                }),
                ..intent(OrderSide::Sell, 1)
            },
        ];
        for c in &cases {
            assert_eq!(
                reason(w.check(&mut e, c)),
                ReasonCode::InvalidIntent,
                "{c:?}"
            );
        }
        w.positions.retain(|p| p.instrument_id != ES);
        assert_eq!(
            reason(w.check(&mut e, &intent(OrderSide::Buy, 1))),
            ReasonCode::InvalidIntent
        );
        assert_eq!(
            e.denials().get(ReasonCode::InvalidIntent),
            cases.len() as u64 + 1
        );
    }

    #[test]
    fn limits_validation_lists_every_bad_field() {
        let bad = RiskLimits {
            max_order_qty: 0,
            max_gross_exposure: f64::NAN,
            max_drawdown: 1.5,
            max_risk_score: 11,
            max_correlation: 0.0,
            min_confidence_external: -0.1,
            ..Default::default()
        };
        let msg = RiskEngine::new(bad).unwrap_err().to_string();
        for f in [
            "max_order_qty",
            "max_gross_exposure",
            "max_drawdown",
            "max_risk_score",
            "max_correlation",
            "min_confidence_external",
        ] {
            assert!(msg.contains(f), "{f} missing from {msg}");
        }
        assert!(RiskLimits::default().validate().is_ok());
        let mut e = engine();
        assert!(e.set_limits(bad).is_err());
        assert_eq!(
            e.limits(),
            &RiskLimits::default(),
            "a bad set_limits changes nothing"
        );
    }

    #[test]
    fn limits_from_pairs() {
        let l = RiskLimits::from_pairs([("max_order_qty", 3.0), ("max_drawdown", 0.05)]).unwrap();
        assert_eq!((l.max_order_qty, l.max_drawdown), (3, 0.05));
        let back = RiskLimits::from_pairs(l.to_pairs()).unwrap();
        assert_eq!(back, l);
        let msg = RiskLimits::from_pairs([
            ("max_order_qtty", 3.0),
            ("max_position", 2.5),
            ("max_drawdown", 2.0),
        ])
        .unwrap_err()
        .to_string();
        for f in ["max_order_qtty", "max_position", "max_drawdown"] {
            assert!(msg.contains(f), "{f} missing from {msg}");
        }
    }

    #[test]
    fn set_limits_keeps_spent_tokens() {
        let mut e = RiskEngine::new(RiskLimits {
            submit_burst: 1,
            ..Default::default()
        })
        .unwrap();
        let w = World::new();
        assert_eq!(w.check(&mut e, &intent(OrderSide::Buy, 1)), Ok(()));
        e.set_limits(RiskLimits {
            submit_burst: 5,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            reason(w.check(&mut e, &intent(OrderSide::Buy, 1))),
            ReasonCode::SubmitRateLimit
        );
    }
}
