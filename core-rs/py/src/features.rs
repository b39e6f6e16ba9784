//! Feature bindings: the `FeatureSet` contract, batch bar and microstructure features
//! (GIL released, stepping the same streaming engine the live core runs) and a streaming
//! `FeatureEngine` for parity checks and notebooks.

use std::sync::Mutex;

use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use tradecore::bars::Timeframe;
use tradecore::features::{self as feat, BarFeatureEngine, FeatureBar};

use crate::errors::to_py;

/// Recycled feature columns. A DataFrame of bar features is mostly fresh memory, and on
/// Linux fresh pages cost more to fault in than the features cost to compute, so the
/// buffers of dropped feature frames come back here for the next computation (as a
/// retaining allocator would do), up to `POOL_BYTES`.
static POOL: Mutex<Vec<Vec<f64>>> = Mutex::new(Vec::new());
const POOL_BYTES: usize = 4 << 30;

/// A column of `n` values (contents arbitrary: the engine writes all of them).
fn pooled_column(n: usize) -> Vec<f64> {
    let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
    let best = pool
        .iter()
        .enumerate()
        .filter(|(_, v)| v.len() >= n)
        .min_by_key(|(_, v)| v.len())
        .map(|(i, _)| i);
    match best {
        Some(i) => {
            let mut v = pool.swap_remove(i);
            v.truncate(n);
            v
        }
        None => vec![0.0; n],
    }
}

/// Owns a feature column that a numpy array views; gives it back to the pool when the
/// array (and so the DataFrame holding it) is gone.
#[pyclass(frozen, module = "pycontrol._core")]
struct PooledColumn {
    v: Vec<f64>,
}

impl Drop for PooledColumn {
    fn drop(&mut self) {
        let v = std::mem::take(&mut self.v);
        if v.capacity() == 0 {
            return;
        }
        let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
        let held: usize = pool.iter().map(|c| c.capacity() * 8).sum();
        if held + v.capacity() * 8 <= POOL_BYTES {
            pool.push(v);
        }
    }
}

