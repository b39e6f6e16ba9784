//! What Python reads of a running engine (any venue): counters, positions, the model, and
//! the controls every engine binding shares (trading state, risk limits). One shape for a
//! backtest's `telemetry.json`, a replay session's and a broker session's status.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use tradecore::book::{BookView, PRICE_SCALE};
use tradecore::drift::DriftEvent;
use tradecore::engine::inbox::{PushedSignal, SignalInbox, SignalOutcome};
use tradecore::engine::{Denial, Engine, Venue};
use tradecore::infer::GateReason;
use tradecore::risk::{RiskLimits, TradingState};
use tradecore::CoreError;

use crate::engine_args::ModelInfo;
use crate::errors::to_py;

pub fn px(p: i64) -> f64 {
    p as f64 / PRICE_SCALE as f64
}

/// Instrument id -> symbol of an engine's instruments.
pub struct Symbols(pub Vec<(u32, String)>);

impl Symbols {
    pub fn of(&self, id: u32) -> String {
        self.0
            .iter()
            .find(|(k, _)| *k == id)
            .map_or_else(|| id.to_string(), |(_, s)| s.clone())
    }

    pub fn dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (id, s) in &self.0 {
            d.set_item(id, s)?;
        }
        Ok(d)
    }
}

/// Counters (flat), holds and denials by reason, the model (version serving now, gate
/// counts, failed swaps), equity and positions with P&L.
pub fn telemetry<'py, V: Venue>(
    py: Python<'py>,
    e: &Engine<V>,
    symbols: &Symbols,
    model: Option<&ModelInfo>,
) -> PyResult<Bound<'py, PyDict>> {
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
        ("drift_alerts", t.drift_alerts),
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
    if let Some(info) = model {
        let m = PyDict::new(py);
        m.set_item("version", e.predictor().version())?;
        m.set_item("passed", info.counters.passed())?;
        let g = PyDict::new(py);
        for r in GateReason::ALL {
            g.set_item(r.label(), info.counters.gated(r))?;
        }
        m.set_item("gated_by_reason", g)?;
        let alerts = PyList::empty(py);
        for a in info.control.iter().flat_map(|c| c.alerts()) {
            let x = PyDict::new(py);
            x.set_item("version", a.version)?;
            x.set_item("error", a.error)?;
            x.set_item("at_event", a.at_event)?;
            alerts.append(x)?;
        }
        m.set_item("swap_alerts", alerts)?;
        d.set_item("model", m)?;
    }
    d.set_item("equity", e.account_equity())?;
    let pos = PyList::empty(py);
    for p in e.positions() {
        let x = PyDict::new(py);
        x.set_item("instrument_id", p.instrument_id)?;
        x.set_item("symbol", symbols.of(p.instrument_id))?;
        x.set_item("qty", p.qty)?;
        x.set_item("avg_price", p.avg_price)?;
        x.set_item("realized", p.realized)?;
        x.set_item("fees", p.fees)?;
        x.set_item("cash_flow", p.cash_flow)?;
        x.set_item("unrealized", p.unrealized())?;
        x.set_item("multiplier", p.multiplier)?;
        x.set_item("mark", p.mark.map(px))?;
        pos.append(x)?;
    }
    d.set_item("positions", pos)?;
    d.set_item("drift", drift(py, e, symbols)?)?;
    Ok(d)
}

/// One drift event as a dict (what a session journals).
pub fn drift_event<'py>(
    py: Python<'py>,
    ev: &DriftEvent,
    symbols: &Symbols,
) -> PyResult<Bound<'py, PyDict>> {
    let x = PyDict::new(py);
    x.set_item("ts", ev.ts)?;
    x.set_item("instrument_id", ev.instrument_id)?;
    x.set_item("symbol", symbols.of(ev.instrument_id))?;
    x.set_item("feature", &ev.feature)?;
    x.set_item("psi", ev.psi)?;
    x.set_item("ks", ev.ks)?;
    x.set_item("breached_features", ev.breached_features)?;
    x.set_item("rows", ev.rows)?;
    Ok(x)
}

