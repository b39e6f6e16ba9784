//! The trading engine loop, the same code for backtest, paper and live (only the clock and
//! the venue change):
//!
//! events -> book -> features -> predictions -> decision -> sizing -> risk gates -> order
//! intents -> venue -> fills -> positions and P&L -> telemetry.
//!
//! [`Engine::on_mbo`] takes one MBO record; everything downstream happens inside it, in
//! event time, deterministically (no wall clock, no hash iteration order, seeded latency
//! draws). The wall clock is read only for the event-to-intent latency telemetry.
//! [`Backtest`] merges one or more DBN MBO files by `ts_recv` and feeds the engine in chunks
//! so a caller can report progress.
//!
//! This file is the loop (records -> decision -> the one choke point to the venue); the
//! rest lives beside it: `signals` (predictors, external signals, per-instrument sets),
//! `config` (`EngineConfig`), `accounting` (average-cost positions, round trips, equity),
//! `portfolio` (streaming correlations), `backtest` (files -> engine), `live` / `broker` / `quotes` (sessions).

use std::time::Instant;

use dbn::MboMsg;

use crate::bars::{Aggressor, BarBuilder};
use crate::book::{BookView, L3Book, Side, PRICE_SCALE};
use crate::decision::{decide, Action, RiskInputs};
use crate::error::{CoreError, Result};
use crate::features::{BarFeatureEngine, FeatureBar, MicroEngine};
use crate::orders::{
    Fill, InstrumentId, InstrumentSpec, IntentAction, OrderIntent, OrderSide, OrderType,
    TimeInForce,
};
use crate::risk::{
    AccountState, MarketState, PositionState as RiskPosition, RiskContext, RiskEngine, TradingState,
};
use crate::riskmodel::{RiskForecast, StreamingRisk};
use crate::sim::SimExchange;
use crate::sizing::size;

/// One order that reached [`Engine`]'s choke point, with what the risk gate answered for it
/// at that moment (computed without effect before the real check): the send audit a
/// property test compares with everything the venue received.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SendAudit {
    pub intent: OrderIntent,
    /// None: the gate passes it; Some: the reason it refuses it.
    pub refused: Option<crate::risk::ReasonCode>,
}

/// A pre-trade denial (an expected outcome, kept as data).
#[derive(Debug, Clone, PartialEq)]
pub struct Denial {
    pub ts: u64,
    pub intent_id: u64,
    pub reason: String,
    pub detail: String,
    /// What was denied (a session journals it whole).
    pub intent: OrderIntent,
}

/// Counters of one run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Telemetry {
    /// Market records seen.
    pub records: u64,
    /// Event boundaries (F_LAST).
    pub events: u64,
    /// Predictions returned (not gated).
    pub signals: u64,
    /// Decisions to trade (BUY/SELL past every decision rule).
    pub decisions: u64,
    /// Signals the decision step turned into HOLD, by reason, in order of first occurrence.
    pub holds_by_reason: Vec<(String, u64)>,
    /// The same holds over time: (start of the event-time minute, reason, count), in time
    /// order (bounded by minutes x reasons, not by signals: a micro model asks every event).
    pub holds_by_minute: Vec<(u64, &'static str, u64)>,
    /// BUY/SELL decisions sizing turned down (edge too small for fees, qty rounds to 0).
    pub not_sized: u64,
    pub intents: u64,
    pub denials: u64,
    /// Denials by reason code, in order of first occurrence.
    pub denials_by_reason: Vec<(String, u64)>,
    /// Intents sent to the venue.
    pub orders: u64,
    /// Trades left out of the bars (undefined price, bad size), bar feature sets only.
    pub bad_trades: u64,
    pub fills: u64,
    /// Feature drift breaches recorded (an instrument's window going past a threshold).
    pub drift_alerts: u64,
}

/// Where intents go: the simulated exchange in backtests, a broker adapter in paper and live
/// sessions. The engine talks to its venue through this and nothing else, so the loop is the
/// same everywhere; a broker adapter ignores the market-data hooks (the real venue matches).
pub trait Venue {
    /// Contract terms of an instrument the venue trades.
    fn spec(&self, id: InstrumentId) -> Option<&InstrumentSpec>;
    /// Sends an intent at `now`; returns the client order id it acts on.
    fn submit(&mut self, intent: &OrderIntent, now: u64) -> u64;
    /// Time of the next action of ours to take effect at the venue, if it is simulated.
    fn next_arrival(&self) -> Option<u64>;
    /// Lets actions due by `t` act on the books.
    fn process_until(&mut self, t: u64, books: &[(InstrumentId, L3Book)]);
    /// Sees a market record before the book applies it.
    fn on_mbo(&mut self, m: &MboMsg, book: &L3Book);
    /// End of an event on `id` (the book has applied it).
    fn on_event_end(&mut self, id: InstrumentId, ts: u64, book: &L3Book);
    /// Every fill so far, in time order (the engine books the ones it has not seen).
    fn fills(&self) -> &[Fill];
    /// Signed contracts of working entries (exposure the risk gate counts).
    fn working_qty(&self, id: InstrumentId) -> i64;
    fn has_open_orders(&self, id: InstrumentId) -> bool;
    fn open_order_ids(&self, id: InstrumentId) -> Vec<u64>;
    /// One draw of the market-data latency to the strategy (0 for a live feed: it is real).
    fn feed_latency(&mut self) -> u64;
    /// The intent `intent_id` as it was submitted, while the venue still holds some order of
    /// it unsent or working (a broker venue whose control plane holds intents during a
    /// disconnect or restart window). A venue that sends at once holds nothing.
    fn held_intent(&self, _intent_id: u64) -> Option<OrderIntent> {
        None
    }
    /// Signed remaining quantity of the working entry of `intent_id` (its own share of
    /// [`Venue::working_qty`]).
    fn own_working_qty(&self, _intent_id: u64) -> i64 {
        0
    }
    /// Takes every order of `intent_id` that is not terminal out of the working set
    /// (rejected with `reason`): a held intent the gate refused on release.
    fn withdraw(&mut self, _intent_id: u64, _reason: &str) {}
}