fn pooled_array(py: Python<'_>, v: Vec<f64>) -> PyResult<Bound<'_, PyArray1<f64>>> {
    let owner = Bound::new(py, PooledColumn { v })?;
    let view = numpy::ndarray::ArrayView1::from(owner.get().v.as_slice());
    // SAFETY: `owner` becomes the array's base object, so it outlives the array, and its
    // vector is never touched (so never reallocated) until the owner is dropped.
    Ok(unsafe { PyArray1::borrow_from_array(&view, owner.clone().into_any()) })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<FeatureSet>()?;
    m.add_class::<FeatureEngine>()?;
    m.add_function(wrap_pyfunction!(compute_bar_features, m)?)?;
    m.add_function(wrap_pyfunction!(compute_micro_features, m)?)?;
    Ok(())
}

/// Ordered feature specs with a version hash: the training/serving contract.
#[pyclass(frozen, module = "pycontrol._core")]
pub struct FeatureSet {
    inner: feat::FeatureSet,
}

#[pymethods]
impl FeatureSet {
    #[new]
    fn new(names: Vec<String>) -> PyResult<Self> {
        let inner = feat::FeatureSet::from_names(&names).map_err(to_py)?;
        Ok(FeatureSet { inner })
    }

    /// The default bar set (>= 200 features over 1m, 5m, 30m, 1h).
    #[staticmethod]
    fn default() -> Self {
        FeatureSet {
            inner: feat::FeatureSet::default_bars(),
        }
    }

    /// The default per-event microstructure set.
    #[staticmethod]
    fn default_micro() -> Self {
        FeatureSet {
            inner: feat::FeatureSet::default_micro(),
        }
    }

    #[staticmethod]
    fn from_json(text: &str) -> PyResult<Self> {
        let inner = feat::FeatureSet::from_json(text).map_err(to_py)?;
        Ok(FeatureSet { inner })
    }

    fn to_json(&self) -> String {
        self.inner.to_json()
    }

    fn markdown(&self) -> String {
        self.inner.markdown()
    }

    fn names(&self) -> Vec<String> {
        self.inner.names()
    }

    #[getter]
    fn hash(&self) -> String {
        self.inner.hash()
    }

    #[getter]
    fn is_micro(&self) -> bool {
        self.inner.is_micro()
    }

    #[getter]
    fn needs_reference(&self) -> bool {
        self.inner.needs_reference()
    }

    /// Raises FeatureSetMismatchError unless `model_hash` is this set's hash.
    fn check_model_hash(&self, model_hash: &str) -> PyResult<()> {
        self.inner.check_model_hash(model_hash).map_err(to_py)
    }

    /// One dict per feature: name, group, timeframe, kind, params, window, warmup, formula.
    fn specs<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        self.inner
            .specs()
            .iter()
            .map(|s| {
                let d = PyDict::new(py);
                d.set_item("name", &s.name)?;
                d.set_item("group", s.group.label())?;
                d.set_item("timeframe", s.timeframe.map(|t| t.label()))?;
                d.set_item("kind", &s.kind)?;
                d.set_item("params", s.params.clone())?;
                d.set_item("window", s.window)?;
                d.set_item("warmup", s.warmup)?;
                d.set_item("formula", &s.formula)?;
                Ok(d)
            })
            .collect()
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    fn __eq__(&self, other: &Self) -> bool {
        self.inner == other.inner
    }

    fn __repr__(&self) -> String {
        format!(
            "FeatureSet({} features, hash {})",
            self.inner.len(),
            self.inner.hash()
        )
    }
}

fn bars_of(
    ts: &PyReadonlyArray1<'_, u64>,
    o: &PyReadonlyArray1<'_, f64>,
    h: &PyReadonlyArray1<'_, f64>,
    l: &PyReadonlyArray1<'_, f64>,
    c: &PyReadonlyArray1<'_, f64>,
    v: &PyReadonlyArray1<'_, f64>,
) -> PyResult<Vec<FeatureBar>> {
    let (ts, o, h, l, c, v) = (
        ts.as_slice()?,
        o.as_slice()?,
        h.as_slice()?,
        l.as_slice()?,
        c.as_slice()?,
        v.as_slice()?,
    );
    let n = ts.len();
    if [o.len(), h.len(), l.len(), c.len(), v.len()]
        .iter()
        .any(|&x| x != n)
    {
        return Err(to_py(tradecore::CoreError::Config(
            "bar columns differ in length".into(),
        )));
    }
    Ok((0..n)
        .map(|i| FeatureBar {
            ts: ts[i],
            open: o[i],
            high: h[i],
            low: l[i],
            close: c[i],
            volume: v[i],
        })
        .collect())
}

/// Bar features of one instrument's bars: per feature in set order, (values float64,
/// Arrow validity bitmap uint8, NaN count); NaN = null.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
#[pyo3(signature = (feature_set, timeframe, ts, open, high, low, close, volume, ref_mask=None, ref_open=None, ref_high=None, ref_low=None, ref_close=None, ref_volume=None, source="<dataframe>"))]
fn compute_bar_features<'py>(
    py: Python<'py>,
    feature_set: &FeatureSet,
    timeframe: &str,
    ts: PyReadonlyArray1<'py, u64>,
    open: PyReadonlyArray1<'py, f64>,
    high: PyReadonlyArray1<'py, f64>,
    low: PyReadonlyArray1<'py, f64>,
    close: PyReadonlyArray1<'py, f64>,
    volume: PyReadonlyArray1<'py, f64>,
    ref_mask: Option<PyReadonlyArray1<'py, bool>>,
    ref_open: Option<PyReadonlyArray1<'py, f64>>,
    ref_high: Option<PyReadonlyArray1<'py, f64>>,
    ref_low: Option<PyReadonlyArray1<'py, f64>>,
    ref_close: Option<PyReadonlyArray1<'py, f64>>,
    ref_volume: Option<PyReadonlyArray1<'py, f64>>,
    source: &str,
) -> PyResult<Vec<Column<'py>>> {
    let tf = Timeframe::parse(timeframe).map_err(to_py)?;
    let bars = bars_of(&ts, &open, &high, &low, &close, &volume)?;
    let reference =
        match (ref_mask, ref_open, ref_high, ref_low, ref_close, ref_volume) {
            (Some(mask), Some(o), Some(h), Some(l), Some(c), Some(v)) => {
                let rb = bars_of(&ts, &o, &h, &l, &c, &v)?;
                let mask = mask.as_slice()?;
                if mask.len() != rb.len() {
                    return Err(to_py(tradecore::CoreError::Config(
                        "reference mask length differs from the bars".into(),
                    )));
                }
                Some(
                    rb.into_iter()
                        .zip(mask)
                        .map(|(b, &m)| m.then_some(b))
                        .collect::<Vec<_>>(),
                )
            }
            (None, None, None, None, None, None) => None,
            _ => return Err(to_py(tradecore::CoreError::Config(
                "pass all of ref_mask, ref_open, ref_high, ref_low, ref_close, ref_volume or none"
                    .into(),
            ))),
        };
    let set = &feature_set.inner;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let m = py
        .detach(|| {
            feat::compute_bar_features_with(
                set,
                tf,
                &bars,
                reference.as_deref(),
                source,
                threads,
                &mut pooled_column,
            )
        })
        .map_err(to_py)?;
    columns_of(py, m)
}