/// The drift block: `status` "no reference" without one, else the thresholds, per
/// instrument (by symbol) its window, checks, breaches and worst features, and the events.
pub fn drift<'py, V: Venue>(
    py: Python<'py>,
    e: &Engine<V>,
    symbols: &Symbols,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    let Some(w) = e.drift() else {
        d.set_item("status", "no reference")?;
        return Ok(d);
    };
    let s = &w.settings;
    let reference = &s.reference;
    d.set_item(
        "status",
        if w.instruments.iter().flatten().any(|i| i.breached) {
            "drifted"
        } else {
            "watching"
        },
    )?;
    d.set_item("psi_alert", s.psi_alert)?;
    d.set_item("ks_alert", s.ks_alert)?;
    d.set_item("window_rows", s.window_rows)?;
    d.set_item("check_every", s.check_every)?;
    d.set_item("reduce_on_drift", s.reduce_on_drift)?;
    d.set_item("features", reference.features.len())?;
    d.set_item("breaches", w.breaches())?;
    if let Some(c) = &reference.calibration {
        let x = PyDict::new(py);
        x.set_item("accuracy", c.accuracy)?;
        x.set_item("log_loss", c.log_loss)?;
        x.set_item("rows", c.rows)?;
        d.set_item("expected", x)?;
    }
    let per = PyDict::new(py);
    for i in w.instruments.iter().flatten() {
        let x = PyDict::new(py);
        x.set_item("rows", i.monitor.rows())?;
        x.set_item("seen", i.monitor.seen())?;
        x.set_item("checks", i.checks)?;
        x.set_item("breaches", i.breaches)?;
        x.set_item("breached", i.breached)?;
        let worst = PyList::empty(py);
        for f in &i.worst {
            let y = PyDict::new(py);
            y.set_item("feature", &reference.features[f.feature].name)?;
            y.set_item("psi", f.psi)?;
            y.set_item("ks", f.ks)?;
            y.set_item("nan_share", f.nan_share)?;
            worst.append(y)?;
        }
        x.set_item("worst", worst)?;
        per.set_item(symbols.of(i.instrument_id), x)?;
    }
    d.set_item("instruments", per)?;
    let events = PyList::empty(py);
    for ev in &w.events {
        events.append(drift_event(py, ev, symbols)?)?;
    }
    d.set_item("events", events)?;
    d.set_item("events_dropped", w.dropped)?;
    Ok(d)
}

/// [`telemetry`] plus the session's view: trading state, event time, limits.
pub fn snapshot<'py, V: Venue>(
    py: Python<'py>,
    e: &Engine<V>,
    symbols: &Symbols,
    model: Option<&ModelInfo>,
) -> PyResult<Bound<'py, PyDict>> {
    let d = telemetry(py, e, symbols, model)?;
    d.set_item("state", e.trading_state().as_str())?;
    d.set_item("now_ns", e.now())?;
    d.set_item("limits", limits_dict(py, e.risk_limits())?)?;
    // Per instrument: the max_position that applies (its own override, else the limits').
    let per = PyDict::new(py);
    for p in e.positions() {
        per.set_item(p.instrument_id, e.max_position(p.instrument_id))?;
    }
    d.set_item("max_position_by_instrument", per)?;
    // The day so far (with what a restart restored): the daily-loss breaker's inputs.
    d.set_item("realized_pnl", e.realized_pnl())?;
    d.set_item("fees", e.fees())?;
    d.set_item("traded_notional", e.traded_notional())?;
    d.set_item("equity", e.account_equity())?;
    // Book integrity per instrument: whether its book is crossed or untrusted now
    // (F_MAYBE_BAD_BOOK), and every anomaly it survived, counted by kind.
    let books = PyDict::new(py);
    for p in e.positions() {
        let Some(b) = e.book(p.instrument_id) else {
            continue;
        };
        let i = b.integrity();
        let a = b.anomalies();
        let x = PyDict::new(py);
        x.set_item("crossed", i.crossed)?;
        x.set_item("untrusted", i.untrusted)?;
        let counts = PyDict::new(py);
        for (k, v) in [
            ("unknown_cancel", a.unknown_cancel),
            ("unknown_modify", a.unknown_modify),
            ("duplicate_add", a.duplicate_add),
            ("cancel_exceeds_size", a.cancel_exceeds_size),
            ("bad_side", a.bad_side),
            ("bad_price", a.bad_price),
            ("unknown_action", a.unknown_action),
            ("zero_size_add", a.zero_size_add),
            ("bad_size", a.bad_size),
            ("crossed_events", a.crossed_events),
            ("maybe_bad_book", a.maybe_bad_book),
        ] {
            counts.set_item(k, v)?;
        }
        x.set_item("anomalies", counts)?;
        books.set_item(symbols.of(p.instrument_id), x)?;
    }
    d.set_item("books", books)?;
    Ok(d)
}

pub fn denial<'py>(py: Python<'py>, n: &Denial) -> PyResult<Bound<'py, PyDict>> {
    let x = PyDict::new(py);
    x.set_item("ts", n.ts)?;
    x.set_item("intent_id", n.intent_id)?;
    x.set_item("reason", &n.reason)?;
    x.set_item("detail", &n.detail)?;
    Ok(x)
}

/// ACTIVE, REDUCING or HALTED; anything else is a `ValueError` naming the choices.
pub fn set_state<V: Venue>(e: &mut Engine<V>, state: &str) -> PyResult<()> {
    let s = TradingState::parse(state).ok_or_else(|| {
        PyValueError::new_err(format!(
            "trading state must be ACTIVE, REDUCING or HALTED, got {state:?}"
        ))
    })?;
    e.set_trading_state(s);
    Ok(())
}

