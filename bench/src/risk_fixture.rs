//! The inputs the decision and risk-gate programs time (`benches/risk.rs`, criterion, and
//! `examples/risk_cpu.rs`, CPU time): one place, so both measure the same work. The order
//! passes every gate (three positions, a correlation matrix, throttles wide open) and the
//! probabilities give a tradeable signal, so every call takes the full accept path.

use std::hint::black_box;

use tradecore::decision::{decide, DecisionConfig, RiskInputs};
use tradecore::orders::{
    InstrumentSpec, IntentAction, OrderIntent, OrderSide, OrderType, SignalSource, TimeInForce,
};
use tradecore::risk::{
    AccountState, CorrelationMatrix, MarketState, PositionState, RiskContext, RiskEngine,
    RiskLimits,
};
use tradecore::sizing::{size, SizingConfig};

/// Price scale: 1.0 = `P` (fixed-point nanos).
pub const P: i64 = 1_000_000_000;
/// Entry price and account equity the sizing step is called with.
pub const ENTRY: i64 = 5000 * P;
pub const EQUITY: f64 = 1_000_000.0;

pub struct RiskFixture {
    pub market: MarketState,
    pub positions: [PositionState; 3],
    pub account: AccountState,
    pub corr: CorrelationMatrix,
    pub intent: OrderIntent,
    pub probs: [f32; 5],
    pub classes: [i8; 5],
    pub ri: RiskInputs,
    pub dcfg: DecisionConfig,
    pub spec: InstrumentSpec,
    pub scfg: SizingConfig,
}

impl Default for RiskFixture {
    fn default() -> Self {
        Self::new()
    }
}

impl RiskFixture {
    pub fn new() -> Self {
        let position = |instrument_id, qty, mark, multiplier| PositionState {
            instrument_id,
            qty,
            mark,
            multiplier,
        };
        RiskFixture {
            market: MarketState {
                instrument_id: 1,
                mid: Some(ENTRY),
                last_trade: Some(ENTRY),
                last_update_ns: 0,
                book_trusted: true,
                crossed: false,
            },
            positions: [
                position(1, 2, 5000 * P, 50.0),
                position(2, -1, 20000 * P, 20.0),
                position(3, 3, 2000 * P, 50.0),
            ],
            account: AccountState {
                equity: EQUITY,
                equity_peak: 1_010_000.0,
                realized_pnl_today: -1_500.0,
                unrealized_pnl: 400.0,
                traded_notional_today: 2_000_000.0,
            },
            corr: CorrelationMatrix::new(
                vec![1, 2, 3],
                vec![1.0, 0.9, 0.6, 0.9, 1.0, 0.55, 0.6, 0.55, 1.0],
            )
            .unwrap(),
            intent: OrderIntent {
                intent_id: 1,
                ts: 0,
                instrument_id: 1,
                action: IntentAction::New,
                side: OrderSide::Buy,
                qty: 1,
                order_type: OrderType::Limit,
                price: Some(ENTRY),
                stop_price: None,
                tif: TimeInForce::Day,
                reduce_only: false,
                bracket: None,
                source: SignalSource::Ensemble,
                confidence: 0.8,
                risk_score: 3,
            },
            probs: [0.02, 0.03, 0.1, 0.45, 0.4],
            classes: [-2, -1, 0, 1, 2],
            ri: RiskInputs {
                vol_forecast: 0.0008,
                var99: 0.0019,
                cvar99: 0.0022,
                corr_to_index: 0.3,
                beta_to_index: 0.8,
                tail_dependence: 0.1,
            },
            dcfg: DecisionConfig::default(),
            spec: InstrumentSpec {
                instrument_id: 1,
                tick_size: P / 4,
                multiplier: 50.0,
                fee_per_contract: 2.0,
            },
            scfg: SizingConfig::default(),
        }
    }

    /// A risk engine whose throttles never deny (the programs advance event time too, so
    /// this is belt and braces).
    pub fn engine() -> RiskEngine {
        RiskEngine::new(RiskLimits {
            submit_rate_per_sec: 1_000_000,
            submit_burst: 1_000_000,
            ..Default::default()
        })
        .unwrap()
    }

    /// The market as updated at `now_ns` (so nothing is stale).
    #[inline]
    pub fn market_at(&self, now_ns: u64) -> MarketState {
        MarketState {
            last_update_ns: now_ns,
            ..self.market
        }
    }

    /// The gates' view at `now_ns` over `market` (from [`Self::market_at`]).
    #[inline]
    pub fn context<'a>(&'a self, market: &'a MarketState, now_ns: u64) -> RiskContext<'a> {
        RiskContext {
            now_ns,
            market,
            positions: &self.positions,
            account: &self.account,
            working_qty: 0,
            correlations: Some(&self.corr),
        }
    }

    /// The decision step alone.
    #[inline]
    pub fn decide(&self) -> tradecore::decision::Decision {
        decide(
            black_box(&self.probs),
            &self.classes,
            black_box(&self.ri),
            SignalSource::Ensemble,
            &self.dcfg,
        )
        .unwrap()
    }

    /// The whole per-signal path at `now_ns`: decide, size, bracket the intent and run every
    /// gate on it; true when accepted.
    #[inline]
    pub fn decide_size_check(&self, eng: &mut RiskEngine, now_ns: u64) -> bool {
        let d = self.decide();
        let s = size(&d, ENTRY, EQUITY, &self.spec, &self.scfg)
            .unwrap()
            .unwrap();
        let it = OrderIntent {
            qty: s.qty.min(5),
            bracket: Some(s.bracket),
            confidence: d.confidence,
            risk_score: d.risk_score,
            ..self.intent
        };
        let m = self.market_at(now_ns);
        eng.check(&it, &self.context(&m, now_ns)).is_ok()
    }
}
