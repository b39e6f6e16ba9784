//! Property test of the pre-trade risk gates: random sequences of intents and states run
//! through `RiskEngine::check` side by side with an independent oracle written as one plain
//! predicate per limit. Asserted for every step:
//! - `check` passes exactly when the oracle finds no violated limit (nothing that violates a
//!   limit ever passes, and nothing is denied without cause);
//! - a denial's reason is one of the limits the oracle found violated;
//! - cancels always pass; the HALTED state is entered exactly on loss/drawdown breaches;
//! - the per-reason counters equal the number of denials with that reason.
//!
//! The oracle keeps its own model of the throttles (tokens as exact rationals over event
//! time) and of the trading state; it shares no code with the engine.

use proptest::prelude::*;
use std::collections::{BTreeSet, HashMap};
use tradecore::orders::{
    Bracket, InstrumentId, IntentAction, OrderIntent, OrderSide, OrderType, SignalSource,
    TimeInForce,
};
use tradecore::risk::{
    AccountState, CorrelationMatrix, MarketState, PositionState, ReasonCode as R, RiskContext,
    RiskEngine, RiskLimits, TradingState,
};

const SCALE: f64 = 1e9;
const IDS: [InstrumentId; 3] = [1, 2, 3];

#[derive(Clone, Debug)]
struct Step {
    dt_ns: u64,
    set_state: Option<TradingState>,
    intent: OrderIntent,
    market: MarketState,
    positions: Vec<PositionState>,
    account: AccountState,
    working_qty: i64,
    use_corr: bool,
}

fn arb_limits() -> impl Strategy<Value = RiskLimits> {
    (
        (1u32..12, 1u32..25, 5e5f64..5e6, 2e5f64..4e6, 1e6f64..2e7),
        (
            1e3f64..5e4,
            0.02f64..0.5,
            1u32..5,
            1u32..5,
            1u32..5,
            1u32..5,
        ),
        (
            10u32..400,
            1u64..3_000_000_000,
            0.5f64..0.95,
            0.6f64..0.99,
            1u8..=10,
            0.3f64..1.0,
        ),
    )
        .prop_map(|(a, b, c)| RiskLimits {
            max_order_qty: a.0,
            max_position: a.1,
            // Derived, not drawn: the draws of the other limits stay as they were.
            max_total_position: a.1 * 2 + 1,
            max_gross_exposure: a.2,
            max_notional_per_order: a.3,
            max_daily_exposure: a.4,
            daily_loss_limit: b.0,
            max_drawdown: b.1,
            submit_rate_per_sec: b.2,
            submit_burst: b.3,
            modify_rate_per_sec: b.4,
            modify_burst: b.5,
            price_band_bps: c.0,
            max_data_age_ns: c.1,
            min_confidence_ensemble: c.2,
            min_confidence_external: c.3,
            max_risk_score: c.4,
            max_correlation: c.5,
        })
}

fn arb_side() -> impl Strategy<Value = OrderSide> {
    prop_oneof![Just(OrderSide::Buy), Just(OrderSide::Sell)]
}

fn arb_state() -> impl Strategy<Value = Option<TradingState>> {
    prop_oneof![
        8 => Just(None),
        1 => Just(Some(TradingState::Active)),
        1 => Just(Some(TradingState::Reducing)),
        1 => Just(Some(TradingState::Halted)),
    ]
}

/// Points (as fixed point) near a base price: mostly close (inside any band), sometimes far.
fn arb_offset() -> impl Strategy<Value = i64> {
    prop_oneof![
        9 => (-40i64..40).prop_map(|t| t * 250_000_000),
        1 => (-1200i64..1200).prop_map(|t| t * 250_000_000),
    ]
}

