//! `FeatureSet`: the contract between training and serving. An ordered list of feature
//! specs (name, group, timeframe, parameters, formula text, window, warm-up) and a
//! version hash over them; a model records the hash it was trained on and the engine
//! refuses a model whose hash differs ([`FeatureSet::check_model_hash`]).
//!
//! A feature's name is its spec: `tf<label>_<kind>[_<param>...]` for bar features (e.g.
//! `tf5m_rsi_14`, `tf1h_bb_pctb_20_2`) and `micro_<kind>[_<param>...]` for per-event
//! microstructure features (e.g. `micro_imb_5`). Parameters are the trailing all-digit
//! words, the kind is everything between prefix and parameters. So any name built from a
//! known kind with its parameters is a valid feature, not only those of the default set.

use std::fmt::Write as _;

use crate::bars::Timeframe;
use crate::error::{CoreError, Result};

/// Bumped whenever the code behind any formula changes, so old hashes stop matching.
pub const FEATURE_CODE_VERSION: u32 = 2;

/// What a feature is computed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Group {
    /// Technical indicator of one timeframe's bars.
    Technical,
    /// Volatility regime, trend strength, momentum score (from bars).
    Regime,
    /// Rolling correlation/beta against a reference instrument's aligned bars.
    Cross,
    /// Per book event, from the order book and MBO records.
    Micro,
}

impl Group {
    pub fn label(self) -> &'static str {
        match self {
            Group::Technical => "technical",
            Group::Regime => "regime",
            Group::Cross => "cross",
            Group::Micro => "micro",
        }
    }
}

/// One feature: everything needed to compute it and to document it.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureSpec {
    pub name: String,
    pub group: Group,
    /// Bar timeframe for bar features; None for microstructure features.
    pub timeframe: Option<Timeframe>,
    pub kind: String,
    pub params: Vec<u32>,
    pub formula: String,
    /// Bars (or events/trades/ms for micro features, as the formula says) it looks back.
    pub window: u32,
    /// The feature is null before this many bars (events) of its timeframe have been seen.
    pub warmup: u32,
}

/// What the describer knows of a kind.
struct Described {
    group: Group,
    formula: String,
    window: u32,
    warmup: u32,
}

fn need(kind: &str, p: &[u32], n: usize) -> Result<()> {
    if p.len() != n {
        return Err(CoreError::Config(format!(
            "feature kind {kind:?} takes {n} parameter(s), got {}",
            p.len()
        )));
    }
    if p.contains(&0) {
        return Err(CoreError::Config(format!(
            "feature kind {kind:?}: parameters must be positive"
        )));
    }
    Ok(())
}

const WILDER: &str = "Wilder smoothing: the first value is the mean of the first n inputs, \
then avg = avg + (x - avg)/n";

/// Weight below which the start of the history no longer counts in a recursive feature.
/// An EMA or Wilder average started at bar `s` differs from one started earlier by its
/// seed difference times `decay^k` after `k` more bars; 1e-8 of a feature's own scale is
/// below float32 resolution (6e-8), the precision models are fed, so past the warm-up two
/// engines started at different bars feed a model the same values.
pub const SETTLE_WEIGHT: f64 = 1e-8;

/// Bars after the seed until a recursive average's start weighs below [`SETTLE_WEIGHT`]:
/// the least `k` with `k^(stages-1) decay^k <= SETTLE_WEIGHT` (`stages` = averages
/// chained, e.g. ADX smooths Wilder-smoothed inputs: 2).
pub fn settle_bars(decay: f64, stages: u32) -> u32 {
    let mut k: u32 = 0;
    loop {
        let w = f64::from(k).powi(stages as i32 - 1) * decay.powi(k as i32);
        if (k > 0 || stages == 1) && w <= SETTLE_WEIGHT {
            return k;
        }
        k += 1;
    }
}

fn ema_decay(n: u32) -> f64 {
    (f64::from(n) - 1.0) / (f64::from(n) + 1.0)
}

fn wilder_decay(n: u32) -> f64 {
    (f64::from(n) - 1.0) / f64::from(n)
}

/// How a recursive feature's warm-up is made of its seed and its settling bars.
fn settled(seed: u32, k: u32) -> (String, u32) {
    (
        format!(" (warm-up {seed} + {k} bars: past it the start of the history weighs < 1e-8)"),
        seed + k,
    )
}

/// Bars of timeframe `tf` in 24 hours plus one: the most bars a cumulative feature
/// anchored to the CME trading day can wait for its first trading-day open.
fn trading_day_warmup(tf: Timeframe) -> u32 {
    let per_day = (86_400_000_000_000 / tf.nanos()).max(1);
    u32::try_from(per_day + 1).unwrap_or(u32::MAX)
}

