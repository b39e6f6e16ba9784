//! Unit tests of the streaming risk model: hand recursions, closed forms against sums and
//! scipy values, validation naming each bad field, the params file, bar sampling and
//! reference alignment. Parity with `arch` itself is in tests/parity (it needs Python).

use super::*;

fn garch(alpha: f64, beta: f64) -> GarchParams {
    GarchParams {
        kind: VolKind::Garch,
        dist: Innovations::Normal,
        mu: 0.01,
        omega: 0.05,
        alpha,
        gamma: 0.0,
        beta,
        scale: 1e4,
        backcast: 1.2,
        interval_ns: 60_000_000_000,
        regime_lo: 5e-5,
        regime_hi: 2e-4,
    }
}

fn egarch() -> GarchParams {
    GarchParams {
        kind: VolKind::Egarch,
        dist: Innovations::StudentT(5.0),
        omega: 0.01,
        alpha: 0.15,
        gamma: -0.05,
        beta: 0.95,
        ..garch(0.0, 0.0)
    }
}

fn returns(n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| (((i * 7919) % 97) as f64 - 48.0) * 2e-6)
        .collect()
}

#[test]
fn garch_filter_is_the_hand_recursion_from_the_backcast() {
    let p = garch(0.08, 0.9);
    let r = returns(50);
    let (v, next) = filter_variance(&p, &r, p.backcast).unwrap();
    let (mut s2, mut e2) = (p.backcast, p.backcast);
    for (t, &x) in r.iter().enumerate() {
        let want = p.omega + p.alpha * e2 + p.beta * s2;
        assert!((v[t] - want).abs() <= 1e-14 * want, "t={t}");
        s2 = want;
        let e = x * p.scale - p.mu;
        e2 = e * e;
    }
    let want = p.omega + p.alpha * e2 + p.beta * s2;
    assert!((next - want).abs() <= 1e-14 * want);
}

#[test]
fn egarch_filter_is_the_hand_recursion_with_asymmetry() {
    let p = egarch();
    let r = returns(40);
    let (v, _) = filter_variance(&p, &r, p.backcast).unwrap();
    let mut l = p.omega + p.beta * p.backcast.ln();
    for (t, &x) in r.iter().enumerate() {
        assert!((v[t] - l.exp()).abs() <= 1e-13 * l.exp(), "t={t}");
        let z = (x * p.scale - p.mu) / l.exp().sqrt();
        l = p.omega + p.alpha * (z.abs() - SQRT2_OV_PI) + p.gamma * z + p.beta * l;
    }
    // The asymmetry term matters: a negative shock raises the variance more.
    let (mut up, mut dn) = (VolFilter::new(&p).unwrap(), VolFilter::new(&p).unwrap());
    up.update(3e-4);
    dn.update(-3e-4);
    assert!(dn.next_variance() > up.next_variance());
}

#[test]
fn garch_horizon_sum_is_the_path_sum_and_reverts_to_the_long_run() {
    let p = garch(0.08, 0.9);
    let mut f = VolFilter::new(&p).unwrap();
    for x in returns(30) {
        f.update(x * 5.0);
    }
    let mut path = vec![0.0; 200];
    f.variance_path(&mut path);
    for h in [1u32, 2, 15, 200] {
        let s: f64 = path[..h as usize].iter().sum();
        let got = f.horizon_variance(h);
        assert!((got - s).abs() <= 1e-12 * s, "h={h}: {got} vs {s}");
    }
    // The gap to the long-run variance shrinks by alpha + beta a step.
    let (vbar, phi) = (p.omega / (1.0 - p.alpha - p.beta), p.alpha + p.beta);
    let want = vbar + phi.powi(199) * (path[0] - vbar);
    assert!(
        (path[199] - want).abs() <= 1e-9 * vbar,
        "{} vs {want}",
        path[199]
    );
    assert_eq!(f.horizon_variance(0), 0.0);
}

#[test]
fn egarch_multi_step_iterates_the_log_variance_mean() {
    let p = egarch();
    let mut f = VolFilter::new(&p).unwrap();
    f.update(-4e-4);
    let mut path = vec![0.0; 3];
    f.variance_path(&mut path);
    assert!((path[0] - f.next_variance()).abs() <= 1e-15 * path[0]);
    let drift = p.alpha * (p.dist.mean_abs() - SQRT2_OV_PI);
    let l2 = p.omega + drift + p.beta * f.next_variance().ln();
    assert!((path[1] - l2.exp()).abs() <= 1e-12 * path[1]);
    let s: f64 = path.iter().sum();
    assert!((f.horizon_variance(3) - s).abs() <= 1e-12 * s);
}

#[test]
fn student_t_mean_abs_matches_the_integral() {
    // E|z| of the unit-variance t(5) (scipy: stats.t(5).expect(abs) * sqrt(3/5)).
    let nu = 5.0;
    let want = 0.735_105_193_895_722_6;
    assert!((Innovations::StudentT(nu).mean_abs() - want).abs() < 1e-12);
    assert_eq!(Innovations::Normal.mean_abs(), SQRT2_OV_PI);
}