fn arb_step() -> impl Strategy<Value = Step> {
    let intent = (
        (
            0u8..10, // action: 0 cancel, 1-3 modify, else new
            arb_side(),
            0u32..15,
            0u8..3, // order type
            arb_offset(),
            proptest::option::weighted(0.9, arb_offset()),
        ),
        (
            prop::bool::weighted(0.2),
            proptest::option::weighted(0.2, (arb_offset(), arb_offset())),
            any::<bool>(),
            prop_oneof![60 => 0.8f64..1.0, 35 => 0.0f64..1.0, 5 => Just(f64::NAN)],
            1u8..=10,
            0u8..40, // instrument mismatch when 0
        ),
    );
    let market = (
        4_800i64..5_200,
        proptest::option::weighted(0.9, 0i64..8),
        proptest::option::weighted(0.8, -8i64..8),
        prop_oneof![9 => 0u64..1_000_000, 1 => 0u64..4_000_000_000],
        prop::bool::weighted(0.95),
        prop::bool::weighted(0.05),
    );
    let positions = proptest::collection::vec(
        (
            -20i64..20,
            4_800i64..20_000,
            prop_oneof![Just(50.0f64), Just(20.0), Just(5.0)],
        ),
        3,
    );
    let account = (
        prop_oneof![9 => 0f64..2e4, 1 => 0f64..5e5],
        prop_oneof![9 => -500f64..500.0, 1 => -6e4f64..1e4],
        prop_oneof![9 => -500f64..500.0, 1 => -3e4f64..1e4],
        prop_oneof![9 => 0f64..1e6, 1 => 0f64..2e7],
    );
    (
        // Mostly bursts (throttles bite), sometimes long gaps (they refill).
        prop_oneof![3 => 0u64..2_000_000, 1 => 0u64..800_000_000],
        arb_state(),
        intent,
        market,
        positions,
        account,
        -10i64..10,
        any::<bool>(),
        0u8..40,
    )
        .prop_map(
            |(dt, set_state, (i1, i2), m, ps, acc, working_qty, use_corr, drop_own)| {
                let (act, side, qty, ot, price_off, stop_off) = i1;
                let (reduce_only, bracket, src_ext, confidence, risk_score, mismatch) = i2;
                let base = m.0 * 1_000_000_000;
                let instrument_id = if mismatch == 0 { IDS[1] } else { IDS[0] };
                let order_type = match ot {
                    0 => OrderType::Market,
                    1 => OrderType::Limit,
                    _ => OrderType::Stop,
                };
                let intent = OrderIntent {
                    intent_id: 7,
                    ts: 0,
                    instrument_id,
                    action: match act {
                        0 => IntentAction::Cancel { client_order_id: 1 },
                        1..=3 => IntentAction::Modify { client_order_id: 1 },
                        _ => IntentAction::New,
                    },
                    side,
                    qty,
                    order_type,
                    // Limit orders carry a price; stops usually a trigger, sometimes not.
                    price: if ot == 1 {
                        Some(base + price_off)
                    } else {
                        None
                    },
                    stop_price: if ot == 2 {
                        stop_off.map(|o| base + o)
                    } else {
                        None
                    },
                    tif: TimeInForce::Day,
                    reduce_only,
                    bracket: bracket.map(|(a, b)| Bracket {
                        stop_loss: base + a.min(b),
                        take_profit: base + a.max(b),
                    }),
                    source: if src_ext {
                        SignalSource::External
                    } else {
                        SignalSource::Ensemble
                    },
                    confidence,
                    risk_score,
                };
                let tick = 250_000_000;
                let market = MarketState {
                    instrument_id: IDS[0],
                    mid: m.1.map(|t| base + t * tick / 2),
                    last_trade: m.2.map(|t| base + t * tick),
                    last_update_ns: m.3, // an age here; made absolute in the runner
                    book_trusted: m.4,
                    crossed: m.5,
                };
                let mut positions: Vec<PositionState> = ps
                    .into_iter()
                    .enumerate()
                    .map(|(k, (q, mark, mult))| PositionState {
                        instrument_id: IDS[k],
                        qty: q,
                        mark: mark * 1_000_000_000,
                        multiplier: mult,
                    })
                    .collect();
                if drop_own == 0 {
                    positions.remove(0);
                }
                let account = AccountState {
                    equity_peak: 1e6,
                    equity: 1e6 - acc.0,
                    realized_pnl_today: acc.1,
                    unrealized_pnl: acc.2,
                    traded_notional_today: acc.3,
                };
                Step {
                    dt_ns: dt,
                    set_state,
                    intent,
                    market,
                    positions,
                    account,
                    working_qty,
                    use_corr,
                }
            },
        )
}

/// The oracle's throttle: tokens as an exact count of "token-nanoseconds" (one token is 1e9
/// of them; `rate` tokens per second add `rate` per nanosecond), capped at the burst.
#[derive(Clone, Debug)]
struct OracleBucket {
    token_ns: u128,
    last: Option<u64>,
}

