//! Inference bindings: `Model`, `Ensemble`, `ModelSlot` and the ONNX Runtime loader. Arrays
//! come in as float32 numpy arrays; the core checks shapes and runs with the GIL released.

use std::path::PathBuf;
use std::sync::Mutex;

use numpy::{PyArray1, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use tradecore::features::FeatureSet;
use tradecore::infer::{self, GateConfig, GateReason, LoadOptions};

use crate::errors::{to_py, unknown_keys};

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(init_onnxruntime, m)?)?;
    m.add_function(wrap_pyfunction!(onnxruntime_path, m)?)?;
    m.add_class::<Model>()?;
    m.add_class::<Ensemble>()?;
    m.add_class::<ModelSlot>()?;
    m.add(
        "GATE_REASONS",
        GateReason::ALL
            .iter()
            .map(|r| r.label())
            .collect::<Vec<_>>(),
    )?;
    Ok(())
}

/// Loads ONNX Runtime from `path` (the onnxruntime wheel's capi/libonnxruntime.so.*), or
/// from $ORT_DYLIB_PATH when None; returns the library in use.
#[pyfunction]
#[pyo3(signature = (path=None))]
fn init_onnxruntime(py: Python<'_>, path: Option<PathBuf>) -> PyResult<String> {
    py.detach(|| infer::init_onnxruntime(path.as_deref()))
        .map(|p| p.display().to_string())
        .map_err(to_py)
}

#[pyfunction]
fn onnxruntime_path() -> Option<String> {
    infer::onnxruntime_path().map(|p| p.display().to_string())
}

const LOAD_KEYS: [&str; 5] = [
    "feature_names",
    "intra_threads",
    "prefer_native",
    "bounds_tolerance",
    "gate_non_finite",
];

/// Keyword `key` of `kw`, or `default` when absent.
fn arg<'py, T: pyo3::conversion::FromPyObjectOwned<'py>>(
    kw: &Bound<'py, PyDict>,
    key: &str,
    default: T,
) -> PyResult<T> {
    match kw.get_item(key)? {
        Some(v) => v.extract().map_err(Into::into),
        None => Ok(default),
    }
}

/// `LoadOptions` from the keyword arguments; a keyword the binding does not take (a typo,
/// or `feature_names` where the members bring their own) is a `TypeError` naming it.
fn options(
    py: Python<'_>,
    kwargs: Option<&Bound<'_, PyDict>>,
    what: &str,
) -> PyResult<LoadOptions> {
    let empty = PyDict::new(py);
    let kw = kwargs.unwrap_or(&empty);
    let known = if what == "Ensemble.load" {
        &LOAD_KEYS[1..] // the members bring their own feature names
    } else {
        &LOAD_KEYS[..]
    };
    if let Some(k) = unknown_keys(kw, known)?.first() {
        return Err(pyo3::exceptions::PyTypeError::new_err(format!(
            "{what}() got an unexpected keyword argument {k:?}"
        )));
    }
    let feature_set = arg::<Option<Vec<String>>>(kw, "feature_names", None)?
        .map(|n| FeatureSet::from_names(&n))
        .transpose()
        .map_err(to_py)?;
    // The defaults of the signatures in `pycontrol/_core.pyi` and `inference/model.py`.
    Ok(LoadOptions {
        intra_threads: arg(kw, "intra_threads", 1)?,
        prefer_native: arg(kw, "prefer_native", true)?,
        feature_set,
        gate: GateConfig {
            bounds_tolerance: arg(kw, "bounds_tolerance", 0.05)?,
            gate_non_finite: arg(kw, "gate_non_finite", true)?,
        },
    })
}

fn shape_of(x: &PyReadonlyArrayDyn<'_, f32>) -> Vec<usize> {
    x.shape().to_vec()
}

fn probs_array<'py>(
    py: Python<'py>,
    v: Vec<f64>,
    n: usize,
    k: usize,
) -> PyResult<Bound<'py, PyAny>> {
    Ok(PyArray1::from_vec(py, v).reshape([n, k])?.into_any())
}

