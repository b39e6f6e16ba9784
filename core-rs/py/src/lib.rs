//! `pycontrol._core`: thin PyO3 bindings over `tradecore`. Each binding converts its
//! arguments, calls one core function with the GIL released, and maps errors through
//! [`errors::to_py`]. No logic lives here.

use pyo3::prelude::*;

mod backtest;
mod bars;
mod book;
mod engine_args;
mod engine_session;
mod engine_view;
mod errors;
mod features;
mod gates;
mod infer;
mod inspect;
mod instruments;
mod live_engine;
mod live_feed;
mod lobster;
mod replay;
mod risk;
mod riskmodel;
mod sim_market;
mod synth;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    errors::register(m)?;
    replay::register(m)?;
    synth::register(m)?;
    book::register(m)?;
    bars::register(m)?;
    lobster::register(m)?;
    inspect::register(m)?;
    features::register(m)?;
    backtest::register(m)?;
    engine_session::register(m)?;
    live_engine::register(m)?;
    risk::register(m)?;
    riskmodel::register(m)?;
    infer::register(m)?;
    gates::register(m)?;
    instruments::register(m)?;
    sim_market::register(m)?;
    m.add("PRICE_SCALE", tradecore::book::PRICE_SCALE)?;
    Ok(())
}
