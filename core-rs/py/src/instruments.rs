//! The core's specs table and roll rule (`tradecore::instruments`) for Python: a product's
//! contract terms, and the front month of a root on a date.

use pyo3::prelude::*;
use pyo3::types::PyDict;
use tradecore::instruments::{self, Contract, Date};

use crate::errors::to_py;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(instrument_spec, m)?)?;
    m.add_function(wrap_pyfunction!(front_month, m)?)?;
    Ok(())
}

/// Contract terms of a product root (`"ES"`): tick size and multiplier (price units,
/// account currency per point), currency, exchange, trading hours (Chicago), listed months,
/// expiry rule. `ConfigError` naming the known roots for an unknown one.
#[pyfunction]
fn instrument_spec<'py>(py: Python<'py>, root: &str) -> PyResult<Bound<'py, PyDict>> {
    let p = instruments::product(root).map_err(to_py)?;
    let d = PyDict::new(py);
    d.set_item("root", p.root)?;
    d.set_item("description", p.description)?;
    d.set_item("exchange", p.exchange)?;
    d.set_item("tick_size", p.tick_size)?;
    d.set_item("multiplier", p.multiplier)?;
    d.set_item("currency", p.currency)?;
    d.set_item("timezone", "America/Chicago")?;
    d.set_item("open", p.open)?;
    d.set_item("close", p.close)?;
    let months: Vec<u32> = p.months.iter().map(|m| *m as u32).collect();
    d.set_item("months", months)?;
    d.set_item("expiry_rule", format!("{:?}", p.expiry))?;
    d.set_item("first_notice_prior_month", p.first_notice_prior_month)?;
    Ok(d)
}

fn contract<'py>(py: Python<'py>, c: &Contract) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("symbol", &c.symbol)?;
    d.set_item("year", c.year)?;
    d.set_item("month", c.month)?;
    d.set_item("expiry", c.expiry.to_string())?;
    d.set_item("first_notice", c.first_notice.map(|f| f.to_string()))?;
    d.set_item("roll_date", c.roll_date.to_string())?;
    Ok(d)
}

/// The front month of `root` on `date` (UTC ns since the epoch, or an ISO date
/// `"YYYY-MM-DD"`) rolling `roll_days` business days before first notice / expiry:
/// `{"symbol": "ESZ6", "expiry": "2026-12-18", "roll_date": ..., "first_notice": ...,
/// "next": {the same for the contract after}}`.
#[pyfunction]
#[pyo3(signature = (root, date, roll_days = 5))]
fn front_month<'py>(
    py: Python<'py>,
    root: &str,
    date: &Bound<'py, PyAny>,
    roll_days: u32,
) -> PyResult<Bound<'py, PyDict>> {
    let day = if let Ok(ns) = date.extract::<i64>() {
        Date::from_unix_ns(ns)
    } else if let Ok(s) = date.extract::<String>() {
        Date::parse(&s).map_err(to_py)?
    } else {
        return Err(pyo3::exceptions::PyTypeError::new_err(
            "date must be UTC ns (int) or an ISO date string",
        ));
    };
    let (front, next) = instruments::front_month(root, day, roll_days).map_err(to_py)?;
    let d = contract(py, &front)?;
    d.set_item("next", contract(py, &next)?)?;
    Ok(d)
}
