//! Risk, decision and sizing bindings for tests and the session control plane:
//! `RiskEngine(limits)`, `decide(...)`, `size(...)`, `REASON_CODES`. Arguments come as plain
//! dicts with prices in price units (floats), converted here to the core's fixed point;
//! unknown keys are an error naming the key, so a typo never silently drops a limit.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use tradecore::book::PRICE_SCALE;
use tradecore::decision::{
    self, Action, Decision, DecisionConfig, HoldReason, RiskInputs, RiskScoreConfig,
};
use tradecore::orders::{
    Bracket, InstrumentSpec, IntentAction, OrderIntent, OrderSide, OrderType, SignalSource,
    TimeInForce,
};
use tradecore::risk::{
    AccountState, CorrelationMatrix, MarketState, PositionState, ReasonCode, RiskContext,
    RiskEngine as CoreRiskEngine, RiskLimits, TradingState,
};
use tradecore::sizing::{self, SizingConfig};
use tradecore::CoreError;

use crate::errors::to_py;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<RiskEngine>()?;
    m.add_function(wrap_pyfunction!(decide, m)?)?;
    m.add_function(wrap_pyfunction!(size, m)?)?;
    m.add_function(wrap_pyfunction!(risk_limit_defaults, m)?)?;
    m.add_function(wrap_pyfunction!(default_risk_limits, m)?)?;
    m.add_function(wrap_pyfunction!(risk_limits_from_table, m)?)?;
    let names: Vec<&str> = ReasonCode::ALL.iter().map(|r| r.as_str()).collect();
    m.add("REASON_CODES", PyTuple::new(m.py(), names)?)?;
    Ok(())
}

fn invalid(what: impl Into<String>, detail: impl Into<String>) -> PyErr {
    to_py(CoreError::invalid(what, detail))
}

/// Reads an optional key (None counts as absent) as `$t`, naming `what.key` on a bad type.
macro_rules! field {
    ($d:expr, $what:expr, $key:expr, $t:ty) => {
        match $d.get_item($key)? {
            Some(v) if !v.is_none() => Some(v.extract::<$t>().map_err(|e| {
                invalid(
                    format!("{}.{}", $what, $key),
                    format!("expected {}: {}", stringify!($t), e),
                )
            })?),
            _ => None,
        }
    };
}

macro_rules! required {
    ($d:expr, $what:expr, $key:expr, $t:ty) => {
        match field!($d, $what, $key, $t) {
            Some(v) => v,
            None => return Err(invalid(format!("{}.{}", $what, $key), "is required")),
        }
    };
}

fn only_keys(d: &Bound<'_, PyDict>, what: &str, allowed: &[&str]) -> PyResult<()> {
    for k in d.keys() {
        let k: String = k
            .extract()
            .map_err(|_| invalid(what, "keys must be strings"))?;
        if !allowed.contains(&k.as_str()) {
            return Err(invalid(
                format!("{what}.{k}"),
                format!("unknown key (known: {})", allowed.join(", ")),
            ));
        }
    }
    Ok(())
}

fn fixed(p: f64, what: &str) -> PyResult<i64> {
    let x = (p * PRICE_SCALE as f64).round();
    if !x.is_finite() || x.abs() >= i64::MAX as f64 {
        return Err(invalid(what, format!("price {p} is not representable")));
    }
    Ok(x as i64)
}

fn opt_price(d: &Bound<'_, PyDict>, what: &str, key: &str) -> PyResult<Option<i64>> {
    match field!(d, what, key, f64) {
        Some(p) => Ok(Some(fixed(p, &format!("{what}.{key}"))?)),
        None => Ok(None),
    }
}

/// The core's defaults overridden by `limits` (validated by the core, every problem named).
fn limits_from(limits: Option<&Bound<'_, PyDict>>) -> PyResult<RiskLimits> {
    match limits {
        Some(d) => crate::engine_view::limits_over(&RiskLimits::default(), d.as_any()),
        None => Ok(RiskLimits::default()),
    }
}

fn side_of(s: &str, what: &str) -> PyResult<OrderSide> {
    match s {
        "BUY" => Ok(OrderSide::Buy),
        "SELL" => Ok(OrderSide::Sell),
        _ => Err(invalid(what, format!("{s:?} is not BUY or SELL"))),
    }
}

fn source_of(s: &str, what: &str) -> PyResult<SignalSource> {
    match s {
        "ENSEMBLE" => Ok(SignalSource::Ensemble),
        "EXTERNAL" => Ok(SignalSource::External),
        _ => Err(invalid(what, format!("{s:?} is not ENSEMBLE or EXTERNAL"))),
    }
}

