//! The engine in a session (replay, paper, live): the operator's controls and an
//! incremental view of what happened, so a control plane can journal and publish every
//! order, fill and denial as the engine runs, not only at the end like a backtest.
//!
//! The loop itself is untouched: a session steps [`Backtest`] (replay) in chunks and, between
//! chunks, applies commands (halt, resume, reducing, limits, flatten) and drains the new
//! records with [`SessionLog::drain`]. Commands take effect at the next record, in event
//! time, so a replay with the same commands at the same records is deterministic.
//!
//! Paper and live sessions feed the engine a broker's quotes ([`Engine::on_quote`], turned
//! into MBO records by [`super::quotes`]) and its execution reports
//! ([`Engine::venue_update`] on a [`super::broker::BrokerVenue`]); a restart restores the
//! positions and intent ids the journal holds ([`Engine::restore_position`],
//! [`Engine::reserve_intent_ids`]).

use crate::error::{CoreError, Result};
use crate::orders::{Fill, InstrumentId, OrderSide};
use crate::risk::{RiskLimits, TradingState};
use crate::sim::{OrderStatus, SimOrder};

use super::quotes::Level;
use super::{Backtest, Denial, Engine, ExitReason, Gate, OpenTrade, Predictor, Venue};
use crate::orders::IntentAction;

impl<V: Venue> Engine<V> {
    /// ACTIVE, REDUCING or HALTED (the risk engine's state; a loss breach can move it).
    pub fn trading_state(&self) -> TradingState {
        self.risk.state()
    }

    /// The operator's switch: HALTED denies every new order and modify (cancels pass),
    /// REDUCING admits only orders that reduce a position, ACTIVE trades.
    pub fn set_trading_state(&mut self, s: TradingState) {
        self.risk.set_state(s);
    }

    pub fn risk_limits(&self) -> &RiskLimits {
        self.risk.limits()
    }

    /// One instrument's own `max_position` (`None`: back to the limits'); 0 is refused.
    pub fn set_position_limit(&mut self, id: InstrumentId, max: Option<u32>) -> Result<()> {
        self.risk.set_position_limit(id, max)?;
        self.cfg.position_limits.retain(|(k, _)| *k != id);
        if let Some(m) = max {
            self.cfg.position_limits.push((id, m));
        }
        Ok(())
    }

    /// Whether `id` may open new positions (a scanner's selection, an operator's choice);
    /// closing a position is never blocked. Entries of a blocked instrument are held with
    /// the reason NOT_SELECTED.
    pub fn set_entries_allowed(&mut self, id: InstrumentId, allowed: bool) {
        self.entries_blocked.retain(|k| *k != id);
        if !allowed {
            self.entries_blocked.push(id);
        }
    }

    /// The instruments that may not open new positions now.
    pub fn entries_blocked(&self) -> &[InstrumentId] {
        &self.entries_blocked
    }

    /// The `max_position` that applies to `id` now.
    pub fn max_position(&self, id: InstrumentId) -> u32 {
        self.risk.max_position(id)
    }

    /// New limits from the next check on. Invalid limits are refused with every bad field
    /// listed, and the engine keeps the limits it had.
    pub fn set_risk_limits(&mut self, l: RiskLimits) -> Result<()> {
        self.risk.set_limits(l)?;
        self.cfg.risk = l;
        Ok(())
    }

    /// Event time of the last record seen, UTC ns.
    pub fn now(&self) -> u64 {
        self.now
    }

    /// Flatten: moves to REDUCING (so the next signal cannot reopen; a HALTED engine
    /// becomes REDUCING too, or the exits themselves would be denied), cancels every working
    /// order and sends a reduce-only market order against each position. Every intent goes
    /// through the risk gate like any other. Returns (intents sent, intents denied).
    pub fn flatten(&mut self) -> (u64, u64) {
        self.risk.set_state(TradingState::Reducing);
        let (mut sent, mut denied) = (0, 0);
        let ts = self.now;
        for s in 0..self.books.len() {
            for intent in self.exit_intents(s, ts, ExitReason::Flatten) {
                self.telemetry.intents += 1;
                if self.dispatch(s, &intent) {
                    sent += 1;
                } else {
                    denied += 1;
                }
            }
        }
        (sent, denied)
    }