/// `step`'s result: serving version, probabilities (None when gated), gate reason.
type StepOut<'py> = (String, Option<Bound<'py, PyAny>>, Option<&'static str>);
/// `replay`'s result: versions, per-event version index, gate codes, probabilities.
type ReplayOut<'py> = (
    Vec<String>,
    Bound<'py, PyAny>,
    Bound<'py, PyAny>,
    Bound<'py, PyAny>,
);

fn reason_label(r: Option<GateReason>) -> Option<&'static str> {
    r.map(GateReason::label)
}

fn counts<'py>(py: Python<'py>, c: &infer::GateCounters) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (k, v) in c.snapshot() {
        d.set_item(k, v)?;
    }
    Ok(d)
}

/// One loaded model (ONNX Runtime or native trees).
#[pyclass(frozen, module = "pycontrol._core")]
pub struct Model {
    inner: Mutex<infer::Model>,
    backend: &'static str,
    model_id: String,
    manifest: String,
    row_shape: Vec<usize>,
    n_classes: usize,
    counters: std::sync::Arc<infer::GateCounters>,
}

impl Model {
    fn wrap(m: infer::Model) -> Model {
        Model {
            backend: m.backend_name(),
            model_id: m.model_id().to_string(),
            manifest: m.manifest.text.clone(),
            row_shape: m.row_shape(),
            n_classes: m.n_classes(),
            counters: m.counters().clone(),
            inner: Mutex::new(m),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, infer::Model> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[pymethods]
impl Model {
    /// Keyword arguments: `feature_names`, `intra_threads`, `prefer_native`,
    /// `bounds_tolerance`, `gate_non_finite` (see `LoadArgs`).
    #[staticmethod]
    #[pyo3(signature = (path, **kwargs))]
    fn load(py: Python<'_>, path: PathBuf, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<Model> {
        let opts = options(py, kwargs, "Model.load")?;
        let m = py
            .detach(|| infer::Model::load(&path, &opts))
            .map_err(to_py)?;
        Ok(Model::wrap(m))
    }

    #[getter]
    fn backend(&self) -> &'static str {
        self.backend
    }

    #[getter]
    fn model_id(&self) -> &str {
        &self.model_id
    }

    /// The manifest's JSON text.
    #[getter]
    fn manifest_json(&self) -> &str {
        &self.manifest
    }

    #[getter]
    fn row_shape(&self) -> Vec<usize> {
        self.row_shape.clone()
    }

    #[getter]
    fn n_classes(&self) -> usize {
        self.n_classes
    }

    /// Ungated probabilities, shape (n, n_classes), float64.
    fn predict_proba<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArrayDyn<'py, f32>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let shape = shape_of(&x);
        let xs = x.as_slice()?;
        let k = self.n_classes;
        let (out, n) = py
            .detach(|| {
                let mut m = self.lock();
                let n = m.rows_of(&shape)?;
                let mut out = vec![0.0; n * k];
                m.predict_proba(xs, n, &mut out)?;
                Ok((out, n))
            })
            .map_err(to_py)?;
        probs_array(py, out, n, k)
    }

    /// Gated batch at clock `now_ns`: (probabilities with NaN rows where gated, reasons).
    fn infer<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArrayDyn<'py, f32>,
        now_ns: i64,
    ) -> PyResult<(Bound<'py, PyAny>, Vec<Option<&'static str>>)> {
        let shape = shape_of(&x);
        let xs = x.as_slice()?;
        let k = self.n_classes;
        let (out, reasons, n) = py
            .detach(|| {
                let mut m = self.lock();
                let n = m.rows_of(&shape)?;
                let mut out = vec![0.0; n * k];
                let mut reasons = vec![None; n];
                m.infer(xs, n, now_ns, &mut out, &mut reasons)?;
                Ok((out, reasons, n))
            })
            .map_err(to_py)?;
        let labels = reasons.into_iter().map(reason_label).collect();
        Ok((probs_array(py, out, n, k)?, labels))
    }

    /// Passed and gated counts: {"passed", "stale", "non_finite", "out_of_bounds"}.
    fn gate_counts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        counts(py, &self.counters)
    }

    fn __repr__(&self) -> String {
        format!("Model({}, backend={})", self.model_id, self.backend)
    }
}