/// Formula, window and warm-up of a bar feature kind (timeframe-free).
fn describe_bar(kind: &str, p: &[u32]) -> Result<Described> {
    let t = |formula: String, window: u32, warmup: u32| Described {
        group: Group::Technical,
        formula,
        window,
        warmup,
    };
    let r = |formula: String, window: u32, warmup: u32| Described {
        group: Group::Regime,
        formula,
        window,
        warmup,
    };
    let d = match kind {
        "ret" => {
            need(kind, p, 1)?;
            let k = p[0];
            t(format!("close[t] / close[t-{k}] - 1"), k + 1, k + 1)
        }
        "sma" | "dist_sma" => {
            need(kind, p, 1)?;
            let n = p[0];
            let sma = format!("sma_{n} = mean(close[t-{}..=t])", n - 1);
            if kind == "sma" {
                t(sma, n, n)
            } else {
                t(format!("close / sma_{n} - 1, {sma}"), n, n)
            }
        }
        "ema" | "dist_ema" => {
            need(kind, p, 1)?;
            let n = p[0];
            let ema = format!(
                "ema_{n} = EMA of close with alpha = 2/({n}+1), seeded with the mean of the \
                 first {n} closes"
            );
            let (note, w) = settled(n, settle_bars(ema_decay(n), 1));
            if kind == "ema" {
                t(format!("{ema}{note}"), w, w)
            } else {
                t(format!("close / ema_{n} - 1, {ema}{note}"), w, w)
            }
        }
        "macd" | "macd_signal" | "macd_hist" => {
            need(kind, p, 3)?;
            let (f, s, g) = (p[0], p[1], p[2]);
            let line = format!(
                "macd = ema_{f}(close) - ema_{s}(close) (EMAs seeded with their simple mean)"
            );
            let sig = format!(
                "signal = EMA alpha 2/({g}+1) of macd, seeded with the mean of its first {g} values"
            );
            let slow = ema_decay(s.max(f)).max(ema_decay(s.min(f)));
            let (note, w) = settled(s, settle_bars(slow, 1));
            let (snote, sw) = settled(s + g - 1, settle_bars(slow.max(ema_decay(g)), 2));
            match kind {
                "macd" => t(format!("{line}{note}"), w, w),
                "macd_signal" => t(format!("{sig}; {line}{snote}"), sw, sw),
                _ => t(format!("macd - signal; {sig}; {line}{snote}"), sw, sw),
            }
        }
        "rsi" => {
            need(kind, p, 1)?;
            let n = p[0];
            let (note, w) = settled(n + 1, settle_bars(wilder_decay(n), 1));
            t(
                format!(
                    "100 - 100/(1 + G/L), G and L = {WILDER}, n = {n}, over gains max(d,0) and \
                     losses max(-d,0) of d = close[t] - close[t-1]; 100 if L = 0 < G, 50 if \
                     G = L = 0{note}"
                ),
                w,
                w,
            )
        }
        "stoch_k" => {
            need(kind, p, 1)?;
            let n = p[0];
            t(
                format!(
                    "100 * (close - LL) / (HH - LL), HH = max(high, last {n}), LL = min(low, \
                     last {n}); 50 if HH = LL"
                ),
                n,
                n,
            )
        }
        "stoch_d" => {
            need(kind, p, 2)?;
            let (n, m) = (p[0], p[1]);
            t(
                format!("mean of the last {m} stoch_k_{n} values"),
                n + m - 1,
                n + m - 1,
            )
        }
        "willr" => {
            need(kind, p, 1)?;
            let n = p[0];
            t(
                format!(
                    "-100 * (HH - close) / (HH - LL), HH = max(high, last {n}), LL = min(low, \
                     last {n}); -50 if HH = LL"
                ),
                n,
                n,
            )
        }
        "roc" => {
            need(kind, p, 1)?;
            let n = p[0];
            t(format!("100 * (close[t] / close[t-{n}] - 1)"), n + 1, n + 1)
        }
        "mfi" => {
            need(kind, p, 1)?;
            let n = p[0];
            t(
                format!(
                    "100 * P / (P + N), tp = (high+low+close)/3, flow = tp * volume, P (N) = sum \
                     of the flows of the last {n} bars whose tp rose (fell) from the bar before; \
                     unchanged tp counts in neither; 50 if P = N = 0"
                ),
                n + 1,
                n + 1,
            )
        }
        "atr" | "natr" => {
            need(kind, p, 1)?;
            let n = p[0];
            let atr = format!(
                "atr_{n} = {WILDER}, n = {n}, of the true range max(high - low, |high - \
                 close[t-1]|, |low - close[t-1]|) (defined from the second bar)"
            );
            let (note, w) = settled(n + 1, settle_bars(wilder_decay(n), 1));
            if kind == "atr" {
                t(format!("{atr}{note}"), w, w)
            } else {
                t(format!("100 * atr_{n} / close, {atr}{note}"), w, w)
            }
        }
        "bb_width" | "bb_pctb" => {
            need(kind, p, 2)?;
            let (n, k) = (p[0], p[1]);
            let bands = format!(
                "mid = sma_{n}, sd = population std (ddof 0) of the last {n} closes, upper/lower \
                 = mid +/- {k} sd"
            );
            if kind == "bb_width" {
                t(format!("(upper - lower) / mid, {bands}"), n, n)
            } else {
                t(
                    format!("(close - lower) / (upper - lower), {bands}; 0.5 if sd = 0"),
                    n,
                    n,
                )
            }
        }
        "std_ret" => {
            need(kind, p, 1)?;
            let n = p[0];
            t(
                format!(
                    "sample std (ddof 1) of the last {n} one-bar returns close[t]/close[t-1] - 1"
                ),
                n + 1,
                n + 1,
            )
        }
        "std_close" => {
            need(kind, p, 1)?;
            let n = p[0];
            t(format!("sample std (ddof 1) of the last {n} closes"), n, n)
        }
        "zscore" => {
            need(kind, p, 1)?;
            let n = p[0];
            t(
                format!(
                    "(close - sma_{n}) / sd, sd = population std (ddof 0) of the last {n} closes; \
                     0 if sd = 0"
                ),
                n,
                n,
            )
        }
        "obv" => {
            need(kind, p, 0)?;
            // Window and warm-up depend on the timeframe: FeatureSpec::parse sets them.
            t(
                "on-balance volume of the CME trading day (from 17:00 America/Chicago, \
                 daylight saving as in the US): 0 at the day's first bar, then + volume if \
                 close rose from the bar before, - volume if it fell, unchanged otherwise; null \
                 until the first trading-day open is seen (warm-up: the bars of 24 hours + 1)"
                    .into(),
                1,
                1,
            )
        }
        "vwap_dist" => {
            need(kind, p, 1)?;
            let n = p[0];
            t(
                format!(
                    "close / vwap - 1, vwap = sum(tp * volume) / sum(volume) over the last {n} \
                     bars, tp = (high+low+close)/3; null if that volume is 0"
                ),
                n,
                n,
            )
        }
        "vol_sma" => {
            need(kind, p, 1)?;
            let n = p[0];
            t(format!("mean of the last {n} volumes"), n, n)
        }
        "rel_vol" => {
            need(kind, p, 1)?;
            let n = p[0];
            t(
                format!("volume / vol_sma_{n} (window includes this bar); null if vol_sma is 0"),
                n,
                n,
            )
        }
        "pivot_p" | "pivot_r1" | "pivot_s1" | "pivot_r2" | "pivot_s2" => {
            need(kind, p, 0)?;
            let level = match kind {
                "pivot_p" => "P",
                "pivot_r1" => "R1 = 2P - L",
                "pivot_s1" => "S1 = 2P - H",
                "pivot_r2" => "R2 = P + (H - L)",
                _ => "S2 = P - (H - L)",
            };
            t(
                format!(
                    "close / {level} - 1, classic pivots from the previous bar of this \
                     timeframe: P = (H + L + C)/3"
                ),
                2,
                2,
            )
        }
        "dist_support" => {
            need(kind, p, 1)?;
            let n = p[0];
            t(format!("close / min(low, last {n}) - 1"), n, n)
        }
        "dist_resistance" => {
            need(kind, p, 1)?;
            let n = p[0];
            t(format!("close / max(high, last {n}) - 1"), n, n)
        }
        "range_pct" => {
            need(kind, p, 0)?;
            t("(high - low) / close".into(), 1, 1)
        }
        "body_pct" => {
            need(kind, p, 0)?;
            t("(close - open) / open".into(), 1, 1)
        }
        "upper_wick" => {
            need(kind, p, 0)?;
            t("(high - max(open, close)) / close".into(), 1, 1)
        }
        "lower_wick" => {
            need(kind, p, 0)?;
            t("(min(open, close) - low) / close".into(), 1, 1)
        }
        "plus_di" | "minus_di" | "adx" => {
            need(kind, p, 1)?;
            let n = p[0];
            let di = format!(
                "+DM = up if up > down and up > 0 else 0, -DM = down if down > up and down > 0 \
                 else 0 (up = high - high[t-1], down = low[t-1] - low), +DI/-DI = 100 * \
                 W(+DM)/W(TR), 100 * W(-DM)/W(TR), W = {WILDER}, n = {n}"
            );
            let (note, w) = settled(n + 1, settle_bars(wilder_decay(n), 1));
            let (anote, aw) = settled(2 * n, settle_bars(wilder_decay(n), 2));
            match kind {
                "plus_di" => r(format!("+DI: {di}{note}"), w, w),
                "minus_di" => r(format!("-DI: {di}{note}"), w, w),
                _ => r(
                    format!(
                        "trend strength: W(DX) with DX = 100 |+DI - -DI| / (+DI + -DI) (0 if \
                         both 0), {di}{anote}"
                    ),
                    aw,
                    aw,
                ),
            }
        }
        "vol_pctile" | "vol_regime" => {
            need(kind, p, 2)?;
            let (v, n) = (p[0], p[1]);
            let pct =
                format!("pctile = 100 * #{{x in last {n} std_ret_{v} values: x <= current * (1 + 1e-9)}} / {n}");
            if kind == "vol_pctile" {
                r(pct, v + n, v + n)
            } else {
                r(
                    format!("0 (low) if pctile <= 25, 2 (high) if pctile > 75, else 1; {pct}"),
                    v + n,
                    v + n,
                )
            }
        }
        "momentum_score" => {
            need(kind, p, 0)?;
            // Its rsi_14 settles last (the other inputs are 21-bar windows).
            let (note, w) = settled(15, settle_bars(wilder_decay(14), 1));
            r(
                format!(
                    "0-100: 0.4 * rsi_14 + 0.3 * 100 * rv/(1 + rv) + 0.3 * 100 / (1 + exp(-z)), \
                     rv = rel_vol_20, z = ret_10 / (std_ret_20 * sqrt(10)) (0 if std_ret_20 = 0)\
                     {note}"
                ),
                w.max(21),
                w.max(21),
            )
        }
        "corr_ref" | "beta_ref" => {
            need(kind, p, 1)?;
            let n = p[0];
            let aligned = format!(
                "over the last {n} aligned bars (bars of this timeframe where instrument and \
                 reference both traded), of one-bar returns x (instrument) and y (reference) \
                 between consecutive aligned bars"
            );
            let d = if kind == "corr_ref" {
                format!("cov(x, y) / (sd(x) sd(y)) {aligned}; null if either sd is 0")
            } else {
                format!("cov(x, y) / var(y) {aligned}; null if var(y) is 0")
            };
            Described {
                group: Group::Cross,
                formula: d,
                window: n + 1,
                warmup: n + 1,
            }
        }
        _ => {
            return Err(CoreError::Config(format!(
                "unknown bar feature kind {kind:?}"
            )))
        }
    };
    Ok(d)
}

