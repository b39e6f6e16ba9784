//! Simulated exchange: matches OUR orders against the replayed L3 (MBO) book.
//!
//! Queue model (FIFO, as CME matches outrights): a limit order that rests joins its price
//! level behind the MBO orders already there when it *arrives at the venue* (their ids are
//! remembered). It advances only as those leave: a cancel of an order ahead removes it; a
//! modify that re-prices or grows an order ahead sends that order behind us (it loses
//! priority); orders added later queue behind us. A fill (`F` record) of a resting order
//! that is NOT ahead of us at our price means the aggressor already went through everything
//! ahead of us, so we fill first (up to that fill's size). A fill of a worse-priced resting
//! order on our side means the market traded through our price: we fill as well.
//!
//! Standard replay assumptions, stated so nobody is surprised:
//! - Our fills do not alter the replayed book: a market order walks visible depth level by
//!   level, and that depth is still there for the next order. Our orders are small next to
//!   ES depth; a strategy that trades size would need a market-impact model.
//! - Our volume does not take volume from the recorded participants: the replayed trades
//!   happen as recorded, and our fill is in addition to them.
//! - Stops trigger when a trade prints at or through the stop price and are executed as a
//!   market order at the end of that event (after the book has absorbed the trade).
//! - Bracket children are held at the venue: they are placed (no extra latency) when the
//!   entry fills, sized by the filled quantity, and one filling reduces/cancels the other.
//!
//! Latency: every action we send (new, modify, cancel) reaches the venue `order_latency`
//! after it was sent; market data reaches the strategy `feed_latency` after the venue
//! stamped it. Both are constant or sampled from a seeded distribution (deterministic per
//! seed). Records at or after an action's arrival time see the action; earlier ones do not.

use std::collections::VecDeque;

use dbn::MboMsg;
use rustc_hash::{FxHashMap, FxHashSet};

use crate::book::{BookView, L3Book, Side, PRICE_SCALE};
use crate::error::{CoreError, Result};
use crate::orders::{
    client_order_id, Bracket, Fill, InstrumentId, InstrumentSpec, IntentAction, Leg, Liquidity,
    OrderIntent, OrderSide, OrderType,
};

/// splitmix64: tiny, fast and fully specified, so a seed means the same draws everywhere.
#[derive(Debug, Clone)]
pub struct SimRng(u64);

impl SimRng {
    pub fn new(seed: u64) -> Self {
        SimRng(seed)
    }

    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1): never 0, so `ln` is finite.
    #[inline]
    pub fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// Standard normal by Box-Muller (one of the pair; simple and deterministic).
    #[inline]
    pub fn normal(&mut self) -> f64 {
        let (u1, u2) = (self.uniform(), self.uniform());
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

/// A latency distribution in nanoseconds.
#[derive(Debug, Clone, PartialEq)]
pub enum LatencyModel {
    Constant(u64),
    /// exp(N(ln(median), sigma^2)), capped at `max_ns` (a heavy tail without absurd draws).
    LogNormal {
        median_ns: f64,
        sigma: f64,
        max_ns: u64,
    },
    /// Draws uniformly from measured samples (e.g. round trips logged in paper trading).
    Empirical(Vec<u64>),
}

impl LatencyModel {
    /// Every problem, listed (empty when valid).
    pub fn problems(&self, name: &str) -> Vec<String> {
        let mut out = Vec::new();
        match self {
            LatencyModel::Constant(_) => {}
            LatencyModel::LogNormal {
                median_ns,
                sigma,
                max_ns,
            } => {
                if !(median_ns.is_finite() && *median_ns > 0.0) {
                    out.push(format!(
                        "{name}: lognormal median_ns must be > 0, got {median_ns}"
                    ));
                }
                if !(sigma.is_finite() && *sigma >= 0.0) {
                    out.push(format!("{name}: lognormal sigma must be >= 0, got {sigma}"));
                }
                if (*max_ns as f64) < *median_ns {
                    out.push(format!(
                        "{name}: max_ns {max_ns} is below the median {median_ns}"
                    ));
                }
            }
            LatencyModel::Empirical(s) => {
                if s.is_empty() {
                    out.push(format!(
                        "{name}: empirical latency needs at least one sample"
                    ));
                }
            }
        }
        out
    }

    #[inline]
    pub fn sample(&self, rng: &mut SimRng) -> u64 {
        match self {
            LatencyModel::Constant(ns) => *ns,
            LatencyModel::LogNormal {
                median_ns,
                sigma,
                max_ns,
            } => {
                let v = (median_ns.ln() + sigma * rng.normal()).exp();
                (v.min(*max_ns as f64)) as u64
            }
            LatencyModel::Empirical(s) => s[(rng.next_u64() % s.len() as u64) as usize],
        }
    }
}

/// Settings of the simulated venue.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    pub order_latency: LatencyModel,
    pub feed_latency: LatencyModel,
    pub seed: u64,
}