    /// A commission the broker reports for a fill of the day that an earlier engine of this
    /// session booked (the session replaced its engine when it restored from the journal,
    /// and the report came after the journal was folded): it belongs to the day's fees
    /// before this engine, so the daily-loss breaker and the P&L count it.
    pub fn book_day_fee(&mut self, fee: f64) -> Result<()> {
        if !(fee.is_finite() && fee >= 0.0) {
            return Err(CoreError::invalid(
                "fee",
                format!("{fee} (want a finite amount >= 0)"),
            ));
        }
        self.day_before.fees += fee;
        Ok(())
    }

    /// The exit half of a contract roll: cancels the instrument's working orders (its old
    /// month's bracket) and sends a reduce-only market exit of its position, each through
    /// the gate. Unlike [`Engine::flatten`] the engine's state is left as it is: a HALTED
    /// engine refuses the exit and the roll waits for the operator. The exit is previewed
    /// first: when the gate would refuse it, nothing is sent (not even the cancels, which
    /// would leave the position without its protection) and the exit is kept as a denial.
    /// Returns (sent, denied).
    pub fn roll_exit(&mut self, id: InstrumentId) -> Result<(u64, u64)> {
        let s = self.slot(id)?;
        let (mut sent, mut denied) = (0, 0);
        let ts = self.now;
        let intents = self.exit_intents(s, ts, ExitReason::Roll);
        if let Some(exit) = intents.iter().find(|i| i.action == IntentAction::New) {
            if let Err((reason, detail)) =
                self.gate_with(s, exit, 0, Gate::Preview { throttle: true })
            {
                self.telemetry.intents += 1;
                self.deny(exit.ts, exit, reason.as_str(), detail);
                return Ok((0, 1));
            }
        }
        for intent in intents {
            self.telemetry.intents += 1;
            if self.dispatch(s, &intent) {
                sent += 1;
            } else {
                denied += 1;
            }
        }
        Ok((sent, denied))
    }

    /// The entry half of a contract roll, once the old month is flat and the instrument
    /// trades the new one: a market order of `qty` contracts on `side` (not reduce-only),
    /// with the protecting bracket the control plane carries over (prices in price units),
    /// through every gate like any entry. True when it was sent; a denial is kept as any.
    pub fn roll_entry(
        &mut self,
        id: InstrumentId,
        side: OrderSide,
        qty: u32,
        bracket: Option<(f64, f64)>,
    ) -> Result<bool> {
        if qty == 0 {
            return Err(CoreError::invalid("qty", "0 (a roll re-enters a position)"));
        }
        let s = self.slot(id)?;
        let ts = self.now;
        let mut x = self.blank_intent(id, ts);
        x.side = side;
        x.qty = qty;
        x.reduce_only = false;
        x.confidence = 1.0;
        if let Some((stop_loss, take_profit)) = bracket {
            let scaled = |v: f64, what: &str| {
                if v.is_finite() && v > 0.0 {
                    Ok((v * crate::book::PRICE_SCALE as f64).round() as i64)
                } else {
                    Err(CoreError::invalid(what, format!("{v} (want a price > 0)")))
                }
            };
            x.bracket = Some(crate::orders::Bracket {
                stop_loss: scaled(stop_loss, "stop_loss")?,
                take_profit: scaled(take_profit, "take_profit")?,
            });
        }
        self.telemetry.intents += 1;
        Ok(self.dispatch(s, &x))
    }

    /// One top-of-book quote of an L1 feed (a broker's market data): the book moves to it
    /// and everything downstream runs as for an MBO event. An unchanged quote is no event.
    pub fn on_quote(&mut self, id: InstrumentId, ts: u64, bid: Level, ask: Level) -> Result<()> {
        self.feed_l1(|f, buf| f.quote(id, ts, bid, ask, buf))
    }

    /// One trade print of an L1 feed (`aggressor` b'B', b'A' or b'N').
    pub fn on_trade_print(
        &mut self,
        id: InstrumentId,
        ts: u64,
        price: i64,
        size: u32,
        aggressor: u8,
    ) -> Result<()> {
        self.feed_l1(|f, buf| f.trade(id, ts, price, size, aggressor, buf))
    }

    /// The records `make` writes for one L1 update, through [`Engine::on_mbo`] (the buffer
    /// is reused: no allocation per quote once it has grown).
    fn feed_l1(
        &mut self,
        make: impl FnOnce(&mut super::quotes::QuoteFeed, &mut Vec<dbn::MboMsg>) -> Result<()>,
    ) -> Result<()> {
        let mut buf = std::mem::take(&mut self.l1_buf);
        buf.clear();
        let r = make(&mut self.l1, &mut buf);
        let r = r.and_then(|()| buf.iter().try_for_each(|m| self.on_mbo(m)));
        self.l1_buf = buf;
        r
    }

