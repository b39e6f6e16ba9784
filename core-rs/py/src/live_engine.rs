//! `LiveEngine`: the Rust engine of a paper or live session, on a broker venue. The session
//! feeds it the broker's quotes and execution reports and sends the intents it returns (after
//! journaling them); everything in between (book, features, model, decision, sizing, every
//! risk gate, positions and P&L) is the backtest's code.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use tradecore::book::PRICE_SCALE;
use tradecore::engine::broker::{BrokerOrder, BrokerVenue};
use tradecore::engine::inbox::SignalInbox;
use tradecore::engine::{names, DayBefore, Engine};
use tradecore::orders::{
    intent_of, InstrumentSpec, IntentAction, Leg, OrderIntent, OrderSide, OrderType, SignalSource,
    TimeInForce,
};
use tradecore::risk::{RiskLimits, TradingState};
use tradecore::sim::OrderStatus;
use tradecore::CoreError;

use crate::engine_args::{self, ModelInfo};
use crate::engine_view::{self, px, Symbols};
use crate::errors::to_py;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<LiveEngine>()?;
    m.add_function(wrap_pyfunction!(client_order_id, m)?)?;
    m.add_function(wrap_pyfunction!(intent_of_order, m)?)?;
    m.add_function(wrap_pyfunction!(average_cost, m)?)?;
    m.add_function(wrap_pyfunction!(engine_args::engine_settings_defaults, m)?)?;
    m.add_function(wrap_pyfunction!(
        engine_args::engine_settings_from_table,
        m
    )?)?;
    Ok(())
}

/// One signed fill through the engine's average-cost rule (the one implementation):
/// (position, average price, realized P&L) after `delta` contracts at `price`.
#[pyfunction]
#[pyo3(signature = (qty, avg_price, delta, price, multiplier = 1.0))]
fn average_cost(
    qty: i64,
    avg_price: f64,
    delta: i64,
    price: f64,
    multiplier: f64,
) -> PyResult<(i64, f64, f64)> {
    if !(price.is_finite() && avg_price.is_finite() && multiplier.is_finite()) {
        return Err(to_py(CoreError::InvalidInput {
            what: "average_cost".into(),
            detail: format!(
                "price {price}, avg_price {avg_price}, multiplier {multiplier} must be finite"
            ),
        }));
    }
    Ok(tradecore::engine::average_cost(
        qty, avg_price, delta, price, multiplier,
    ))
}

fn leg_of(leg: &str) -> PyResult<Leg> {
    match leg {
        "ENTRY" => Ok(Leg::Entry),
        "STOP_LOSS" => Ok(Leg::StopLoss),
        "TAKE_PROFIT" => Ok(Leg::TakeProfit),
        _ => Err(PyValueError::new_err(format!(
            "leg must be ENTRY, STOP_LOSS or TAKE_PROFIT, got {leg:?}"
        ))),
    }
}

/// The client order id of one leg of an intent (`tradecore::orders::client_order_id`, the
/// one rule: a session must not keep a copy of its own).
#[pyfunction]
fn client_order_id(intent_id: u64, leg: &str) -> PyResult<u64> {
    if intent_id > u64::MAX / 4 {
        return Err(to_py(CoreError::InvalidInput {
            what: "intent id".into(),
            detail: format!("{intent_id} is too large for a client order id"),
        }));
    }
    Ok(tradecore::orders::client_order_id(intent_id, leg_of(leg)?))
}

/// The inverse: `(intent_id, leg)` of a client order id (leg None for an id no leg has).
#[pyfunction]
fn intent_of_order(client_order_id: u64) -> (u64, Option<&'static str>) {
    let (i, leg) = intent_of(client_order_id);
    (i, leg.map(names::leg))
}

fn fixed(what: &str, p: f64) -> PyResult<i64> {
    if !p.is_finite() {
        return Err(to_py(CoreError::InvalidInput {
            what: what.to_string(),
            detail: format!("price {p} is not finite"),
        }));
    }
    Ok((p * PRICE_SCALE as f64).round() as i64)
}

