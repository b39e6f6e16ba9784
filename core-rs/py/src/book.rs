//! Step-by-step book bindings for notebooks: `OrderBook` (an L3 book you feed by hand)
//! and `BookReplay` (a file cursor that stops at every event boundary).

use pyo3::prelude::*;
use pyo3::types::PyDict;
use tradecore::book::{BookView, Integrity, L3Book, LevelView, Side, PRICE_SCALE};
use tradecore::replay::Replay;

use crate::errors::to_py;
use crate::replay::{anomalies_dict, stats_dict};

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<OrderBook>()?;
    m.add_class::<BookReplay>()?;
    Ok(())
}

fn parse_side(side: &str) -> PyResult<Side> {
    match side {
        "bid" | "B" | "b" => Ok(Side::Bid),
        "ask" | "A" | "a" => Ok(Side::Ask),
        _ => Err(to_py(tradecore::CoreError::invalid(
            "side",
            format!("must be 'bid' or 'ask', got {side:?}"),
        ))),
    }
}

fn px(p: i64) -> f64 {
    p as f64 / PRICE_SCALE as f64
}

type LevelTuple = (f64, u64, u32);

fn level_tuple(l: LevelView) -> LevelTuple {
    (px(l.price), l.size, l.count)
}

fn integrity_dict<'py>(py: Python<'py>, i: Integrity) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("untrusted", i.untrusted)?;
    d.set_item("crossed", i.crossed)?;
    Ok(d)
}

/// Query helpers shared by both classes.
pub(crate) fn levels_of(book: &impl BookView, side: &str, n: i128) -> PyResult<Vec<LevelTuple>> {
    let n: usize = crate::errors::int_arg("n", n)?;
    Ok(book
        .top(parse_side(side)?, n)
        .into_iter()
        .map(level_tuple)
        .collect())
}

fn bbo_of(book: &impl BookView) -> (Option<LevelTuple>, Option<LevelTuple>) {
    let (b, a) = book.bbo();
    (b.map(level_tuple), a.map(level_tuple))
}

/// An L3 order book fed one MBO message at a time. Prices are in price units (floats),
/// stored as DBN fixed-point integers.
#[pyclass(module = "pycontrol._core")]
pub struct OrderBook {
    book: L3Book,
}

#[pymethods]
impl OrderBook {
    #[new]
    fn new() -> Self {
        OrderBook {
            book: L3Book::new(),
        }
    }

    /// Applies one MBO message. `action` is one of A, C, M, R, T, F, N; `side` B, A or N.
    #[pyo3(signature = (action, side, price, size, order_id, flags = 128))]
    fn apply(
        &mut self,
        action: &str,
        side: &str,
        price: f64,
        size: i128,
        order_id: i128,
        flags: i128,
    ) -> PyResult<()> {
        use crate::errors::int_arg;
        let invalid =
            |what: &str, detail: String| to_py(tradecore::CoreError::invalid(what, detail));
        let byte = |s: &str, what: &str| -> PyResult<u8> {
            match s.as_bytes() {
                [b] => Ok(*b),
                _ => Err(invalid(what, format!("must be one character, got {s:?}"))),
            }
        };
        if !price.is_finite() {
            return Err(invalid("price", format!("must be finite, got {price}")));
        }
        let (size, order_id, flags): (u32, u64, u8) = (
            int_arg("size", size)?,
            int_arg("order_id", order_id)?,
            int_arg("flags", flags)?,
        );
        let mut m = dbn::MboMsg {
            order_id,
            price: (price * PRICE_SCALE as f64).round() as i64,
            size,
            flags: dbn::FlagSet::new(flags),
            action: byte(action, "action")? as _,
            side: byte(side, "side")? as _,
            ..Default::default()
        };
        m.hd.rtype = dbn::rtype::MBO;
        self.book.apply(&m);
        if m.flags.is_last() {
            self.book.end_event();
        }
        Ok(())
    }

    fn bbo(&self) -> (Option<LevelTuple>, Option<LevelTuple>) {
        bbo_of(&self.book)
    }

    #[pyo3(signature = (side, n = 10))]
    fn levels(&self, side: &str, n: i128) -> PyResult<Vec<LevelTuple>> {
        levels_of(&self.book, side, n)
    }

    fn microprice(&self) -> Option<f64> {
        self.book.microprice().map(|p| p / PRICE_SCALE as f64)
    }

    /// (orders_ahead, size_ahead, own_size) of a resting order, None if unknown.
    fn queue_position(&self, order_id: i128) -> PyResult<Option<(u32, u64, u32)>> {
        let order_id: u64 = crate::errors::int_arg("order_id", order_id)?;
        Ok(self
            .book
            .queue_position(order_id)
            .map(|q| (q.orders_ahead, q.size_ahead, q.size)))
    }