/// One feature column for Python: values, validity bitmap, null count.
type Column<'py> = (Bound<'py, PyArray1<f64>>, Bound<'py, PyArray1<u8>>, usize);

fn columns_of(py: Python<'_>, m: feat::FeatureMatrix) -> PyResult<Vec<Column<'_>>> {
    m.columns
        .into_iter()
        .zip(m.valid)
        .zip(m.nulls)
        .map(|((c, v), z)| Ok((pooled_array(py, c)?, PyArray1::from_vec(py, v), z)))
        .collect()
}

/// (ts_recv, instrument_id, values) of a micro feature run.
type MicroColumns<'py> = (
    Bound<'py, PyArray1<u64>>,
    Bound<'py, PyArray1<u32>>,
    Vec<Column<'py>>,
);

/// Per-event microstructure features of an MBO file: (ts_recv, instrument_id, columns)
/// with columns as `compute_bar_features` returns them.
#[pyfunction]
fn compute_micro_features<'py>(
    py: Python<'py>,
    feature_set: &FeatureSet,
    path: std::path::PathBuf,
) -> PyResult<MicroColumns<'py>> {
    let set = &feature_set.inner;
    let f = py
        .detach(|| feat::compute_micro_features(set, &path))
        .map_err(to_py)?;
    Ok((
        PyArray1::from_vec(py, f.ts_recv),
        PyArray1::from_vec(py, f.instrument_id),
        columns_of(py, f.matrix)?,
    ))
}

/// Streaming bar features, one bar at a time (the engine's live path).
#[pyclass(unsendable, module = "pycontrol._core")]
pub struct FeatureEngine {
    inner: BarFeatureEngine,
    row: Vec<f64>,
}

#[pymethods]
impl FeatureEngine {
    #[new]
    #[pyo3(signature = (feature_set, timeframe = "1m"))]
    fn new(feature_set: &FeatureSet, timeframe: &str) -> PyResult<Self> {
        let tf = Timeframe::parse(timeframe).map_err(to_py)?;
        let inner = BarFeatureEngine::new(&feature_set.inner, tf)
            .map_err(to_py)?
            .with_source("<stream>");
        let row = vec![f64::NAN; inner.width()];
        Ok(FeatureEngine { inner, row })
    }

    /// Adds one bar (and the reference's bar of the same interval, as (open, high, low,
    /// close, volume)); returns the row in feature-set order (NaN = null).
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (ts, open, high, low, close, volume, reference=None))]
    fn push(
        &mut self,
        ts: u64,
        open: f64,
        high: f64,
        low: f64,
        close: f64,
        volume: f64,
        reference: Option<(f64, f64, f64, f64, f64)>,
    ) -> PyResult<Vec<f64>> {
        let bar = FeatureBar {
            ts,
            open,
            high,
            low,
            close,
            volume,
        };
        let r = reference.map(|(o, h, l, c, v)| FeatureBar {
            ts,
            open: o,
            high: h,
            low: l,
            close: c,
            volume: v,
        });
        self.inner
            .push(&bar, r.as_ref(), &mut self.row)
            .map_err(to_py)?;
        Ok(self.row.clone())
    }
}
