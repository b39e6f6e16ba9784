//! Positions and accounting: the one implementation of average-cost position accounting
//! ([`PositionState::apply`]), round trips ([`Trade`]) with their exit reasons, equity
//! samples, and the engine's booking of venue fills into them.

use crate::book::PRICE_SCALE;
use crate::orders::{intent_of, Fill, InstrumentId, Leg, OrderSide};

use super::{DayBefore, Engine, Venue};

/// Why a round trip ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitReason {
    StopLoss,
    TakeProfit,
    Signal,
    Flatten,
    End,
    /// The old month's exit of a contract roll.
    Roll,
}

impl ExitReason {
    pub fn as_str(self) -> &'static str {
        match self {
            ExitReason::StopLoss => "STOP_LOSS",
            ExitReason::TakeProfit => "TAKE_PROFIT",
            ExitReason::Signal => "SIGNAL",
            ExitReason::Flatten => "FLATTEN",
            ExitReason::End => "END",
            ExitReason::Roll => "ROLL",
        }
    }
}

/// One instrument's position and P&L (average-cost accounting).
#[derive(Debug, Clone, PartialEq)]
pub struct PositionState {
    pub instrument_id: InstrumentId,
    /// Net contracts, signed.
    pub qty: i64,
    /// Average entry price of the open position, price units.
    pub avg_price: f64,
    /// Realized P&L before fees, account currency.
    pub realized: f64,
    pub fees: f64,
    /// Sum of fill cash flows (-signed qty x price x multiplier), account currency.
    pub cash_flow: f64,
    pub multiplier: f64,
    /// Last mid, fixed-point.
    pub mark: Option<i64>,
    pub traded_notional: f64,
}

impl PositionState {
    pub(crate) fn new(instrument_id: InstrumentId, multiplier: f64) -> Self {
        PositionState {
            instrument_id,
            qty: 0,
            avg_price: 0.0,
            realized: 0.0,
            fees: 0.0,
            cash_flow: 0.0,
            multiplier,
            mark: None,
            traded_notional: 0.0,
        }
    }

    /// Average-cost accounting of one fill: adds at the weighted average price, realizes
    /// P&L on the part that closes, and a reversal opens the rest at the fill price.
    pub(crate) fn apply(&mut self, f: &Fill) {
        let price = f.price as f64 / PRICE_SCALE as f64;
        let q = f.qty as i64;
        let signed = f.side.sign() * q;
        self.cash_flow -= signed as f64 * price * self.multiplier;
        self.fees += f.fee;
        self.traded_notional += q as f64 * price * self.multiplier;
        self.apply_signed(signed, price);
    }

    /// The average-cost rule on a signed quantity at a price (price units).
    fn apply_signed(&mut self, signed: i64, price: f64) {
        let q = signed.abs();
        if q == 0 {
            return;
        }
        if self.qty == 0 || self.qty.signum() == signed.signum() {
            let n = self.qty.abs() as f64;
            self.avg_price = (self.avg_price * n + price * q as f64) / (n + q as f64);
            self.qty += signed;
            return;
        }
        let close = self.qty.abs().min(q);
        self.realized +=
            close as f64 * (price - self.avg_price) * self.qty.signum() as f64 * self.multiplier;
        self.qty += signed;
        if self.qty == 0 {
            self.avg_price = 0.0;
        } else if self.qty.signum() == signed.signum() {
            // Reversed through zero: the rest is a new position at this price.
            self.avg_price = price;
        }
    }

    /// Unrealized P&L at the last mid.
    pub fn unrealized(&self) -> f64 {
        match self.mark {
            Some(m) if self.qty != 0 => {
                self.qty as f64 * (m as f64 / PRICE_SCALE as f64 - self.avg_price) * self.multiplier
            }
            _ => 0.0,
        }
    }
}

/// One signed fill (`delta` contracts at `price`, price units) through the engine's
/// average-cost rule, for a control plane folding a journal or a broker's executions: the
/// position, its average price and the P&L it realizes (`multiplier` per point). The same
/// arithmetic as the engine's own books, so a journal and the engine cannot disagree.
pub fn average_cost(
    qty: i64,
    avg_price: f64,
    delta: i64,
    price: f64,
    multiplier: f64,
) -> (i64, f64, f64) {
    let mut p = PositionState::new(0, multiplier);
    p.qty = qty;
    p.avg_price = if qty == 0 { 0.0 } else { avg_price };
    p.apply_signed(delta, price);
    (p.qty, p.avg_price, p.realized)
}

/// A completed round trip (flat to flat).
#[derive(Debug, Clone, PartialEq)]
pub struct Trade {
    pub instrument_id: InstrumentId,
    pub side: OrderSide,
    pub qty: u32,
    pub entry_ts: u64,
    pub exit_ts: u64,
    pub entry_price: f64,
    pub exit_price: f64,
    pub pnl: f64,
    pub fees: f64,
    pub exit_reason: ExitReason,
}

#[derive(Debug, Clone)]
pub(crate) struct OpenTrade {
    pub(crate) side: OrderSide,
    pub(crate) entry_ts: u64,
    pub(crate) entry_qty: u64,
    pub(crate) entry_notional: f64,
    pub(crate) exit_qty: u64,
    pub(crate) exit_notional: f64,
    pub(crate) fees: f64,
}