impl OracleBucket {
    fn full(burst: u32) -> Self {
        OracleBucket {
            token_ns: burst as u128 * 1_000_000_000,
            last: None,
        }
    }
    fn available(&self, now: u64, rate: u32, burst: u32) -> u128 {
        let cap = burst as u128 * 1_000_000_000;
        let add = match self.last {
            Some(l) if now > l => (now - l) as u128 * rate as u128,
            _ => 0,
        };
        (self.token_ns + add).min(cap)
    }
}

fn sign(x: i64) -> i64 {
    x.signum()
}

/// Every limit the intent violates in this context, judged one predicate at a time.
#[allow(clippy::too_many_arguments)]
fn violations(
    l: &RiskLimits,
    halted: bool,
    reducing: bool,
    it: &OrderIntent,
    now: u64,
    m: &MarketState,
    positions: &[PositionState],
    a: &AccountState,
    working: i64,
    corr: Option<&CorrelationMatrix>,
    tokens: u128,
    is_modify: bool,
) -> BTreeSet<R> {
    let mut v = BTreeSet::new();
    let own = positions
        .iter()
        .find(|p| p.instrument_id == it.instrument_id);
    let bracket_bad = it.bracket.is_some_and(|b| match it.side {
        OrderSide::Buy => b.stop_loss >= b.take_profit,
        OrderSide::Sell => b.stop_loss <= b.take_profit,
    });
    if it.qty == 0
        || it.instrument_id != m.instrument_id
        || (it.order_type == OrderType::Limit && it.price.is_none())
        || (it.order_type == OrderType::Stop && it.stop_price.is_none())
        || it.confidence.is_nan()
        || bracket_bad
        || own.is_none()
    {
        v.insert(R::InvalidIntent);
        // Without a well-formed intent the other limits cannot be judged.
        return v;
    }
    let own = own.unwrap();
    let loss = -(a.realized_pnl_today + a.unrealized_pnl);
    if loss.is_nan() || loss >= l.daily_loss_limit {
        v.insert(R::DailyLossLimit);
    }
    if a.equity_peak > 0.0 && a.equity_peak - a.equity >= l.max_drawdown * a.equity_peak {
        v.insert(R::DrawdownBreaker);
    }
    if halted {
        v.insert(R::TradingHalted);
    }
    let q = it.qty as i64;
    let delta = if it.side == OrderSide::Buy { q } else { -q };
    let pos = own.qty;
    let reduces = pos != 0 && sign(delta) != sign(pos) && q <= pos.abs();
    if reducing && !reduces {
        v.insert(R::TradingReducing);
    }
    if it.reduce_only && !reduces {
        v.insert(R::ReduceOnly);
    }
    if it.qty > l.max_order_qty {
        v.insert(R::MaxOrderQty);
    }
    if now > m.last_update_ns && now - m.last_update_ns > l.max_data_age_ns {
        v.insert(R::StaleMarketData);
    }
    if !m.book_trusted {
        v.insert(R::BookUntrusted);
    }
    if m.crossed {
        v.insert(R::BookCrossed);
    }
    let reference = m.mid.or(m.last_trade);
    let order_price = match it.order_type {
        OrderType::Market => None,
        OrderType::Limit => it.price,
        OrderType::Stop => it.stop_price,
    };
    let Some(reference) = reference else {
        // No reference price: the band cannot be checked, and nothing else that needs a
        // price can be judged either.
        v.insert(R::PriceBand);
        return v;
    };
    if let Some(p) = order_price {
        // |p - ref| / |ref| > bps / 1e4, cross-multiplied so ticks on the boundary are exact.
        let outside = ((p - reference).abs() as i128) * 10_000
            > l.price_band_bps as i128 * reference.abs() as i128;
        if outside {
            v.insert(R::PriceBand);
        }
    }
    let notional =
        q as f64 * (order_price.unwrap_or(reference) as f64 / SCALE).abs() * own.multiplier;
    if notional > l.max_notional_per_order {
        v.insert(R::MaxNotional);
    }
    if !it.reduce_only {
        let min = match it.source {
            SignalSource::Ensemble => l.min_confidence_ensemble,
            SignalSource::External => l.min_confidence_external,
        };
        if it.confidence < min - 1e-6 {
            v.insert(R::MinConfidence);
        }
        if it.risk_score > l.max_risk_score {
            v.insert(R::MaxRiskScore);
        }
    }
    let before = pos + working;
    let after = before + delta;
    let grows = after.abs() > before.abs();
    if grows && after.abs() > l.max_position as i64 {
        v.insert(R::MaxPosition);
    }
    if grows {
        let others: i64 = positions
            .iter()
            .filter(|p| p.instrument_id != it.instrument_id)
            .map(|p| p.qty.abs())
            .sum();
        if after.abs() + others > l.max_total_position as i64 {
            v.insert(R::MaxTotalPosition);
        }
    }
    if grows {
        let mut gross = after.abs() as f64 * (reference as f64 / SCALE).abs() * own.multiplier;
        for p in positions
            .iter()
            .filter(|p| p.instrument_id != it.instrument_id)
        {
            gross += p.qty.abs() as f64 * (p.mark as f64 / SCALE).abs() * p.multiplier;
        }
        if gross > l.max_gross_exposure {
            v.insert(R::MaxGrossExposure);
        }
    }
    if !it.reduce_only && a.traded_notional_today + notional > l.max_daily_exposure {
        v.insert(R::MaxDailyExposure);
    }
    if !it.reduce_only && grows {
        if let Some(c) = corr {
            for p in positions {
                if p.instrument_id == it.instrument_id || p.qty == 0 {
                    continue;
                }
                if let Some(rho) = c.get(it.instrument_id, p.instrument_id) {
                    let same_direction = sign(delta) == sign(p.qty);
                    let concentrates = if same_direction { rho } else { -rho };
                    if concentrates > l.max_correlation {
                        v.insert(R::CorrelatedExposure);
                    }
                }
            }
        }
    }
    if tokens < 1_000_000_000 {
        v.insert(if is_modify {
            R::ModifyRateLimit
        } else {
            R::SubmitRateLimit
        });
    }
    v
}

