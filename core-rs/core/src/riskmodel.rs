//! Streaming GARCH(1,1) / EGARCH(1,1) risk model: the engine's volatility forecast, VaR and
//! CVaR, volatility regime, correlation and beta to a reference instrument and t-copula tail
//! dependence, from parameters fitted offline by `arch` (`pycontrol risk fit`, a JSON file).
//!
//! Why here and not in Python: the same recursion must serve training features
//! (`pycontrol.risk` calls it through the bindings) and the live engine (one bar return at a
//! time), so there is one implementation of the filter.
//!
//! Units. `arch` fits returns in percent times a power of ten (`scale` = 100 x k, see
//! `pycontrol/risk/garch.py`), so `mu`, `omega` and `backcast` are in those units. The
//! filter takes raw log returns, multiplies them by `scale` (the same arithmetic as the fit)
//! and reports volatilities, VaR and CVaR as fractions of price (divided by `scale`).
//!
//! Recursions (arch's, `arch.univariate.recursions`), with `e_t = scale r_t - mu`:
//! - GARCH: `s2_t = omega + alpha e_{t-1}^2 + beta s2_{t-1}`; before the first return both
//!   `e^2` and `s2` are the `backcast`.
//! - EGARCH: `ln s2_t = omega + alpha (|z_{t-1}| - sqrt(2/pi)) + gamma z_{t-1} + beta ln s2_{t-1}`
//!   with `z = e / s`; before the first return only `beta ln(backcast)` enters.
//!
//! `arch` also clips each variance into loose bounds (1e-6..1e6 x an EWMA of the sample's
//! squared residuals) that guard its optimiser against NaN; they never bind at fitted
//! parameters on real data (the parity test on 6E minute bars agrees to 1e-12), and a live
//! filter has no sample to take them from, so there are none here.
//!
//! Forecasts. GARCH h steps ahead is closed form: `s2_{k+1} = omega + (alpha + beta) s2_k`,
//! the sum over the horizon a geometric series. EGARCH's one-step forecast is exact; beyond
//! it the log variance's conditional mean is iterated, `l_{k+1} = omega + alpha (E|z| -
//! sqrt(2/pi)) + beta l_k` (E|z| of the fitted innovation), and the variance taken as
//! `exp(l_k)`: a geometric-mean forecast, below the mean variance by Jensen's inequality
//! (`arch` simulates instead; a Student-t EGARCH has no finite closed-form mean variance).
//!
//! VaR/CVaR over a horizon of h bars: losses (positive) of `h mu + sigma_h z`, z the fitted
//! unit-variance innovation, `sigma_h` the square root of the summed variance forecasts.
//! Aggregated GARCH returns are not exactly of z's family; using it is the usual
//! approximation and exact for h = 1.

pub mod special;

use crate::decision::RiskInputs;
use crate::error::{CoreError, Result};
use crate::features::cross::CorrBeta;
use crate::features::{BarIndicator, FeatureBar};

/// E|z| of a standard normal: the centring `arch` uses in EGARCH for every distribution.
pub const SQRT2_OV_PI: f64 = 0.797_884_560_802_865_4;
/// `arch` caps the log variance at ln(DBL_MAX) so exp never overflows.
const LNSIGMA_MAX: f64 = 709.782_712_893_384;

/// Which conditional-variance recursion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VolKind {
    Garch,
    Egarch,
}

/// Innovation distribution (unit variance).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Innovations {
    Normal,
    /// Standardised Student t with `nu > 2` degrees of freedom.
    StudentT(f64),
}

impl Innovations {
    /// (q, es): the `1 - level` quantile of z and its expected shortfall `E[-z | z <= q]`
    /// (positive). Closed forms; the t is rescaled by sqrt((nu - 2) / nu) to unit variance.
    pub fn quantile_es(self, level: f64) -> Result<(f64, f64)> {
        if !(level > 0.5 && level < 1.0) {
            return Err(CoreError::invalid(
                "level",
                format!("expected a VaR confidence in (0.5, 1), got {level}"),
            ));
        }
        let a = 1.0 - level;
        Ok(match self {
            Innovations::Normal => {
                let q = special::norm_ppf(a);
                (q, special::norm_pdf(q) / a)
            }
            Innovations::StudentT(nu) => {
                if !(nu > 2.0 && nu.is_finite()) {
                    return Err(CoreError::invalid(
                        "nu",
                        format!("Student-t needs finite nu > 2 for unit variance, got {nu}"),
                    ));
                }
                let s = ((nu - 2.0) / nu).sqrt();
                let tq = special::t_ppf(a, nu);
                let es = special::t_pdf(tq, nu) / a * (nu + tq * tq) / (nu - 1.0);
                (tq * s, es * s)
            }
        })
    }