fn side_of(s: &str) -> PyResult<OrderSide> {
    match s {
        "BUY" => Ok(OrderSide::Buy),
        "SELL" => Ok(OrderSide::Sell),
        _ => Err(PyValueError::new_err(format!(
            "side must be BUY or SELL, got {s:?}"
        ))),
    }
}

fn order_type_of(s: &str) -> PyResult<OrderType> {
    match s {
        "MARKET" | "MKT" => Ok(OrderType::Market),
        "LIMIT" | "LMT" => Ok(OrderType::Limit),
        "STOP" | "STP" => Ok(OrderType::Stop),
        _ => Err(PyValueError::new_err(format!(
            "order type must be MARKET, LIMIT or STOP, got {s:?}"
        ))),
    }
}

/// The engine of a broker session. `instruments`: (instrument id, symbol, tick size, point
/// value) of what it trades; keyword arguments: the engine settings (`EngineArgs`). Each
/// `on_*` call returns `{"intents": [...], "denials": [...]}`: what the engine wants sent,
/// in order, and the risk gate's denials since the last call.
// unsendable: a session creates and drives it on its event loop thread only.
#[pyclass(module = "pycontrol._core", unsendable)]
pub struct LiveEngine {
    engine: Engine<BrokerVenue>,
    symbols: Symbols,
    model: Option<ModelInfo>,
    inbox: Option<SignalInbox>,
    denials_seen: usize,
    feed: crate::live_feed::FeedMap,
}

impl LiveEngine {
    fn intent<'py>(&self, py: Python<'py>, i: &OrderIntent) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("intent_id", i.intent_id)?;
        d.set_item("ts", i.ts)?;
        d.set_item("instrument_id", i.instrument_id)?;
        d.set_item("symbol", self.symbols.of(i.instrument_id))?;
        let (action, target) = match i.action {
            IntentAction::New => ("NEW", None),
            IntentAction::Modify { client_order_id } => ("MODIFY", Some(client_order_id)),
            IntentAction::Cancel { client_order_id } => ("CANCEL", Some(client_order_id)),
        };
        d.set_item("action", action)?;
        d.set_item("target_client_order_id", target)?;
        d.set_item("side", names::side(i.side))?;
        d.set_item("qty", i.qty)?;
        d.set_item("order_type", names::order_type(i.order_type))?;
        d.set_item("price", i.price.map(px))?;
        d.set_item("stop_price", i.stop_price.map(px))?;
        d.set_item(
            "tif",
            match i.tif {
                TimeInForce::Day => "DAY",
                TimeInForce::Gtc => "GTC",
                TimeInForce::Ioc => "IOC",
            },
        )?;
        d.set_item("reduce_only", i.reduce_only)?;
        match i.bracket {
            Some(b) => {
                let x = PyDict::new(py);
                x.set_item("stop_loss", px(b.stop_loss))?;
                x.set_item("take_profit", px(b.take_profit))?;
                d.set_item("bracket", x)?;
            }
            None => d.set_item("bracket", py.None())?,
        }
        d.set_item(
            "source",
            match i.source {
                SignalSource::Ensemble => "ensemble",
                SignalSource::External => "external",
            },
        )?;
        d.set_item("confidence", i.confidence)?;
        d.set_item("risk_score", i.risk_score)?;
        Ok(d)
    }

    /// The outbox and the denials since the last call.
    fn out<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let intents = PyList::empty(py);
        for i in self.engine.venue_mut().take_outbox() {
            intents.append(self.intent(py, &i)?)?;
        }
        let denials = PyList::empty(py);
        for n in &self.engine.denials[self.denials_seen..] {
            let d = engine_view::denial(py, n)?;
            d.set_item("intent", self.intent(py, &n.intent)?)?;
            denials.append(d)?;
        }
        self.denials_seen = self.engine.denials.len();
        let d = PyDict::new(py);
        d.set_item("intents", intents)?;
        d.set_item("denials", denials)?;
        // feature drift breaches since the last output (the session journals them); the key
        // is there only when there are some (rare: a breach's onset)
        let events = self.engine.drain_drift_events();
        if !events.is_empty() {
            let drift = PyList::empty(py);
            for ev in &events {
                drift.append(engine_view::drift_event(py, ev, &self.symbols)?)?;
            }
            d.set_item("drift_events", drift)?;
        }
        Ok(d)
    }

    fn order_dict<'py>(&self, py: Python<'py>, o: &BrokerOrder) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("client_order_id", o.client_order_id)?;
        d.set_item("intent_id", o.intent_id)?;
        d.set_item("leg", names::leg(o.leg))?;
        d.set_item("symbol", self.symbols.of(o.instrument_id))?;
        d.set_item("side", names::side(o.side))?;
        d.set_item("order_type", names::order_type(o.order_type))?;
        d.set_item("qty", o.qty)?;
        d.set_item("filled_qty", o.filled_qty)?;
        d.set_item("price", o.price.map(px))?;
        d.set_item("stop_price", o.stop_price.map(px))?;
        d.set_item("status", o.status.as_str())?;
        d.set_item("reason", &o.reason)?;
        Ok(d)
    }
}