#[test]
fn normal_var_cvar_closed_forms() {
    let (v, c) = var_cvar(0.0, 1.0, 0.99, Innovations::Normal).unwrap();
    assert!((v - 2.326_347_874_040_841).abs() < 1e-12, "{v}");
    assert!((c - 2.665_214_220_345_808).abs() < 1e-12, "{c}");
    let (v95, c95) = var_cvar(0.001, 0.01, 0.95, Innovations::Normal).unwrap();
    assert!((v95 - (0.01 * 1.644_853_626_951_472_7 - 0.001)).abs() < 1e-14);
    assert!(c95 > v95);
    let t = var_cvar(0.0, 1.0, 0.99, Innovations::StudentT(4.0)).unwrap();
    // Fatter tails at the same variance: a larger CVaR99.
    assert!(t.1 > c, "{t:?}");
    assert!(matches!(
        var_cvar(0.0, 1.0, 0.3, Innovations::Normal),
        Err(CoreError::InvalidInput { ref what, .. }) if what == "level"
    ));
    assert!(matches!(
        var_cvar(0.0, 1.0, 0.99, Innovations::StudentT(2.0)),
        Err(CoreError::InvalidInput { ref what, .. }) if what == "nu"
    ));
}

#[test]
fn t_copula_tail_closed_form() {
    // 2 t_4(-sqrt(4 * 0.5 / 1.5)) for rho 0.5, nu 3 (scipy: 0.31200...).
    let lam = t_copula_tail(0.5, 3.0).unwrap();
    let x = -(4.0f64 * 0.5 / 1.5).sqrt();
    assert!((lam - 2.0 * special::t_cdf(x, 4.0)).abs() < 1e-15);
    assert!(lam > 0.3 && lam < 0.32, "{lam}");
    assert!(t_copula_tail(0.9, 3.0).unwrap() > lam);
    assert!(t_copula_tail(0.5, 30.0).unwrap() < lam);
    assert_eq!(t_copula_tail(1.0, 3.0).unwrap(), 1.0);
    assert!(t_copula_tail(f64::NAN, 3.0).is_err());
    assert!(t_copula_tail(0.5, -1.0).is_err());
}

#[test]
fn bad_params_name_every_bad_field() {
    let mut p = garch(0.3, 0.75);
    p.omega = f64::NAN;
    let e = p.validate("params.json").unwrap_err().to_string();
    assert!(e.contains("params.json"), "{e}");
    assert!(e.contains("omega = NaN"), "{e}");
    assert!(e.contains("alpha + beta = 1.05"), "{e}");
    assert!(e.contains("non-stationary"), "{e}");
    let mut q = egarch();
    q.beta = 1.0;
    q.dist = Innovations::StudentT(1.5);
    let e = q.validate("x").unwrap_err().to_string();
    assert!(e.contains("|beta|") && e.contains("nu = 1.5"), "{e}");
    assert!(
        VolFilter::new(&garch(0.1, 0.9)).is_err(),
        "alpha + beta = 1"
    );
    // The batch filter runs arch's integrated fits (alpha + beta = 1 within its tolerance).
    assert!(filter_variance(&garch(0.1, 0.9), &[1e-4], 1.0).is_ok());
    assert!(filter_variance(&garch(0.1, 0.8), &[0.0, f64::NAN], 1.0)
        .unwrap_err()
        .to_string()
        .contains("returns[1]"));
}

fn json(extra: &str) -> String {
    format!(
        r#"{{"schema": "tradecore.risk_model/1", "kind": "garch", "dist": "t", "nu": 6.0,
        "mu": 0.001, "omega": 0.02, "alpha": 0.05, "beta": 0.93, "scale": 10000.0,
        "backcast": 0.9, "interval_ns": 60000000000, "regime_cuts": [0.0001, 0.0003]{extra}}}"#
    )
}

