//! The simulated exchange on the real ES MBO day: queue position taken from the real book,
//! only ever advancing, and fills consistent with it.

mod common;

use dbn::MboMsg;
use tradecore::book::{BookView, L3Book, Side, PRICE_SCALE};
use tradecore::decode::DbnReader;
use tradecore::orders::{
    InstrumentSpec, IntentAction, OrderIntent, OrderSide, OrderType, SignalSource, TimeInForce,
};
use tradecore::sim::{LatencyModel, OrderStatus, SimConfig, SimExchange};

const ES: u32 = 17077;
/// 2023-12-25 22:05 UTC: five minutes into the Globex reopen.
const T_PLACE: u64 = 1_703_541_900_000_000_000;

fn intent(id: u64, side: OrderSide, ty: OrderType, qty: u32, price: Option<i64>) -> OrderIntent {
    OrderIntent {
        intent_id: id,
        ts: 0,
        instrument_id: ES,
        action: IntentAction::New,
        side,
        qty,
        order_type: ty,
        price,
        stop_price: None,
        tif: TimeInForce::Day,
        reduce_only: false,
        bracket: None,
        source: SignalSource::External,
        confidence: 0.9,
        risk_score: 3,
    }
}

#[test]
fn queue_position_on_the_real_book_only_advances_and_fills_follow_it() {
    let mut reader = DbnReader::open(common::esh4_mbo()).unwrap();
    let spec = InstrumentSpec {
        instrument_id: ES,
        tick_size: PRICE_SCALE / 4,
        multiplier: 50.0,
        fee_per_contract: 2.0,
    };
    let cfg = SimConfig {
        order_latency: LatencyModel::Constant(0),
        feed_latency: LatencyModel::Constant(0),
        seed: 0,
    };
    let mut sim = SimExchange::new(cfg, vec![spec]).unwrap();
    let mut books = vec![(ES, L3Book::new())];
    let mut placed: Option<(u64, u64, u64)> = None;
    let mut last_ahead = [usize::MAX; 2];
    let mut advances = 0;
    while let Some(rec) = reader.next_record().unwrap() {
        let Some(m) = rec.get::<MboMsg>().cloned() else {
            continue;
        };
        sim.process_until(m.ts_recv, &books);
        if placed.is_none() && m.ts_recv >= T_PLACE {
            let b = &books[0].1;
            let (bid, ask) = (b.best(Side::Bid).unwrap(), b.best(Side::Ask).unwrap());
            let buy = sim.submit(
                &intent(1, OrderSide::Buy, OrderType::Limit, 1, Some(bid.price)),
                m.ts_recv,
            );
            let sell = sim.submit(
                &intent(2, OrderSide::Sell, OrderType::Limit, 1, Some(ask.price)),
                m.ts_recv,
            );
            let mkt = sim.submit(
                &intent(3, OrderSide::Buy, OrderType::Market, 3, None),
                m.ts_recv,
            );
            sim.process_until(m.ts_recv, &books);
            // At arrival our limits sit behind every order at their price.
            let (n_bid, size_bid) = sim.queue_ahead(buy, b).unwrap();
            assert_eq!(n_bid, b.orders_at(Side::Bid, bid.price).len());
            assert_eq!(size_bid, bid.size);
            let (n_ask, _) = sim.queue_ahead(sell, b).unwrap();
            assert_eq!(n_ask, ask.count as usize);
            // The market order takes the best ask first (and walks on if it is thin).
            let f = sim
                .fills()
                .iter()
                .find(|f| f.client_order_id == mkt)
                .unwrap();
            assert_eq!(f.price, ask.price);
            assert_eq!(sim.order(mkt).unwrap().filled_qty, 3);
            placed = Some((buy, sell, mkt));
        }
        sim.on_mbo(&m, &books[0].1);
        books[0].1.apply(&m);
        if m.flags.is_last() {
            books[0].1.end_event();
            sim.on_event_end(ES, m.ts_recv, &books[0].1);
        }
        if let Some((buy, sell, _)) = placed {
            for (k, coid) in [buy, sell].into_iter().enumerate() {
                if let Some((n, _)) = sim.queue_ahead(coid, &books[0].1) {
                    assert!(
                        n <= last_ahead[k],
                        "queue position went back: {n} > {}",
                        last_ahead[k]
                    );
                    if n < last_ahead[k] && last_ahead[k] != usize::MAX {
                        advances += 1;
                    }
                    last_ahead[k] = n;
                }
            }
        }
    }
    let (buy, sell, _) = placed.expect("the file reaches 22:05");
    assert!(
        advances > 0,
        "the queue ahead never moved on a live session"
    );
    for coid in [buy, sell] {
        let o = sim.order(coid).unwrap();
        let filled: u32 = sim
            .fills()
            .iter()
            .filter(|f| f.client_order_id == coid)
            .map(|f| f.qty)
            .sum();
        assert_eq!(filled, o.filled_qty);
        if o.status == OrderStatus::Filled {
            assert!(sim
                .fills()
                .iter()
                .filter(|f| f.client_order_id == coid)
                .all(|f| Some(f.price) == o.price));
        }
    }
    // Over two live hours with the market moving, at least one side of the touch fills.
    let statuses = [
        sim.order(buy).unwrap().status,
        sim.order(sell).unwrap().status,
    ];
    assert!(statuses.contains(&OrderStatus::Filled), "{statuses:?}");
}
