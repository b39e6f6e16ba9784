//! The order vocabulary shared by decisions, sizing, pre-trade risk gates, the simulated
//! exchange and real venues. One set of types, so a backtest, a paper session and a live
//! session speak the same language and only the venue changes.
//!
//! Prices are DBN fixed-point (`i64`, 1e-9 units, [`crate::book::PRICE_SCALE`]), quantities
//! are whole contracts, timestamps are UTC nanoseconds (event time in backtests).

/// Instrument id as in DBN records (`hd.instrument_id`).
pub type InstrumentId = u32;

/// Direction of an order or a fill. (The book's `Side` is Bid/Ask: which side of the book a
/// resting order sits on; a buy order rests on the bid.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OrderSide {
    Buy,
    Sell,
}

impl OrderSide {
    /// +1 for buys, -1 for sells: the sign of the position change.
    #[inline]
    pub fn sign(self) -> i64 {
        match self {
            OrderSide::Buy => 1,
            OrderSide::Sell => -1,
        }
    }

    #[inline]
    pub fn opposite(self) -> OrderSide {
        match self {
            OrderSide::Buy => OrderSide::Sell,
            OrderSide::Sell => OrderSide::Buy,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OrderType {
    /// Walks the book at once.
    Market,
    /// Rests at `price` in the queue behind the orders already there.
    Limit,
    /// Becomes a market order when the trigger `stop_price` trades or is crossed.
    Stop,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TimeInForce {
    Day,
    Gtc,
    /// Immediate or cancel: what does not fill at once is cancelled.
    Ioc,
}

/// Where a trade idea came from: the decision thresholds differ (0.7 for the ensemble, 0.87
/// for externally supplied signals).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SignalSource {
    Ensemble,
    External,
}

/// What an intent asks the venue to do. Cancels always pass the risk gates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IntentAction {
    New,
    /// Change price and/or quantity of a working order.
    Modify {
        client_order_id: u64,
    },
    Cancel {
        client_order_id: u64,
    },
}

/// The exits attached to an entry: one-cancels-other children placed when the entry fills.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bracket {
    pub stop_loss: i64,
    pub take_profit: i64,
}

/// What the decision step wants done; the risk gates see exactly this and nothing else.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OrderIntent {
    /// Unique and monotonic within a session; client order ids derive from it.
    pub intent_id: u64,
    pub ts: u64,
    pub instrument_id: InstrumentId,
    pub action: IntentAction,
    pub side: OrderSide,
    pub qty: u32,
    pub order_type: OrderType,
    /// Limit price (Limit) or `None`.
    pub price: Option<i64>,
    /// Trigger price (Stop) or `None`.
    pub stop_price: Option<i64>,
    pub tif: TimeInForce,
    /// May only reduce the absolute position (exits, flatten).
    pub reduce_only: bool,
    pub bracket: Option<Bracket>,
    pub source: SignalSource,
    /// Calibrated probability of the chosen class, 0..1.
    pub confidence: f64,
    /// 1 (calm) ..= 10 (dangerous), from the risk features.
    pub risk_score: u8,
}

/// Which order of a bracket a client order id names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Leg {
    Entry = 0,
    StopLoss = 1,
    TakeProfit = 2,
}

/// Client order id of one leg of an intent: a pure function of the intent id, so a restarted
/// session recomputes the ids of what it already sent and can never submit it twice.
#[inline]
pub fn client_order_id(intent_id: u64, leg: Leg) -> u64 {
    intent_id * 4 + leg as u64
}

/// The inverse of [`client_order_id`].
#[inline]
pub fn intent_of(client_order_id: u64) -> (u64, Option<Leg>) {
    let leg = match client_order_id % 4 {
        0 => Some(Leg::Entry),
        1 => Some(Leg::StopLoss),
        2 => Some(Leg::TakeProfit),
        _ => None,
    };
    (client_order_id / 4, leg)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Liquidity {
    Maker,
    Taker,
}

/// One execution of one of our orders.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fill {
    pub client_order_id: u64,
    pub instrument_id: InstrumentId,
    pub side: OrderSide,
    pub price: i64,
    pub qty: u32,
    pub ts: u64,
    /// Fees in account currency for this fill (per-contract fee x qty).
    pub fee: f64,
    pub liquidity: Liquidity,
}

/// Contract terms the engine needs, from DBN instrument definitions.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct InstrumentSpec {
    pub instrument_id: InstrumentId,
    /// Minimum price increment, fixed-point.
    pub tick_size: i64,
    /// Currency value of one price point per contract (ES: 50.0).
    pub multiplier: f64,
    /// Fees per contract per side.
    pub fee_per_contract: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_order_ids_round_trip_and_never_collide() {
        let mut seen = std::collections::HashSet::new();
        for intent in [0u64, 1, 2, 77, 1 << 40] {
            for leg in [Leg::Entry, Leg::StopLoss, Leg::TakeProfit] {
                let id = client_order_id(intent, leg);
                assert!(seen.insert(id), "collision at {intent} {leg:?}");
                assert_eq!(intent_of(id), (intent, Some(leg)));
            }
        }
    }
}