    /// E|z| of the unit-variance innovation.
    pub fn mean_abs(self) -> f64 {
        match self {
            Innovations::Normal => SQRT2_OV_PI,
            Innovations::StudentT(nu) => {
                let lg = special::ln_gamma(0.5 * (nu + 1.0)) - special::ln_gamma(0.5 * nu);
                ((nu - 2.0) / nu).sqrt() * 2.0 * nu.sqrt() * lg.exp()
                    / (std::f64::consts::PI.sqrt() * (nu - 1.0))
            }
        }
    }
}

/// Parametric (VaR, CVaR) at `level` as positive losses of `mu + sigma z`.
pub fn var_cvar(mu: f64, sigma: f64, level: f64, dist: Innovations) -> Result<(f64, f64)> {
    let (q, es) = dist.quantile_es(level)?;
    Ok((-(mu + sigma * q), -(mu - sigma * es)))
}

/// Student-t copula tail dependence (both tails):
/// `2 t_{nu+1}(-sqrt((nu + 1)(1 - rho) / (1 + rho)))`.
pub fn t_copula_tail(rho: f64, nu: f64) -> Result<f64> {
    if !(rho.is_finite() && (-1.0..=1.0).contains(&rho)) {
        return Err(CoreError::invalid(
            "copula.rho",
            format!("expected in [-1, 1], got {rho}"),
        ));
    }
    if !(nu > 0.0 && nu.is_finite()) {
        return Err(CoreError::invalid(
            "copula.nu",
            format!("expected finite > 0, got {nu}"),
        ));
    }
    if rho >= 1.0 {
        return Ok(1.0);
    }
    if rho <= -1.0 {
        return Ok(0.0);
    }
    let x = -((nu + 1.0) * (1.0 - rho) / (1.0 + rho)).sqrt();
    Ok(2.0 * special::t_cdf(x, nu + 1.0))
}

/// arch's backcast: the 0.94-EWMA weighted mean of the first min(75, n) squared residuals
/// (weights normalised), the variance standing in for the returns before the sample.
pub fn arch_backcast(resids: &[f64]) -> Result<f64> {
    if resids.is_empty() {
        return Err(CoreError::invalid("resids", "need at least one residual"));
    }
    if let Some(i) = resids.iter().position(|x| !x.is_finite()) {
        return Err(CoreError::invalid(
            format!("resids[{i}]"),
            format!("{} (NaN/inf not allowed)", resids[i]),
        ));
    }
    let tau = resids.len().min(75);
    let w: Vec<f64> = (0..tau).map(|i| 0.94f64.powi(i as i32)).collect();
    let sw: f64 = w.iter().sum();
    // Same order of operations as numpy: normalise the weights, then sum the products.
    Ok(resids[..tau]
        .iter()
        .zip(&w)
        .map(|(r, w)| r * r * (w / sw))
        .sum())
}

/// Rolling correlation and beta of `x`'s one-bar returns to `y`'s over the last `n` pairs,
/// on closes of aligned bars (both traded in each row): [`CorrBeta`], the code of the
/// `corr_ref`/`beta_ref` features and of the engine's risk model, stepped over a batch so
/// training features are the live ones. Row `i` is the value after bar `i` (NaN warming up).
pub fn rolling_corr_beta(x: &[f64], y: &[f64], n: usize) -> Result<(Vec<f64>, Vec<f64>)> {
    if x.len() != y.len() {
        return Err(CoreError::invalid(
            "ref_close",
            format!("{} closes against {} of the instrument", y.len(), x.len()),
        ));
    }
    if n < 2 {
        return Err(CoreError::invalid(
            "window",
            format!("must be >= 2, got {n}"),
        ));
    }
    for (what, v) in [("close", x), ("ref_close", y)] {
        if let Some(i) = v.iter().position(|p| !(p.is_finite() && *p > 0.0)) {
            return Err(CoreError::invalid(
                format!("{what}[{i}]"),
                format!("{} is not a finite price > 0", v[i]),
            ));
        }
    }
    let (mut c, mut b) = (CorrBeta::new(n, false), CorrBeta::new(n, true));
    let bar = |p: f64| FeatureBar {
        ts: 0,
        open: p,
        high: p,
        low: p,
        close: p,
        volume: 0.0,
    };
    let mut out = (Vec::with_capacity(x.len()), Vec::with_capacity(x.len()));
    for (&a, &r) in x.iter().zip(y) {
        let (ba, br) = (bar(a), bar(r));
        out.0.push(c.update(&ba, Some(&br)));
        out.1.push(b.update(&ba, Some(&br)));
    }
    Ok(out)
}