impl Default for SimConfig {
    fn default() -> Self {
        // Colocated-ish defaults: 50 us to the venue, 20 us from it.
        SimConfig {
            order_latency: LatencyModel::Constant(50_000),
            feed_latency: LatencyModel::Constant(20_000),
            seed: 0,
        }
    }
}

impl SimConfig {
    pub fn validate(&self) -> Result<()> {
        let mut p = self.order_latency.problems("order_latency");
        p.extend(self.feed_latency.problems("feed_latency"));
        if p.is_empty() {
            Ok(())
        } else {
            Err(CoreError::Config(p.join("; ")))
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderStatus {
    /// Sent or resting; not (yet) filled at all.
    Working,
    PartiallyFilled,
    Filled,
    Cancelled,
    Rejected,
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Working => "WORKING",
            OrderStatus::PartiallyFilled => "PARTIALLY_FILLED",
            OrderStatus::Filled => "FILLED",
            OrderStatus::Cancelled => "CANCELLED",
            OrderStatus::Rejected => "REJECTED",
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            OrderStatus::Filled | OrderStatus::Cancelled | OrderStatus::Rejected
        )
    }
}

/// One of our orders as the venue sees it; the order log is a list of these.
#[derive(Debug, Clone)]
pub struct SimOrder {
    pub client_order_id: u64,
    pub intent_id: u64,
    pub instrument_id: InstrumentId,
    pub side: OrderSide,
    pub order_type: OrderType,
    pub qty: u32,
    pub price: Option<i64>,
    pub stop_price: Option<i64>,
    pub leg: Leg,
    pub status: OrderStatus,
    pub filled_qty: u32,
    /// When it was sent (entries) or placed (bracket children), UTC ns.
    pub ts: u64,
    /// Why the venue rejected it (empty otherwise).
    pub reject_reason: &'static str,
    bracket: Option<Bracket>,
    /// At the venue (arrived, not terminal): resting limit or untriggered/triggered stop.
    live: bool,
    /// MBO ids ahead of us at our price, from the book when we joined the queue.
    ahead: FxHashSet<u64>,
    triggered: bool,
}

impl SimOrder {
    #[inline]
    pub fn remaining(&self) -> u32 {
        self.qty - self.filled_qty
    }

    fn book_side(&self) -> Side {
        match self.side {
            OrderSide::Buy => Side::Bid,
            OrderSide::Sell => Side::Ask,
        }
    }

    /// True when `price` is at least as good as our limit for a counterparty.
    #[inline]
    fn strictly_worse(&self, price: i64) -> bool {
        // A resting buy at P is traded through when something sells below P.
        match (self.side, self.price) {
            (OrderSide::Buy, Some(p)) => price < p,
            (OrderSide::Sell, Some(p)) => price > p,
            _ => false,
        }
    }