fn describe_micro(kind: &str, p: &[u32]) -> Result<Described> {
    let m = |formula: String, window: u32, warmup: u32| Described {
        group: Group::Micro,
        formula,
        window,
        warmup,
    };
    let d = match kind {
        "spread" => {
            need(kind, p, 0)?;
            m(
                "best ask - best bid (price units); null without both sides".into(),
                1,
                1,
            )
        }
        "mid" => {
            need(kind, p, 0)?;
            m("(best bid + best ask) / 2 (price units)".into(), 1, 1)
        }
        "microprice" => {
            need(kind, p, 0)?;
            m(
                "(bid * ask_size + ask * bid_size) / (bid_size + ask_size) (price units)".into(),
                1,
                1,
            )
        }
        "microprice_dev" => {
            need(kind, p, 0)?;
            m("microprice - mid (price units)".into(), 1, 1)
        }
        "imb" => {
            need(kind, p, 1)?;
            let k = p[0];
            m(
                format!(
                    "(B - A) / (B + A), B and A = resting size on the best {k} bid and ask \
                     levels; null if both 0"
                ),
                1,
                1,
            )
        }
        "ofi" => {
            need(kind, p, 0)?;
            m(
                "order flow imbalance of this event (Cont, Kukanov, Stoikov 2014): e = \
                 1[Pb >= Pb'] qb - 1[Pb <= Pb'] qb' - 1[Pa <= Pa'] qa + 1[Pa >= Pa'] qa', \
                 ' = the previous event's best bid/ask price P and size q"
                    .into(),
                2,
                2,
            )
        }
        "ofi_sum" => {
            need(kind, p, 1)?;
            let n = p[0];
            m(
                format!("sum of micro_ofi over the last {n} events"),
                n + 1,
                n + 1,
            )
        }
        "tfi" => {
            need(kind, p, 1)?;
            let n = p[0];
            m(
                format!(
                    "(buy - sell) / (buy + sell) aggressor volume of the last {n} trades \
                     (action T; trades without aggressor count in neither); null if 0/0; \
                     warm-up counts trades"
                ),
                n,
                n,
            )
        }
        "trade_rate" | "add_rate" | "cancel_rate" => {
            need(kind, p, 1)?;
            let ms = p[0];
            let what = match kind {
                "trade_rate" => "trades (action T)",
                "add_rate" => "adds (action A)",
                _ => "cancels (action C)",
            };
            m(
                format!(
                    "{what} per second over the last {ms} ms of ts_recv (window (t - {ms} ms, \
                     t]); null until {ms} ms have passed since the first event; window and \
                     warm-up are in ms"
                ),
                ms,
                ms,
            )
        }
        "qdepl_bid" | "qdepl_ask" => {
            need(kind, p, 1)?;
            let n = p[0];
            let side = if kind == "qdepl_bid" { "bid" } else { "ask" };
            m(
                format!(
                    "queue depletion at the best {side}: D / q, D = sum over the last {n} \
                     events of the size lost at the previous best {side} price (q' - q if the \
                     price held, q' if the price moved away from the spread, 0 if it moved \
                     toward it), q = current best {side} size; null if q = 0"
                ),
                n + 1,
                n + 1,
            )
        }
        "rv" => {
            need(kind, p, 1)?;
            let n = p[0];
            m(
                format!(
                    "realized volatility: sqrt(sum of squared log mid changes over the last \
                     {n} events)"
                ),
                n + 1,
                n + 1,
            )
        }
        "last_trade_sign" => {
            need(kind, p, 0)?;
            m(
                "+1 if the last trade's aggressor bought, -1 if it sold, 0 if unknown; null \
                 before the first trade"
                    .into(),
                1,
                1,
            )
        }
        _ => {
            return Err(CoreError::Config(format!(
                "unknown microstructure feature kind {kind:?}"
            )))
        }
    };
    Ok(d)
}

