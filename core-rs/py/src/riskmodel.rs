//! Risk-model bindings (`tradecore::riskmodel`): the (E)GARCH filter and forecast paths,
//! arch's backcast, the innovations' closed-form quantile and expected shortfall, the
//! t-copula tail coefficient and the params-file check. `pycontrol.risk` computes its
//! training features through these, so training and the live engine run one filter.

use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;
use tradecore::riskmodel::{self as rm, GarchParams, Innovations, RiskModelConfig};
use tradecore::CoreError;

use crate::errors::to_py;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(garch_forecast_paths, m)?)?;
    m.add_function(wrap_pyfunction!(garch_backcast, m)?)?;
    m.add_function(wrap_pyfunction!(innovation_quantile_es, m)?)?;
    m.add_function(wrap_pyfunction!(t_copula_tail, m)?)?;
    m.add_function(wrap_pyfunction!(check_risk_model, m)?)?;
    m.add_function(wrap_pyfunction!(rolling_corr_beta, m)?)?;
    m.add("RISK_MODEL_SCHEMA", rm::SCHEMA)?;
    Ok(())
}

/// Variance forecast paths (fit units), flat row-major `(len(returns) + 1) x horizon`.
#[pyfunction]
#[pyo3(signature = (params_json, returns, backcast, horizon=1))]
fn garch_forecast_paths<'py>(
    py: Python<'py>,
    params_json: &str,
    returns: PyReadonlyArray1<'py, f64>,
    backcast: f64,
    horizon: usize,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let r = returns.as_slice()?;
    let v = py
        .detach(|| {
            let p = GarchParams::from_json(params_json, "garch params")?;
            rm::forecast_paths(&p, r, backcast, horizon)
        })
        .map_err(to_py)?;
    Ok(PyArray1::from_vec(py, v))
}

/// arch's backcast of residuals (fit units).
#[pyfunction]
fn garch_backcast(resids: PyReadonlyArray1<'_, f64>) -> PyResult<f64> {
    rm::arch_backcast(resids.as_slice()?).map_err(to_py)
}

/// (q, es) of the unit-variance innovation at VaR confidence `level`; `dist` "normal" or
/// "t" (with `nu`).
#[pyfunction]
#[pyo3(signature = (level, dist, nu=None))]
fn innovation_quantile_es(level: f64, dist: &str, nu: Option<f64>) -> PyResult<(f64, f64)> {
    let d = match (dist, nu) {
        ("normal", _) => Innovations::Normal,
        ("t", Some(nu)) => Innovations::StudentT(nu),
        _ => {
            return Err(to_py(CoreError::invalid(
                "dist",
                format!("expected 'normal' or 't' with nu, got {dist:?} (nu {nu:?})"),
            )))
        }
    };
    d.quantile_es(level).map_err(to_py)
}

#[pyfunction]
fn t_copula_tail(rho: f64, nu: f64) -> PyResult<f64> {
    rm::t_copula_tail(rho, nu).map_err(to_py)
}

/// Validates a params file's text as the engine will (raises naming `origin`).
#[pyfunction]
#[pyo3(signature = (params_json, origin="<params>"))]
fn check_risk_model(params_json: &str, origin: &str) -> PyResult<()> {
    RiskModelConfig::from_json(params_json, origin)
        .map(|_| ())
        .map_err(to_py)
}

/// (corr, beta) per aligned bar of the instrument's closes against the reference's.
#[pyfunction]
#[allow(clippy::type_complexity)]
fn rolling_corr_beta<'py>(
    py: Python<'py>,
    close: PyReadonlyArray1<'py, f64>,
    ref_close: PyReadonlyArray1<'py, f64>,
    window: usize,
) -> PyResult<(Bound<'py, PyArray1<f64>>, Bound<'py, PyArray1<f64>>)> {
    let (x, y) = (close.as_slice()?, ref_close.as_slice()?);
    let (c, b) = py
        .detach(|| rm::rolling_corr_beta(x, y, window))
        .map_err(to_py)?;
    Ok((PyArray1::from_vec(py, c), PyArray1::from_vec(py, b)))
}
