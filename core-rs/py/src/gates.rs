//! `json_logic(rule, data, name=None) -> str`: evaluates a JSON-Logic rule over JSON data with
//! `tradecore::gates` (the evaluator the engine uses) and returns the result as JSON text.

use pyo3::prelude::*;
use tradecore::gates;

use crate::errors::to_py;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(json_logic, m)?)
}

/// Evaluates JSON-Logic `rule` over `data` (both JSON text); errors are `JsonLogicError`
/// naming `name` (or the rule text).
#[pyfunction]
#[pyo3(signature = (rule, data, name=None))]
fn json_logic(py: Python<'_>, rule: &str, data: &str, name: Option<&str>) -> PyResult<String> {
    let out = py.detach(|| match name {
        Some(n) => gates::evaluate_named(n, rule, data),
        None => gates::evaluate(rule, data),
    });
    out.map(|v| v.to_string()).map_err(to_py)
}