    fn set_fill_status(&mut self) {
        self.status = if self.filled_qty >= self.qty {
            OrderStatus::Filled
        } else if self.filled_qty > 0 {
            OrderStatus::PartiallyFilled
        } else {
            OrderStatus::Working
        };
    }
}

#[derive(Debug, Clone, Copy)]
enum Action {
    New(usize),
    Modify {
        coid: u64,
        qty: u32,
        price: Option<i64>,
    },
    Cancel(u64),
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    arrival: u64,
    seq: u64,
    action: Action,
}

/// Why an action was refused at the venue (kept with the order, counted by the engine).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CancelReject {
    pub client_order_id: u64,
    pub ts: u64,
    pub reason: &'static str,
}

/// Books of the instruments the venue trades, looked up by id.
pub trait BookLookup {
    fn l3(&self, instrument_id: InstrumentId) -> Option<&L3Book>;
}

impl BookLookup for [(InstrumentId, L3Book)] {
    #[inline]
    fn l3(&self, id: InstrumentId) -> Option<&L3Book> {
        self.iter().find(|(k, _)| *k == id).map(|(_, b)| b)
    }
}

impl BookLookup for Vec<(InstrumentId, L3Book)> {
    #[inline]
    fn l3(&self, id: InstrumentId) -> Option<&L3Book> {
        self.as_slice().l3(id)
    }
}

/// The simulated venue. Drive it with [`SimExchange::process_until`] before each market
/// record, [`SimExchange::on_mbo`] with each record *before* the book applies it, and
/// [`SimExchange::on_event_end`] after each event boundary.
#[derive(Debug)]
pub struct SimExchange {
    cfg: SimConfig,
    specs: Vec<InstrumentSpec>,
    rng: SimRng,
    orders: Vec<SimOrder>,
    index: FxHashMap<u64, usize>,
    /// Indices of orders live at the venue, in arrival order (time priority among ours).
    live: Vec<usize>,
    pending: VecDeque<Pending>,
    seq: u64,
    fills: Vec<Fill>,
    rejects: Vec<CancelReject>,
    /// Orders before this index are all terminal (orders end roughly in creation order), so
    /// scans for open orders start here instead of at the first order of the session.
    first_open: usize,
}

impl SimExchange {
    pub fn new(cfg: SimConfig, specs: Vec<InstrumentSpec>) -> Result<Self> {
        cfg.validate()?;
        let mut problems = Vec::new();
        for s in &specs {
            if s.tick_size <= 0 {
                problems.push(format!(
                    "instrument {}: tick_size must be > 0, got {}",
                    s.instrument_id, s.tick_size
                ));
            }
            if !(s.multiplier.is_finite() && s.multiplier > 0.0) {
                problems.push(format!(
                    "instrument {}: multiplier must be > 0, got {}",
                    s.instrument_id, s.multiplier
                ));
            }
            if !(s.fee_per_contract.is_finite() && s.fee_per_contract >= 0.0) {
                problems.push(format!(
                    "instrument {}: fee_per_contract must be >= 0, got {}",
                    s.instrument_id, s.fee_per_contract
                ));
            }
        }
        if !problems.is_empty() {
            return Err(CoreError::Config(problems.join("; ")));
        }
        let rng = SimRng::new(cfg.seed);
        Ok(SimExchange {
            cfg,
            specs,
            rng,
            orders: Vec::new(),
            index: FxHashMap::default(),
            live: Vec::new(),
            pending: VecDeque::new(),
            seq: 0,
            fills: Vec::new(),
            rejects: Vec::new(),
            first_open: 0,
        })
    }

    pub fn spec(&self, id: InstrumentId) -> Option<&InstrumentSpec> {
        self.specs.iter().find(|s| s.instrument_id == id)
    }

    pub fn specs(&self) -> &[InstrumentSpec] {
        &self.specs
    }