impl Venue for SimExchange {
    fn spec(&self, id: InstrumentId) -> Option<&InstrumentSpec> {
        SimExchange::spec(self, id)
    }
    fn submit(&mut self, intent: &OrderIntent, now: u64) -> u64 {
        SimExchange::submit(self, intent, now)
    }
    #[inline]
    fn next_arrival(&self) -> Option<u64> {
        SimExchange::next_arrival(self)
    }
    fn process_until(&mut self, t: u64, books: &[(InstrumentId, L3Book)]) {
        SimExchange::process_until(self, t, books)
    }
    #[inline]
    fn on_mbo(&mut self, m: &MboMsg, book: &L3Book) {
        SimExchange::on_mbo(self, m, book)
    }
    #[inline]
    fn on_event_end(&mut self, id: InstrumentId, ts: u64, book: &L3Book) {
        SimExchange::on_event_end(self, id, ts, book)
    }
    #[inline]
    fn fills(&self) -> &[Fill] {
        SimExchange::fills(self)
    }
    fn working_qty(&self, id: InstrumentId) -> i64 {
        SimExchange::working_qty(self, id)
    }
    fn has_open_orders(&self, id: InstrumentId) -> bool {
        SimExchange::has_open_orders(self, id)
    }
    fn open_order_ids(&self, id: InstrumentId) -> Vec<u64> {
        self.open_orders(id).map(|o| o.client_order_id).collect()
    }
    fn feed_latency(&mut self) -> u64 {
        SimExchange::feed_latency(self)
    }
}

/// The engine: books, features, predictor, decision, risk gates, venue, positions.
pub struct Engine<V: Venue = SimExchange> {
    cfg: EngineConfig,
    books: Vec<(InstrumentId, L3Book)>,
    feats: Vec<Feats>,
    last_update: Vec<u64>,
    /// Last trade price per instrument (the risk gate's reference without a mid).
    last_trade: Vec<Option<i64>>,
    risk: RiskEngine,
    risk_positions: Vec<RiskPosition>,
    equity_peak: f64,
    vols: Vec<VolEstimator>,
    /// The GARCH/copula risk model per slot, when configured (else the EWMA in `vols`).
    risk_model: Option<StreamingRisk>,
    /// The risk inputs of the last decision (diagnostics and tests).
    last_risk: Option<RiskInputs>,
    predictor: Box<dyn Predictor + Send>,
    row: Vec<f64>,
    /// The last feature row each slot's predictor saw (an on-demand evaluation reuses it).
    rows32: Vec<Vec<f32>>,
    /// Whether the slot has computed a feature row yet.
    featured: Vec<bool>,
    probs: Vec<f32>,
    sim: V,
    positions: Vec<PositionState>,
    open_trades: Vec<Option<OpenTrade>>,
    /// Intent ids of exits, with their reason (entries are absent).
    exit_reasons: Vec<(u64, ExitReason)>,
    /// Instruments that may not open new positions (a scanner left them out): their
    /// signals still close positions, their entries are held as NOT_SELECTED.
    entries_blocked: Vec<InstrumentId>,
    /// Intent id of the entry whose bracket protects each instrument's position.
    active_entry: Vec<Option<u64>>,
    next_intent: u64,
    fills_seen: usize,
    now: u64,
    /// Whether the predictor reads features (else they are not computed).
    features_on: bool,
    /// EWMA weight of one second of the volatility estimate.
    vol_alpha: f64,
    last_equity_ts: Option<u64>,
    finished: bool,
    pub telemetry: Telemetry,
    pub trades: Vec<Trade>,
    pub equity: Vec<EquityPoint>,
    pub denials: Vec<Denial>,
    /// Event-to-intent latency per decision that produced an intent, wall clock ns.
    pub latency_ns: Vec<i64>,
    /// Quotes and trade prints of an L1 feed, as MBO records (`Engine::on_quote`).
    l1: quotes::QuoteFeed,
    l1_buf: Vec<MboMsg>,
    /// Every order at the choke point with the gate's verdict, when auditing is on.
    audit: Option<Vec<SendAudit>>,
    /// The day before this process (a restart): realized P&L, fees and traded notional the
    /// journal holds, the daily-loss breaker's and the daily exposure's baseline.
    day_before: DayBefore,
    /// Streaming correlations of the instruments' mid returns (the correlation screen).
    corr: portfolio::StreamingCorrelation,
    /// Feature row width per slot (a portfolio's instruments may stream different sets).
    widths: Vec<usize>,
    /// Feature drift of the rows handed to the model, when a reference is configured.
    drift: Option<crate::drift::DriftWatch>,
}

/// What the day booked before a restart (see [`Engine::restore_operator_state`]).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DayBefore {
    /// Realized P&L before fees, account currency.
    pub realized_pnl: f64,
    pub fees: f64,
    pub traded_notional: f64,
}