/// Splits `words` into (kind, params): params are the trailing all-digit words.
fn split_kind(rest: &str) -> Result<(String, Vec<u32>)> {
    let words: Vec<&str> = rest.split('_').collect();
    let first_param = words
        .iter()
        .rposition(|w| w.is_empty() || !w.bytes().all(|b| b.is_ascii_digit()))
        .map_or(0, |i| i + 1);
    let kind = words[..first_param].join("_");
    let params = words[first_param..]
        .iter()
        .map(|w| {
            w.parse::<u32>()
                .map_err(|_| CoreError::Config(format!("bad parameter {w:?}")))
        })
        .collect::<Result<Vec<u32>>>()?;
    if kind.is_empty() {
        return Err(CoreError::Config("missing feature kind".into()));
    }
    Ok((kind, params))
}

impl FeatureSpec {
    /// Parses a feature name into its spec (see the module docs for the grammar).
    pub fn parse(name: &str) -> Result<FeatureSpec> {
        let wrap = |e: CoreError| match e {
            CoreError::Config(m) => CoreError::Config(format!("feature {name:?}: {m}")),
            e => e,
        };
        if let Some(rest) = name.strip_prefix("micro_") {
            let (kind, params) = split_kind(rest).map_err(wrap)?;
            let d = describe_micro(&kind, &params).map_err(wrap)?;
            return Ok(FeatureSpec {
                name: name.to_string(),
                group: d.group,
                timeframe: None,
                kind,
                params,
                formula: d.formula,
                window: d.window,
                warmup: d.warmup,
            });
        }
        let rest = name.strip_prefix("tf").ok_or_else(|| {
            CoreError::Config(format!(
                "feature {name:?}: names start with tf<timeframe>_ (e.g. tf1m_sma_20) or micro_"
            ))
        })?;
        let (label, rest) = rest.split_once('_').ok_or_else(|| {
            CoreError::Config(format!("feature {name:?}: missing kind after timeframe"))
        })?;
        let tf = Timeframe::parse(label).map_err(wrap)?;
        if tf.label() != label {
            return Err(CoreError::Config(format!(
                "feature {name:?}: write the timeframe as {}",
                tf.label()
            )));
        }
        let (kind, params) = split_kind(rest).map_err(wrap)?;
        let mut d = describe_bar(&kind, &params).map_err(wrap)?;
        if kind == "obv" {
            d.warmup = trading_day_warmup(tf);
            d.window = d.warmup;
        }
        Ok(FeatureSpec {
            name: name.to_string(),
            group: d.group,
            timeframe: Some(tf),
            kind,
            params,
            formula: d.formula,
            window: d.window,
            warmup: d.warmup,
        })
    }
}