#[pymethods]
impl LiveEngine {
    #[new]
    #[pyo3(signature = (instruments, **kwargs))]
    fn new(
        instruments: Vec<(u32, String, f64, f64)>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let args = engine_args::parse(kwargs)?;
        let mut bad = Vec::new();
        let mut specs = Vec::new();
        for (id, sym, tick, mult) in &instruments {
            if !(tick.is_finite() && *tick > 0.0 && mult.is_finite() && *mult > 0.0) {
                bad.push(format!(
                    "instrument {sym} ({id}): tick size {tick} and point value {mult} must be > 0"
                ));
            }
            specs.push(InstrumentSpec {
                instrument_id: *id,
                tick_size: (tick * PRICE_SCALE as f64).round() as i64,
                multiplier: *mult,
                fee_per_contract: args.fee_per_contract,
            });
        }
        if instruments.is_empty() {
            bad.push("instruments: at least one is needed".into());
        }
        if !bad.is_empty() {
            return Err(to_py(CoreError::Config(bad.join("; "))));
        }
        let built = args.build(specs.clone()).map_err(to_py)?;
        let venue = BrokerVenue::new(specs).map_err(to_py)?;
        let engine = Engine::with_venue(built.cfg, built.predictor, venue).map_err(to_py)?;
        Ok(LiveEngine {
            engine,
            symbols: Symbols(instruments.into_iter().map(|(i, s, _, _)| (i, s)).collect()),
            model: built.model,
            inbox: built.inbox,
            denials_seen: 0,
            feed: Default::default(),
        })
    }