const INTENT_KEYS: [&str; 16] = [
    "intent_id",
    "ts",
    "instrument_id",
    "action",
    "client_order_id",
    "side",
    "qty",
    "order_type",
    "price",
    "stop_price",
    "tif",
    "reduce_only",
    "bracket",
    "source",
    "confidence",
    "risk_score",
];

/// Missing `confidence` / `risk_score` default to 0 and 10: a new order without them is
/// denied (fail closed), an exit (reduce-only) does not need them.
fn intent_from(d: &Bound<'_, PyDict>) -> PyResult<OrderIntent> {
    let w = "intent";
    only_keys(d, w, &INTENT_KEYS)?;
    let coid = field!(d, w, "client_order_id", u64);
    let action = match field!(d, w, "action", String).as_deref().unwrap_or("NEW") {
        "NEW" => IntentAction::New,
        "MODIFY" => IntentAction::Modify {
            client_order_id: coid
                .ok_or_else(|| invalid("intent.client_order_id", "required for MODIFY"))?,
        },
        "CANCEL" => IntentAction::Cancel {
            client_order_id: coid
                .ok_or_else(|| invalid("intent.client_order_id", "required for CANCEL"))?,
        },
        a => {
            return Err(invalid(
                "intent.action",
                format!("{a:?} is not NEW, MODIFY or CANCEL"),
            ))
        }
    };
    let order_type = match field!(d, w, "order_type", String)
        .as_deref()
        .unwrap_or("MARKET")
    {
        "MARKET" => OrderType::Market,
        "LIMIT" => OrderType::Limit,
        "STOP" => OrderType::Stop,
        t => {
            return Err(invalid(
                "intent.order_type",
                format!("{t:?} is not MARKET, LIMIT or STOP"),
            ))
        }
    };
    let tif = match field!(d, w, "tif", String).as_deref().unwrap_or("DAY") {
        "DAY" => TimeInForce::Day,
        "GTC" => TimeInForce::Gtc,
        "IOC" => TimeInForce::Ioc,
        t => {
            return Err(invalid(
                "intent.tif",
                format!("{t:?} is not DAY, GTC or IOC"),
            ))
        }
    };
    let bracket = match d.get_item("bracket")? {
        Some(b) if !b.is_none() => {
            let b = b
                .cast::<PyDict>()
                .map_err(|_| invalid("intent.bracket", "expected a dict"))?;
            only_keys(b, "intent.bracket", &["stop_loss", "take_profit"])?;
            Some(Bracket {
                stop_loss: fixed(
                    required!(b, "intent.bracket", "stop_loss", f64),
                    "intent.bracket.stop_loss",
                )?,
                take_profit: fixed(
                    required!(b, "intent.bracket", "take_profit", f64),
                    "intent.bracket.take_profit",
                )?,
            })
        }
        _ => None,
    };
    Ok(OrderIntent {
        intent_id: field!(d, w, "intent_id", u64).unwrap_or(0),
        ts: field!(d, w, "ts", u64).unwrap_or(0),
        instrument_id: required!(d, w, "instrument_id", u32),
        action,
        side: side_of(&required!(d, w, "side", String), "intent.side")?,
        qty: required!(d, w, "qty", u32),
        order_type,
        price: opt_price(d, w, "price")?,
        stop_price: opt_price(d, w, "stop_price")?,
        tif,
        reduce_only: field!(d, w, "reduce_only", bool).unwrap_or(false),
        bracket,
        source: source_of(
            field!(d, w, "source", String)
                .as_deref()
                .unwrap_or("ENSEMBLE"),
            "intent.source",
        )?,
        confidence: field!(d, w, "confidence", f64).unwrap_or(0.0),
        risk_score: field!(d, w, "risk_score", u8).unwrap_or(10),
    })
}

struct Ctx {
    now_ns: u64,
    market: MarketState,
    positions: Vec<PositionState>,
    account: AccountState,
    working_qty: i64,
    correlations: Option<CorrelationMatrix>,
}

fn sub<'py>(d: &Bound<'py, PyDict>, what: &str, key: &str) -> PyResult<Bound<'py, PyDict>> {
    match d.get_item(key)? {
        Some(v) => v
            .cast_into::<PyDict>()
            .map_err(|_| invalid(format!("{what}.{key}"), "expected a dict")),
        None => Err(invalid(format!("{what}.{key}"), "is required")),
    }
}