fn run(
    limits: RiskLimits,
    corr_gen: [(f64, f64, bool, bool); 3],
    steps: Vec<Step>,
) -> std::result::Result<(), TestCaseError> {
    // Half the pairs sit near the screen's threshold (either sign), where an off-by-a-bit
    // comparison would show; the rest anywhere in [-1, 1].
    let corr_vals = corr_gen.map(|(uniform, delta, near, negative)| {
        if near {
            let c = (limits.max_correlation + delta).clamp(-1.0, 1.0);
            if negative {
                -c
            } else {
                c
            }
        } else {
            uniform
        }
    });
    let corr = CorrelationMatrix::new(
        IDS.to_vec(),
        vec![
            1.0,
            corr_vals[0],
            corr_vals[1], //
            corr_vals[0],
            1.0,
            corr_vals[2], //
            corr_vals[1],
            corr_vals[2],
            1.0,
        ],
    )
    .unwrap();
    let mut eng = RiskEngine::new(limits).unwrap();
    let mut halted = false;
    let mut reducing = false;
    let mut submit = OracleBucket::full(limits.submit_burst);
    let mut modify = OracleBucket::full(limits.modify_burst);
    let mut denied: HashMap<R, u64> = HashMap::new();
    let mut now = 10_000_000_000u64;
    for (k, s) in steps.iter().enumerate() {
        now += s.dt_ns;
        if let Some(st) = s.set_state {
            eng.set_state(st);
            halted = st == TradingState::Halted;
            reducing = st == TradingState::Reducing;
        }
        let market = MarketState {
            last_update_ns: now.saturating_sub(s.market.last_update_ns),
            ..s.market
        };
        let corr_ref = if s.use_corr { Some(&corr) } else { None };
        let ctx = RiskContext {
            now_ns: now,
            market: &market,
            positions: &s.positions,
            account: &s.account,
            working_qty: s.working_qty,
            correlations: corr_ref,
        };
        let got = eng.check(&s.intent, &ctx);
        let (is_cancel, is_modify) = match s.intent.action {
            IntentAction::Cancel { .. } => (true, false),
            IntentAction::Modify { .. } => (false, true),
            IntentAction::New => (false, false),
        };
        if is_cancel {
            prop_assert!(got.is_ok(), "step {k}: a cancel was denied: {got:?}");
            continue;
        }
        let bucket = if is_modify { &mut modify } else { &mut submit };
        let (rate, burst) = if is_modify {
            (limits.modify_rate_per_sec, limits.modify_burst)
        } else {
            (limits.submit_rate_per_sec, limits.submit_burst)
        };
        let tokens = bucket.available(now, rate, burst);
        let v = violations(
            &limits,
            halted,
            reducing,
            &s.intent,
            now,
            &market,
            &s.positions,
            &s.account,
            s.working_qty,
            corr_ref,
            tokens,
            is_modify,
        );
        match &got {
            Ok(()) => prop_assert!(
                v.is_empty(),
                "step {k}: passed although it violates {v:?}: {s:?}"
            ),
            Err(d) => {
                prop_assert!(
                    v.contains(&d.reason),
                    "step {k}: denied for {:?} ({}) but the violated limits are {v:?}: {s:?}",
                    d.reason,
                    d.detail
                );
                *denied.entry(d.reason).or_default() += 1;
            }
        }
        // The oracle's own bookkeeping: a breach halts; a passing order spends a token;
        // time moves the bucket clock forward either way.
        if v.contains(&R::DailyLossLimit) || v.contains(&R::DrawdownBreaker) {
            halted = true;
            reducing = false;
        }
        bucket.token_ns = tokens;
        bucket.last = Some(bucket.last.map_or(now, |l| l.max(now)));
        if got.is_ok() {
            bucket.token_ns -= 1_000_000_000;
        }
        prop_assert_eq!(
            eng.state() == TradingState::Halted,
            halted,
            "step {}: engine state {:?}, oracle halted={}",
            k,
            eng.state(),
            halted
        );
    }
    for r in R::ALL {
        prop_assert_eq!(
            eng.denials().get(r),
            denied.get(&r).copied().unwrap_or(0),
            "count of {:?}",
            r
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn no_violating_order_ever_passes(
        limits in arb_limits(),
        corr in [
            (-1.0f64..1.0, -0.15f64..0.15, any::<bool>(), any::<bool>()),
            (-1.0f64..1.0, -0.15f64..0.15, any::<bool>(), any::<bool>()),
            (-1.0f64..1.0, -0.15f64..0.15, any::<bool>(), any::<bool>()),
        ],
        steps in proptest::collection::vec(arb_step(), 1..40),
    ) {
        run(limits, corr, steps)?;
    }
}

/// The generator must reach every reason code, or the property proves less than it says.
#[test]
fn generator_reaches_every_reason() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let mut seen = BTreeSet::new();
    let (mut accepted, mut total) = (0u32, 0u32);
    for _ in 0..400 {
        let limits = arb_limits().new_tree(&mut runner).unwrap().current();
        let steps = proptest::collection::vec(arb_step(), 1..40)
            .new_tree(&mut runner)
            .unwrap()
            .current();
        let corr = CorrelationMatrix::new(
            IDS.to_vec(),
            vec![1.0, 0.95, -0.9, 0.95, 1.0, 0.5, -0.9, 0.5, 1.0],
        )
        .unwrap();
        let mut eng = RiskEngine::new(limits).unwrap();
        let mut now = 10_000_000_000u64;
        for s in &steps {
            now += s.dt_ns;
            if let Some(st) = s.set_state {
                eng.set_state(st);
            }
            let market = MarketState {
                last_update_ns: now.saturating_sub(s.market.last_update_ns),
                ..s.market
            };
            let ctx = RiskContext {
                now_ns: now,
                market: &market,
                positions: &s.positions,
                account: &s.account,
                working_qty: s.working_qty,
                correlations: if s.use_corr { Some(&corr) } else { None },
            };
            match eng.check(&s.intent, &ctx) {
                Err(d) => {
                    seen.insert(d.reason);
                }
                Ok(()) => accepted += 1,
            }
            total += 1;
        }
    }
    let missing: Vec<_> = R::ALL.iter().filter(|r| !seen.contains(r)).collect();
    eprintln!("reasons seen: {seen:?}");
    assert!(
        missing.is_empty(),
        "the generator never produced {missing:?}"
    );
    // ... and must let enough orders through that "passes" is tested too.
    assert!(
        accepted * 20 > total,
        "only {accepted} of {total} checks passed"
    );
    eprintln!("generator: {accepted} of {total} checks passed");
}