/// Volatility regime from the in-sample conditional-volatility percentiles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VolRegime {
    Low,
    Normal,
    High,
}

impl VolRegime {
    pub fn as_str(self) -> &'static str {
        match self {
            VolRegime::Low => "low",
            VolRegime::Normal => "normal",
            VolRegime::High => "high",
        }
    }
}

/// Fitted (E)GARCH(1,1) parameters in `arch`'s units (see the module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct GarchParams {
    pub kind: VolKind,
    pub dist: Innovations,
    pub mu: f64,
    pub omega: f64,
    pub alpha: f64,
    /// EGARCH asymmetry (0 for GARCH and for a symmetric EGARCH).
    pub gamma: f64,
    pub beta: f64,
    /// Raw log return x `scale` = the fit's units.
    pub scale: f64,
    /// Variance before the first return, fit units (arch's backcast; for EGARCH the
    /// variance, not its log).
    pub backcast: f64,
    /// Bar interval of the returns the model was fitted on, ns (0 = not stated: fine for
    /// batch filtering, refused by the engine, which samples bars at it).
    pub interval_ns: u64,
    /// In-sample conditional volatility (fraction of price per bar) below which the regime
    /// is low and above which it is high (the fit's 25th and 75th percentiles); without
    /// cuts (0, inf) every state is normal.
    pub regime_lo: f64,
    pub regime_hi: f64,
}

impl GarchParams {
    /// Every bad field at once, each named, in one `InvalidInput` whose `what` is `origin`
    /// (the params file, or "garch params"). Stationarity is required: the engine's
    /// horizon forecast needs a long-run variance.
    pub fn validate(&self, origin: &str) -> Result<()> {
        self.check(origin, true)
    }

    /// As [`Self::validate`] but accepting an integrated model (GARCH alpha + beta >= 1,
    /// EGARCH |beta| >= 1): `arch`'s optimiser bounds persistence at 1 only within its
    /// tolerance, and its filter runs such fits, so research features that must equal
    /// `arch`'s do too. The recursion is defined; only the long-run variance is not.
    pub fn validate_filter(&self, origin: &str) -> Result<()> {
        self.check(origin, false)
    }

    // `!(x > 0.0)` on purpose: a NaN fails every comparison, so it fails these checks.
    #[allow(clippy::neg_cmp_op_on_partial_ord)]
    fn check(&self, origin: &str, stationary: bool) -> Result<()> {
        let mut p = Vec::new();
        for (name, v) in [
            ("mu", self.mu),
            ("omega", self.omega),
            ("alpha", self.alpha),
            ("gamma", self.gamma),
            ("beta", self.beta),
            ("scale", self.scale),
            ("backcast", self.backcast),
            ("regime_lo", self.regime_lo),
        ] {
            if !v.is_finite() {
                p.push(format!("{name} = {v} is not finite"));
            }
        }
        if !(self.scale > 0.0) {
            p.push(format!("scale = {} must be > 0", self.scale));
        }
        if !(self.backcast > 0.0) {
            p.push(format!("backcast = {} must be > 0", self.backcast));
        }
        if !(self.regime_lo >= 0.0 && self.regime_lo <= self.regime_hi) {
            p.push(format!(
                "regime cuts must satisfy 0 <= lo <= hi, got {} and {}",
                self.regime_lo, self.regime_hi
            ));
        }
        if let Innovations::StudentT(nu) = self.dist {
            if !(nu > 2.0 && nu.is_finite()) {
                p.push(format!("nu = {nu} must be finite and > 2 (unit variance)"));
            }
        }
        match self.kind {
            VolKind::Garch => {
                if !(self.omega > 0.0) {
                    p.push(format!("omega = {} must be > 0", self.omega));
                }
                if !(self.alpha >= 0.0) || !(self.beta >= 0.0) {
                    p.push(format!(
                        "alpha = {} and beta = {} must be >= 0",
                        self.alpha, self.beta
                    ));
                }
                if stationary && !(self.alpha + self.beta < 1.0) {
                    p.push(format!(
                        "alpha + beta = {} must be < 1 (non-stationary GARCH: no long-run \
                         variance, forecasts explode)",
                        self.alpha + self.beta
                    ));
                }
                if self.gamma != 0.0 {
                    p.push(format!("gamma = {} must be 0 for GARCH(1,1)", self.gamma));
                }
            }
            VolKind::Egarch => {
                if stationary && !(self.beta.abs() < 1.0) {
                    p.push(format!(
                        "|beta| = {} must be < 1 (non-stationary EGARCH log variance)",
                        self.beta.abs()
                    ));
                }
            }
        }
        if p.is_empty() {
            Ok(())
        } else {
            Err(CoreError::invalid(origin, p.join("; ")))
        }
    }
}