impl Engine<SimExchange> {
    /// An engine on the simulated exchange built from `cfg.sim` and `cfg.specs`.
    pub fn new(cfg: EngineConfig, predictor: Box<dyn Predictor + Send>) -> Result<Engine> {
        cfg.validate()?;
        let sim = SimExchange::new(cfg.sim.clone(), cfg.specs.clone())?;
        Engine::with_venue(cfg, predictor, sim)
    }
}

impl<V: Venue> Engine<V> {
    /// An engine on any venue (a broker adapter for paper and live sessions).
    pub fn with_venue(
        cfg: EngineConfig,
        predictor: Box<dyn Predictor + Send>,
        sim: V,
    ) -> Result<Engine<V>> {
        cfg.validate()?;
        let k = predictor.classes().len();
        if k < 2 {
            return Err(CoreError::Config(format!(
                "predictor: need at least 2 classes, got {k}"
            )));
        }
        let width = cfg
            .instrument_features
            .iter()
            .map(|(_, f, _)| f.len())
            .fold(cfg.features.len(), usize::max);
        let features_on = predictor.uses_features();
        let mut risk = RiskEngine::new(cfg.risk)?;
        for (id, m) in &cfg.position_limits {
            risk.set_position_limit(*id, Some(*m))?;
        }
        Ok(Engine {
            books: Vec::new(),
            feats: Vec::new(),
            last_update: Vec::new(),
            last_trade: Vec::new(),
            risk,
            risk_positions: Vec::new(),
            equity_peak: cfg.initial_equity,
            vols: Vec::new(),
            risk_model: cfg.risk_model.clone().map(StreamingRisk::new).transpose()?,
            last_risk: None,
            predictor,
            row: vec![0.0; width],
            rows32: Vec::new(),
            featured: Vec::new(),
            probs: vec![0.0; k],
            sim,
            positions: Vec::new(),
            open_trades: Vec::new(),
            exit_reasons: Vec::new(),
            entries_blocked: Vec::new(),
            active_entry: Vec::new(),
            next_intent: 1,
            fills_seen: 0,
            now: 0,
            features_on,
            vol_alpha: 1.0 - 0.5f64.powf(1.0 / cfg.vol_halflife_s),
            last_equity_ts: None,
            finished: false,
            telemetry: Telemetry::default(),
            trades: Vec::new(),
            equity: Vec::new(),
            denials: Vec::new(),
            latency_ns: Vec::new(),
            l1: quotes::QuoteFeed::new(),
            l1_buf: Vec::new(),
            audit: None,
            day_before: DayBefore::default(),
            corr: portfolio::StreamingCorrelation::new(cfg.corr_halflife_s, cfg.corr_min_samples),
            widths: Vec::new(),
            drift: cfg.drift.clone().map(crate::drift::DriftWatch::new),
            cfg,
        })
    }

    pub fn config(&self) -> &EngineConfig {
        &self.cfg
    }

    /// The venue (the simulated exchange in backtests: its order log, fills, rejects).
    pub fn sim(&self) -> &V {
        &self.sim
    }

    pub fn positions(&self) -> &[PositionState] {
        &self.positions
    }

    /// The risk inputs the last decision saw (None before the first one).
    pub fn last_risk_inputs(&self) -> Option<RiskInputs> {
        self.last_risk
    }

    /// The GARCH/copula model's current forecast for `id` over the decision horizon (None
    /// with the EWMA model, an unknown instrument, or while warming up).
    pub fn risk_forecast(&mut self, id: InstrumentId) -> Option<RiskForecast> {
        let s = self.books.iter().position(|(k, _)| *k == id)?;
        let h = self.cfg.decision.horizon_ns;
        self.risk_model.as_mut()?.forecast(s, h)
    }

    /// The streaming correlation of two instruments' one-second mid returns now (0 until
    /// the pair has enough joint samples; None for an instrument not seen yet).
    pub fn correlation(&self, a: InstrumentId, b: InstrumentId) -> Option<f64> {
        self.corr.get(a, b)
    }

    pub fn book(&self, id: InstrumentId) -> Option<&L3Book> {
        self.books.iter().find(|(k, _)| *k == id).map(|(_, b)| b)
    }

    /// Slot of an instrument, created on first sight. Instruments without a spec are an
    /// error: trading them would need a tick size and a multiplier we do not have.
    fn slot(&mut self, id: InstrumentId) -> Result<usize> {
        if let Some(i) = self.books.iter().position(|(k, _)| *k == id) {
            return Ok(i);
        }
        let Some(spec) = self.sim.spec(id).copied() else {
            return Err(CoreError::Config(format!(
                "instrument {id} is in the data but has no spec (tick size, multiplier): \
                 add it to the definitions or the config"
            )));
        };
        let (set, tf) = self
            .cfg
            .instrument_features
            .iter()
            .find(|(k, _, _)| *k == id)
            .map_or(
                (&self.cfg.features, self.cfg.bar_timeframe),
                |(_, f, tf)| (f, *tf),
            );
        let feats = if set.is_micro() {
            Feats::Micro(MicroEngine::new(set)?)
        } else {
            Feats::Bars {
                builder: BarBuilder::new(tf),
                engine: BarFeatureEngine::new(set, tf)?,
                fresh: false,
            }
        };
        self.widths.push(set.len());
        self.rows32.push(vec![0.0; set.len()]);
        self.featured.push(false);
        self.books.push((id, L3Book::new()));
        self.feats.push(feats);
        self.corr.add(id);
        self.last_update.push(0);
        self.last_trade.push(None);
        self.vols.push(VolEstimator::default());
        if let Some(r) = &mut self.risk_model {
            r.add_slot(id)?;
        }
        self.positions.push(PositionState::new(id, spec.multiplier));
        self.open_trades.push(None);
        self.active_entry.push(None);
        Ok(self.books.len() - 1)
    }