/// Bar feature kinds of the default set, per timeframe.
pub const DEFAULT_BAR_KINDS: &[&str] = &[
    "ret_1",
    "ret_2",
    "ret_3",
    "ret_5",
    "ret_10",
    "ret_20",
    "sma_5",
    "sma_10",
    "sma_20",
    "sma_50",
    "sma_200",
    "dist_sma_5",
    "dist_sma_10",
    "dist_sma_20",
    "dist_sma_50",
    "dist_sma_200",
    "ema_12",
    "ema_26",
    "dist_ema_12",
    "dist_ema_26",
    "macd_12_26_9",
    "macd_signal_12_26_9",
    "macd_hist_12_26_9",
    "rsi_7",
    "rsi_14",
    "rsi_21",
    "stoch_k_14",
    "stoch_d_14_3",
    "willr_14",
    "roc_10",
    "roc_20",
    "mfi_14",
    "atr_14",
    "natr_14",
    "bb_width_20_2",
    "bb_pctb_20_2",
    "std_ret_20",
    "std_ret_50",
    "std_close_20",
    "zscore_20",
    "obv",
    "vwap_dist_20",
    "vwap_dist_50",
    "vol_sma_20",
    "rel_vol_20",
    "rel_vol_50",
    "pivot_p",
    "pivot_r1",
    "pivot_s1",
    "pivot_r2",
    "pivot_s2",
    "dist_support_20",
    "dist_resistance_20",
    "dist_support_50",
    "dist_resistance_50",
    "range_pct",
    "body_pct",
    "upper_wick",
    "lower_wick",
    "adx_14",
    "plus_di_14",
    "minus_di_14",
    "vol_pctile_20_200",
    "vol_regime_20_200",
    "momentum_score",
];