/// The conditional-variance filter: state is the variance of the next return.
#[derive(Clone, Debug)]
pub struct VolFilter {
    p: GarchParams,
    /// Variance of the next return, fit units.
    s2: f64,
    /// Its log (EGARCH state).
    ln_s2: f64,
    /// E|z| - sqrt(2/pi): the drift of EGARCH's log variance beyond one step.
    egarch_drift: f64,
    n: u64,
}

impl VolFilter {
    /// A filter before its first return, started from `p.backcast`.
    pub fn new(p: &GarchParams) -> Result<Self> {
        p.validate("garch params")?;
        Ok(Self::started(p, p.backcast))
    }

    /// Started from another backcast (parity with `arch`, whose fit and forecast use
    /// different ones), validated by the caller.
    fn started(p: &GarchParams, backcast: f64) -> Self {
        let (s2, ln_s2) = match p.kind {
            VolKind::Garch => {
                let s2 = p.omega + p.alpha * backcast + p.beta * backcast;
                (s2, s2.ln())
            }
            VolKind::Egarch => {
                let l = (p.omega + p.beta * backcast.ln()).min(LNSIGMA_MAX);
                (l.exp(), l)
            }
        };
        VolFilter {
            egarch_drift: p.alpha * (p.dist.mean_abs() - SQRT2_OV_PI),
            p: p.clone(),
            s2,
            ln_s2,
            n: 0,
        }
    }

    pub fn params(&self) -> &GarchParams {
        &self.p
    }