    /// One market record, in `ts_recv` order.
    pub fn on_mbo(&mut self, m: &MboMsg) -> Result<()> {
        // Event-to-intent latency runs from the start of the record that completes the
        // event; the clock is read only when a decision can follow.
        let started =
            if m.flags.is_last() && self.predictor.may_signal(m.hd.instrument_id, m.ts_recv) {
                Some(Instant::now())
            } else {
                None
            };
        let ts = m.ts_recv;
        self.now = ts;
        self.telemetry.records += 1;
        if self.sim.next_arrival().is_some_and(|a| a <= ts) {
            self.sim.process_until(ts, &self.books);
            self.book_fills();
        }
        let s = self.slot(m.hd.instrument_id)?;
        // The venue sees the record before the book does: a cancel or fill still finds the
        // order it names.
        self.sim.on_mbo(m, &self.books[s].1);
        self.books[s].1.apply(m);
        let width = self.widths[s];
        if self.features_on {
            match &mut self.feats[s] {
                Feats::Micro(f) => f.on_mbo(m),
                Feats::Bars {
                    builder,
                    engine,
                    fresh,
                } if m.action as u8 == b'T' => {
                    match builder.push(ts, m.price, m.size as f64, Aggressor::from_dbn(m.side)) {
                        Ok(Some(bar)) => {
                            engine.push(&FeatureBar::from(&bar), None, &mut self.row[..width])?;
                            *fresh = true;
                        }
                        Ok(None) => {}
                        // An undefined price or a bad size: counted, the trade is left out of
                        // the bar (as the book leaves it out of its state).
                        Err(_) => self.telemetry.bad_trades += 1,
                    }
                }
                Feats::Bars { .. } => {}
            }
        }
        self.last_update[s] = ts;
        if m.action as u8 == b'T' && m.price != crate::book::UNDEF_PRICE {
            self.last_trade[s] = Some(m.price);
        }
        self.book_fills();
        if !m.flags.is_last() {
            return Ok(());
        }
        self.telemetry.events += 1;
        let id = m.hd.instrument_id;
        self.books[s].1.end_event();
        self.sim.on_event_end(id, ts, &self.books[s].1);
        self.book_fills();
        let book = &self.books[s].1;
        self.positions[s].mark = mid(book);
        self.vols[s].update(ts, self.positions[s].mark, self.vol_alpha);
        if let (Some(r), Some(m)) = (&mut self.risk_model, self.positions[s].mark) {
            r.on_mid(s, ts, m as f64 / PRICE_SCALE as f64);
        }
        if let Some(m) = self.positions[s].mark {
            self.corr.on_mid(s, ts, m as f64 / PRICE_SCALE as f64);
        }
        let ask = if !self.features_on {
            true
        } else {
            let ask = match &mut self.feats[s] {
                Feats::Micro(f) => {
                    f.on_event(ts, book, &mut self.row[..width]);
                    true
                }
                Feats::Bars {
                    builder,
                    engine,
                    fresh,
                } => {
                    // The bar's interval is over: close it now rather than at the next trade.
                    if let Some(bar) = builder.close_through(ts) {
                        engine.push(&FeatureBar::from(&bar), None, &mut self.row[..width])?;
                        *fresh = true;
                    }
                    std::mem::take(fresh)
                }
            };
            if ask {
                for (d, x) in self.rows32[s].iter_mut().zip(&self.row[..width]) {
                    *d = *x as f32;
                }
                self.featured[s] = true;
            }
            ask
        };
        let signal = if ask {
            self.predictor
                .predict(id, ts, &self.rows32[s], &mut self.probs)?
        } else {
            None
        };
        if ts < self.cfg.trade_window.0 {
            // before the trading window: books, features and forecasts warm up only
            self.feed_drift(ask, s, id, ts, width)?;
            return Ok(());
        }
        if signal.is_some() {
            self.telemetry.signals += 1;
            let started = started.unwrap_or_else(Instant::now);
            let outcome = self.on_signal(s, ts, started)?;
            self.predictor.signal_outcome(outcome);
        }
        // after the decision: a drift check (tens of us every `check_every` rows) never
        // delays an intent
        self.feed_drift(ask, s, id, ts, width)?;
        self.sample_equity(ts, false);
        Ok(())
    }

    /// Drift sees the row the model was asked with (slots streaming another set are left
    /// out); without a reference this is one `Option` check.
    #[inline]
    fn feed_drift(
        &mut self,
        ask: bool,
        s: usize,
        id: InstrumentId,
        ts: u64,
        width: usize,
    ) -> Result<()> {
        match &self.drift {
            Some(d) if ask && self.features_on && d.width() == width => {
                self.drift_row(s, id, ts, width)
            }
            _ => Ok(()),
        }
    }