#[test]
fn params_file_round_trip_and_errors() {
    let c = RiskModelConfig::from_json(&json(""), "p.json").unwrap();
    assert_eq!(c.garch.dist, Innovations::StudentT(6.0));
    assert_eq!(c.garch.gamma, 0.0);
    assert_eq!(c.reference_instrument_id, None);
    assert_eq!(c.corr_window, 500);
    let c = RiskModelConfig::from_json(
        &json(
            r#", "reference_instrument_id": 7, "copula": {"rho": 0.6, "nu": 4}, "corr_window": 50"#,
        ),
        "p.json",
    )
    .unwrap();
    assert_eq!(c.reference_instrument_id, Some(7));
    assert_eq!(c.copula, Some(CopulaParams { rho: 0.6, nu: 4.0 }));
    let e = RiskModelConfig::from_json(&json(r#", "alpah": 1"#).replace("0.93", "0.99"), "p.json")
        .unwrap_err()
        .to_string();
    assert!(e.contains("p.json") && e.contains("\"alpah\""), "{e}");
    let e = RiskModelConfig::from_json(&json("").replace("0.93", "0.99"), "p.json")
        .unwrap_err()
        .to_string();
    assert!(e.contains("alpha + beta") && e.contains("p.json"), "{e}");
    assert!(RiskModelConfig::from_json("[1]", "p.json").is_err());
}

fn cfg(reference: Option<u32>) -> RiskModelConfig {
    RiskModelConfig {
        garch: GarchParams {
            interval_ns: 10,
            ..garch(0.08, 0.9)
        },
        reference_instrument_id: reference,
        corr_window: 5,
        copula: Some(CopulaParams { rho: 0.5, nu: 3.0 }),
        min_bars: 3,
    }
}

#[test]
fn streaming_samples_last_mid_bars_and_aligns_the_reference() {
    // Slot 0 is the instrument (id 1), slot 1 the reference (id 2) at twice its price, so
    // the returns are equal and correlation and beta are 1.
    let mut s = StreamingRisk::new(cfg(Some(2))).unwrap();
    s.add_slot(1).unwrap();
    s.add_slot(2).unwrap();
    let px = |k: u64| 100.0 + ((k * 7 % 5) as f64) * 0.25;
    for k in 0..40u64 {
        let t = k * 10;
        // Two mids per interval: the bar's close is the later one.
        s.on_mid(0, t + 1, px(k) - 0.5);
        s.on_mid(1, t + 2, 2.0 * px(k) - 1.0);
        s.on_mid(0, t + 3, px(k));
        s.on_mid(1, t + 4, 2.0 * px(k));
    }
    // Closes the instrument's bar 39.
    s.on_mid(0, 401, 1.0);
    let mut manual = VolFilter::new(&cfg(None).garch).unwrap();
    for k in 1..40 {
        manual.update((px(k) / px(k - 1)).ln());
    }
    let m = s.model(0).filter().clone();
    assert_eq!(m.len(), 39);
    assert_eq!(m.next_variance(), manual.next_variance());
    let f = s.forecast(0, 30).unwrap();
    assert_eq!(f.steps, 3);
    assert!((f.inputs.corr_to_index - 1.0).abs() < 1e-9, "{f:?}");
    assert!((f.inputs.beta_to_index - 1.0).abs() < 1e-9, "{f:?}");
    assert!((f.inputs.tail_dependence - t_copula_tail(0.5, 3.0).unwrap()).abs() < 1e-15);
    let want = m.horizon_variance(3).sqrt() / 1e4;
    assert_eq!(f.inputs.vol_forecast, want);
    let (v, c) = var_cvar(3.0 * 0.01 / 1e4, want, 0.99, Innovations::Normal).unwrap();
    assert!((f.inputs.var99 - v).abs() < 1e-15 && (f.inputs.cvar99 - c).abs() < 1e-15);
    // A horizon of 14 ns rounds to one bar.
    assert_eq!(s.forecast(0, 14).unwrap().steps, 1);
}

#[test]
fn warm_up_and_no_reference_inputs() {
    let mut s = StreamingRisk::new(cfg(None)).unwrap();
    s.add_slot(1).unwrap();
    s.on_mid(0, 0, 100.0);
    s.on_mid(0, 10, 100.5);
    s.on_mid(0, 20, 100.0);
    // Two bars closed, one return: below min_bars = 3.
    assert!(s.forecast(0, 10).is_none());
    s.on_mid(0, 30, 100.25);
    s.on_mid(0, 40, 100.0);
    s.on_mid(0, 50, 100.0);
    let f = s.forecast(0, 10).unwrap();
    assert_eq!(f.steps, 1);
    assert_eq!(
        (
            f.inputs.corr_to_index,
            f.inputs.beta_to_index,
            f.inputs.tail_dependence
        ),
        (0.0, 0.0, 0.0)
    );
    // A reference that never trades: co-movement unknown (NaN), so the score is 10.
    let mut s = StreamingRisk::new(cfg(Some(99))).unwrap();
    s.add_slot(1).unwrap();
    for k in 0..10 {
        s.on_mid(0, k * 10, 100.0 + k as f64);
    }
    let f = s.forecast(0, 10).unwrap();
    assert!(f.inputs.corr_to_index.is_nan());
    assert_eq!(crate::decision::risk_score(&f.inputs), 10);
}

#[test]
fn regime_follows_the_cuts() {
    let mut p = garch(0.08, 0.9);
    // next vol from the backcast: sqrt(0.05 + 0.98 * 1.2) / 1e4 ~ 1.1e-4
    let f = VolFilter::new(&p).unwrap();
    assert_eq!(f.regime(), VolRegime::Normal);
    p.regime_hi = 1e-4;
    assert_eq!(VolFilter::new(&p).unwrap().regime(), VolRegime::High);
    p.regime_lo = 1.5e-4;
    p.regime_hi = 2e-4;
    assert_eq!(VolFilter::new(&p).unwrap().regime(), VolRegime::Low);
}