    /// Returns seen.
    pub fn len(&self) -> u64 {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Takes one raw log return; the state becomes the next return's variance. A non-finite
    /// return is ignored (the caller never has one from positive prices; NaN must not
    /// poison the state for the rest of the session).
    #[inline]
    pub fn update(&mut self, r: f64) {
        if !r.is_finite() {
            return;
        }
        let p = &self.p;
        let e = r * p.scale - p.mu;
        match p.kind {
            VolKind::Garch => {
                self.s2 = p.omega + p.alpha * (e * e) + p.beta * self.s2;
            }
            VolKind::Egarch => {
                let z = e / self.s2.sqrt();
                let l = (p.omega
                    + p.alpha * (z.abs() - SQRT2_OV_PI)
                    + p.gamma * z
                    + p.beta * self.ln_s2)
                    .min(LNSIGMA_MAX);
                self.ln_s2 = l;
                self.s2 = l.exp();
            }
        }
        self.n += 1;
    }

    /// Variance of the next return, fit units.
    #[inline]
    pub fn next_variance(&self) -> f64 {
        self.s2
    }

    /// Volatility of the next return, fraction of price.
    #[inline]
    pub fn next_vol(&self) -> f64 {
        self.s2.sqrt() / self.p.scale
    }

    /// Variance forecasts 1..=out.len() steps ahead, fit units.
    pub fn variance_path(&self, out: &mut [f64]) {
        let p = &self.p;
        match p.kind {
            VolKind::Garch => {
                let mut s = self.s2;
                for o in out.iter_mut() {
                    *o = s;
                    // arch's analytic multi-step forecast, term by term.
                    s = p.omega + p.alpha * s + p.beta * s;
                }
            }
            VolKind::Egarch => {
                let mut l = self.ln_s2;
                for o in out.iter_mut() {
                    *o = l.exp();
                    l = (p.omega + self.egarch_drift + p.beta * l).min(LNSIGMA_MAX);
                }
            }
        }
    }

    /// Sum of the variance forecasts 1..=h steps ahead, fit units (0 for h = 0). GARCH in
    /// O(1) (geometric series around the long-run variance); EGARCH in O(h).
    #[inline]
    pub fn horizon_variance(&self, h: u32) -> f64 {
        if h == 0 {
            return 0.0;
        }
        let p = &self.p;
        match p.kind {
            VolKind::Garch => {
                let phi = p.alpha + p.beta;
                let vbar = p.omega / (1.0 - phi);
                h as f64 * vbar + (self.s2 - vbar) * (1.0 - phi.powi(h as i32)) / (1.0 - phi)
            }
            VolKind::Egarch => {
                let lbar = (p.omega + self.egarch_drift) / (1.0 - p.beta);
                let mut dev = self.ln_s2 - lbar;
                let mut sum = 0.0;
                for _ in 0..h {
                    sum += (lbar + dev).min(LNSIGMA_MAX).exp();
                    dev *= p.beta;
                }
                sum
            }
        }
    }

    pub fn regime(&self) -> VolRegime {
        let v = self.next_vol();
        if v < self.p.regime_lo {
            VolRegime::Low
        } else if v > self.p.regime_hi {
            VolRegime::High
        } else {
            VolRegime::Normal
        }
    }
}

/// Conditional variances (fit units) of each return given the returns before it, as
/// `arch`'s `conditional_volatility ** 2`, from raw log `returns` and a `backcast` in fit
/// units (arch's fit uses the residuals around the sample mean, its forecasts those around
/// the fitted mu: pass whichever is being matched). Then, in `next`, the variance of the
/// return after the last one (the one-step forecast).
pub fn filter_variance(p: &GarchParams, returns: &[f64], backcast: f64) -> Result<(Vec<f64>, f64)> {
    p.validate_filter("garch params")?;
    if !(backcast > 0.0 && backcast.is_finite()) {
        return Err(CoreError::invalid(
            "backcast",
            format!("must be finite and > 0, got {backcast}"),
        ));
    }
    check_finite(returns)?;
    let mut f = VolFilter::started(p, backcast);
    let mut out = Vec::with_capacity(returns.len());
    for &r in returns {
        out.push(f.next_variance());
        f.update(r);
    }
    Ok((out, f.next_variance()))
}

/// Variance forecast paths (fit units), row-major `(returns.len() + 1) x h`: row `t` is the
/// path 1..=h steps ahead made after `returns[..t]` (row 0 before any return), as the rows
/// of `arch`'s `forecast(horizon=h, start=...)`; column 0 is [`filter_variance`].
pub fn forecast_paths(
    p: &GarchParams,
    returns: &[f64],
    backcast: f64,
    h: usize,
) -> Result<Vec<f64>> {
    if h == 0 {
        return Err(CoreError::invalid("horizon", "must be >= 1"));
    }
    // Validates params, backcast and returns.
    filter_variance(p, &[], backcast)?;
    check_finite(returns)?;
    let mut f = VolFilter::started(p, backcast);
    let mut out = vec![0.0; (returns.len() + 1) * h];
    for (t, row) in out.chunks_mut(h).enumerate() {
        f.variance_path(row);
        if let Some(&r) = returns.get(t) {
            f.update(r);
        }
    }
    Ok(out)
}

fn check_finite(returns: &[f64]) -> Result<()> {
    match returns.iter().position(|x| !x.is_finite()) {
        Some(i) => Err(CoreError::invalid(
            format!("returns[{i}]"),
            format!("{} (NaN/inf not allowed)", returns[i]),
        )),
        None => Ok(()),
    }
}

/// What the engine hands to `decide` and `size`, plus the diagnostics behind it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RiskForecast {
    pub inputs: RiskInputs,
    /// One-bar volatility, fraction of price.
    pub vol_1: f64,
    pub var95: f64,
    pub cvar95: f64,
    pub regime: VolRegime,
    /// Bars in the horizon.
    pub steps: u32,
}

/// Fitted t-copula of the instrument against the reference (`pycontrol.risk.copula`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CopulaParams {
    pub rho: f64,
    pub nu: f64,
}

/// Everything the engine needs for one instrument's risk model.
#[derive(Clone, Debug, PartialEq)]
pub struct RiskModelConfig {
    pub garch: GarchParams,
    /// The reference instrument (ES, NQ) whose aligned bar returns feed correlation and
    /// beta; None: co-movement inputs are 0 (no index).
    pub reference_instrument_id: Option<u32>,
    /// Aligned bar returns in the rolling correlation/beta window.
    pub corr_window: usize,
    pub copula: Option<CopulaParams>,
    /// Bars before the forecast is used (until then the engine holds: NO_VOL_FORECAST).
    pub min_bars: u32,
}

impl RiskModelConfig {
    pub fn validate(&self) -> Result<()> {
        let mut p = Vec::new();
        if let Err(CoreError::InvalidInput { what, detail }) = self.garch.validate("garch") {
            p.push(format!("{what}: {detail}"));
        }
        if self.garch.interval_ns == 0 {
            p.push("interval_ns must be >= 1 (the bar interval the model was fitted on)".into());
        }
        if self.corr_window < 2 {
            p.push(format!("corr_window = {} must be >= 2", self.corr_window));
        }
        if let Some(c) = self.copula {
            if let Err(e) = t_copula_tail(c.rho, c.nu) {
                p.push(e.to_string());
            }
        }
        if p.is_empty() {
            Ok(())
        } else {
            Err(CoreError::Config(format!("risk_model: {}", p.join("; "))))
        }
    }