fn ctx_from(d: &Bound<'_, PyDict>) -> PyResult<Ctx> {
    let w = "ctx";
    only_keys(
        d,
        w,
        &[
            "now_ns",
            "market",
            "positions",
            "account",
            "working_qty",
            "correlations",
        ],
    )?;
    let m = sub(d, w, "market")?;
    let mw = "ctx.market";
    only_keys(
        &m,
        mw,
        &[
            "instrument_id",
            "mid",
            "last_trade",
            "last_update_ns",
            "book_trusted",
            "crossed",
        ],
    )?;
    let market = MarketState {
        instrument_id: required!(m, mw, "instrument_id", u32),
        mid: opt_price(&m, mw, "mid")?,
        last_trade: opt_price(&m, mw, "last_trade")?,
        last_update_ns: required!(m, mw, "last_update_ns", u64),
        book_trusted: field!(m, mw, "book_trusted", bool).unwrap_or(true),
        crossed: field!(m, mw, "crossed", bool).unwrap_or(false),
    };
    let a = sub(d, w, "account")?;
    let aw = "ctx.account";
    only_keys(
        &a,
        aw,
        &[
            "equity",
            "equity_peak",
            "realized_pnl_today",
            "unrealized_pnl",
            "traded_notional_today",
        ],
    )?;
    let equity = required!(a, aw, "equity", f64);
    let account = AccountState {
        equity,
        equity_peak: field!(a, aw, "equity_peak", f64).unwrap_or(equity),
        realized_pnl_today: field!(a, aw, "realized_pnl_today", f64).unwrap_or(0.0),
        unrealized_pnl: field!(a, aw, "unrealized_pnl", f64).unwrap_or(0.0),
        traded_notional_today: field!(a, aw, "traded_notional_today", f64).unwrap_or(0.0),
    };
    let mut positions = Vec::new();
    if let Some(ps) = d.get_item("positions")? {
        for (i, p) in ps.try_iter()?.enumerate() {
            let p = p?;
            let pw = format!("ctx.positions[{i}]");
            let p = p
                .cast_into::<PyDict>()
                .map_err(|_| invalid(pw.clone(), "expected a dict"))?;
            only_keys(&p, &pw, &["instrument_id", "qty", "mark", "multiplier"])?;
            positions.push(PositionState {
                instrument_id: required!(p, pw, "instrument_id", u32),
                qty: required!(p, pw, "qty", i64),
                mark: fixed(required!(p, pw, "mark", f64), &format!("{pw}.mark"))?,
                multiplier: required!(p, pw, "multiplier", f64),
            });
        }
    }
    let correlations = match d.get_item("correlations")? {
        Some(c) if !c.is_none() => {
            let c = c
                .cast_into::<PyDict>()
                .map_err(|_| invalid("ctx.correlations", "expected a dict"))?;
            only_keys(&c, "ctx.correlations", &["ids", "values"])?;
            let ids = required!(c, "ctx.correlations", "ids", Vec<u32>);
            let rows = required!(c, "ctx.correlations", "values", Vec<Vec<f64>>);
            Some(CorrelationMatrix::new(ids, rows.into_iter().flatten().collect()).map_err(to_py)?)
        }
        _ => None,
    };
    Ok(Ctx {
        now_ns: required!(d, w, "now_ns", u64),
        market,
        positions,
        account,
        working_qty: field!(d, w, "working_qty", i64).unwrap_or(0),
        correlations,
    })
}

/// The pre-trade risk engine. `limits` overrides the documented defaults key by key.
#[pyclass(module = "pycontrol._core")]
pub struct RiskEngine {
    inner: CoreRiskEngine,
}

#[pymethods]
impl RiskEngine {
    #[new]
    #[pyo3(signature = (limits = None))]
    fn new(limits: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        Ok(RiskEngine {
            inner: CoreRiskEngine::new(limits_from(limits)?).map_err(to_py)?,
        })
    }

    /// `None` when the intent may be sent, else `(reason, detail)`.
    fn check(
        &mut self,
        intent: &Bound<'_, PyDict>,
        ctx: &Bound<'_, PyDict>,
    ) -> PyResult<Option<(&'static str, String)>> {
        let it = intent_from(intent)?;
        let c = ctx_from(ctx)?;
        let rc = RiskContext {
            now_ns: c.now_ns,
            market: &c.market,
            positions: &c.positions,
            account: &c.account,
            working_qty: c.working_qty,
            correlations: c.correlations.as_ref(),
        };
        Ok(self
            .inner
            .check(&it, &rc)
            .err()
            .map(|d| (d.reason.as_str(), d.detail)))
    }

