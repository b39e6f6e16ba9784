//! The venue of paper and live sessions: a broker (IB) that the control plane talks to.
//!
//! [`BrokerVenue`] is the engine's side of that conversation. `submit` queues the intent in
//! an outbox the control plane drains (it journals each intent, then sends it to the
//! broker) and books the orders the intent creates as working; the broker's reports come
//! back through [`BrokerVenue::fill`] and [`BrokerVenue::close`] (acks change nothing the
//! engine reads). Fills land in the venue's fill log, which the engine books into positions
//! exactly as it books the simulated exchange's, so positions, round trips, P&L and every
//! risk gate are the backtest's code. The real venue matches: the market-data hooks are
//! no-ops and the feed latency is 0 (it is real).

use crate::book::L3Book;
use crate::error::{CoreError, Result};
use crate::orders::{
    client_order_id, Fill, InstrumentId, InstrumentSpec, IntentAction, Leg, Liquidity, OrderIntent,
    OrderSide, OrderType,
};
use crate::sim::OrderStatus;

use super::Venue;

/// One of our orders at the broker, as far as its reports tell.
#[derive(Debug, Clone, PartialEq)]
pub struct BrokerOrder {
    pub client_order_id: u64,
    pub intent_id: u64,
    pub leg: Leg,
    pub instrument_id: InstrumentId,
    pub side: OrderSide,
    pub order_type: OrderType,
    pub qty: u32,
    pub price: Option<i64>,
    pub stop_price: Option<i64>,
    pub filled_qty: u32,
    pub status: OrderStatus,
    /// When it was submitted (or adopted), UTC ns.
    pub ts: u64,
    /// The broker's reason for a reject or cancel (empty otherwise).
    pub reason: String,
    /// A cancel of it was sent and the broker has not answered yet: the engine does not ask
    /// again (a burst of events before the answer would otherwise re-send the cancel at
    /// every one). It still counts as working until the broker says it is done.
    pub cancel_sent: bool,
}

impl BrokerOrder {
    pub fn remaining(&self) -> u32 {
        self.qty.saturating_sub(self.filled_qty)
    }
}

/// See the module docs.
#[derive(Debug, Clone, Default)]
pub struct BrokerVenue {
    specs: Vec<InstrumentSpec>,
    orders: Vec<BrokerOrder>,
    fills: Vec<Fill>,
    outbox: Vec<OrderIntent>,
    /// Every intent submitted, in order (a held intent is re-gated from it on release).
    submitted: Vec<OrderIntent>,
    /// Orders before this index are all terminal: the per-decision scans start here, so
    /// they do not grow with the session's history.
    first_open: usize,
    /// Contracts the broker reported filled beyond an order's quantity (booked: the
    /// broker's fills are the truth, but it is an anomaly worth a look).
    overfilled: u64,
}

impl BrokerVenue {
    pub fn new(specs: Vec<InstrumentSpec>) -> Result<BrokerVenue> {
        if specs.is_empty() {
            return Err(CoreError::Config(
                "broker venue: at least one instrument spec is needed".into(),
            ));
        }
        Ok(BrokerVenue {
            specs,
            ..BrokerVenue::default()
        })
    }

    /// Every intent submitted since the last call, in order: the control plane journals and
    /// sends each one.
    pub fn take_outbox(&mut self) -> Vec<OrderIntent> {
        std::mem::take(&mut self.outbox)
    }

    pub fn orders(&self) -> &[BrokerOrder] {
        &self.orders
    }

    pub fn order(&self, client_order_id: u64) -> Option<&BrokerOrder> {
        self.orders
            .iter()
            .rev()
            .find(|o| o.client_order_id == client_order_id)
    }

    pub fn overfilled(&self) -> u64 {
        self.overfilled
    }

    fn order_mut(&mut self, coid: u64, what: &str) -> Result<&mut BrokerOrder> {
        self.orders
            .iter_mut()
            .rev()
            .find(|o| o.client_order_id == coid)
            .ok_or_else(|| CoreError::InvalidInput {
                what: format!("{what} of client order {coid}"),
                detail: "no such order at this venue (adopt it first)".into(),
            })
    }