    /// Feeds slot `s`'s row to the drift watch; a new breach is counted and, by config,
    /// moves an ACTIVE engine to REDUCING (a HALTED one stays halted).
    #[cold]
    fn drift_row(&mut self, s: usize, id: InstrumentId, ts: u64, width: usize) -> Result<()> {
        let Some(d) = &mut self.drift else {
            return Ok(());
        };
        if d.on_row(s, id, ts, &self.row[..width])? {
            self.telemetry.drift_alerts += 1;
            if d.settings.reduce_on_drift && self.risk.state() == TradingState::Active {
                self.risk.set_state(TradingState::Reducing);
            }
        }
        Ok(())
    }

    /// The drift watch (None without a reference).
    pub fn drift(&self) -> Option<&crate::drift::DriftWatch> {
        self.drift.as_ref()
    }

    /// Drift events recorded since the last call (empty without a reference).
    pub fn drain_drift_events(&mut self) -> Vec<crate::drift::DriftEvent> {
        self.drift.as_mut().map(|d| d.drain()).unwrap_or_default()
    }

    /// A signal the decision step held, counted by reason and by event-time minute.
    fn hold(&mut self, ts: u64, reason: &'static str) {
        bump(&mut self.telemetry.holds_by_reason, reason);
        let minute = ts / 60_000_000_000 * 60_000_000_000;
        let t = &mut self.telemetry.holds_by_minute;
        // this minute's entries are at the tail (time order)
        let at = t
            .iter()
            .rev()
            .take_while(|(m, _, _)| *m == minute)
            .position(|(_, r, _)| *r == reason);
        match at {
            Some(k) => {
                let i = t.len() - 1 - k;
                t[i].2 += 1;
            }
            None => t.push((minute, reason, 1)),
        }
    }

    /// Runs the decision path for `id` now, on its current book and the features of its
    /// last event, without a market event: a signal pushed from outside (an alert) is
    /// answered at once instead of at the instrument's next quote. `ts` (event time) is
    /// held at the engine's clock if earlier. Returns false when nothing could be asked:
    /// the instrument has no market state yet, or its features none (the signal then waits
    /// for its next event).
    pub fn evaluate(&mut self, id: InstrumentId, ts: u64) -> Result<bool> {
        let Some(s) = self.books.iter().position(|(k, _)| *k == id) else {
            return Ok(false);
        };
        if self.features_on && !self.featured[s] {
            return Ok(false);
        }
        let ts = ts.max(self.now);
        if ts < self.cfg.trade_window.0 {
            return Ok(false); // before the trading window: nothing is decided
        }
        self.now = ts;
        if !self.predictor.may_signal(id, ts) {
            return Ok(true);
        }
        let started = Instant::now();
        let signal = self
            .predictor
            .predict(id, ts, &self.rows32[s], &mut self.probs)?;
        if signal.is_some() {
            self.telemetry.signals += 1;
            let outcome = self.on_signal(s, ts, started)?;
            self.predictor.signal_outcome(outcome);
        }
        Ok(true)
    }

    /// Decision -> sizing -> risk -> venue for one prediction of instrument slot `s`.
    fn on_signal(&mut self, s: usize, ts: u64, started: Instant) -> Result<SignalOutcome> {
        let risk = match &mut self.risk_model {
            Some(r) => r
                .forecast(s, self.cfg.decision.horizon_ns)
                .map(|f| f.inputs)
                .filter(|i| i.vol_forecast.is_finite() && i.vol_forecast > 0.0),
            None => {
                let vol = self.vols[s].forecast(
                    self.cfg.decision.horizon_ns as f64 / 1e9,
                    self.cfg.vol_min_samples,
                );
                // Normal tails around the EWMA forecast; no index, so co-movement is 0.
                (vol.is_finite() && vol > 0.0).then_some(RiskInputs {
                    vol_forecast: vol,
                    var99: 2.3263 * vol,
                    cvar99: 2.6652 * vol,
                    corr_to_index: 0.0,
                    beta_to_index: 0.0,
                    tail_dependence: 0.0,
                })
            }
        };
        let Some(risk) = risk else {
            // Warming up, or a mid that has not moved: no risk estimate, no trade (sizing
            // needs a positive volatility; decide would score unknown risk as 6, a pass).
            self.hold(ts, "NO_VOL_FORECAST");
            return Ok(SignalOutcome::Hold("NO_VOL_FORECAST"));
        };
        self.last_risk = Some(risk);
        let d = decide(
            &self.probs,
            self.predictor.classes(),
            &risk,
            self.predictor.source(),
            &self.cfg.decision,
        )?;
        let side = match d.action {
            Action::Buy => OrderSide::Buy,
            Action::Sell => OrderSide::Sell,
            Action::Hold => {
                let r = d.hold_reason.map_or("HOLD", |r| r.as_str());
                self.hold(ts, r);
                return Ok(SignalOutcome::Hold(r));
            }
        };
        self.telemetry.decisions += 1;
        let id = self.books[s].0;
        let pos = self.positions[s].qty;
        let intents = if pos != 0 && pos.signum() != side.sign() {
            // The model now points against the position: close it (the bracket goes).
            self.exit_intents(s, ts, ExitReason::Signal)
        } else if pos == 0 && self.entries_blocked.contains(&id) {
            self.hold(ts, "NOT_SELECTED");
            return Ok(SignalOutcome::Hold("NOT_SELECTED"));
        } else if pos == 0 && !self.sim.has_open_orders(id) {
            let book = &self.books[s].1;
            let touch = match side {
                OrderSide::Buy => book.best(Side::Ask),
                OrderSide::Sell => book.best(Side::Bid),
            };
            let (Some(touch), Some(spec)) = (touch, self.sim.spec(id).copied()) else {
                return Ok(SignalOutcome::Hold("NO_TOUCH"));
            };
            let equity = self.account_equity();
            let Some(sz) = size(&d, touch.price, equity, &spec, &self.cfg.sizing)? else {
                self.telemetry.not_sized += 1;
                return Ok(SignalOutcome::Hold("NOT_SIZED"));
            };
            let mut i = self.blank_intent(id, ts);
            i.side = side;
            i.qty = sz.qty;
            i.reduce_only = false;
            i.bracket = Some(sz.bracket);
            i.confidence = d.confidence;
            i.risk_score = d.risk_score;
            vec![i]
        } else {
            // Already positioned this way, or an entry is still working: hold.
            return Ok(SignalOutcome::Hold("POSITIONED"));
        };
        let mut latency_logged = false;
        // The order the signal asked for: the entry, or the exit's market order (cancels of
        // the bracket go first and are not it).
        let mut outcome = SignalOutcome::Hold("NO_INTENT");
        for intent in intents {
            self.telemetry.intents += 1;
            if !latency_logged {
                self.latency_ns
                    .push(started.elapsed().as_nanos().min(i64::MAX as u128) as i64);
                latency_logged = true;
            }
            let sent = self.dispatch(s, &intent);
            if matches!(intent.action, IntentAction::New) {
                outcome = SignalOutcome::Intent {
                    intent_id: intent.intent_id,
                    denied: !sent,
                };
            }
        }
        Ok(outcome)
    }