    /// Parses the params file `pycontrol risk fit` writes (schema in `docs/risk.md`),
    /// naming `origin` (its path) in every error; unknown keys are errors.
    pub fn from_json(text: &str, origin: &str) -> Result<Self> {
        let cfg = Self::parse(text, origin)?;
        cfg.validate()
            .map_err(|e| CoreError::invalid(origin, e.to_string()))?;
        Ok(cfg)
    }

    fn parse(text: &str, origin: &str) -> Result<Self> {
        let bad = |d: String| CoreError::invalid(origin, d);
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| bad(format!("not JSON: {e}")))?;
        let obj = v
            .as_object()
            .ok_or_else(|| bad("expected an object".into()))?;
        const KNOWN: &[&str] = &[
            "schema",
            "kind",
            "dist",
            "mu",
            "omega",
            "alpha",
            "gamma",
            "beta",
            "nu",
            "scale",
            "backcast",
            "interval_ns",
            "regime_cuts",
            "reference_instrument_id",
            "corr_window",
            "copula",
            "min_bars",
            "fit",
        ];
        let mut p = Vec::new();
        for k in obj.keys() {
            if !KNOWN.contains(&k.as_str()) {
                p.push(format!("unknown key {k:?}"));
            }
        }
        if let Some(s) = obj.get("schema") {
            if s.as_str() != Some(SCHEMA) {
                p.push(format!("schema = {s} is not {SCHEMA:?}"));
            }
        }
        let num = |k: &str, p: &mut Vec<String>| -> f64 {
            match obj.get(k) {
                Some(x) => x.as_f64().unwrap_or_else(|| {
                    p.push(format!("{k} = {x} is not a number"));
                    f64::NAN
                }),
                None => {
                    p.push(format!("{k} is required"));
                    f64::NAN
                }
            }
        };
        let kind = match obj.get("kind").and_then(|x| x.as_str()) {
            Some("garch") => VolKind::Garch,
            Some("egarch") => VolKind::Egarch,
            other => {
                p.push(format!("kind = {other:?} is not \"garch\" or \"egarch\""));
                VolKind::Garch
            }
        };
        let dist = match obj.get("dist").and_then(|x| x.as_str()) {
            Some("normal") => Innovations::Normal,
            Some("t") => Innovations::StudentT(num("nu", &mut p)),
            other => {
                p.push(format!("dist = {other:?} is not \"normal\" or \"t\""));
                Innovations::Normal
            }
        };
        let gamma = if obj.contains_key("gamma") {
            num("gamma", &mut p)
        } else {
            0.0
        };
        let (regime_lo, regime_hi) = match obj.get("regime_cuts").and_then(|x| x.as_array()) {
            Some(a) if a.len() == 2 && a.iter().all(|x| x.is_number()) => (
                a[0].as_f64().unwrap_or(f64::NAN),
                a[1].as_f64().unwrap_or(f64::NAN),
            ),
            None if !obj.contains_key("regime_cuts") => (0.0, f64::INFINITY),
            _ => {
                p.push("regime_cuts must be [lo, hi] (volatility, fraction of price)".into());
                (f64::NAN, f64::NAN)
            }
        };
        let uint = |k: &str, default: u64, p: &mut Vec<String>| -> u64 {
            match obj.get(k) {
                None => default,
                Some(x) => x.as_u64().unwrap_or_else(|| {
                    p.push(format!("{k} = {x} is not a non-negative integer"));
                    default
                }),
            }
        };
        let interval_ns = uint("interval_ns", 0, &mut p);
        let reference_instrument_id = match obj.get("reference_instrument_id") {
            None | Some(serde_json::Value::Null) => None,
            Some(x) => match x.as_u64().and_then(|v| u32::try_from(v).ok()) {
                Some(v) => Some(v),
                None => {
                    p.push(format!("reference_instrument_id = {x} is not a u32"));
                    None
                }
            },
        };
        let copula = match obj.get("copula") {
            None | Some(serde_json::Value::Null) => None,
            Some(c) => match (
                c.get("rho").and_then(|x| x.as_f64()),
                c.get("nu").and_then(|x| x.as_f64()),
            ) {
                (Some(rho), Some(nu)) => Some(CopulaParams { rho, nu }),
                _ => {
                    p.push(format!("copula = {c} needs numbers rho and nu"));
                    None
                }
            },
        };
        let cfg = RiskModelConfig {
            garch: GarchParams {
                kind,
                dist,
                mu: num("mu", &mut p),
                omega: num("omega", &mut p),
                alpha: num("alpha", &mut p),
                gamma,
                beta: num("beta", &mut p),
                scale: num("scale", &mut p),
                backcast: num("backcast", &mut p),
                interval_ns,
                regime_lo,
                regime_hi,
            },
            reference_instrument_id,
            corr_window: uint("corr_window", 500, &mut p) as usize,
            copula,
            min_bars: uint("min_bars", 0, &mut p).min(u32::MAX as u64) as u32,
        };
        if !p.is_empty() {
            return Err(bad(p.join("; ")));
        }
        Ok(cfg)
    }
}