    #[getter]
    fn state(&self) -> &'static str {
        self.inner.state().as_str()
    }

    fn set_state(&mut self, state: &str) -> PyResult<()> {
        let s = TradingState::parse(state).ok_or_else(|| {
            invalid(
                "state",
                format!("{state:?} is not ACTIVE, REDUCING or HALTED"),
            )
        })?;
        self.inner.set_state(s);
        Ok(())
    }

    fn set_limits(&mut self, limits: &Bound<'_, PyDict>) -> PyResult<()> {
        self.inner
            .set_limits(limits_from(Some(limits))?)
            .map_err(to_py)
    }

    /// Every limit, as `{key: value}` (integers as floats, like the TOML reads them).
    fn limits<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (k, v) in self.inner.limits().to_pairs() {
            d.set_item(k, v)?;
        }
        Ok(d)
    }

    /// Denials per reason code since construction, every code present (zeros included).
    fn denials<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (r, n) in self.inner.denials().iter() {
            d.set_item(r.as_str(), n)?;
        }
        Ok(d)
    }
}

/// The default limits as `(key, value)` pairs (what `configs/risk/default.toml` documents).
#[pyfunction]
fn risk_limit_defaults() -> Vec<(&'static str, f64)> {
    RiskLimits::default().to_pairs().to_vec()
}

/// The core's default limits as a dict `{key: value}` (the one copy of the defaults: a
/// session prints which limits apply from it).
#[pyfunction]
fn default_risk_limits(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    crate::engine_view::limits_dict(py, &RiskLimits::default())
}

/// A `[risk]` table (a dict as `tomllib` reads the TOML; any subset of the keys) validated
/// by the core and completed with its defaults: every limit as a dict. `ConfigError` naming
/// every unknown key, wrong type and out-of-range value at once.
#[pyfunction]
fn risk_limits_from_table<'py>(
    py: Python<'py>,
    table: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyDict>> {
    let l = crate::engine_view::limits_over(&RiskLimits::default(), table)?;
    crate::engine_view::limits_dict(py, &l)
}

fn decision_config(cfg: Option<&Bound<'_, PyDict>>) -> PyResult<DecisionConfig> {
    let mut c = DecisionConfig::default();
    if let Some(d) = cfg {
        let w = "config";
        only_keys(
            d,
            w,
            &[
                "min_confidence_ensemble",
                "min_confidence_external",
                "max_risk_score",
                "horizon_ns",
                "vol_ref",
            ],
        )?;
        if let Some(v) = field!(d, w, "min_confidence_ensemble", f64) {
            c.min_confidence_ensemble = v;
        }
        if let Some(v) = field!(d, w, "min_confidence_external", f64) {
            c.min_confidence_external = v;
        }
        if let Some(v) = field!(d, w, "max_risk_score", u8) {
            c.max_risk_score = v;
        }
        if let Some(v) = field!(d, w, "horizon_ns", u64) {
            c.horizon_ns = v;
        }
        if let Some(v) = field!(d, w, "vol_ref", f64) {
            c.score = RiskScoreConfig { vol_ref: v };
        }
    }
    Ok(c)
}

fn action_str(a: Action) -> &'static str {
    match a {
        Action::Buy => "BUY",
        Action::Sell => "SELL",
        Action::Hold => "HOLD",
    }
}

/// Decision from class probabilities; returns a dict (action, confidence, expected_return,
/// risk_score, horizon_ns, source, hold_reason, vol_forecast).
#[pyfunction]
#[pyo3(signature = (probs, class_values, risk, source = "ENSEMBLE", config = None))]
fn decide<'py>(
    py: Python<'py>,
    probs: Vec<f32>,
    class_values: Vec<i8>,
    risk: &Bound<'py, PyDict>,
    source: &str,
    config: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyDict>> {
    let w = "risk";
    only_keys(
        risk,
        w,
        &[
            "vol_forecast",
            "var99",
            "cvar99",
            "corr_to_index",
            "beta_to_index",
            "tail_dependence",
        ],
    )?;
    let ri = RiskInputs {
        vol_forecast: required!(risk, w, "vol_forecast", f64),
        var99: required!(risk, w, "var99", f64),
        cvar99: required!(risk, w, "cvar99", f64),
        corr_to_index: field!(risk, w, "corr_to_index", f64).unwrap_or(0.0),
        beta_to_index: field!(risk, w, "beta_to_index", f64).unwrap_or(0.0),
        tail_dependence: field!(risk, w, "tail_dependence", f64).unwrap_or(0.0),
    };
    let src = source_of(source, "source")?;
    let d = decision::decide(&probs, &class_values, &ri, src, &decision_config(config)?)
        .map_err(to_py)?;
    let out = PyDict::new(py);
    out.set_item("action", action_str(d.action))?;
    out.set_item("confidence", d.confidence)?;
    out.set_item("expected_return", d.expected_return)?;
    out.set_item("risk_score", d.risk_score)?;
    out.set_item("horizon_ns", d.horizon_ns)?;
    out.set_item("source", source)?;
    out.set_item("hold_reason", d.hold_reason.map(HoldReason::as_str))?;
    out.set_item("vol_forecast", d.vol_forecast)?;
    Ok(out)
}