    /// The one way an order reaches the venue: the risk gate with the context of this
    /// moment, then the venue; a refusal is a denial (counted, kept). Every route (signals,
    /// operator flatten, end-of-data flatten) sends through here. Returns whether it went.
    fn dispatch(&mut self, s: usize, intent: &OrderIntent) -> bool {
        if self.audit.is_some() {
            let refused = self
                .gate_with(s, intent, 0, Gate::Preview { throttle: true })
                .err()
                .map(|(r, _)| r);
            if let Some(a) = &mut self.audit {
                a.push(SendAudit {
                    intent: *intent,
                    refused,
                });
            }
        }
        if let Err((reason, detail)) = self.gate_with(s, intent, 0, Gate::Check) {
            self.deny(intent.ts, intent, reason.as_str(), detail);
            return false;
        }
        self.send(intent);
        true
    }

    /// Turns the send audit on (every order at the choke point is kept with the gate's
    /// verdict of that moment; see [`SendAudit`]).
    pub fn enable_send_audit(&mut self) {
        self.audit.get_or_insert_with(Vec::new);
    }

    /// The send audit so far (empty unless [`Engine::enable_send_audit`] was called).
    pub fn send_audit(&self) -> &[SendAudit] {
        self.audit.as_deref().unwrap_or(&[])
    }

    /// What the risk gate would answer now for `intent`, without any effect (no token
    /// spent, nothing counted, no state change); `exclude_working` is the signed working
    /// quantity to leave out of the intent's exposure (its own working entry, for a held
    /// intent); `throttle` false leaves the rate limits out (as a release's recheck does).
    /// An instrument the engine has not seen yet is refused as INVALID_INTENT.
    pub fn gate_preview(
        &mut self,
        intent: &OrderIntent,
        exclude_working: i64,
        throttle: bool,
    ) -> std::result::Result<(), crate::risk::Denial> {
        let Some(s) = self
            .books
            .iter()
            .position(|(k, _)| *k == intent.instrument_id)
        else {
            return Err(crate::risk::Denial {
                reason: crate::risk::ReasonCode::InvalidIntent,
                detail: format!("instrument {} has no market state", intent.instrument_id),
            });
        };
        self.gate_with(s, intent, exclude_working, Gate::Preview { throttle })
            .map_err(|(reason, detail)| crate::risk::Denial { reason, detail })
    }

    /// Re-gates an intent the venue holds unsent (a broker's restart window, a disconnect)
    /// at the moment the control plane releases it: every gate with the state, limits,
    /// positions and market of now, its own working entry left out of the exposure, the
    /// throttle not charged twice. `Ok(None)`: send it. `Ok(Some(denial))`: the gate refuses
    /// it; it is withdrawn from the venue's working set (its orders rejected with the
    /// reason) and kept as a denial like any other. An intent the venue does not hold is an
    /// error naming it.
    pub fn recheck_held(&mut self, intent_id: u64) -> Result<Option<Denial>> {
        let Some(intent) = self.sim.held_intent(intent_id) else {
            return Err(CoreError::InvalidInput {
                what: format!("held intent {intent_id}"),
                detail: "the venue holds no working order of it".into(),
            });
        };
        let s = self.slot(intent.instrument_id)?;
        let own = self.sim.own_working_qty(intent_id);
        let mut checked = intent;
        checked.ts = checked.ts.max(self.now);
        if let Err((reason, detail)) = self.gate_with(s, &checked, own, Gate::Recheck) {
            self.sim.withdraw(
                intent_id,
                &format!("RISK_DENIED {}: {detail}", reason.as_str()),
            );
            self.deny(checked.ts, &intent, reason.as_str(), detail);
            self.book_fills();
            return Ok(Some(self.denials.last().cloned().expect("just denied")));
        }
        Ok(None)
    }