/// Members plus a stacking meta-learner.
#[pyclass(frozen, module = "pycontrol._core")]
pub struct Ensemble {
    inner: Mutex<infer::Ensemble>,
    n_classes: usize,
    member_ids: Vec<String>,
    meta_id: String,
    counters: std::sync::Arc<infer::GateCounters>,
}

#[pymethods]
impl Ensemble {
    /// Keyword arguments as `Model.load`'s but `feature_names` (the members bring theirs).
    #[staticmethod]
    #[pyo3(signature = (members, meta, **kwargs))]
    fn load(
        py: Python<'_>,
        members: Vec<PathBuf>,
        meta: PathBuf,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Ensemble> {
        let opts = options(py, kwargs, "Ensemble.load")?;
        let e = py
            .detach(|| {
                let dirs: Vec<&std::path::Path> = members.iter().map(PathBuf::as_path).collect();
                infer::Ensemble::load(&dirs, &meta, &opts)
            })
            .map_err(to_py)?;
        Ok(Ensemble {
            n_classes: e.n_classes(),
            member_ids: e
                .members()
                .iter()
                .map(|m| m.model_id().to_string())
                .collect(),
            meta_id: e.meta().model_id().to_string(),
            counters: e.counters().clone(),
            inner: Mutex::new(e),
        })
    }

    #[getter]
    fn member_ids(&self) -> Vec<String> {
        self.member_ids.clone()
    }

    #[getter]
    fn meta_id(&self) -> &str {
        &self.meta_id
    }

    #[getter]
    fn n_classes(&self) -> usize {
        self.n_classes
    }

    /// Ungated: one input array per member (same number of rows), (n, n_classes) out.
    fn predict_proba<'py>(
        &self,
        py: Python<'py>,
        inputs: Vec<PyReadonlyArrayDyn<'py, f32>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let shapes: Vec<Vec<usize>> = inputs.iter().map(shape_of).collect();
        let slices = inputs
            .iter()
            .map(|x| x.as_slice())
            .collect::<Result<Vec<_>, _>>()?;
        let k = self.n_classes;
        let (out, n) = py
            .detach(|| {
                let mut e = self.inner.lock().unwrap_or_else(|p| p.into_inner());
                let mut n = None;
                for (m, s) in e.members().iter().zip(&shapes) {
                    let rows = m.rows_of(s)?;
                    if n.is_some_and(|n| n != rows) {
                        return Err(tradecore::CoreError::InputShape {
                            model: m.model_id().to_string(),
                            detail: format!("{rows} rows, other members got {}", n.unwrap_or(0)),
                        });
                    }
                    n = Some(rows);
                }
                let n = n.unwrap_or(0);
                let mut out = vec![0.0; n * k];
                e.predict_proba(&slices, n, &mut out)?;
                Ok((out, n))
            })
            .map_err(to_py)?;
        probs_array(py, out, n, k)
    }

    /// One gated event: probabilities (n_classes,) or the gate reason as a string.
    fn infer_row<'py>(
        &self,
        py: Python<'py>,
        inputs: Vec<PyReadonlyArrayDyn<'py, f32>>,
        now_ns: i64,
    ) -> PyResult<Bound<'py, PyAny>> {
        let slices = inputs
            .iter()
            .map(|x| x.as_slice())
            .collect::<Result<Vec<_>, _>>()?;
        let k = self.n_classes;
        let (out, r) = py
            .detach(|| {
                let mut e = self.inner.lock().unwrap_or_else(|p| p.into_inner());
                let mut out = vec![0.0; k];
                let r = e.infer_row(&slices, now_ns, &mut out)?;
                Ok((out, r))
            })
            .map_err(to_py)?;
        match r {
            Some(r) => Ok(r.label().into_pyobject(py)?.into_any()),
            None => Ok(PyArray1::from_vec(py, out).into_any()),
        }
    }

    fn gate_counts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        counts(py, &self.counters)
    }
}

/// A family's production model, hot-swappable: `step` is the hot path, `request_swap` the
/// command (any thread).
#[pyclass(frozen, module = "pycontrol._core")]
pub struct ModelSlot {
    slot: Mutex<infer::ModelSlot>,
    control: infer::SlotControl,
    n_classes: usize,
}