    /// One draw of the feed latency (market data venue -> strategy).
    #[inline]
    pub fn feed_latency(&mut self) -> u64 {
        self.cfg.feed_latency.sample(&mut self.rng)
    }

    /// Every order sent or placed so far, in creation order.
    pub fn orders(&self) -> &[SimOrder] {
        &self.orders
    }

    pub fn order(&self, client_order_id: u64) -> Option<&SimOrder> {
        self.index.get(&client_order_id).map(|&i| &self.orders[i])
    }

    /// Every fill so far, in time order.
    pub fn fills(&self) -> &[Fill] {
        &self.fills
    }

    /// Cancels/modifies the venue refused (e.g. the order had already filled).
    pub fn rejects(&self) -> &[CancelReject] {
        &self.rejects
    }

    /// Contracts on non-terminal orders of an instrument with the given side (sent or live),
    /// bracket exits excluded: what a risk gate counts as working exposure.
    pub fn working_qty(&self, id: InstrumentId) -> i64 {
        self.orders[self.first_open..]
            .iter()
            .filter(|o| o.instrument_id == id && !o.status.is_terminal() && o.leg == Leg::Entry)
            .map(|o| o.side.sign() * o.remaining() as i64)
            .sum()
    }

    /// True when any order of the instrument is sent and not terminal.
    pub fn has_open_orders(&self, id: InstrumentId) -> bool {
        self.orders[self.first_open..]
            .iter()
            .any(|o| o.instrument_id == id && !o.status.is_terminal())
    }

    /// Open (non-terminal) orders of an instrument.
    pub fn open_orders(&self, id: InstrumentId) -> impl Iterator<Item = &SimOrder> {
        self.orders[self.first_open..]
            .iter()
            .filter(move |o| o.instrument_id == id && !o.status.is_terminal())
    }

    /// Sends an intent at `now`; it reaches the venue after the sampled order latency.
    /// Returns the client order id it acts on.
    pub fn submit(&mut self, intent: &OrderIntent, now: u64) -> u64 {
        while self.first_open < self.orders.len()
            && self.orders[self.first_open].status.is_terminal()
        {
            self.first_open += 1;
        }
        let arrival = now.saturating_add(self.cfg.order_latency.sample(&mut self.rng));
        let (action, coid) = match intent.action {
            IntentAction::New => {
                let coid = client_order_id(intent.intent_id, Leg::Entry);
                let i = self.push_order(SimOrder {
                    client_order_id: coid,
                    intent_id: intent.intent_id,
                    instrument_id: intent.instrument_id,
                    side: intent.side,
                    order_type: intent.order_type,
                    qty: intent.qty,
                    price: intent.price,
                    stop_price: intent.stop_price,
                    leg: Leg::Entry,
                    status: OrderStatus::Working,
                    filled_qty: 0,
                    ts: now,
                    reject_reason: "",
                    bracket: intent.bracket,
                    live: false,
                    ahead: FxHashSet::default(),
                    triggered: false,
                });
                (Action::New(i), coid)
            }
            IntentAction::Modify { client_order_id } => (
                Action::Modify {
                    coid: client_order_id,
                    qty: intent.qty,
                    price: intent.price,
                },
                client_order_id,
            ),
            IntentAction::Cancel { client_order_id } => {
                (Action::Cancel(client_order_id), client_order_id)
            }
        };
        let p = Pending {
            arrival,
            seq: self.seq,
            action,
        };
        self.seq += 1;
        // Sampled latencies can reorder arrivals: keep the queue sorted by (arrival, seq).
        let at = self
            .pending
            .iter()
            .position(|q| (q.arrival, q.seq) > (p.arrival, p.seq))
            .unwrap_or(self.pending.len());
        self.pending.insert(at, p);
        coid
    }

    fn push_order(&mut self, o: SimOrder) -> usize {
        let i = self.orders.len();
        self.index.insert(o.client_order_id, i);
        self.orders.push(o);
        i
    }