    /// Instrument id -> symbol.
    fn symbols<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        self.symbols.dict(py)
    }

    /// A top-of-book quote: `bid` / `ask` are (price, size) or None for an empty side.
    #[pyo3(signature = (instrument_id, ts, bid, ask))]
    fn on_quote<'py>(
        &mut self,
        py: Python<'py>,
        instrument_id: u32,
        ts: u64,
        bid: Option<(f64, u32)>,
        ask: Option<(f64, u32)>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let level = |what: &str, l: Option<(f64, u32)>| -> PyResult<_> {
            l.map(|(p, s)| Ok((fixed(what, p)?, s))).transpose()
        };
        let (b, a) = (level("quote bid", bid)?, level("quote ask", ask)?);
        self.engine
            .on_quote(instrument_id, ts, b, a)
            .map_err(to_py)?;
        self.out(py)
    }

    /// A trade print; `aggressor` "B" (buyer), "A" (seller) or "N" (unknown).
    fn on_trade<'py>(
        &mut self,
        py: Python<'py>,
        instrument_id: u32,
        ts: u64,
        price: f64,
        size: u32,
        aggressor: &str,
    ) -> PyResult<Bound<'py, PyDict>> {
        let p = fixed("trade", price)?;
        let a = match aggressor {
            "B" | "A" | "N" => aggressor.as_bytes()[0],
            _ => {
                return Err(PyValueError::new_err(format!(
                    "aggressor must be B, A or N, got {aggressor:?}"
                )))
            }
        };
        self.engine
            .on_trade_print(instrument_id, ts, p, size, a)
            .map_err(to_py)?;
        self.out(py)
    }

    /// A fill the broker reported for one of our orders; positions move at once.
    fn on_fill(
        &mut self,
        client_order_id: u64,
        qty: u32,
        price: f64,
        ts: u64,
        fee: f64,
    ) -> PyResult<()> {
        let p = fixed("fill", price)?;
        self.engine
            .venue_update(|v| v.fill(client_order_id, qty, p, ts, fee))
            .map_err(to_py)
    }

    /// A commission the broker reported after the fill of `client_order_id`.
    fn on_commission(&mut self, client_order_id: u64, fee: f64) -> PyResult<()> {
        self.engine
            .book_commission(client_order_id, fee)
            .map_err(to_py)
    }

    /// A commission of a fill an earlier engine of this session booked (before the session
    /// restored from the journal): into the day's fees before this engine.
    fn book_day_fee(&mut self, fee: f64) -> PyResult<()> {
        self.engine.book_day_fee(fee).map_err(to_py)
    }

    /// The broker cancelled (`CANCELLED`) or rejected (`REJECTED`) one of our orders.
    fn on_closed(&mut self, client_order_id: u64, status: &str, reason: &str) -> PyResult<()> {
        let s = match status {
            "CANCELLED" => OrderStatus::Cancelled,
            "REJECTED" => OrderStatus::Rejected,
            _ => {
                return Err(PyValueError::new_err(format!(
                    "status must be CANCELLED or REJECTED, got {status:?}"
                )))
            }
        };
        self.engine
            .venue_update(|v| v.close(client_order_id, s, reason))
            .map_err(to_py)
    }

    /// A working order this process did not submit (journal or broker, after a restart).
    #[pyo3(signature = (client_order_id, instrument_id, side, qty, filled_qty, order_type, price, stop_price, ts))]
    #[allow(clippy::too_many_arguments)]
    fn adopt(
        &mut self,
        client_order_id: u64,
        instrument_id: u32,
        side: &str,
        qty: u32,
        filled_qty: u32,
        order_type: &str,
        price: Option<f64>,
        stop_price: Option<f64>,
        ts: u64,
    ) -> PyResult<()> {
        let (intent_id, leg) = intent_of(client_order_id);
        let o = BrokerOrder {
            client_order_id,
            intent_id,
            leg: leg.unwrap_or(Leg::Entry),
            instrument_id,
            side: side_of(side)?,
            order_type: order_type_of(order_type)?,
            qty,
            price: price.map(|p| fixed("adopted price", p)).transpose()?,
            stop_price: stop_price.map(|p| fixed("adopted stop", p)).transpose()?,
            filled_qty,
            status: if filled_qty > 0 {
                OrderStatus::PartiallyFilled
            } else {
                OrderStatus::Working
            },
            ts,
            reason: String::new(),
            cancel_sent: false,
        };
        self.engine.venue_update(|v| v.adopt(o)).map_err(to_py)
    }

    /// One of our orders as the engine knows it (None when unknown).
    fn order<'py>(
        &self,
        py: Python<'py>,
        client_order_id: u64,
    ) -> PyResult<Option<Bound<'py, PyDict>>> {
        self.engine
            .sim()
            .order(client_order_id)
            .map(|o| self.order_dict(py, o))
            .transpose()
    }

    /// The position after a restart, before any trading in this process.
    fn restore_position(
        &mut self,
        instrument_id: u32,
        qty: i64,
        avg_price: f64,
        ts: u64,
    ) -> PyResult<()> {
        self.engine
            .restore_position(instrument_id, qty, avg_price, ts)
            .map_err(to_py)
    }

    /// New intent ids start at `next` or later (above every id the journal holds).
    fn reserve_intent_ids(&mut self, next: u64) {
        self.engine.reserve_intent_ids(next)
    }

    #[getter]
    fn next_intent_id(&self) -> u64 {
        self.engine.next_intent_id()
    }

    #[getter]
    fn state(&self) -> &'static str {
        self.engine.trading_state().as_str()
    }

    fn set_state(&mut self, state: &str) -> PyResult<()> {
        engine_view::set_state(&mut self.engine, state)
    }

    fn risk_limits(&self) -> Vec<(&'static str, f64)> {
        self.engine.risk_limits().to_pairs().to_vec()
    }

    /// Overrides the given limits (a dict of any subset, or (key, value) pairs) on top of
    /// the current ones; `ConfigError` listing every bad key and value, limits unchanged.
    fn set_risk_limits(&mut self, limits: &Bound<'_, PyAny>) -> PyResult<()> {
        engine_view::set_risk_limits(&mut self.engine, limits)
    }

    /// One instrument's own `max_position` (None: back to the limits' `max_position`);
    /// `ConfigError` for 0. `snapshot()["max_position_by_instrument"]` reads them back.
    #[pyo3(signature = (instrument_id, max_position))]
    fn set_position_limit(
        &mut self,
        instrument_id: u32,
        max_position: Option<u32>,
    ) -> PyResult<()> {
        engine_view::set_position_limit(&mut self.engine, instrument_id, max_position)
    }

    /// Whether `instrument_id` may open new positions (the scanner's selection); exits are
    /// never blocked. Blocked entries are held as NOT_SELECTED.
    fn set_entries_allowed(&mut self, instrument_id: u32, allowed: bool) {
        self.engine.set_entries_allowed(instrument_id, allowed);
    }

    /// The instruments that may not open new positions now.
    fn entries_blocked(&self) -> Vec<u32> {
        self.engine.entries_blocked().to_vec()
    }

    /// Re-gates a held intent at the moment the session releases it (after a disconnect or
    /// the broker's restart window): every gate with the state, limits, positions and market
    /// of now, its own working entry left out of the exposure, no second throttle token.
    /// `client_order_id`: any leg's client order id of the intent (the entry's for a cancel
    /// or an exit). Returns None: send it; or `{"reason": CODE, "message": str,
    /// "intent_id": int}`: do not send it. A refused intent's orders are closed at once
    /// (status REJECTED, reason "RISK_DENIED CODE: ..."), and the denial is also listed in
    /// the next call's "denials" (journal it there, once). `InvalidInputError` when the
    /// engine holds no working order of that intent.
    fn recheck<'py>(
        &mut self,
        py: Python<'py>,
        client_order_id: u64,
    ) -> PyResult<Option<Bound<'py, PyDict>>> {
        let (intent_id, _) = intent_of(client_order_id);
        let Some(n) = self.engine.recheck_held(intent_id).map_err(to_py)? else {
            return Ok(None);
        };
        let d = PyDict::new(py);
        d.set_item("reason", &n.reason)?;
        d.set_item("message", &n.detail)?;
        d.set_item("intent_id", n.intent_id)?;
        Ok(Some(d))
    }

    /// The operator's state from the journal after a restart, before anything is sent:
    /// `state` ACTIVE / REDUCING / HALTED; `limits` the operator's limits (a dict of any
    /// subset over the core's defaults, e.g. the full `snapshot()["limits"]`); the day's
    /// `realized_pnl` (before fees) and `fees` so far, account currency; optionally the
    /// day's `traded_notional` and the drawdown breaker's `equity_peak`. The daily-loss
    /// breaker then counts from the restored P&L. `ConfigError` for bad limits,
    /// `InvalidInputError` (every problem named, nothing changed) for bad amounts or once
    /// the engine has sent an order in this process; `ValueError` for an unknown state.
    #[pyo3(signature = (state, limits, realized_pnl, fees, traded_notional = 0.0, equity_peak = None))]
    fn restore_operator_state(
        &mut self,
        state: &str,
        limits: &Bound<'_, PyAny>,
        realized_pnl: f64,
        fees: f64,
        traded_notional: f64,
        equity_peak: Option<f64>,
    ) -> PyResult<()> {
        let s = TradingState::parse(state).ok_or_else(|| {
            PyValueError::new_err(format!(
                "trading state must be ACTIVE, REDUCING or HALTED, got {state:?}"
            ))
        })?;
        let l = engine_view::limits_over(&RiskLimits::default(), limits)?;
        self.engine
            .restore_operator_state(
                s,
                l,
                DayBefore {
                    realized_pnl,
                    fees,
                    traded_notional,
                },
                equity_peak,
            )
            .map_err(to_py)
    }

    /// The exit half of a contract roll for one instrument: its working orders cancelled and
    /// a reduce-only market exit, each through the gate; the state is not changed.
    fn roll_exit<'py>(
        &mut self,
        py: Python<'py>,
        instrument_id: u32,
    ) -> PyResult<Bound<'py, PyDict>> {
        self.engine.roll_exit(instrument_id).map_err(to_py)?;
        self.out(py)
    }

    /// The entry half of a roll: `qty` at market on `side`, with `bracket` (stop_loss,
    /// take_profit) when given, through every gate.
    #[pyo3(signature = (instrument_id, side, qty, bracket = None))]
    fn roll_entry<'py>(
        &mut self,
        py: Python<'py>,
        instrument_id: u32,
        side: &str,
        qty: u32,
        bracket: Option<(f64, f64)>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let side = side_of(side)?;
        self.engine
            .roll_entry(instrument_id, side, qty, bracket)
            .map_err(to_py)?;
        self.out(py)
    }

    /// The feed's instrument id (Databento's, from its definitions or symbol mappings) of
    /// this engine's `instrument_id`; records of unmapped feed ids are skipped (counted).
    fn map_feed_instrument(&mut self, feed_id: u32, instrument_id: u32) -> PyResult<()> {
        if self.symbols.0.iter().all(|(k, _)| *k != instrument_id) {
            return Err(to_py(CoreError::InvalidInput {
                what: format!("feed instrument {feed_id}"),
                detail: format!("engine instrument {instrument_id} is not in this session"),
            }));
        }
        self.feed.map(feed_id, instrument_id);
        Ok(())
    }

    /// DBN records as a live feed hands them (current DBN version, concatenated, each
    /// record its own length, a `ts_out` suffix allowed) through the engine: MBO through
    /// the backtest's `on_mbo` path (the L3 book, queue model, features, decision, gates);
    /// MBP-1 / MBP-10 as the touch and a trade print for their `T` records; trades as trade
    /// prints; definitions, status, system and symbol-mapping records are counted and left
    /// to the control plane. Returns the outbox and denials (as `on_quote`) with `records`
    /// (fed to the engine), `skipped` (unmapped instrument or non-market record).
    /// `InvalidInputError` naming the byte offset of a truncated or malformed record.
    fn on_records<'py>(&mut self, py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyDict>> {
        let (fed, skipped) = self.feed.feed(&mut self.engine, data).map_err(to_py)?;
        let d = self.out(py)?;
        d.set_item("records", fed)?;
        d.set_item("skipped", skipped)?;
        Ok(d)
    }

    /// A gap in the feed of `instrument_id` (records lost: the gateway flagged one
    /// F_MAYBE_BAD_BOOK, or a reconnect could not replay what was missed): its book is marked
    /// untrusted through the F_MAYBE_BAD_BOOK path, so the gates refuse new entries on it
    /// (BOOK_UNTRUSTED) until a snapshot rebuilds it. Counted in `feed_stats()`.
    fn mark_untrusted(&mut self, instrument_id: u32) -> PyResult<()> {
        self.feed
            .mark_untrusted(&mut self.engine, instrument_id)
            .map_err(to_py)
    }

    /// The feed's counters: records fed, skipped, gaps marked per engine instrument.
    fn feed_stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("records", self.feed.records)?;
        d.set_item("skipped", self.feed.skipped)?;
        let g = PyDict::new(py);
        for (k, n) in &self.feed.gaps {
            g.set_item(*k, *n)?;
        }
        d.set_item("gaps", g)?;
        Ok(d)
    }

    /// The top `levels` of one side ("B" or "A") of the engine's book of `instrument_id`:
    /// (price, size, order count) per level (empty before its first record).
    fn book_levels(
        &self,
        instrument_id: u32,
        side: &str,
        levels: i128,
    ) -> PyResult<Vec<(f64, u64, u32)>> {
        match self.engine.book(instrument_id) {
            Some(b) => crate::book::levels_of(b, side, levels),
            None => Ok(Vec::new()),
        }
    }

    /// Whether the book of `instrument_id` is trusted now (None before its first record).
    fn book_trusted(&self, instrument_id: u32) -> Option<bool> {
        self.engine
            .book(instrument_id)
            .map(|b| !tradecore::book::BookView::integrity(b).untrusted)
    }

    /// Cancels and reduce-only exits through the risk gate; REDUCING after.
    fn flatten<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        self.engine.flatten();
        self.out(py)
    }

    /// State, limits, positions with P&L, counters, the model, and the working orders.
    fn snapshot<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = engine_view::snapshot(py, &self.engine, &self.symbols, self.model.as_ref())?;
        let working = PyList::empty(py);
        for o in self.engine.sim().orders() {
            if !o.status.is_terminal() {
                working.append(self.order_dict(py, o)?)?;
            }
        }
        d.set_item("working", working)?;
        d.set_item("next_intent_id", self.engine.next_intent_id())?;
        d.set_item("overfilled", self.engine.sim().overfilled())?;
        Ok(d)
    }

    /// One external signal (`side` "BUY"/"SELL", `confidence` in (0, 1]) answered at the
    /// instrument's next quote or trade (or at once by `evaluate`): the external threshold,
    /// decision, sizing and every gate, as any signal. Needs `signal_inbox=True`. `tag`: a
    /// correlation id for its verdict; `confirm`: trade only if the model's probability for
    /// the side on the current features is >= `confidence` (refused without a model).
    /// `ts`: when it was pushed (event time; default the engine's clock), its age is
    /// counted from there.
    #[pyo3(signature = (instrument_id, side, confidence, tag = 0, confirm = false, ts = None))]
    fn push_signal(
        &self,
        instrument_id: u32,
        side: &str,
        confidence: f32,
        tag: u64,
        confirm: bool,
        ts: Option<u64>,
    ) -> PyResult<()> {
        let now = ts.unwrap_or(self.engine.now());
        let inbox = self.inbox.as_ref();
        engine_view::push_signal(inbox, instrument_id, side, confidence, now, tag, confirm)
    }

    /// The decision path for one instrument now, on its current book and the features of
    /// its last event (a pushed signal is answered without waiting for the next quote).
    /// Returns `{"intents", "denials", "evaluated"}`; `evaluated` is false when the
    /// instrument has no market state yet (the signal then waits for its next quote).
    fn evaluate<'py>(
        &mut self,
        py: Python<'py>,
        instrument_id: u32,
        ts: u64,
    ) -> PyResult<Bound<'py, PyDict>> {
        let asked = self.engine.evaluate(instrument_id, ts).map_err(to_py)?;
        let d = self.out(py)?;
        d.set_item("evaluated", asked)?;
        Ok(d)
    }

    /// The verdicts of tagged signals since the last call: tag, instrument_id, side, ts,
    /// model_prob, threshold, accepted, reason, outcome (a HOLD reason, SENT or DENIED) and
    /// intent_id (the order the signal became).
    fn drain_signal_verdicts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        engine_view::drain_verdicts(py, self.inbox.as_ref())
    }

    /// Signals pushed and not yet answered.
    #[getter]
    fn pending_signals(&self) -> usize {
        self.inbox.as_ref().map_or(0, |i| i.pending())
    }

    /// Asks the model slot to load the registry's production version (lands between two
    /// later events). `ValueError` without a registry model.
    fn request_model_swap(&self) -> PyResult<()> {
        engine_view::request_model_swap(self.model.as_ref())
    }
}