#[pymethods]
impl ModelSlot {
    /// Keyword arguments as `Model.load`'s.
    #[new]
    #[pyo3(signature = (root, family, **kwargs))]
    fn new(
        py: Python<'_>,
        root: PathBuf,
        family: String,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<ModelSlot> {
        let opts = options(py, kwargs, "ModelSlot")?;
        let slot = py
            .detach(|| infer::ModelSlot::open(&root, &family, opts))
            .map_err(to_py)?;
        Ok(ModelSlot {
            control: slot.control(),
            n_classes: slot.model().n_classes(),
            slot: Mutex::new(slot),
        })
    }

    /// Re-read aliases.json in the background; a changed production version is loaded,
    /// warmed up and swapped in at a later event.
    fn request_swap(&self) -> PyResult<()> {
        self.control.request_swap().map_err(to_py)
    }

    #[getter]
    fn version(&self) -> String {
        self.slot
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .version()
            .to_string()
    }

    #[getter]
    fn swaps(&self) -> u64 {
        self.slot.lock().unwrap_or_else(|e| e.into_inner()).swaps()
    }

    /// Events served so far; readable while `replay` runs (no lock).
    #[getter]
    fn events(&self) -> u64 {
        self.control.events()
    }

    /// One event: (version that served it, probabilities or None, gate reason or None).
    fn step<'py>(
        &self,
        py: Python<'py>,
        row: PyReadonlyArrayDyn<'py, f32>,
        now_ns: i64,
    ) -> PyResult<StepOut<'py>> {
        let xs = row.as_slice()?;
        let k = self.n_classes;
        let (version, out, r) = py
            .detach(|| {
                let mut s = self.slot.lock().unwrap_or_else(|e| e.into_inner());
                let mut out = vec![0.0; k];
                let r = s.infer_row(xs, now_ns, &mut out)?;
                Ok((s.version().to_string(), out, r))
            })
            .map_err(to_py)?;
        let probs = match r {
            None => Some(PyArray1::from_vec(py, out).into_any()),
            Some(_) => None,
        };
        Ok((version, probs, reason_label(r)))
    }

    /// The hot loop over many events in Rust (GIL released, so another Python thread can
    /// move aliases and request swaps meanwhile): per event the serving version's index in
    /// the returned version list, and the gate reason code (-1 = predicted).
    fn replay<'py>(
        &self,
        py: Python<'py>,
        rows: PyReadonlyArrayDyn<'py, f32>,
        now_ns: i64,
    ) -> PyResult<ReplayOut<'py>> {
        let shape = shape_of(&rows);
        let xs = rows.as_slice()?;
        let k = self.n_classes;
        let (versions, which, codes, probs, n) = py
            .detach(|| {
                let mut s = self.slot.lock().unwrap_or_else(|e| e.into_inner());
                let n = s.model().rows_of(&shape)?;
                let len = s.model().row_len();
                let mut versions: Vec<String> = Vec::new();
                let mut which = Vec::with_capacity(n);
                let mut codes = Vec::with_capacity(n);
                let mut probs = vec![f64::NAN; n * k];
                for (row, out) in xs.chunks_exact(len).zip(probs.chunks_exact_mut(k)) {
                    let r = s.infer_row(row, now_ns, out)?;
                    if versions.last().map(String::as_str) != Some(s.version()) {
                        versions.push(s.version().to_string());
                    }
                    which.push((versions.len() - 1) as u32);
                    codes.push(r.map_or(-1, |r| r as i8));
                }
                Ok((versions, which, codes, probs, n))
            })
            .map_err(to_py)?;
        Ok((
            versions,
            PyArray1::from_vec(py, which).into_any(),
            PyArray1::from_vec(py, codes).into_any(),
            probs_array(py, probs, n, k)?,
        ))
    }

    /// Failed loads: dicts with family, version, error, at_event.
    fn alerts<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        self.control
            .alerts()
            .into_iter()
            .map(|a| {
                let d = PyDict::new(py);
                d.set_item("family", a.family)?;
                d.set_item("version", a.version)?;
                d.set_item("error", a.error)?;
                d.set_item("at_event", a.at_event)?;
                Ok(d)
            })
            .collect()
    }

    fn gate_counts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let c = self
            .slot
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .model()
            .counters()
            .clone();
        counts(py, &c)
    }
}