    /// Time of the next action to reach the venue.
    #[inline]
    pub fn next_arrival(&self) -> Option<u64> {
        self.pending.front().map(|p| p.arrival)
    }

    /// Lets every action that reaches the venue at or before `t` act on the books as they
    /// stand (the market records before `t` applied, the ones at `t` not yet).
    #[inline]
    pub fn process_until<B: BookLookup + ?Sized>(&mut self, t: u64, books: &B) {
        while let Some(p) = self.pending.front() {
            if p.arrival > t {
                break;
            }
            let p = self.pending.pop_front().expect("front exists");
            self.arrive(p, books);
        }
    }

    fn arrive<B: BookLookup + ?Sized>(&mut self, p: Pending, books: &B) {
        let now = p.arrival;
        match p.action {
            Action::New(i) => {
                if self.orders[i].status.is_terminal() {
                    // Cancelled while in flight (its cancel overtook it): never reaches the book.
                    return;
                }
                let id = self.orders[i].instrument_id;
                let Some(spec) = self.spec(id).copied() else {
                    return self.reject(i, "no instrument spec");
                };
                let o = &self.orders[i];
                if o.qty == 0 {
                    return self.reject(i, "zero quantity");
                }
                let off_tick = |p: Option<i64>| p.is_some_and(|p| p % spec.tick_size != 0);
                match o.order_type {
                    OrderType::Limit if o.price.is_none() => {
                        return self.reject(i, "limit without price")
                    }
                    OrderType::Stop if o.stop_price.is_none() => {
                        return self.reject(i, "stop without stop price")
                    }
                    _ => {}
                }
                if off_tick(o.price) || off_tick(o.stop_price) {
                    return self.reject(i, "price off the tick grid");
                }
                let Some(book) = books.l3(id) else {
                    return self.reject(i, "no book for instrument");
                };
                self.activate(i, book, now);
            }
            Action::Cancel(coid) => match self.index.get(&coid).copied() {
                Some(i) if !self.orders[i].status.is_terminal() => {
                    self.cancel_order(i);
                }
                _ => self.rejects.push(CancelReject {
                    client_order_id: coid,
                    ts: now,
                    reason: "cancel: order unknown or already terminal",
                }),
            },
            Action::Modify { coid, qty, price } => {
                let Some(i) = self.index.get(&coid).copied() else {
                    return self.rejects.push(CancelReject {
                        client_order_id: coid,
                        ts: now,
                        reason: "modify: unknown order",
                    });
                };
                let o = &self.orders[i];
                if o.status.is_terminal() || !o.live || qty < o.filled_qty.max(1) {
                    return self.rejects.push(CancelReject {
                        client_order_id: coid,
                        ts: now,
                        reason: "modify: order terminal, not yet live, or qty below filled",
                    });
                }
                let Some(book) = books.l3(o.instrument_id) else {
                    return;
                };
                // CME rule: a new price or a larger size loses time priority; a smaller
                // size keeps it.
                let requeue = (price.is_some() && price != o.price) || qty > o.qty;
                let o = &mut self.orders[i];
                o.qty = qty;
                if let Some(p) = price {
                    if o.order_type == OrderType::Stop {
                        o.stop_price = Some(p);
                    } else {
                        o.price = Some(p);
                    }
                }
                o.set_fill_status();
                if o.status == OrderStatus::Filled {
                    o.live = false;
                    self.live.retain(|&k| k != i);
                } else if requeue && o.order_type == OrderType::Limit {
                    self.live.retain(|&k| k != i);
                    self.activate(i, book, now);
                }
            }
        }
    }

    fn reject(&mut self, i: usize, reason: &'static str) {
        let o = &mut self.orders[i];
        o.status = OrderStatus::Rejected;
        o.reject_reason = reason;
        o.live = false;
    }