    /// Hands the venue a report (a broker's fill or cancel, an adopted order) and books what
    /// it changed: positions, round trips and P&L move at once, not at the next quote.
    pub fn venue_update<R>(&mut self, f: impl FnOnce(&mut V) -> R) -> R {
        let r = f(&mut self.sim);
        self.book_fills();
        r
    }

    /// A commission the broker reports after the fill it belongs to (IB sends it apart, as
    /// a commissionReport): booked into the position's fees and into the round trip that
    /// fill is part of, so live P&L is after commissions as a backtest's is. The fill must
    /// be in the venue's log (a commission for an unknown fill is an error naming it).
    pub fn book_commission(&mut self, client_order_id: u64, fee: f64) -> Result<()> {
        let bad = |detail: String| CoreError::InvalidInput {
            what: format!("commission of client order {client_order_id}"),
            detail,
        };
        if !fee.is_finite() || fee < 0.0 {
            return Err(bad(format!("{fee} (want a finite amount >= 0)")));
        }
        let Some(f) = self
            .sim
            .fills()
            .iter()
            .rev()
            .find(|f| f.client_order_id == client_order_id)
            .copied()
        else {
            return Err(bad("no fill of that order was booked".into()));
        };
        let Some(s) = self.books.iter().position(|(k, _)| *k == f.instrument_id) else {
            return Err(bad(format!("instrument {} unknown", f.instrument_id)));
        };
        self.positions[s].fees += fee;
        let id = f.instrument_id;
        if let Some(t) = self
            .trades
            .iter_mut()
            .rev()
            .find(|t| t.instrument_id == id && t.entry_ts <= f.ts && f.ts <= t.exit_ts)
        {
            t.fees += fee;
            t.pnl -= fee;
        } else if let Some(t) = self.open_trades[s].as_mut() {
            t.fees += fee;
        }
        Ok(())
    }

    /// The position of `id` after a restart (from the journal, reconciled with the broker):
    /// `qty` signed contracts at average price `avg_price` (price units), opened at `ts`.
    /// Only before the instrument has traded in this process: it replaces nothing.
    pub fn restore_position(
        &mut self,
        id: InstrumentId,
        qty: i64,
        avg_price: f64,
        ts: u64,
    ) -> Result<()> {
        if !avg_price.is_finite() || (qty != 0 && avg_price == 0.0) {
            return Err(CoreError::InvalidInput {
                what: format!("restored position of instrument {id}"),
                detail: format!("average price {avg_price}"),
            });
        }
        let s = self.slot(id)?;
        let p = &mut self.positions[s];
        if p.qty != 0 || p.traded_notional != 0.0 {
            return Err(CoreError::InvalidInput {
                what: format!("restored position of instrument {id}"),
                detail: format!(
                    "the engine already holds {} (restore before trading)",
                    p.qty
                ),
            });
        }
        p.qty = qty;
        p.avg_price = if qty == 0 { 0.0 } else { avg_price };
        p.cash_flow = -(qty as f64) * avg_price * p.multiplier;
        self.open_trades[s] = (qty != 0).then(|| OpenTrade {
            side: if qty > 0 {
                OrderSide::Buy
            } else {
                OrderSide::Sell
            },
            entry_ts: ts,
            entry_qty: qty.unsigned_abs(),
            entry_notional: qty.unsigned_abs() as f64 * avg_price,
            exit_qty: 0,
            exit_notional: 0.0,
            fees: 0.0,
        });
        Ok(())
    }