impl GarchParams {
    /// The (E)GARCH part of a params file (the same file and schema as
    /// [`RiskModelConfig::from_json`]; `interval_ns` and `regime_cuts` may be absent), for
    /// batch filtering.
    pub fn from_json(text: &str, origin: &str) -> Result<Self> {
        let g = RiskModelConfig::parse(text, origin)?.garch;
        g.validate_filter(origin)?;
        Ok(g)
    }
}

/// Schema tag of the params file.
pub const SCHEMA: &str = "tradecore.risk_model/1";

/// Closed bars a sampler remembers, so a sparse instrument can still align with a reference
/// that has moved on a few intervals.
const RECENT: usize = 16;

/// Last-mid bars of one instrument at the model's interval: a bar closes at the first mid
/// of a later interval (an empty interval is no bar; the next return spans the gap).
#[derive(Clone, Copy, Debug)]
struct BarSampler {
    cur: Option<(u64, f64)>,
    /// The last closed bars (interval index, close), a ring.
    recent: [(u64, f64); RECENT],
    head: usize,
}

impl Default for BarSampler {
    fn default() -> Self {
        BarSampler {
            cur: None,
            recent: [(u64::MAX, f64::NAN); RECENT],
            head: 0,
        }
    }
}

impl BarSampler {
    /// Feeds a mid at `ts`; returns the bar that closed (interval index, close).
    #[inline]
    fn on_mid(&mut self, ts: u64, mid: f64, interval_ns: u64) -> Option<(u64, f64)> {
        let k = ts / interval_ns;
        let closed = match self.cur {
            Some((ck, _)) if ck == k => None,
            Some(c) => {
                self.recent[self.head] = c;
                self.head = (self.head + 1) % RECENT;
                Some(c)
            }
            None => None,
        };
        self.cur = Some((k, mid));
        closed
    }

    /// Close of interval `k` if that interval had a mid (the caller asks only about
    /// intervals that ended before the current event, so a current one is complete).
    #[inline]
    fn close_of(&self, k: u64) -> Option<f64> {
        if let Some((ck, c)) = self.cur {
            if ck == k {
                return Some(c);
            }
        }
        self.recent.iter().find(|(rk, _)| *rk == k).map(|(_, c)| *c)
    }
}

/// One instrument's streaming risk model: bar sampler, (E)GARCH filter, rolling
/// correlation/beta to the reference (the cross-feature code of `features::cross`) and the
/// copula's tail coefficient.
pub struct RiskModel {
    filter: VolFilter,
    last_close: Option<f64>,
    corr: CorrBeta,
    beta: CorrBeta,
    corr_last: f64,
    beta_last: f64,
    tail: f64,
    q99: (f64, f64),
    q95: (f64, f64),
    min_bars: u32,
    has_reference: bool,
    /// (steps, forecast) of the current state: a forecast is asked per signal, the state
    /// moves once per bar.
    cache: Option<(u32, RiskForecast)>,
}

impl RiskModel {
    pub fn new(cfg: &RiskModelConfig) -> Result<Self> {
        cfg.validate()?;
        let g = &cfg.garch;
        let tail = match cfg.copula {
            Some(c) if cfg.reference_instrument_id.is_some() => t_copula_tail(c.rho, c.nu)?,
            _ => 0.0,
        };
        Ok(RiskModel {
            filter: VolFilter::new(g)?,
            last_close: None,
            corr: CorrBeta::new(cfg.corr_window, false),
            beta: CorrBeta::new(cfg.corr_window, true),
            corr_last: f64::NAN,
            beta_last: f64::NAN,
            tail,
            q99: g.dist.quantile_es(0.99)?,
            q95: g.dist.quantile_es(0.95)?,
            min_bars: cfg.min_bars,
            has_reference: cfg.reference_instrument_id.is_some(),
            cache: None,
        })
    }

    pub fn filter(&self) -> &VolFilter {
        &self.filter
    }