    fn cancel_order(&mut self, i: usize) {
        let o = &mut self.orders[i];
        o.status = OrderStatus::Cancelled;
        o.live = false;
        self.live.retain(|&k| k != i);
    }

    /// Puts an order into play at `now`: market orders walk the book, marketable limits
    /// take what they can up to their price and rest the rest, stops wait for a trigger.
    fn activate(&mut self, i: usize, book: &L3Book, now: u64) {
        match self.orders[i].order_type {
            OrderType::Market => {
                self.walk(i, book, None, now);
                let o = &mut self.orders[i];
                if o.remaining() > 0 {
                    // Market orders are immediate: what the visible book cannot fill is
                    // cancelled, never left working.
                    o.status = OrderStatus::Cancelled;
                    if o.filled_qty == 0 {
                        o.reject_reason = "no liquidity";
                    }
                }
            }
            OrderType::Limit => {
                let limit = self.orders[i].price;
                self.walk(i, book, limit, now);
                let o = &mut self.orders[i];
                if o.remaining() > 0 {
                    let side = o.book_side();
                    let price = o.price.expect("limit has a price");
                    o.ahead = book.orders_at(side, price).into_iter().collect();
                    o.live = true;
                    self.live.push(i);
                }
            }
            OrderType::Stop => {
                let o = &mut self.orders[i];
                o.live = true;
                o.triggered = false;
                self.live.push(i);
            }
        }
    }

    /// Takes visible liquidity on the other side, best level first, up to `limit`.
    fn walk(&mut self, i: usize, book: &L3Book, limit: Option<i64>, now: u64) {
        let (side, other) = {
            let o = &self.orders[i];
            (
                o.side,
                match o.side {
                    OrderSide::Buy => Side::Ask,
                    OrderSide::Sell => Side::Bid,
                },
            )
        };
        let mut lvl = 0;
        while self.orders[i].remaining() > 0 {
            let Some(l) = book.level(other, lvl) else {
                break;
            };
            lvl += 1;
            let ok = match (side, limit) {
                (_, None) => true,
                (OrderSide::Buy, Some(p)) => l.price <= p,
                (OrderSide::Sell, Some(p)) => l.price >= p,
            };
            if !ok {
                break;
            }
            let take = (self.orders[i].remaining() as u64).min(l.size) as u32;
            if take > 0 {
                self.fill(i, l.price, take, now, Liquidity::Taker, book);
            }
        }
    }

    /// Books a fill of order `i` and handles what it implies (status, bracket children,
    /// the one-cancels-other sibling).
    fn fill(
        &mut self,
        i: usize,
        price: i64,
        qty: u32,
        ts: u64,
        liquidity: Liquidity,
        book: &L3Book,
    ) {
        let fee_per = self
            .spec(self.orders[i].instrument_id)
            .map_or(0.0, |s| s.fee_per_contract);
        let o = &mut self.orders[i];
        debug_assert!(qty > 0 && qty <= o.remaining());
        o.filled_qty += qty;
        o.set_fill_status();
        let done = o.status == OrderStatus::Filled;
        if done && o.live {
            o.live = false;
            self.live.retain(|&k| k != i);
        }
        let o = &self.orders[i];
        self.fills.push(Fill {
            client_order_id: o.client_order_id,
            instrument_id: o.instrument_id,
            side: o.side,
            price,
            qty,
            ts,
            fee: fee_per * qty as f64,
            liquidity,
        });
        let (leg, intent_id, bracket) = (o.leg, o.intent_id, o.bracket);
        match (leg, bracket) {
            (Leg::Entry, Some(b)) => self.grow_children(i, intent_id, b, qty, ts, book),
            (Leg::StopLoss, _) => self.shrink_sibling(intent_id, Leg::TakeProfit, qty),
            (Leg::TakeProfit, _) => self.shrink_sibling(intent_id, Leg::StopLoss, qty),
            _ => {}
        }
    }