    /// An order the engine did not submit in this process (a working order found in the
    /// journal or at the broker after a restart). Refused if the id is already known and
    /// not terminal, or names an instrument without a spec.
    pub fn adopt(&mut self, o: BrokerOrder) -> Result<()> {
        if self.spec(o.instrument_id).is_none() {
            return Err(CoreError::InvalidInput {
                what: format!("adopted order {}", o.client_order_id),
                detail: format!("instrument {} has no spec", o.instrument_id),
            });
        }
        if self
            .order(o.client_order_id)
            .is_some_and(|x| !x.status.is_terminal())
        {
            return Err(CoreError::InvalidInput {
                what: format!("adopted order {}", o.client_order_id),
                detail: "already working at this venue".into(),
            });
        }
        self.orders.push(o);
        Ok(())
    }

    /// A fill reported by the broker. `fee` is the commission in account currency.
    pub fn fill(&mut self, coid: u64, qty: u32, price: i64, ts: u64, fee: f64) -> Result<()> {
        if qty == 0 || !fee.is_finite() {
            return Err(CoreError::InvalidInput {
                what: format!("fill of client order {coid}"),
                detail: format!("qty {qty}, fee {fee}: want qty > 0 and a finite fee"),
            });
        }
        let o = self.order_mut(coid, "fill")?;
        let over = (o.filled_qty + qty).saturating_sub(o.qty);
        o.filled_qty += qty;
        o.status = if o.filled_qty >= o.qty {
            OrderStatus::Filled
        } else {
            OrderStatus::PartiallyFilled
        };
        let fill = Fill {
            client_order_id: coid,
            instrument_id: o.instrument_id,
            side: o.side,
            price,
            qty,
            ts,
            fee,
            // A market order or a marketable entry takes; resting exits make. The broker
            // does not say, and nothing the engine decides reads it.
            liquidity: if o.order_type == OrderType::Market {
                Liquidity::Taker
            } else {
                Liquidity::Maker
            },
        };
        self.overfilled += over as u64;
        self.fills.push(fill);
        self.skip_terminal();
        Ok(())
    }

    /// The broker cancelled or rejected an order (`status` Cancelled or Rejected). A report
    /// about an order already terminal changes nothing (brokers repeat themselves).
    pub fn close(&mut self, coid: u64, status: OrderStatus, reason: &str) -> Result<()> {
        if !matches!(status, OrderStatus::Cancelled | OrderStatus::Rejected) {
            return Err(CoreError::InvalidInput {
                what: format!("close of client order {coid}"),
                detail: format!("status {} (want CANCELLED or REJECTED)", status.as_str()),
            });
        }
        let o = self.order_mut(coid, "close")?;
        if o.status.is_terminal() {
            return Ok(());
        }
        o.status = status;
        o.reason = reason.to_string();
        let (intent, leg, filled) = (o.intent_id, o.leg, o.filled_qty);
        if leg == Leg::Entry && filled == 0 {
            // An entry that ends unfilled takes its bracket with it: the exits can never
            // become active (the broker drops them too), and left working they would block
            // every later entry of the instrument.
            for c in self
                .orders
                .iter_mut()
                .filter(|c| c.intent_id == intent && c.leg != Leg::Entry && !c.status.is_terminal())
            {
                c.status = OrderStatus::Cancelled;
                c.reason = format!("parent {}", status.as_str());
            }
        }
        self.skip_terminal();
        Ok(())
    }

    fn push_order(&mut self, intent: &OrderIntent, leg: Leg, now: u64) -> u64 {
        let coid = client_order_id(intent.intent_id, leg);
        let (side, order_type, price, stop_price) = match (leg, intent.bracket) {
            (Leg::Entry, _) | (_, None) => (
                intent.side,
                intent.order_type,
                intent.price,
                intent.stop_price,
            ),
            (Leg::TakeProfit, Some(b)) => (
                opposite(intent.side),
                OrderType::Limit,
                Some(b.take_profit),
                None,
            ),
            (Leg::StopLoss, Some(b)) => (
                opposite(intent.side),
                OrderType::Stop,
                None,
                Some(b.stop_loss),
            ),
        };
        self.orders.push(BrokerOrder {
            client_order_id: coid,
            intent_id: intent.intent_id,
            leg,
            instrument_id: intent.instrument_id,
            side,
            order_type,
            qty: intent.qty,
            price,
            stop_price,
            filled_qty: 0,
            status: OrderStatus::Working,
            ts: now,
            reason: String::new(),
            cancel_sent: false,
        });
        coid
    }