    /// Cancels of the protecting bracket and a reduce-only market order for the position.
    /// An exit already on its way (sent, not yet filled: the venue's answer is pending) is
    /// neither cancelled nor sent again: events that come before its fill (a burst of market
    /// data, the venue's latency) would otherwise cancel and replace it at every one, and a
    /// broker could fill more than one of them.
    fn exit_intents(&mut self, s: usize, ts: u64, reason: ExitReason) -> Vec<OrderIntent> {
        let id = self.books[s].0;
        let mut out = Vec::new();
        let open = self.sim.open_order_ids(id);
        let is_exit = |coid: u64, exits: &[(u64, ExitReason)]| {
            let (intent, leg) = crate::orders::intent_of(coid);
            leg == Some(crate::orders::Leg::Entry) && exits.iter().rev().any(|(i, _)| *i == intent)
        };
        let mut exiting = false;
        for coid in open {
            if is_exit(coid, &self.exit_reasons) {
                exiting = true;
                continue;
            }
            let mut c = self.blank_intent(id, ts);
            c.action = IntentAction::Cancel {
                client_order_id: coid,
            };
            out.push(c);
        }
        let pos = self.positions[s].qty;
        if pos != 0 && !exiting {
            let mut x = self.blank_intent(id, ts);
            x.side = if pos > 0 {
                OrderSide::Sell
            } else {
                OrderSide::Buy
            };
            x.qty = pos.unsigned_abs().min(u32::MAX as u64) as u32;
            self.exit_reasons.push((x.intent_id, reason));
            out.push(x);
        }
        out
    }

    fn blank_intent(&mut self, id: InstrumentId, ts: u64) -> OrderIntent {
        OrderIntent {
            intent_id: self.take_intent_id(),
            ts,
            instrument_id: id,
            action: IntentAction::New,
            side: OrderSide::Buy,
            qty: 0,
            order_type: OrderType::Market,
            price: None,
            stop_price: None,
            tif: TimeInForce::Ioc,
            reduce_only: true,
            bracket: None,
            source: self.predictor.source(),
            confidence: 0.0,
            risk_score: 1,
        }
    }

    fn take_intent_id(&mut self) -> u64 {
        let i = self.next_intent;
        self.next_intent += 1;
        i
    }

    /// The pre-trade risk gate (`tradecore::risk::RiskEngine`), with the context of this
    /// moment: the book, every position, the account, and our working entries less
    /// `exclude_working` (a held intent's own entry).
    fn gate_with(
        &mut self,
        s: usize,
        intent: &OrderIntent,
        exclude_working: i64,
        how: Gate,
    ) -> std::result::Result<(), (crate::risk::ReasonCode, String)> {
        let book = &self.books[s].1;
        let integ = book.integrity();
        let market = MarketState {
            instrument_id: self.books[s].0,
            mid: self.positions[s].mark,
            last_trade: self.last_trade[s],
            last_update_ns: self.last_update[s],
            book_trusted: !integ.untrusted,
            crossed: integ.crossed,
        };
        self.risk_positions.clear();
        for p in &self.positions {
            self.risk_positions.push(RiskPosition {
                instrument_id: p.instrument_id,
                qty: p.qty,
                // A position needs a mark; before the first two-sided book, its average cost.
                mark: p.mark.unwrap_or((p.avg_price * PRICE_SCALE as f64) as i64),
                multiplier: p.multiplier,
            });
        }
        let equity = self.account_equity();
        self.equity_peak = self.equity_peak.max(equity);
        let account = AccountState {
            equity,
            equity_peak: self.equity_peak,
            // A backtest is one session: "today" is the whole run (plus, after a restart,
            // what the day booked before it).
            realized_pnl_today: self.realized_pnl() - self.fees(),
            unrealized_pnl: self.positions.iter().map(|p| p.unrealized()).sum(),
            traded_notional_today: self.traded_notional(),
        };
        let ctx = RiskContext {
            now_ns: intent.ts,
            market: &market,
            positions: &self.risk_positions,
            account: &account,
            working_qty: self.sim.working_qty(intent.instrument_id) - exclude_working,
            // The engine's own streaming correlations, once it trades more than one.
            correlations: (self.books.len() > 1).then(|| self.corr.matrix()),
        };
        let r = match how {
            Gate::Check => self.risk.check(intent, &ctx),
            Gate::Recheck => self.risk.recheck(intent, &ctx),
            Gate::Preview { throttle } => self.risk.preview(intent, &ctx, throttle),
        };
        r.map_err(|d| (d.reason, d.detail))
    }

    fn deny(&mut self, ts: u64, intent: &OrderIntent, reason: &str, detail: String) {
        self.telemetry.denials += 1;
        bump(&mut self.telemetry.denials_by_reason, reason);
        self.denials.push(Denial {
            ts,
            intent_id: intent.intent_id,
            reason: reason.to_string(),
            detail,
            intent: *intent,
        });
    }

    /// Sends an approved intent; it leaves after the feed latency (the strategy saw this
    /// event that much after the venue stamped it) and reaches the venue after the order
    /// latency.
    fn send(&mut self, intent: &OrderIntent) {
        self.telemetry.orders += 1;
        let sent = intent.ts.saturating_add(self.sim.feed_latency());
        self.sim.submit(intent, sent);
        if intent.bracket.is_some() {
            if let Some(s) = self
                .books
                .iter()
                .position(|(k, _)| *k == intent.instrument_id)
            {
                self.active_entry[s] = Some(intent.intent_id);
            }
        }
    }