/// Timeframes of the default bar set.
pub const DEFAULT_TIMEFRAMES: &[&str] = &["1m", "5m", "30m", "1h"];

/// Microstructure features of the default micro set.
pub const DEFAULT_MICRO: &[&str] = &[
    "micro_spread",
    "micro_mid",
    "micro_microprice",
    "micro_microprice_dev",
    "micro_imb_1",
    "micro_imb_5",
    "micro_imb_10",
    "micro_ofi",
    "micro_ofi_sum_100",
    "micro_tfi_50",
    "micro_trade_rate_1000",
    "micro_add_rate_1000",
    "micro_cancel_rate_1000",
    "micro_qdepl_bid_100",
    "micro_qdepl_ask_100",
    "micro_rv_100",
    "micro_last_trade_sign",
];

/// An ordered, hashed list of feature specs.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureSet {
    specs: Vec<FeatureSpec>,
    hash: u64,
}

/// FNV-1a, 64 bit: stable across platforms and Rust versions (std's hasher is not).
fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

impl FeatureSet {
    /// Builds a set from feature names, in that order. Refuses unknown kinds, bad
    /// parameters, duplicates, an empty list, and mixing per-event (micro) with bar features
    /// (they come one row per event and one row per bar respectively).
    pub fn from_names<S: AsRef<str>>(names: &[S]) -> Result<FeatureSet> {
        if names.is_empty() {
            return Err(CoreError::Config("a feature set needs features".into()));
        }
        let mut specs = Vec::with_capacity(names.len());
        let mut seen = std::collections::HashSet::new();
        for n in names {
            let n = n.as_ref();
            if !seen.insert(n.to_string()) {
                return Err(CoreError::Config(format!("feature {n:?} listed twice")));
            }
            specs.push(FeatureSpec::parse(n)?);
        }
        let micro = specs.iter().filter(|s| s.group == Group::Micro).count();
        if micro != 0 && micro != specs.len() {
            return Err(CoreError::Config(
                "a feature set is either all micro_ (one row per book event) or all bar \
                 features (one row per bar); split it in two"
                    .into(),
            ));
        }
        let mut canon = format!("tradecore-features v{FEATURE_CODE_VERSION}\n");
        for s in &specs {
            let _ = writeln!(
                canon,
                "{}|{}|{}|{}|{}",
                s.name, s.group as u8, s.formula, s.window, s.warmup
            );
        }
        Ok(FeatureSet {
            hash: fnv1a64(canon.as_bytes()),
            specs,
        })
    }

    /// The default bar set: every kind of [`DEFAULT_BAR_KINDS`] on 1m, 5m, 30m and 1h.
    pub fn default_bars() -> FeatureSet {
        let names: Vec<String> = DEFAULT_TIMEFRAMES
            .iter()
            .flat_map(|tf| DEFAULT_BAR_KINDS.iter().map(move |k| format!("tf{tf}_{k}")))
            .collect();
        Self::from_names(&names).expect("the default bar set is valid")
    }

    /// The default per-event microstructure set.
    pub fn default_micro() -> FeatureSet {
        Self::from_names(DEFAULT_MICRO).expect("the default micro set is valid")
    }

    pub fn specs(&self) -> &[FeatureSpec] {
        &self.specs
    }