/// Sizes a decision dict (as `decide` returns) for an entry at `entry_price` (price units).
/// Returns `{qty, stop_loss, take_profit, kelly}` (prices in price units) or None.
#[pyfunction]
#[pyo3(signature = (decision, entry_price, equity, spec, config = None))]
fn size<'py>(
    py: Python<'py>,
    decision: &Bound<'py, PyDict>,
    entry_price: f64,
    equity: f64,
    spec: &Bound<'py, PyDict>,
    config: Option<&Bound<'py, PyDict>>,
) -> PyResult<Option<Bound<'py, PyDict>>> {
    let w = "decision";
    let action = match required!(decision, w, "action", String).as_str() {
        "BUY" => Action::Buy,
        "SELL" => Action::Sell,
        "HOLD" => Action::Hold,
        a => {
            return Err(invalid(
                "decision.action",
                format!("{a:?} is not BUY, SELL or HOLD"),
            ))
        }
    };
    let d = Decision {
        action,
        confidence: required!(decision, w, "confidence", f64),
        expected_return: field!(decision, w, "expected_return", f64).unwrap_or(0.0),
        risk_score: field!(decision, w, "risk_score", u8).unwrap_or(1),
        horizon_ns: field!(decision, w, "horizon_ns", u64).unwrap_or(0),
        source: source_of(
            field!(decision, w, "source", String)
                .as_deref()
                .unwrap_or("ENSEMBLE"),
            "decision.source",
        )?,
        hold_reason: None,
        vol_forecast: required!(decision, w, "vol_forecast", f64),
    };
    let sw = "spec";
    only_keys(
        spec,
        sw,
        &[
            "instrument_id",
            "tick_size",
            "multiplier",
            "fee_per_contract",
        ],
    )?;
    let s = InstrumentSpec {
        instrument_id: field!(spec, sw, "instrument_id", u32).unwrap_or(0),
        tick_size: fixed(required!(spec, sw, "tick_size", f64), "spec.tick_size")?,
        multiplier: required!(spec, sw, "multiplier", f64),
        fee_per_contract: field!(spec, sw, "fee_per_contract", f64).unwrap_or(0.0),
    };
    let mut c = SizingConfig::default();
    if let Some(cd) = config {
        let cw = "config";
        only_keys(
            cd,
            cw,
            &[
                "kelly_fraction",
                "vol_target",
                "stop_k",
                "reward_risk",
                "max_qty",
            ],
        )?;
        if let Some(v) = field!(cd, cw, "kelly_fraction", f64) {
            c.kelly_fraction = v;
        }
        if let Some(v) = field!(cd, cw, "vol_target", f64) {
            c.vol_target = v;
        }
        if let Some(v) = field!(cd, cw, "stop_k", f64) {
            c.stop_k = v;
        }
        if let Some(v) = field!(cd, cw, "reward_risk", f64) {
            c.reward_risk = v;
        }
        if let Some(v) = field!(cd, cw, "max_qty", u32) {
            c.max_qty = v;
        }
    }
    let entry = fixed(entry_price, "entry_price")?;
    let Some(r) = sizing::size(&d, entry, equity, &s, &c).map_err(to_py)? else {
        return Ok(None);
    };
    let out = PyDict::new(py);
    let px = |p: i64| p as f64 / PRICE_SCALE as f64;
    out.set_item("qty", r.qty)?;
    out.set_item("stop_loss", px(r.bracket.stop_loss))?;
    out.set_item("take_profit", px(r.bracket.take_profit))?;
    out.set_item("kelly", r.kelly)?;
    Ok(Some(out))
}
