//! `SimMarket`: one MBO file replayed through L3 books with the simulated exchange matching
//! orders sent from Python (the TWS test gateway's L3 venue). A thin wrapper over
//! `tradecore::sim::market::SimMarket`; prices cross the boundary in price units.

use std::path::PathBuf;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use tradecore::book::{LevelView, PRICE_SCALE};
use tradecore::engine::names;
use tradecore::orders::{OrderSide, OrderType};
use tradecore::sim::market::SimMarket as Market;
use tradecore::sim::SimConfig;

use crate::engine_args::latency;
use crate::engine_view::px;
use crate::errors::to_py;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<SimMarket>()
}

fn fixed(what: &str, p: Option<f64>) -> PyResult<Option<i64>> {
    match p {
        None => Ok(None),
        Some(v) if v.is_finite() && v.abs() < 9.0e9 => {
            Ok(Some((v * PRICE_SCALE as f64).round() as i64))
        }
        Some(v) => Err(PyValueError::new_err(format!(
            "{what} must be a finite price, got {v}"
        ))),
    }
}

type Level = Option<(f64, u64)>;

fn level(l: Option<LevelView>) -> Level {
    l.map(|l| (px(l.price), l.size))
}

/// A simulated market over one MBO file: `step(n)` feeds records (GIL released), `bbo(id)`
/// reads the top of book, `submit`/`cancel` send orders named by an integer `order_ref`,
/// `drain_fills()` returns the fills since the last call. Orders arrive `order_latency` after
/// the market time `now`; with zero latency they act on the book as it stands at once.
// unsendable: the DBN reader holds a channel receiver (Send, not Sync); make and drop it on
// one thread.
#[pyclass(module = "pycontrol._core", unsendable)]
pub struct SimMarket {
    m: Market,
}

#[pymethods]
impl SimMarket {
    #[new]
    #[pyo3(signature = (
        path, *, definitions=None, fee_per_contract=0.0, seed=0,
        order_latency=("constant".to_string(), vec![0.0])
    ))]
    fn new(
        py: Python<'_>,
        path: PathBuf,
        definitions: Option<PathBuf>,
        fee_per_contract: f64,
        seed: u64,
        order_latency: (String, Vec<f64>),
    ) -> PyResult<Self> {
        py.detach(|| {
            let cfg = SimConfig {
                order_latency: latency("order_latency", &order_latency.0, order_latency.1)?,
                feed_latency: tradecore::sim::LatencyModel::Constant(0),
                seed,
            };
            Market::open(&path, definitions.as_deref(), fee_per_contract, cfg)
        })
        .map(|m| SimMarket { m })
        .map_err(to_py)
    }

    /// Feeds at least `max_records` records, finishing the event the last one is in (GIL
    /// released); returns how many were fed, 0 at the end of the file.
    fn step(&mut self, py: Python<'_>, max_records: u64) -> PyResult<u64> {
        let m = &mut self.m;
        py.detach(|| m.step(max_records)).map_err(to_py)
    }

    /// ((bid_px, bid_size) | None, (ask_px, ask_size) | None) of an instrument.
    fn bbo(&self, instrument_id: u32) -> (Level, Level) {
        let (b, a) = self.m.bbo(instrument_id);
        (level(b), level(a))
    }

    /// Market time: `ts_recv` of the last record fed (UTC ns, 0 before the first).
    #[getter]
    fn now(&self) -> u64 {
        self.m.now()
    }

    #[getter]
    fn records(&self) -> u64 {
        self.m.records()
    }

    #[getter]
    fn done(&self) -> bool {
        self.m.is_done()
    }

    /// Instrument ids the market trades (those of the file).
    fn instruments(&self) -> Vec<u32> {
        self.m.instruments()
    }

    /// Sends a new order; returns its client order id. `side` BUY/SELL, `order_type`
    /// MKT/LMT/STP, `limit` for LMT, `stop` for STP. `order_ref` must be new.
    #[pyo3(signature = (order_ref, instrument_id, side, qty, order_type, limit=None, stop=None))]
    #[allow(clippy::too_many_arguments)]
    fn submit(
        &mut self,
        order_ref: u64,
        instrument_id: u32,
        side: &str,
        qty: u32,
        order_type: &str,
        limit: Option<f64>,
        stop: Option<f64>,
    ) -> PyResult<u64> {
        let side = match side {
            "BUY" => OrderSide::Buy,
            "SELL" => OrderSide::Sell,
            _ => {
                return Err(PyValueError::new_err(format!(
                    "side must be 'BUY' or 'SELL', got {side:?}"
                )))
            }
        };
        let ty = match order_type {
            "MKT" => OrderType::Market,
            "LMT" => OrderType::Limit,
            "STP" => OrderType::Stop,
            _ => {
                return Err(PyValueError::new_err(format!(
                    "order_type must be 'MKT', 'LMT' or 'STP', got {order_type:?}"
                )))
            }
        };
        let limit = fixed("limit", limit)?;
        let stop = fixed("stop", stop)?;
        self.m
            .place(order_ref, instrument_id, side, qty, ty, limit, stop)
            .map_err(to_py)
    }

    /// Cancels an order; False when it was already filled, cancelled or rejected.
    fn cancel(&mut self, order_ref: u64) -> PyResult<bool> {
        self.m.cancel(order_ref).map_err(to_py)
    }

    /// Fills since the last call: dicts of order_ref, qty, price, ts, fee, liquidity, side.
    /// The file's trade prints since the last call: (instrument_id, ts, price, size,
    /// aggressor "B" / "A" / "N"), in time order.
    fn drain_trades(&mut self) -> Vec<(u32, u64, f64, u32, String)> {
        self.m
            .drain_trades()
            .into_iter()
            .map(|(id, ts, p, n, side)| (id, ts, px(p), n, (side as char).to_string()))
            .collect()
    }

    fn drain_fills<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let out = PyList::empty(py);
        for f in self.m.drain_fills() {
            let d = PyDict::new(py);
            d.set_item("order_ref", f.client_order_id / 4)?;
            d.set_item("qty", f.qty)?;
            d.set_item("price", px(f.price))?;
            d.set_item("ts", f.ts)?;
            d.set_item("fee", f.fee)?;
            d.set_item("liquidity", names::liquidity(f.liquidity))?;
            d.set_item("side", names::side(f.side))?;
            out.append(d)?;
        }
        Ok(out)
    }

    /// The venue's view of an order: status (WORKING, PARTIALLY_FILLED, FILLED, CANCELLED,
    /// REJECTED), qty, filled, reject_reason and queue_ahead ((orders, size) ahead of a
    /// resting limit, else None); None for an unknown order_ref.
    fn order_status<'py>(
        &self,
        py: Python<'py>,
        order_ref: u64,
    ) -> PyResult<Option<Bound<'py, PyDict>>> {
        let Some(o) = self.m.order(order_ref) else {
            return Ok(None);
        };
        let d = PyDict::new(py);
        d.set_item("status", o.status.as_str())?;
        d.set_item("qty", o.qty)?;
        d.set_item("filled", o.filled_qty)?;
        d.set_item("reject_reason", o.reject_reason)?;
        let queue = self
            .m
            .book(o.instrument_id)
            .and_then(|b| self.m.sim().queue_ahead(o.client_order_id, b));
        d.set_item("queue_ahead", queue)?;
        Ok(Some(d))
    }
}
