//! A self-contained simulated market: one MBO file replayed through L3 books with the
//! [`SimExchange`] matching our orders against it. For callers that are not the engine (the
//! TWS test gateway) and want to step the market, read the top of book, send orders by
//! reference and collect fills, in the same call order [`crate::engine::Engine::on_mbo`]
//! drives the venue: arrivals due at a record's time act first, the venue sees the record
//! before the book applies it, and at an event boundary the book ends the event before the
//! venue fires triggered stops.

use std::path::Path;

use dbn::{rtype, MboMsg};

use super::{SimConfig, SimExchange, SimOrder};
use crate::book::{BookView, L3Book, LevelView};
use crate::decode::DbnReader;
use crate::error::{CoreError, Position, Result};
use crate::orders::{
    client_order_id, Fill, InstrumentId, InstrumentSpec, IntentAction, Leg, OrderIntent, OrderSide,
    OrderType, SignalSource, TimeInForce,
};

/// One MBO file, its books and the simulated venue.
pub struct SimMarket {
    reader: DbnReader,
    books: Vec<(InstrumentId, L3Book)>,
    sim: SimExchange,
    /// `ts_recv` of the last record fed (0 before the first).
    now: u64,
    records: u64,
    /// Fills before this index were already handed out by [`SimMarket::drain_fills`].
    fills_read: usize,
    /// Trade prints of the file since the last [`SimMarket::drain_trades`]: (instrument,
    /// ts_recv, price, size, aggressor side as DBN writes it).
    trades: Vec<(InstrumentId, u64, i64, u32, u8)>,
    done: bool,
}

impl SimMarket {
    /// Opens an MBO file; instrument specs come from `definitions` (or the built-in table,
    /// see [`crate::instruments::resolve::specs_for_files`]), each with `fee_per_contract`.
    pub fn open(
        path: &Path,
        definitions: Option<&Path>,
        fee_per_contract: f64,
        cfg: SimConfig,
    ) -> Result<SimMarket> {
        let specs = crate::instruments::resolve::specs_for_files(
            &[path.to_path_buf()],
            definitions,
            fee_per_contract,
        )?;
        let reader = DbnReader::open(path)?;
        SimMarket::new(reader, cfg, specs.into_iter().map(|(s, _, _)| s).collect())
    }

    /// A market over an already opened reader (tests, in-memory streams).
    pub fn new(reader: DbnReader, cfg: SimConfig, specs: Vec<InstrumentSpec>) -> Result<SimMarket> {
        if reader.metadata().schema != Some(dbn::Schema::Mbo) {
            return Err(CoreError::UnknownFormat {
                path: reader.path().to_path_buf(),
                detail: format!(
                    "the simulated exchange needs MBO (L3) data, this file is {:?}",
                    reader.metadata().schema
                ),
            });
        }
        Ok(SimMarket {
            reader,
            books: Vec::new(),
            sim: SimExchange::new(cfg, specs)?,
            now: 0,
            records: 0,
            fills_read: 0,
            trades: Vec::new(),
            done: false,
        })
    }

    /// Feeds records until at least `max_records` were fed and the last one closed its
    /// event (so the books are never left mid-event), or the file ends. Returns how many were
    /// fed: 0 once the file is exhausted.
    pub fn step(&mut self, max_records: u64) -> Result<u64> {
        let mut n = 0u64;
        while !self.done {
            let Some(m) = self.next_mbo()? else {
                self.done = true;
                break;
            };
            self.on_mbo(&m);
            n += 1;
            if n >= max_records && m.flags.is_last() {
                break;
            }
        }
        Ok(n)
    }