/// Overrides the given limits (a dict of any subset, or `(key, value)` pairs) on top of the
/// current ones, validated by the core. Invalid limits raise `ConfigError` listing every
/// bad key and value, and the engine keeps its limits.
pub fn set_risk_limits<V: Venue>(e: &mut Engine<V>, limits: &Bound<'_, PyAny>) -> PyResult<()> {
    let l = limits_over(e.risk_limits(), limits)?;
    e.set_risk_limits(l).map_err(to_py)
}

/// `push_signal`: one external signal into the engine's inbox, answered at the
/// instrument's next event. `tag` is the sender's correlation id (its verdict carries it);
/// with `confirm`, `confidence` is the minimum model probability for the side instead.
/// `ValueError` when the engine was built without `signal_inbox=True`;
/// `InvalidInputError` naming the field for a bad side or confidence.
#[allow(clippy::too_many_arguments)]
pub fn push_signal(
    inbox: Option<&SignalInbox>,
    instrument_id: u32,
    side: &str,
    confidence: f32,
    ts: u64,
    tag: u64,
    confirm: bool,
) -> PyResult<()> {
    let Some(inbox) = inbox else {
        return Err(PyValueError::new_err(
            "this engine takes no pushed signals (build it with signal_inbox=True)",
        ));
    };
    let direction = match side {
        "BUY" => 1,
        "SELL" => -1,
        other => {
            return Err(to_py(CoreError::invalid(
                "side",
                format!("{other:?} (BUY or SELL)"),
            )))
        }
    };
    inbox
        .push(PushedSignal {
            instrument_id,
            direction,
            confidence,
            ts,
            tag,
            confirm,
        })
        .map_err(to_py)
}

/// `drain_signal_verdicts`: every verdict of a tagged signal since the last call, as
/// dicts: tag, instrument_id, side, ts, model_prob (None: not asked), threshold, accepted,
/// reason (ACCEPTED or why not), outcome (HOLD reason, SENT or DENIED), intent_id.
pub fn drain_verdicts<'py>(
    py: Python<'py>,
    inbox: Option<&SignalInbox>,
) -> PyResult<Bound<'py, PyList>> {
    let out = PyList::empty(py);
    let Some(inbox) = inbox else {
        return Ok(out);
    };
    for v in inbox.drain_verdicts() {
        let d = PyDict::new(py);
        d.set_item("tag", v.tag)?;
        d.set_item("instrument_id", v.instrument_id)?;
        d.set_item("side", if v.direction > 0 { "BUY" } else { "SELL" })?;
        d.set_item("ts", v.ts)?;
        d.set_item("model_prob", v.model_prob.map(f64::from))?;
        d.set_item("threshold", f64::from(v.threshold))?;
        d.set_item("accepted", v.accepted())?;
        d.set_item("reason", v.reason.as_str())?;
        let (outcome, intent_id) = match v.outcome {
            None => (None, None),
            Some(SignalOutcome::Hold(r)) => (Some(r), None),
            Some(SignalOutcome::Intent { intent_id, denied }) => (
                Some(if denied { "DENIED" } else { "SENT" }),
                Some(intent_id),
            ),
        };
        d.set_item("outcome", outcome)?;
        d.set_item("intent_id", intent_id)?;
        out.append(d)?;
    }
    Ok(out)
}

/// `base` overridden by a dict (a `[risk]` table) or by `(key, value)` pairs.
pub fn limits_over(base: &RiskLimits, limits: &Bound<'_, PyAny>) -> PyResult<RiskLimits> {
    let table = if let Ok(d) = limits.cast::<PyDict>() {
        crate::engine_args::table(d)?
    } else {
        let pairs: Vec<(String, f64)> = limits.extract().map_err(|_| {
            to_py(CoreError::Config(
                "risk limits: want a dict {key: value} or (key, value) pairs".into(),
            ))
        })?;
        let mut m = serde_json::Map::new();
        for (k, v) in pairs {
            m.insert(k, crate::engine_args::json_f64(v));
        }
        m
    };
    base.with_table(&table).map_err(to_py)
}

/// Every limit as a dict `{key: value}` (integers as floats, like the TOML reads them).
pub fn limits_dict<'py>(py: Python<'py>, l: &RiskLimits) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (k, v) in l.to_pairs() {
        d.set_item(k, v)?;
    }
    Ok(d)
}

/// One instrument's own `max_position` (None: back to the limits'); `ConfigError` for 0.
pub fn set_position_limit<V: Venue>(e: &mut Engine<V>, id: u32, max: Option<u32>) -> PyResult<()> {
    e.set_position_limit(id, max).map_err(to_py)
}

/// Asks a registry model's slot to reload the production alias (the swap lands between two
/// later events); without a registry model it is a `ValueError` saying why.
pub fn request_model_swap(model: Option<&ModelInfo>) -> PyResult<()> {
    match model.and_then(|m| m.control.as_ref()) {
        Some(c) => c.request_swap().map_err(to_py),
        None => Err(PyValueError::new_err(match model {
            Some(_) => "this engine serves a model folder, not a registry family: nothing to swap",
            None => "this engine trades external or placebo signals, not a model: nothing to swap",
        })),
    }
}