    /// The operator's state after a restart, from the journal, before the engine may send
    /// anything: the trading state (a HALT survives the crash), the limits the operator set
    /// (they replace the config's), and what the day booked before the crash (realized P&L
    /// before fees, fees, traded notional: the daily-loss breaker and the daily exposure
    /// limit count from there, and the equity includes them; `initial_equity` stays the
    /// day's starting equity). `equity_peak`, when known, restores the drawdown breaker's
    /// peak (else the peak restarts from the restored equity). Refused, with every problem
    /// named, once the engine has sent an order in this process, or for non-finite amounts,
    /// negative fees or notional, or invalid limits; on refusal nothing changes.
    pub fn restore_operator_state(
        &mut self,
        state: TradingState,
        limits: RiskLimits,
        day: super::DayBefore,
        equity_peak: Option<f64>,
    ) -> Result<()> {
        let mut bad = Vec::new();
        if self.telemetry.orders > 0 {
            bad.push(format!(
                "the engine already sent {} order(s) in this process (restore before trading)",
                self.telemetry.orders
            ));
        }
        for (k, v) in [
            ("realized_pnl", day.realized_pnl),
            ("fees", day.fees),
            ("traded_notional", day.traded_notional),
        ] {
            if !v.is_finite() {
                bad.push(format!("{k} = {v} must be finite"));
            }
        }
        if day.fees < 0.0 || day.traded_notional < 0.0 {
            bad.push(format!(
                "fees = {} and traded_notional = {} must be >= 0",
                day.fees, day.traded_notional
            ));
        }
        if let Some(p) = equity_peak {
            if !(p.is_finite() && p > 0.0) {
                bad.push(format!("equity_peak = {p} must be finite and > 0"));
            }
        }
        if let Err(e) = limits.validate() {
            bad.push(e.to_string());
        }
        if !bad.is_empty() {
            return Err(CoreError::InvalidInput {
                what: "restored operator state".into(),
                detail: bad.join("; "),
            });
        }
        self.set_risk_limits(limits)?;
        self.risk.set_state(state);
        self.day_before = day;
        let equity = self.account_equity();
        self.equity_peak = equity_peak.unwrap_or(equity).max(equity);
        Ok(())
    }

    /// New intents get ids from `next` on (or later): after a restart, above every id the
    /// journal holds, so no client order id is ever reused.
    pub fn reserve_intent_ids(&mut self, next: u64) {
        self.next_intent = self.next_intent.max(next);
    }

    /// The id the next intent will get.
    pub fn next_intent_id(&self) -> u64 {
        self.next_intent
    }

    /// The predictor (for its version, counters, swap control).
    pub fn predictor(&self) -> &(dyn Predictor + Send) {
        self.predictor.as_ref()
    }

    /// The venue, mutable (a broker adapter's outbox). Reports go through
    /// [`Engine::venue_update`], which books their fills.
    pub fn venue_mut(&mut self) -> &mut V {
        &mut self.sim
    }
}

/// What happened since the last [`SessionLog::drain`]: orders the venue accepted (in order),
/// orders whose status or filled quantity changed, fills and denials (in time order).
#[derive(Debug, Default, Clone)]
pub struct Drained {
    pub new_orders: Vec<SimOrder>,
    pub updated_orders: Vec<SimOrder>,
    pub fills: Vec<Fill>,
    pub denials: Vec<Denial>,
}

impl Drained {
    pub fn is_empty(&self) -> bool {
        self.new_orders.is_empty()
            && self.updated_orders.is_empty()
            && self.fills.is_empty()
            && self.denials.is_empty()
    }
}

/// Cursors into the engine's append-only order log, fills and denials.
#[derive(Debug, Default, Clone)]
pub struct SessionLog {
    orders_seen: usize,
    fills_seen: usize,
    denials_seen: usize,
    /// Index, status and filled quantity last reported of every order not yet terminal.
    open: Vec<(usize, OrderStatus, u32)>,
}

impl SessionLog {
    /// Everything new in `bt`'s engine since the last call. Orders are reported as new once
    /// (with the status they have now), then as updated whenever their status or filled
    /// quantity changes, until they are terminal.
    pub fn drain(&mut self, bt: &Backtest) -> Drained {
        let sim = bt.engine.sim();
        let orders = sim.orders();
        let mut out = Drained::default();
        let mut still = Vec::with_capacity(self.open.len());
        for &(i, status, filled) in &self.open {
            let o = &orders[i];
            if o.status != status || o.filled_qty != filled {
                out.updated_orders.push(o.clone());
            }
            if !o.status.is_terminal() {
                still.push((i, o.status, o.filled_qty));
            }
        }
        self.open = still;
        for (i, o) in orders.iter().enumerate().skip(self.orders_seen) {
            out.new_orders.push(o.clone());
            if !o.status.is_terminal() {
                self.open.push((i, o.status, o.filled_qty));
            }
        }
        self.orders_seen = orders.len();
        out.fills.extend_from_slice(&sim.fills()[self.fills_seen..]);
        self.fills_seen = sim.fills().len();
        out.denials
            .extend_from_slice(&bt.engine.denials[self.denials_seen..]);
        self.denials_seen = bt.engine.denials.len();
        out
    }
}

#[cfg(test)]
mod tests;