/// One equity sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EquityPoint {
    pub ts: u64,
    pub equity: f64,
    pub position: i64,
    /// Mid of the main (first) instrument, price units (NaN when one side is empty).
    pub price: f64,
}

impl<V: Venue> Engine<V> {
    /// Moves new venue fills into positions and round trips.
    #[inline]
    pub(super) fn book_fills(&mut self) {
        if self.fills_seen == self.sim.fills().len() {
            return;
        }
        self.book_new_fills();
    }

    pub(super) fn book_new_fills(&mut self) {
        while self.fills_seen < self.sim.fills().len() {
            let f = self.sim.fills()[self.fills_seen];
            self.fills_seen += 1;
            self.telemetry.fills += 1;
            let Some(s) = self.books.iter().position(|(k, _)| *k == f.instrument_id) else {
                continue;
            };
            let before = self.positions[s].qty;
            self.positions[s].apply(&f);
            self.track_trade(s, before, &f);
        }
    }

    pub(super) fn track_trade(&mut self, s: usize, before: i64, f: &Fill) {
        let price = f.price as f64 / PRICE_SCALE as f64;
        let signed = f.side.sign() * f.qty as i64;
        let after = before + signed;
        let q = f.qty as u64;
        let opening = if before == 0 || before.signum() == signed.signum() {
            q
        } else {
            // Part closes; what passes through zero opens the next trip.
            q.saturating_sub(before.unsigned_abs())
        };
        let closing = q - opening;
        let fee_close = f.fee * closing as f64 / q as f64;
        if closing > 0 {
            if let Some(t) = self.open_trades[s].as_mut() {
                t.exit_qty += closing;
                t.exit_notional += closing as f64 * price;
                t.fees += fee_close;
            }
            if before.signum() != after.signum() {
                let t = self.open_trades[s].take().expect("a position has a trip");
                let reason = self.exit_reason_of(f.client_order_id);
                let entry = t.entry_notional / t.entry_qty as f64;
                let exit = t.exit_notional / t.exit_qty as f64;
                let mult = self.positions[s].multiplier;
                let dir = t.side.sign() as f64;
                self.trades.push(Trade {
                    instrument_id: self.books[s].0,
                    side: t.side,
                    qty: t.entry_qty as u32,
                    entry_ts: t.entry_ts,
                    exit_ts: f.ts,
                    entry_price: entry,
                    exit_price: exit,
                    pnl: (t.exit_notional - t.entry_notional) * dir * mult - t.fees,
                    fees: t.fees,
                    exit_reason: reason,
                });
            }
        }
        if opening > 0 {
            let fee_open = f.fee - fee_close;
            let t = self.open_trades[s].get_or_insert(OpenTrade {
                side: f.side,
                entry_ts: f.ts,
                entry_qty: 0,
                entry_notional: 0.0,
                exit_qty: 0,
                exit_notional: 0.0,
                fees: 0.0,
            });
            t.entry_qty += opening;
            t.entry_notional += opening as f64 * price;
            t.fees += fee_open;
        }
    }

    pub(super) fn exit_reason_of(&self, coid: u64) -> ExitReason {
        let (intent, leg) = intent_of(coid);
        match leg {
            Some(Leg::StopLoss) => ExitReason::StopLoss,
            Some(Leg::TakeProfit) => ExitReason::TakeProfit,
            _ => self
                .exit_reasons
                .iter()
                .rev()
                .find(|(i, _)| *i == intent)
                .map_or(ExitReason::Signal, |(_, r)| *r),
        }
    }

    /// Account equity: start + realized - fees + unrealized at mid, all instruments (the
    /// realized P&L and fees of the day before a restart included).
    pub fn account_equity(&self) -> f64 {
        self.cfg.initial_equity + self.day_before.realized_pnl - self.day_before.fees
            + self
                .positions
                .iter()
                .map(|p| p.realized - p.fees + p.unrealized())
                .sum::<f64>()
    }

    /// Realized P&L of the day before fees, account currency (before a restart included).
    pub fn realized_pnl(&self) -> f64 {
        self.day_before.realized_pnl + self.positions.iter().map(|p| p.realized).sum::<f64>()
    }

    /// Fees of the day, account currency (before a restart included).
    pub fn fees(&self) -> f64 {
        self.day_before.fees + self.positions.iter().map(|p| p.fees).sum::<f64>()
    }

    /// Notional traded today, account currency (before a restart included).
    pub fn traded_notional(&self) -> f64 {
        self.day_before.traded_notional
            + self
                .positions
                .iter()
                .map(|p| p.traded_notional)
                .sum::<f64>()
    }

    /// What the day booked before this process (zero unless restored).
    pub fn day_before(&self) -> DayBefore {
        self.day_before
    }

    pub(super) fn sample_equity(&mut self, ts: u64, force: bool) {
        if !force {
            if let Some(last) = self.last_equity_ts {
                if ts < last.saturating_add(self.cfg.equity_interval_ns) {
                    return;
                }
            }
        }
        let price = self
            .positions
            .first()
            .and_then(|p| p.mark)
            .map_or(f64::NAN, |m| m as f64 / PRICE_SCALE as f64);
        self.equity.push(EquityPoint {
            ts,
            equity: self.account_equity(),
            position: self.positions.iter().map(|p| p.qty).sum(),
            price,
        });
        self.last_equity_ts = Some(ts);
    }
}