    pub fn len(&self) -> usize {
        self.specs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.specs.is_empty()
    }

    pub fn names(&self) -> Vec<String> {
        self.specs.iter().map(|s| s.name.clone()).collect()
    }

    pub fn is_micro(&self) -> bool {
        self.specs.first().is_some_and(|s| s.group == Group::Micro)
    }

    /// Whether any feature needs a reference instrument.
    pub fn needs_reference(&self) -> bool {
        self.specs.iter().any(|s| s.group == Group::Cross)
    }

    /// The version hash, 16 lowercase hex digits.
    pub fn hash(&self) -> String {
        format!("{:016x}", self.hash)
    }

    /// The engine's check before serving a model trained on features with `model_hash`.
    pub fn check_model_hash(&self, model_hash: &str) -> Result<()> {
        if model_hash.trim().eq_ignore_ascii_case(&self.hash()) {
            Ok(())
        } else {
            Err(CoreError::FeatureSetMismatch {
                model: model_hash.to_string(),
                engine: self.hash(),
            })
        }
    }

    /// Distinct timeframes of the bar features, finest first.
    pub fn timeframes(&self) -> Vec<Timeframe> {
        let mut v: Vec<Timeframe> = self.specs.iter().filter_map(|s| s.timeframe).collect();
        v.sort();
        v.dedup();
        v
    }

    /// JSON: `{"version", "hash", "features": [{name, group, timeframe, kind, params,
    /// window, warmup, formula}, ...]}`.
    pub fn to_json(&self) -> String {
        let feats: Vec<serde_json::Value> = self
            .specs
            .iter()
            .map(|s| {
                serde_json::json!({
                    "name": s.name,
                    "group": s.group.label(),
                    "timeframe": s.timeframe.map(|t| t.label()),
                    "kind": s.kind,
                    "params": s.params,
                    "window": s.window,
                    "warmup": s.warmup,
                    "formula": s.formula,
                })
            })
            .collect();
        let v = serde_json::json!({
            "version": FEATURE_CODE_VERSION,
            "hash": self.hash(),
            "features": feats,
        });
        serde_json::to_string_pretty(&v).unwrap_or_default()
    }

    /// Reads [`Self::to_json`] output (or `{"features": ["name", ...]}`). The names define
    /// the set; a stored hash must equal the recomputed one, so a file written by other
    /// feature code is refused rather than silently reinterpreted.
    pub fn from_json(text: &str) -> Result<FeatureSet> {
        let bad = |m: String| CoreError::Config(format!("feature set JSON: {m}"));
        let v: serde_json::Value = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        let feats = v
            .get("features")
            .and_then(|f| f.as_array())
            .ok_or_else(|| bad("missing \"features\" array".into()))?;
        let names = feats
            .iter()
            .map(|f| {
                f.as_str()
                    .or_else(|| f.get("name").and_then(|n| n.as_str()))
                    .map(str::to_string)
                    .ok_or_else(|| bad(format!("feature entry {f} has no name")))
            })
            .collect::<Result<Vec<String>>>()?;
        let set = Self::from_names(&names)?;
        if let Some(h) = v.get("hash") {
            let h = h.as_str().unwrap_or_default();
            if h != set.hash() {
                return Err(CoreError::FeatureSetMismatch {
                    model: h.to_string(),
                    engine: set.hash(),
                });
            }
        }
        Ok(set)
    }

