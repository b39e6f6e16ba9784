//! The engine in a session (replay, paper, live): the operator's controls and an
//! incremental view of what happened, so a control plane can journal and publish every
//! order, fill and denial as the engine runs, not only at the end like a backtest.
//!
//! The loop itself is untouched: a session steps [`Backtest`] (replay) in chunks and, between
//! chunks, applies commands (halt, resume, reducing, limits, flatten) and drains the new
//! records with [`SessionLog::drain`]. Commands take effect at the next record, in event
//! time, so a replay with the same commands at the same records is deterministic.

use crate::error::Result;
use crate::orders::Fill;
use crate::risk::{RiskLimits, TradingState};
use crate::sim::{OrderStatus, SimOrder};

use super::{Backtest, Denial, Engine, ExitReason, Venue};

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
                if let Err((reason, detail)) = self.gate(s, &intent) {
                    self.deny(ts, intent.intent_id, reason, detail);
                    denied += 1;
                    continue;
                }
                self.send(&intent);
                sent += 1;
            }
        }
        (sent, denied)
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