    fn next_mbo(&mut self) -> Result<Option<MboMsg>> {
        loop {
            let at: Position = self.reader.position();
            let Some(rec) = self.reader.next_record()? else {
                return Ok(None);
            };
            if rec.header().rtype != rtype::MBO {
                continue;
            }
            let Some(m) = rec.get::<MboMsg>().cloned() else {
                continue;
            };
            if m.ts_recv < self.now {
                return Err(CoreError::OutOfOrder {
                    path: self.reader.path().to_path_buf(),
                    at,
                    prev: self.now,
                    ts: m.ts_recv,
                });
            }
            return Ok(Some(m));
        }
    }

    /// One market record, in the engine's order.
    pub fn on_mbo(&mut self, m: &MboMsg) {
        let ts = m.ts_recv;
        self.now = ts;
        self.records += 1;
        if self.sim.next_arrival().is_some_and(|a| a <= ts) {
            self.sim.process_until(ts, &self.books);
        }
        let id = m.hd.instrument_id;
        let s = match self.books.iter().position(|(k, _)| *k == id) {
            Some(s) => s,
            None => {
                self.books.push((id, L3Book::new()));
                self.books.len() - 1
            }
        };
        self.sim.on_mbo(m, &self.books[s].1);
        self.books[s].1.apply(m);
        if m.action as u8 == b'T' && m.price != crate::book::UNDEF_PRICE && m.size > 0 {
            self.trades.push((id, ts, m.price, m.size, m.side as u8));
        }
        if m.flags.is_last() {
            self.books[s].1.end_event();
            self.sim.on_event_end(id, ts, &self.books[s].1);
        }
    }

    pub fn is_done(&self) -> bool {
        self.done
    }

    /// `ts_recv` of the last record fed, UTC ns (0 before the first).
    pub fn now(&self) -> u64 {
        self.now
    }

    pub fn records(&self) -> u64 {
        self.records
    }

    pub fn book(&self, id: InstrumentId) -> Option<&L3Book> {
        self.books.iter().find(|(k, _)| *k == id).map(|(_, b)| b)
    }

    /// Best bid and ask of an instrument (None for a side without orders or no book yet).
    pub fn bbo(&self, id: InstrumentId) -> (Option<LevelView>, Option<LevelView>) {
        self.book(id).map_or((None, None), |b| b.bbo())
    }

    pub fn sim(&self) -> &SimExchange {
        &self.sim
    }

    /// Instruments the venue has specs for (the file's instruments).
    pub fn instruments(&self) -> Vec<InstrumentId> {
        self.sim.specs().iter().map(|s| s.instrument_id).collect()
    }

    /// Sends a new order named by `order_ref` (its intent id: unique per market) at the
    /// current time. With zero order latency it acts on the book as it stands now (a
    /// market order fills at once); otherwise when the feed reaches its arrival time.
    /// Returns its client order id. Bad input is a [`CoreError::Config`] naming it.
    #[allow(clippy::too_many_arguments)]
    pub fn place(
        &mut self,
        order_ref: u64,
        instrument_id: InstrumentId,
        side: OrderSide,
        qty: u32,
        order_type: OrderType,
        price: Option<i64>,
        stop_price: Option<i64>,
    ) -> Result<u64> {
        let mut problems = Vec::new();
        if self.sim.spec(instrument_id).is_none() {
            problems.push(format!(
                "unknown instrument {instrument_id} (this market trades {:?})",
                self.instruments()
            ));
        }
        if qty == 0 {
            problems.push("qty must be > 0".to_string());
        }
        match order_type {
            OrderType::Limit if price.is_none() => {
                problems.push("a limit order needs a limit price".into())
            }
            OrderType::Stop if stop_price.is_none() => {
                problems.push("a stop order needs a stop price".into())
            }
            _ => {}
        }
        if order_ref > u64::MAX / 4 {
            problems.push(format!("order_ref {order_ref} is too large"));
        } else if self
            .sim
            .order(client_order_id(order_ref, Leg::Entry))
            .is_some()
        {
            problems.push(format!("order_ref {order_ref} was already used"));
        }
        if !problems.is_empty() {
            return Err(CoreError::Config(format!(
                "order {order_ref}: {}",
                problems.join("; ")
            )));
        }
        let intent = OrderIntent {
            intent_id: order_ref,
            ts: self.now,
            instrument_id,
            action: IntentAction::New,
            side,
            qty,
            order_type,
            price: if order_type == OrderType::Limit {
                price
            } else {
                None
            },
            stop_price: if order_type == OrderType::Stop {
                stop_price
            } else {
                None
            },
            tif: TimeInForce::Gtc,
            reduce_only: false,
            bracket: None,
            source: SignalSource::External,
            confidence: 1.0,
            risk_score: 1,
        };
        Ok(self.send(&intent))
    }

