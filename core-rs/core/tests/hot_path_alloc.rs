//! The decision -> sizing -> risk-gate path allocates nothing when it accepts: a counting
//! global allocator watches this thread while the path runs many times. (A denial formats
//! its detail and may allocate; that is the one place that does.)

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use tradecore::decision::{decide, DecisionConfig, RiskInputs};
use tradecore::orders::{
    InstrumentSpec, IntentAction, OrderIntent, OrderSide, OrderType, SignalSource, TimeInForce,
};
use tradecore::risk::{
    AccountState, CorrelationMatrix, MarketState, PositionState, RiskContext, RiskEngine,
    RiskLimits,
};
use tradecore::sizing::{size, SizingConfig};

struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // try_with: the thread-local may be gone while a thread shuts down.
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocs() -> u64 {
    ALLOCS.with(|c| c.get())
}

const P: i64 = 1_000_000_000;

#[test]
fn accept_path_allocates_nothing() {
    let positions = [
        PositionState {
            instrument_id: 1,
            qty: 2,
            mark: 5000 * P,
            multiplier: 50.0,
        },
        PositionState {
            instrument_id: 2,
            qty: -1,
            mark: 20000 * P,
            multiplier: 20.0,
        },
    ];
    let account = AccountState {
        equity: 1_000_000.0,
        equity_peak: 1_000_000.0,
        realized_pnl_today: 0.0,
        unrealized_pnl: 0.0,
        traded_notional_today: 0.0,
    };
    let corr = CorrelationMatrix::new(vec![1, 2], vec![1.0, 0.9, 0.9, 1.0]).unwrap();
    let risk = RiskInputs {
        vol_forecast: 0.0008,
        var99: 0.0019,
        cvar99: 0.0022,
        corr_to_index: 0.3,
        beta_to_index: 0.8,
        tail_dependence: 0.1,
    };
    let spec = InstrumentSpec {
        instrument_id: 1,
        tick_size: P / 4,
        multiplier: 50.0,
        fee_per_contract: 2.0,
    };
    let dcfg = DecisionConfig::default();
    let scfg = SizingConfig::default();
    let mut eng = RiskEngine::new(RiskLimits {
        submit_rate_per_sec: 1_000_000,
        submit_burst: 1_000_000,
        ..Default::default()
    })
    .unwrap();
    let before = allocs();
    let mut accepted = 0;
    for k in 0..10_000u64 {
        let now = 1_000_000 + k * 1_000;
        let d = decide(
            &[0.02, 0.03, 0.1, 0.45, 0.4],
            &[-2, -1, 0, 1, 2],
            &risk,
            SignalSource::Ensemble,
            &dcfg,
        )
        .unwrap();
        let s = size(&d, 5000 * P, 1_000_000.0, &spec, &scfg)
            .unwrap()
            .unwrap();
        let intent = OrderIntent {
            intent_id: k,
            ts: now,
            instrument_id: 1,
            action: IntentAction::New,
            side: OrderSide::Buy,
            qty: s.qty.min(5),
            order_type: OrderType::Limit,
            price: Some(5000 * P),
            stop_price: None,
            tif: TimeInForce::Day,
            reduce_only: false,
            bracket: Some(s.bracket),
            source: d.source,
            confidence: d.confidence,
            risk_score: d.risk_score,
        };
        let market = MarketState {
            instrument_id: 1,
            mid: Some(5000 * P),
            last_trade: None,
            last_update_ns: now,
            book_trusted: true,
            crossed: false,
        };
        let ctx = RiskContext {
            now_ns: now,
            market: &market,
            positions: &positions,
            account: &account,
            working_qty: 0,
            correlations: Some(&corr),
        };
        accepted += eng.check(&intent, &ctx).is_ok() as u32;
    }
    let during = allocs() - before;
    assert_eq!(
        accepted, 10_000,
        "the path must take the accept branch to be measured"
    );
    assert_eq!(during, 0, "{during} allocations on the accept path");

    // The counter does see allocations (the test could fail): a denial formats its detail.
    let market = MarketState {
        instrument_id: 1,
        mid: Some(5000 * P),
        last_trade: None,
        last_update_ns: 0,
        book_trusted: true,
        crossed: true,
    };
    let ctx = RiskContext {
        now_ns: 1,
        market: &market,
        positions: &positions,
        account: &account,
        working_qty: 0,
        correlations: None,
    };
    let intent = OrderIntent {
        intent_id: 0,
        ts: 1,
        instrument_id: 1,
        action: IntentAction::New,
        side: OrderSide::Sell,
        qty: 1,
        order_type: OrderType::Market,
        price: None,
        stop_price: None,
        tif: TimeInForce::Ioc,
        reduce_only: false,
        bracket: None,
        source: SignalSource::Ensemble,
        confidence: 0.9,
        risk_score: 2,
    };
    let before = allocs();
    assert!(eng.check(&intent, &ctx).is_err());
    assert!(allocs() > before, "the counting allocator saw nothing");
}