    /// A completed bar's close (price units) and, when the reference traded in the same
    /// interval, the reference's close.
    #[inline]
    pub fn on_bar(&mut self, close: f64, ref_close: Option<f64>) {
        if !(close > 0.0 && close.is_finite()) {
            return;
        }
        if let Some(prev) = self.last_close.replace(close) {
            self.filter.update((close / prev).ln());
            self.cache = None;
        }
        if self.has_reference {
            let bar = |c: f64| FeatureBar {
                ts: 0,
                open: c,
                high: c,
                low: c,
                close: c,
                volume: 0.0,
            };
            let (b, r) = (bar(close), ref_close.map(bar));
            self.corr_last = self.corr.update(&b, r.as_ref());
            self.beta_last = self.beta.update(&b, r.as_ref());
            self.cache = None;
        }
    }

    /// The risk forecast over `steps` bars; None while warming up (fewer than `min_bars`
    /// returns).
    #[inline]
    pub fn forecast(&mut self, steps: u32) -> Option<RiskForecast> {
        if self.filter.len() < self.min_bars as u64 {
            return None;
        }
        if let Some((s, f)) = self.cache {
            if s == steps {
                return Some(f);
            }
        }
        let f = self.compute(steps);
        self.cache = Some((steps, f));
        Some(f)
    }

    fn compute(&self, steps: u32) -> RiskForecast {
        let g = self.filter.params();
        let h = steps.max(1);
        let sigma = self.filter.horizon_variance(h).sqrt() / g.scale;
        let mu = h as f64 * g.mu / g.scale;
        let loss = |(q, es): (f64, f64)| (-(mu + sigma * q), -(mu - sigma * es));
        let (var99, cvar99) = loss(self.q99);
        let (var95, cvar95) = loss(self.q95);
        // Without a reference the co-movement inputs are 0 (decision.rs); with one they
        // are NaN until the window fills, which scores 10: unknown co-movement is no
        // reason to trade.
        let (corr, beta) = if self.has_reference {
            (self.corr_last, self.beta_last)
        } else {
            (0.0, 0.0)
        };
        RiskForecast {
            inputs: RiskInputs {
                vol_forecast: sigma,
                var99,
                cvar99,
                corr_to_index: corr,
                beta_to_index: beta,
                tail_dependence: self.tail,
            },
            vol_1: self.filter.next_vol(),
            var95,
            cvar95,
            regime: self.filter.regime(),
            steps: h,
        }
    }
}

/// The engine's per-instrument risk models (slots in the engine's order), fed with each
/// event's mid; the reference instrument, when configured and present, is sampled too.
pub struct StreamingRisk {
    cfg: RiskModelConfig,
    ids: Vec<u32>,
    samplers: Vec<BarSampler>,
    models: Vec<RiskModel>,
}

impl StreamingRisk {
    pub fn new(cfg: RiskModelConfig) -> Result<Self> {
        cfg.validate()?;
        Ok(StreamingRisk {
            cfg,
            ids: Vec::new(),
            samplers: Vec::new(),
            models: Vec::new(),
        })
    }

    pub fn config(&self) -> &RiskModelConfig {
        &self.cfg
    }

    /// A new engine slot (call in slot order).
    pub fn add_slot(&mut self, id: u32) -> Result<()> {
        self.ids.push(id);
        self.samplers.push(BarSampler::default());
        self.models.push(RiskModel::new(&self.cfg)?);
        Ok(())
    }

    /// Slot `s`'s mid (price units) at event time `ts`.
    #[inline]
    pub fn on_mid(&mut self, s: usize, ts: u64, mid: f64) {
        if !(mid > 0.0 && mid.is_finite()) {
            return;
        }
        let interval = self.cfg.garch.interval_ns;
        let Some((k, close)) = self.samplers[s].on_mid(ts, mid, interval) else {
            return;
        };
        let ref_close = self.cfg.reference_instrument_id.and_then(|rid| {
            let r = self.ids.iter().position(|i| *i == rid)?;
            self.samplers[r].close_of(k)
        });
        self.models[s].on_bar(close, ref_close);
    }

    /// Slot `s`'s forecast over `horizon_ns` (rounded to whole bars, at least one).
    #[inline]
    pub fn forecast(&mut self, s: usize, horizon_ns: u64) -> Option<RiskForecast> {
        let iv = self.cfg.garch.interval_ns;
        let steps = ((horizon_ns + iv / 2) / iv).clamp(1, u32::MAX as u64) as u32;
        self.models[s].forecast(steps)
    }

    pub fn model(&self, s: usize) -> &RiskModel {
        &self.models[s]
    }
}

#[cfg(test)]
mod tests;