    fn integrity<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        integrity_dict(py, self.book.integrity())
    }

    fn anomalies<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        anomalies_dict(py, &self.book.anomalies())
    }

    fn check(&self) -> PyResult<()> {
        self.book
            .check_invariants()
            .map_err(|e| to_py(tradecore::CoreError::BookIntegrity(e)))
    }

    fn __len__(&self) -> usize {
        self.book.order_count()
    }
}

/// A DBN file replayed one event boundary at a time.
#[pyclass(module = "pycontrol._core", unsendable)]
pub struct BookReplay {
    replay: Replay,
}

impl BookReplay {
    fn book(&self, instrument_id: Option<i128>) -> PyResult<&tradecore::replay::AnyBook> {
        let instrument_id: Option<u32> = instrument_id
            .map(|v| crate::errors::int_arg("instrument_id", v))
            .transpose()?;
        let found = match instrument_id {
            Some(id) => self.replay.books().book(id),
            None => self.replay.last_book(),
        };
        found.ok_or_else(|| {
            to_py(tradecore::CoreError::invalid(
                "instrument_id",
                format!("no book for instrument {instrument_id:?} (yet)"),
            ))
        })
    }
}

#[pymethods]
impl BookReplay {
    #[new]
    fn open(path: std::path::PathBuf) -> PyResult<Self> {
        Ok(BookReplay {
            replay: Replay::open(&path).map_err(to_py)?,
        })
    }

    /// Advances `n` boundaries; returns the last as (ts_event, ts_recv, instrument_id,
    /// crossed), or None at the end of the file.
    #[pyo3(signature = (n = 1))]
    fn step(&mut self, n: usize) -> PyResult<Option<(u64, u64, u32, bool)>> {
        let mut last = None;
        for _ in 0..n {
            match self.replay.next_boundary().map_err(to_py)? {
                Some(b) => last = Some((b.ts_event, b.ts_recv, b.instrument_id, b.crossed)),
                None => return Ok(None),
            }
        }
        Ok(last)
    }

    /// Applies `n` records (stopping early at the end of the file); returns how many
    /// were applied. For looking inside an event, e.g. right after a snapshot.
    #[pyo3(signature = (n = 1))]
    fn step_records(&mut self, n: usize) -> PyResult<usize> {
        for i in 0..n {
            if self.replay.next_record().map_err(to_py)?.is_none() {
                return Ok(i);
            }
        }
        Ok(n)
    }

    #[pyo3(signature = (instrument_id = None))]
    fn bbo(
        &self,
        instrument_id: Option<i128>,
    ) -> PyResult<(Option<LevelTuple>, Option<LevelTuple>)> {
        Ok(bbo_of(self.book(instrument_id)?))
    }

    #[pyo3(signature = (side, n = 10, instrument_id = None))]
    fn levels(
        &self,
        side: &str,
        n: i128,
        instrument_id: Option<i128>,
    ) -> PyResult<Vec<LevelTuple>> {
        levels_of(self.book(instrument_id)?, side, n)
    }

    #[pyo3(signature = (instrument_id = None))]
    fn microprice(&self, instrument_id: Option<i128>) -> PyResult<Option<f64>> {
        Ok(self
            .book(instrument_id)?
            .microprice()
            .map(|p| p / PRICE_SCALE as f64))
    }

    #[pyo3(signature = (order_id, instrument_id = None))]
    fn queue_position(
        &self,
        order_id: i128,
        instrument_id: Option<i128>,
    ) -> PyResult<Option<(u32, u64, u32)>> {
        let order_id: u64 = crate::errors::int_arg("order_id", order_id)?;
        Ok(match self.book(instrument_id)? {
            tradecore::replay::AnyBook::L3(b) => b
                .queue_position(order_id)
                .map(|q| (q.orders_ahead, q.size_ahead, q.size)),
            tradecore::replay::AnyBook::L2(_) => None,
        })
    }

    #[pyo3(signature = (instrument_id = None))]
    fn integrity<'py>(
        &self,
        py: Python<'py>,
        instrument_id: Option<i128>,
    ) -> PyResult<Bound<'py, PyDict>> {
        integrity_dict(py, self.book(instrument_id)?.integrity())
    }

    fn instruments(&self) -> Vec<u32> {
        self.replay.books().iter().map(|(id, _)| id).collect()
    }

    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        stats_dict(py, &self.replay.stats())
    }
}