    fn open(&self, id: InstrumentId) -> impl Iterator<Item = &BrokerOrder> {
        self.orders[self.first_open..]
            .iter()
            .filter(move |o| o.instrument_id == id && !o.status.is_terminal())
    }

    fn open_all(&self) -> impl Iterator<Item = &BrokerOrder> {
        self.orders[self.first_open..]
            .iter()
            .filter(|o| !o.status.is_terminal())
    }

    fn skip_terminal(&mut self) {
        while self
            .orders
            .get(self.first_open)
            .is_some_and(|o| o.status.is_terminal())
        {
            self.first_open += 1;
        }
    }
}

fn opposite(s: OrderSide) -> OrderSide {
    match s {
        OrderSide::Buy => OrderSide::Sell,
        OrderSide::Sell => OrderSide::Buy,
    }
}

impl Venue for BrokerVenue {
    fn spec(&self, id: InstrumentId) -> Option<&InstrumentSpec> {
        self.specs.iter().find(|s| s.instrument_id == id)
    }

    fn submit(&mut self, intent: &OrderIntent, now: u64) -> u64 {
        self.outbox.push(*intent);
        self.submitted.push(*intent);
        match intent.action {
            IntentAction::New => {
                let coid = self.push_order(intent, Leg::Entry, now);
                if intent.bracket.is_some() {
                    // The broker holds the exits from the start (inactive until the entry
                    // fills), so they are our orders from now on: cancels name them.
                    self.push_order(intent, Leg::TakeProfit, now);
                    self.push_order(intent, Leg::StopLoss, now);
                }
                coid
            }
            // The order changes when the broker says so, not when we ask.
            IntentAction::Cancel { client_order_id } => {
                if let Some(o) = self.orders[self.first_open..]
                    .iter_mut()
                    .find(|o| o.client_order_id == client_order_id)
                {
                    o.cancel_sent = true;
                }
                client_order_id
            }
            IntentAction::Modify { client_order_id } => client_order_id,
        }
    }

    fn next_arrival(&self) -> Option<u64> {
        None
    }

    fn process_until(&mut self, _t: u64, _books: &[(InstrumentId, L3Book)]) {}

    fn on_mbo(&mut self, _m: &dbn::MboMsg, _book: &L3Book) {}

    fn on_event_end(&mut self, _id: InstrumentId, _ts: u64, _book: &L3Book) {}

    fn fills(&self) -> &[Fill] {
        &self.fills
    }

    fn working_qty(&self, id: InstrumentId) -> i64 {
        self.open(id)
            .filter(|o| o.leg == Leg::Entry)
            .map(|o| o.side.sign() * o.remaining() as i64)
            .sum()
    }

    fn has_open_orders(&self, id: InstrumentId) -> bool {
        self.open(id).next().is_some()
    }

    fn open_order_ids(&self, id: InstrumentId) -> Vec<u64> {
        // the orders a cancel can still be asked for: not those already being cancelled
        self.open(id)
            .filter(|o| !o.cancel_sent)
            .map(|o| o.client_order_id)
            .collect()
    }

    fn feed_latency(&mut self) -> u64 {
        0
    }

    fn held_intent(&self, intent_id: u64) -> Option<OrderIntent> {
        let i = self
            .submitted
            .iter()
            .rev()
            .find(|i| i.intent_id == intent_id)
            .copied()?;
        match i.action {
            // Cancels always pass the gate; a modify names an order that must still work.
            IntentAction::Cancel { .. } => Some(i),
            IntentAction::Modify { client_order_id } => self
                .order(client_order_id)
                .is_some_and(|o| !o.status.is_terminal())
                .then_some(i),
            IntentAction::New => self
                .orders
                .iter()
                .any(|o| o.intent_id == intent_id && !o.status.is_terminal())
                .then_some(i),
        }
    }

    fn own_working_qty(&self, intent_id: u64) -> i64 {
        self.open_all()
            .filter(|o| o.intent_id == intent_id && o.leg == Leg::Entry)
            .map(|o| o.side.sign() * o.remaining() as i64)
            .sum()
    }

    fn withdraw(&mut self, intent_id: u64, reason: &str) {
        let first = self.first_open;
        for o in self.orders[first..]
            .iter_mut()
            .filter(|o| o.intent_id == intent_id && !o.status.is_terminal())
        {
            o.status = OrderStatus::Rejected;
            o.reason = reason.to_string();
        }
        self.skip_terminal();
    }
}

#[cfg(test)]
mod tests;