    /// The generated reference page (docs/features.md).
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "# Feature reference\n");
        let _ = writeln!(
            s,
            "Generated by `pycontrol features list --markdown` from the Rust feature specs \
             (do not edit by hand). Feature set hash `{}`, {} features, feature code version \
             {FEATURE_CODE_VERSION}.\n",
            self.hash(),
            self.len()
        );
        let _ = writeln!(
            s,
            "Window and warm-up count bars of the feature's timeframe (events, trades or ms \
             for micro features, as the formula says). A feature is null until its warm-up is \
             complete. Bar-feature rows are stamped with the base bar's open time and are \
             known at its close; coarser timeframes carry their latest *completed* bar. \
             Windows count bars that exist: a gap in time (no trades) adds no bar.\n"
        );
        let _ = writeln!(
            s,
            "Start independence (the train/serve contract): a feature's value at time t does \
             not depend on where the history starts, once its warm-up is complete, whether \
             training computed it from the start of a file or an engine from its own start \
             (`tests/integration/test_feature_start_offsets.py` checks every shipped set from \
             random start offsets on real bars). Three rules make it so. (1) EMA and Wilder \
             averages (EMA, MACD, RSI, ATR, +DI/-DI/ADX, momentum score) remember their start \
             forever, with a weight that decays: their warm-up adds the bars after which \
             that weight is below 1e-8 of the value (under float32 resolution, what models \
             are fed), and they are null until then. (2) On-balance volume is cumulative: \
             it is anchored to the CME trading day, which opens at 17:00 America/Chicago \
             (22:00 UTC in daylight-saving time, second Sunday of March to first Sunday of \
             November, 23:00 UTC otherwise); it is 0 at a day's first bar and null until the \
             first day open is seen, so its warm-up is the bars of 24 hours + 1, an upper \
             bound. (3) A coarser timeframe's first bar is dropped when the history starts \
             inside its interval: it lacks the base bars before the start.\n"
        );
        let _ = writeln!(s, "| name | group | window | warm-up | formula |");
        let _ = writeln!(s, "| --- | --- | ---: | ---: | --- |");
        for f in &self.specs {
            let _ = writeln!(
                s,
                "| `{}` | {} | {} | {} | {} |",
                f.name,
                f.group.label(),
                f.window,
                f.warmup,
                f.formula.replace('|', "\\|")
            );
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_into_kind_params_and_timeframe() {
        let s = FeatureSpec::parse("tf5m_stoch_d_14_3").unwrap();
        assert_eq!(
            (s.kind.as_str(), s.params.clone()),
            ("stoch_d", vec![14, 3])
        );
        assert_eq!(s.timeframe, Some(Timeframe::M5));
        assert_eq!(s.warmup, 16);
        // Recursive averages declare their settling bars; OBV waits up to a trading day.
        assert_eq!(
            FeatureSpec::parse("tf1m_ema_12").unwrap().warmup,
            12 + settle_bars(11.0 / 13.0, 1)
        );
        assert_eq!(FeatureSpec::parse("tf1h_obv").unwrap().warmup, 25);
        assert_eq!(FeatureSpec::parse("tf1m_obv").unwrap().warmup, 1441);
        let p = FeatureSpec::parse("tf1h_pivot_r1").unwrap();
        assert_eq!((p.kind.as_str(), p.params.len()), ("pivot_r1", 0));
        let m = FeatureSpec::parse("micro_imb_5").unwrap();
        assert_eq!((m.group, m.timeframe), (Group::Micro, None));
        for bad in [
            "sma_20",
            "tf1m_sma",
            "tf1m_sma_0",
            "tf1m_nope_3",
            "tf7m_sma_20",
            "tf60m_sma_20",
            "micro_imb",
            "tf1m_sma_20_3",
        ] {
            assert!(
                matches!(FeatureSpec::parse(bad), Err(CoreError::Config(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn settling_bars_bound_the_start_weight() {
        for (decay, stages) in [(11.0 / 13.0, 1), (13.0 / 14.0, 1), (13.0 / 14.0, 2)] {
            let k = settle_bars(decay, stages);
            let w = |k: u32| f64::from(k).powi(stages as i32 - 1) * decay.powi(k as i32);
            assert!(
                w(k) <= SETTLE_WEIGHT && w(k - 1) > SETTLE_WEIGHT,
                "{decay} {stages}"
            );
        }
    }

    #[test]
    fn default_set_has_over_200_features_and_a_stable_hash() {
        let set = FeatureSet::default_bars();
        assert!(set.len() >= 200, "{}", set.len());
        assert_eq!(set.timeframes().len(), 4);
        assert_eq!(set.hash(), FeatureSet::default_bars().hash());
        // Order is part of the contract.
        let mut names = set.names();
        names.swap(0, 1);
        assert_ne!(FeatureSet::from_names(&names).unwrap().hash(), set.hash());
    }

    #[test]
    fn json_round_trips_and_refuses_foreign_hashes() {
        let set = FeatureSet::default_micro();
        let back = FeatureSet::from_json(&set.to_json()).unwrap();
        assert_eq!(back, set);
        let forged = set.to_json().replace(&set.hash(), "0123456789abcdef");
        assert!(matches!(
            FeatureSet::from_json(&forged),
            Err(CoreError::FeatureSetMismatch { .. })
        ));
        let bare = FeatureSet::from_json(r#"{"features": ["tf1m_sma_5"]}"#).unwrap();
        assert_eq!(bare.names(), vec!["tf1m_sma_5"]);
        assert!(set.check_model_hash(&set.hash()).is_ok());
        assert!(set.check_model_hash(&bare.hash()).is_err());
    }

    #[test]
    fn mixing_micro_and_bar_features_or_duplicates_is_refused() {
        assert!(FeatureSet::from_names(&["micro_mid", "tf1m_sma_5"]).is_err());
        assert!(FeatureSet::from_names(&["tf1m_sma_5", "tf1m_sma_5"]).is_err());
        assert!(FeatureSet::from_names::<&str>(&[]).is_err());
    }
}