    /// Cancels the order `order_ref` (it reaches the venue after the order latency).
    /// Returns false when the order is already terminal (nothing sent).
    pub fn cancel(&mut self, order_ref: u64) -> Result<bool> {
        let Some(o) = self.order(order_ref) else {
            return Err(CoreError::Config(format!(
                "cancel: unknown order {order_ref}"
            )));
        };
        if o.status.is_terminal() {
            return Ok(false);
        }
        let intent = OrderIntent {
            intent_id: order_ref,
            ts: self.now,
            instrument_id: o.instrument_id,
            action: IntentAction::Cancel {
                client_order_id: o.client_order_id,
            },
            side: o.side,
            qty: 0,
            order_type: o.order_type,
            price: None,
            stop_price: None,
            tif: TimeInForce::Gtc,
            reduce_only: false,
            bracket: None,
            source: SignalSource::External,
            confidence: 1.0,
            risk_score: 1,
        };
        self.send(&intent);
        Ok(true)
    }

    /// Submits at `now` and lets what is due by `now` act at once.
    fn send(&mut self, intent: &OrderIntent) -> u64 {
        let coid = self.sim.submit(intent, self.now);
        if self.sim.next_arrival().is_some_and(|a| a <= self.now) {
            self.sim.process_until(self.now, &self.books);
        }
        coid
    }

    /// The order sent as `order_ref`.
    pub fn order(&self, order_ref: u64) -> Option<&SimOrder> {
        if order_ref > u64::MAX / 4 {
            return None;
        }
        self.sim.order(client_order_id(order_ref, Leg::Entry))
    }

    /// The file's trade prints since the last call, in time order (a feed's last-trade ticks).
    pub fn drain_trades(&mut self) -> Vec<(InstrumentId, u64, i64, u32, u8)> {
        std::mem::take(&mut self.trades)
    }