    /// Places (or grows) the stop-loss and take-profit of an entry by `qty` contracts.
    fn grow_children(
        &mut self,
        entry: usize,
        intent_id: u64,
        b: Bracket,
        qty: u32,
        ts: u64,
        book: &L3Book,
    ) {
        let (inst, side) = (self.orders[entry].instrument_id, self.orders[entry].side);
        for (leg, ty, price, stop) in [
            (Leg::StopLoss, OrderType::Stop, None, Some(b.stop_loss)),
            (Leg::TakeProfit, OrderType::Limit, Some(b.take_profit), None),
        ] {
            let coid = client_order_id(intent_id, leg);
            match self.index.get(&coid).copied() {
                Some(k) => {
                    let o = &mut self.orders[k];
                    o.qty += qty;
                    o.set_fill_status();
                    if !o.live {
                        // It had been used up or cancelled by its sibling: back in play.
                        o.live = true;
                        o.triggered = false;
                        self.live.push(k);
                    }
                    if ty == OrderType::Limit {
                        // A larger size loses time priority (CME): rejoin the back.
                        let o = &mut self.orders[k];
                        o.ahead = book
                            .orders_at(o.book_side(), o.price.expect("limit"))
                            .into_iter()
                            .collect();
                    }
                }
                None => {
                    let k = self.push_order(SimOrder {
                        client_order_id: coid,
                        intent_id,
                        instrument_id: inst,
                        side: side.opposite(),
                        order_type: ty,
                        qty,
                        price,
                        stop_price: stop,
                        leg,
                        status: OrderStatus::Working,
                        filled_qty: 0,
                        ts,
                        reject_reason: "",
                        bracket: None,
                        live: false,
                        ahead: FxHashSet::default(),
                        triggered: false,
                    });
                    self.activate(k, book, ts);
                }
            }
        }
    }

    /// One-cancels-other: a child's fill of `qty` takes as much off its sibling; a sibling
    /// left with nothing is cancelled.
    fn shrink_sibling(&mut self, intent_id: u64, leg: Leg, qty: u32) {
        let coid = client_order_id(intent_id, leg);
        let Some(k) = self.index.get(&coid).copied() else {
            return;
        };
        let o = &mut self.orders[k];
        if o.status.is_terminal() {
            return;
        }
        o.qty = o.qty.saturating_sub(qty).max(o.filled_qty);
        if o.remaining() == 0 {
            if o.filled_qty == 0 {
                o.status = OrderStatus::Cancelled;
            } else {
                o.status = OrderStatus::Filled;
            }
            o.live = false;
            self.live.retain(|&x| x != k);
        }
    }

    /// Sees one market record BEFORE the book applies it (so the book still holds the
    /// order a cancel or fill names).
    #[inline]
    pub fn on_mbo(&mut self, m: &MboMsg, book: &L3Book) {
        if self.live.is_empty() {
            return;
        }
        let id = m.hd.instrument_id;
        match m.action as u8 {
            b'F' => self.on_fill_record(m, book),
            b'T' => self.on_trade(id, m.price),
            b'C' | b'M' => self.on_change(m, book),
            b'R' => {
                for &i in &self.live {
                    if self.orders[i].instrument_id == id {
                        self.orders[i].ahead.clear();
                    }
                }
            }
            _ => {}
        }
    }

    /// A cancel or modify of an order ahead of ours moves us up: a full cancel removes it,
    /// a re-price or a size increase sends it behind us.
    fn on_change(&mut self, m: &MboMsg, book: &L3Book) {
        let Some((_, old_price, old_size)) = book.order(m.order_id) else {
            return;
        };
        let leaves = match m.action as u8 {
            b'C' => m.size >= old_size,
            _ => m.price != old_price || m.size > old_size,
        };
        if !leaves {
            return;
        }
        let id = m.hd.instrument_id;
        for &i in &self.live {
            let o = &mut self.orders[i];
            if o.instrument_id == id && !o.ahead.is_empty() {
                o.ahead.remove(&m.order_id);
            }
        }
    }