    /// End of data: cancels what is working, closes positions at the last book (exit
    /// reason END) when configured, lets every action reach the venue, samples equity.
    pub fn finish(&mut self) {
        if self.finished {
            return;
        }
        self.finished = true;
        let ts = self.now;
        // An entry still in flight may fill after the first flatten (or its cancel may
        // overtake it): flatten again until flat; a few rounds settle every race. The exits
        // pass the gate like every order: a HALTED engine sends none (they are denials).
        for _ in 0..4 {
            let mut sent = 0;
            if self.cfg.flatten_at_end {
                for s in 0..self.books.len() {
                    for intent in self.exit_intents(s, ts, ExitReason::End) {
                        self.telemetry.intents += 1;
                        sent += self.dispatch(s, &intent) as u32;
                    }
                }
            }
            self.sim.process_until(u64::MAX, &self.books);
            self.book_fills();
            if !self.cfg.flatten_at_end || sent == 0 || self.positions.iter().all(|p| p.qty == 0) {
                break;
            }
        }
        let end = self.sim.fills().last().map_or(ts, |f| f.ts.max(ts));
        self.sample_equity(end, true);
    }
}

/// How [`Engine::gate_with`] consults the risk engine.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Gate {
    /// The gate of a send: counts denials, spends a throttle token.
    Check,
    /// A held intent on release: no token (it spent one), counts denials.
    Recheck,
    /// What the gate would say, without any effect (with or without the throttles).
    Preview { throttle: bool },
}

/// The streaming feature engine of one instrument.
enum Feats {
    Micro(MicroEngine),
    Bars {
        builder: BarBuilder,
        engine: BarFeatureEngine,
        /// A bar completed since the predictor was last asked.
        fresh: bool,
    },
}

fn bump(counts: &mut Vec<(String, u64)>, key: &str) {
    match counts.iter_mut().find(|(r, _)| r == key) {
        Some((_, n)) => *n += 1,
        None => counts.push((key.to_string(), 1)),
    }
}

/// Streaming volatility of one instrument: an EWMA of squared log returns of the mid
/// sampled once per second of event time (a return over a gap counts per elapsed second).
#[derive(Debug, Clone, Default)]
struct VolEstimator {
    last_sec: u64,
    last_log_mid: Option<f64>,
    var_per_s: f64,
    n: u32,
}

impl VolEstimator {
    #[inline]
    fn update(&mut self, ts: u64, mid: Option<i64>, alpha: f64) {
        let sec = ts / 1_000_000_000;
        let Some(m) = mid.filter(|m| *m > 0) else {
            return;
        };
        if self.last_log_mid.is_some() && sec == self.last_sec {
            return;
        }
        let lm = (m as f64).ln();
        if let Some(prev) = self.last_log_mid {
            let dt = (sec - self.last_sec) as f64;
            let x = (lm - prev) * (lm - prev) / dt;
            self.var_per_s = if self.n == 0 {
                x
            } else {
                self.var_per_s + alpha * (x - self.var_per_s)
            };
            self.n += 1;
        }
        self.last_log_mid = Some(lm);
        self.last_sec = sec;
    }

    /// Standard deviation of the return over `horizon_s`; NaN while warming up (the
    /// decision then sees unknown risk and holds).
    fn forecast(&self, horizon_s: f64, min_samples: u32) -> f64 {
        if self.n < min_samples {
            return f64::NAN;
        }
        (self.var_per_s * horizon_s).sqrt()
    }
}

/// Mid of a book, fixed-point (rounded down to an integer nano-unit), if both sides exist.
fn mid(book: &L3Book) -> Option<i64> {
    let (b, a) = book.bbo();
    Some((b?.price + a?.price) / 2)
}

/// Names used in the run folder (docs/backtest-outputs.md).
pub mod names {
    use crate::orders::{Leg, Liquidity, OrderSide, OrderType};

    pub fn side(s: OrderSide) -> &'static str {
        match s {
            OrderSide::Buy => "BUY",
            OrderSide::Sell => "SELL",
        }
    }

    pub fn order_type(t: OrderType) -> &'static str {
        match t {
            OrderType::Market => "MARKET",
            OrderType::Limit => "LIMIT",
            OrderType::Stop => "STOP",
        }
    }

    pub fn leg(l: Leg) -> &'static str {
        match l {
            Leg::Entry => "ENTRY",
            Leg::StopLoss => "STOP_LOSS",
            Leg::TakeProfit => "TAKE_PROFIT",
        }
    }

    pub fn liquidity(l: Liquidity) -> &'static str {
        match l {
            Liquidity::Maker => "MAKER",
            Liquidity::Taker => "TAKER",
        }
    }
}

mod accounting;
mod backtest;
mod config;
mod signals;

pub(crate) use accounting::OpenTrade;
pub use accounting::{average_cost, EquityPoint, ExitReason, PositionState, Trade};
pub use backtest::Backtest;
pub use config::{latency_model, EngineConfig, EngineSettings, LatencySetting};
pub use signals::{ExternalSignals, Predictor, PredictorSet};
// Specs resolution lives with the specs table; the old paths keep working.
pub use crate::instruments::resolve::{
    file_symbols, resolve_specs, specs_for_files, symbol_root, SpecSource,
};

/// Session controls and the incremental log a session journals (replay, paper, live).
pub mod broker;
pub mod inbox;
use inbox::SignalOutcome;
pub mod live;
pub mod placebo;
pub mod portfolio;
pub mod quotes;

#[cfg(test)]
mod testkit;
#[cfg(test)]
mod tests;