    /// Fills since the last call, in time order.
    pub fn drain_fills(&mut self) -> &[Fill] {
        let all = self.sim.fills();
        let new = &all[self.fills_read..];
        self.fills_read = all.len();
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orders::Liquidity;
    use crate::sim::{LatencyModel, OrderStatus};
    use dbn::encode::{dbn::Encoder, EncodeRecord};
    use dbn::FlagSet;

    use crate::sim::tests::{rec, t, ID, TICK};

    fn market(recs: &[MboMsg], latency: u64) -> SimMarket {
        let meta = dbn::Metadata::builder()
            .version(3)
            .dataset("GLBX.MDP3")
            .schema(Some(dbn::Schema::Mbo))
            .start(0)
            .stype_in(Some(dbn::SType::InstrumentId))
            .stype_out(dbn::SType::InstrumentId)
            .build();
        let mut enc = Encoder::new(Vec::new(), &meta).unwrap();
        for m in recs {
            enc.encode_record(m).unwrap();
        }
        let reader = DbnReader::from_bytes("mem.dbn", enc.get_ref().clone()).unwrap();
        let cfg = SimConfig {
            order_latency: LatencyModel::Constant(latency),
            feed_latency: LatencyModel::Constant(0),
            seed: 3,
        };
        let spec = InstrumentSpec {
            instrument_id: ID,
            tick_size: TICK,
            multiplier: 50.0,
            fee_per_contract: 1.25,
        };
        SimMarket::new(reader, cfg, vec![spec]).unwrap()
    }

    /// A book of bids 100.00 (5 + 3) and asks 100.25 (4) / 100.50 (6), then a trade that
    /// takes the first bid, a cancel of the second and a trade through 100.00.
    fn tape() -> Vec<MboMsg> {
        vec![
            rec(b'A', b'B', 0, 5, 1, 10),
            rec(b'A', b'B', 0, 3, 2, 11),
            rec(b'A', b'A', 1, 4, 3, 12),
            rec(b'A', b'A', 2, 6, 4, 13),
            // someone sells 5 into the bid: order 1 fills
            rec(b'F', b'B', 0, 5, 1, 100),
            rec(b'C', b'B', 0, 5, 1, 101),
            // order 2 cancels: we are at the front
            rec(b'C', b'B', 0, 3, 2, 200),
            // a seller takes 2 at 100.00: there is only us, so the print fills us
            rec(b'A', b'B', 0, 1, 5, 300),
            rec(b'F', b'B', 0, 1, 5, 301),
            rec(b'C', b'B', 0, 1, 5, 302),
        ]
    }

    #[test]
    fn steps_whole_events_and_reports_the_top_of_book() {
        let mut m = market(&tape(), 0);
        assert_eq!(m.bbo(ID), (None, None));
        assert_eq!(m.step(4).unwrap(), 4);
        let (b, a) = m.bbo(ID);
        assert_eq!((b.unwrap().price, b.unwrap().size), (t(0), 8));
        assert_eq!((a.unwrap().price, a.unwrap().size), (t(1), 4));
        assert_eq!(m.now(), 13);
        assert_eq!(m.step(100).unwrap(), 6);
        assert!(m.is_done());
        assert_eq!(m.step(1).unwrap(), 0);
    }

    #[test]
    fn step_finishes_the_event_it_is_in() {
        let mut recs = tape();
        for r in &mut recs[..3] {
            r.flags = FlagSet::empty();
        }
        let mut m = market(&recs, 0);
        assert_eq!(
            m.step(1).unwrap(),
            4,
            "records 1-3 are one event with record 4"
        );
    }

    #[test]
    fn market_order_walks_the_book_at_once_with_zero_latency() {
        let mut m = market(&tape(), 0);
        m.step(4).unwrap();
        let coid = m
            .place(1, ID, OrderSide::Buy, 6, OrderType::Market, None, None)
            .unwrap();
        assert_eq!(coid, 4);
        let f = m.drain_fills().to_vec();
        assert_eq!(
            f.iter().map(|f| (f.price, f.qty)).collect::<Vec<_>>(),
            vec![(t(1), 4), (t(2), 2)]
        );
        assert!(f
            .iter()
            .all(|f| f.liquidity == Liquidity::Taker && f.ts == 13));
        assert_eq!(f[0].fee, 5.0);
        assert!(m.drain_fills().is_empty(), "drained once");
        assert_eq!(m.order(1).unwrap().status, OrderStatus::Filled);
    }

    #[test]
    fn latency_delays_arrival_to_the_feed() {
        let mut m = market(&tape(), 50);
        m.step(4).unwrap();
        m.place(1, ID, OrderSide::Buy, 1, OrderType::Market, None, None)
            .unwrap();
        assert!(m.drain_fills().is_empty(), "still on its way at t=13");
        m.step(1).unwrap(); // t=100 >= 13 + 50: arrives first, then the record
        assert_eq!(m.drain_fills()[0].price, t(1));
    }

    #[test]
    fn passive_limit_waits_for_the_queue_ahead_and_cancel_stops_it() {
        let mut m = market(&tape(), 0);
        m.step(4).unwrap();
        m.place(1, ID, OrderSide::Buy, 2, OrderType::Limit, Some(t(0)), None)
            .unwrap();
        m.place(
            2,
            ID,
            OrderSide::Buy,
            1,
            OrderType::Limit,
            Some(t(-1)),
            None,
        )
        .unwrap();
        assert!(m.drain_fills().is_empty());
        let book = m.book(ID).unwrap();
        assert_eq!(m.sim().queue_ahead(4, book), Some((2, 8)));
        // order 1 fills and leaves, order 2 cancels: none of that is ours
        m.step(3).unwrap();
        assert!(m.drain_fills().is_empty());
        assert_eq!(m.order(1).unwrap().status, OrderStatus::Working);
        assert!(m.cancel(2).unwrap());
        assert_eq!(m.order(2).unwrap().status, OrderStatus::Cancelled);
        assert!(!m.cancel(2).unwrap(), "already terminal");
        // the next sell at 100.00 reaches us first
        m.step(100).unwrap();
        let f = m.drain_fills();
        assert_eq!(f.len(), 1);
        assert_eq!(
            (f[0].price, f[0].qty, f[0].liquidity),
            (t(0), 1, Liquidity::Maker)
        );
        assert_eq!(m.order(1).unwrap().status, OrderStatus::PartiallyFilled);
    }

    #[test]
    fn bad_orders_are_config_errors_naming_the_problem() {
        let mut m = market(&tape(), 0);
        m.step(4).unwrap();
        let err = |r: Result<u64>| match r {
            Err(CoreError::Config(s)) => s,
            other => panic!("expected a config error, got {other:?}"),
        };
        let s = err(m.place(1, 99, OrderSide::Buy, 1, OrderType::Market, None, None));
        assert!(s.contains("unknown instrument 99"), "{s}");
        let s = err(m.place(1, ID, OrderSide::Buy, 1, OrderType::Limit, None, None));
        assert!(s.contains("limit price"), "{s}");
        let s = err(m.place(1, ID, OrderSide::Buy, 0, OrderType::Stop, None, None));
        assert!(s.contains("qty") && s.contains("stop price"), "{s}");
        m.place(
            1,
            ID,
            OrderSide::Buy,
            1,
            OrderType::Limit,
            Some(t(-4)),
            None,
        )
        .unwrap();
        let s = err(m.place(1, ID, OrderSide::Buy, 1, OrderType::Market, None, None));
        assert!(s.contains("already used"), "{s}");
        assert!(matches!(m.cancel(42), Err(CoreError::Config(_))));
        // off the tick grid: the venue rejects it (not an input error)
        m.place(
            3,
            ID,
            OrderSide::Buy,
            1,
            OrderType::Limit,
            Some(t(0) + 1),
            None,
        )
        .unwrap();
        assert_eq!(m.order(3).unwrap().status, OrderStatus::Rejected);
    }

    #[test]
    fn stop_triggers_on_a_print_and_walks_the_book() {
        let mut recs = tape();
        let mut trade = rec(b'T', b'A', 0, 5, 0, 99);
        trade.flags = FlagSet::empty();
        recs.insert(4, trade);
        recs[5].flags = FlagSet::new(dbn::flags::LAST);
        let mut m = market(&recs, 0);
        m.step(4).unwrap();
        m.place(1, ID, OrderSide::Sell, 1, OrderType::Stop, None, Some(t(0)))
            .unwrap();
        assert!(m.drain_fills().is_empty());
        m.step(1).unwrap(); // the print at 100.00 and the fill of order 1: one event
        let f = m.drain_fills();
        assert_eq!(f.len(), 1);
        // the event removed nothing from the bid yet (the C comes later): 100.00 is there
        assert_eq!((f[0].price, f[0].ts), (t(0), 100));
        assert_eq!(m.order(1).unwrap().status, OrderStatus::Filled);
        // the print itself is handed out once, as the feed's last trade
        assert_eq!(m.drain_trades(), vec![(ID, 99, t(0), 5, b'A')]);
        assert!(m.drain_trades().is_empty());
    }
}