    /// A resting order was filled. If it is at our price on our side and not ahead of us,
    /// FIFO says we would have been filled before it.
    fn on_fill_record(&mut self, m: &MboMsg, book: &L3Book) {
        let id = m.hd.instrument_id;
        let side = match book.order(m.order_id) {
            Some((s, _, _)) => s,
            None => match Side::from_dbn(m.side) {
                Some(s) => s,
                None => return,
            },
        };
        let mut avail = m.size;
        // A snapshot: fills below can cancel a sibling or place children mid-loop.
        let live = self.live.clone();
        for i in live {
            let o = &self.orders[i];
            if avail == 0 {
                break;
            }
            if !o.live
                || o.instrument_id != id
                || o.order_type != OrderType::Limit
                || o.book_side() != side
            {
                continue;
            }
            let Some(p) = o.price else { continue };
            let hit = if m.price == p {
                !o.ahead.contains(&m.order_id)
            } else {
                // A worse-priced order on our side filled: the market went through us.
                o.strictly_worse(m.price)
            };
            if hit {
                let take = o.remaining().min(avail);
                avail -= take;
                self.fill(i, p, take, m.ts_recv, Liquidity::Maker, book);
            }
        }
    }

    /// A trade printed: stops at or through it trigger (executed at the end of the event).
    /// Limits are filled from the `F` records that follow (one per resting order filled,
    /// with its id), not from the print: counting both would fill us twice for one trade.
    fn on_trade(&mut self, id: InstrumentId, price: i64) {
        if price == crate::book::UNDEF_PRICE {
            return;
        }
        for &i in &self.live {
            let o = &mut self.orders[i];
            if o.instrument_id != id || o.order_type != OrderType::Stop {
                continue;
            }
            let stop = o.stop_price.expect("stop has a trigger");
            let hit = match o.side {
                OrderSide::Buy => price >= stop,
                OrderSide::Sell => price <= stop,
            };
            if hit {
                o.triggered = true;
            }
        }
    }

    /// End of an event on instrument `id` (the book has applied it): triggered stops are
    /// sent into the book as market orders.
    #[inline]
    pub fn on_event_end(&mut self, id: InstrumentId, ts: u64, book: &L3Book) {
        if self.live.is_empty() {
            return;
        }
        let live = self.live.clone();
        for i in live {
            let o = &self.orders[i];
            if o.live && o.instrument_id == id && o.order_type == OrderType::Stop && o.triggered {
                self.orders[i].live = false;
                self.live.retain(|&k| k != i);
                self.walk(i, book, None, ts);
                let o = &mut self.orders[i];
                if o.remaining() > 0 && !o.status.is_terminal() {
                    // An empty side: the stop stays armed for the next print.
                    o.live = true;
                    o.triggered = false;
                    self.live.push(i);
                }
            }
        }
    }

    /// Queue position of a resting order of ours: (orders ahead, their total size) as the
    /// book stands now. `None` if it is not a resting limit.
    pub fn queue_ahead(&self, client_order_id: u64, book: &L3Book) -> Option<(usize, u64)> {
        let o = &self.orders[*self.index.get(&client_order_id)?];
        if !o.live || o.order_type != OrderType::Limit {
            return None;
        }
        let p = o.price?;
        let side = o.book_side();
        let mut n = 0;
        let mut size = 0u64;
        for id in book.orders_at(side, p) {
            if o.ahead.contains(&id) {
                n += 1;
                size += book.order(id).map_or(0, |(_, _, s)| s as u64);
            }
        }
        Some((n, size))
    }
}

/// Price units (f64) of a fixed-point price.
#[inline]
pub fn px(p: i64) -> f64 {
    p as f64 / PRICE_SCALE as f64
}

pub mod market;

#[cfg(test)]
mod tests;
