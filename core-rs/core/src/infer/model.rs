//! A loaded model: manifest, backend (ONNX Runtime or native trees), gate and counters.
//! Loading enforces the input contract (manifest vs the ONNX session's real IO vs the
//! engine's FeatureSet vs the native dump) and refuses with every mismatch listed; then it
//! warms the backend up so the first real event does not pay for lazy allocations.

use std::path::Path;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::gate::{Gate, GateConfig, GateCounters, GateReason};
use super::manifest::{Manifest, ModelKind};
use super::onnx::{compare_io, OnnxModel, PROBABILITIES};
use super::trees::TreeEnsemble;
use crate::error::{CoreError, Result};
use crate::features::FeatureSet;

/// How to load a model. The defaults suit the hot path: one intra-op thread (no pool
/// hand-off for a single row), native trees when the export has them.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub intra_threads: usize,
    /// Use the native tree evaluator when the manifest lists a LightGBM dump.
    pub prefer_native: bool,
    /// The engine's feature set; when given, the model must have been trained on it.
    pub feature_set: Option<FeatureSet>,
    pub gate: GateConfig,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            intra_threads: 1,
            prefer_native: true,
            feature_set: None,
            gate: GateConfig::default(),
        }
    }
}

pub enum Backend {
    Onnx(OnnxModel),
    Trees(TreeEnsemble),
}

pub struct Model {
    pub manifest: Manifest,
    backend: Backend,
    gate: Gate,
    counters: Arc<GateCounters>,
    /// f32 values per input row (lookback * features for sequence models).
    row_len: usize,
    n_classes: usize,
    /// Gated batch calls: rows that passed, compacted.
    pass_rows: Vec<f32>,
    pass_out: Vec<f64>,
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn check_sha(what: &str, declared: Option<&str>, bytes: &[u8], out: &mut Vec<String>) {
    match declared {
        None => out.push(format!("{what}.sha256: missing")),
        Some(d) => {
            let actual = sha256_hex(bytes);
            if !d.eq_ignore_ascii_case(&actual) {
                out.push(format!("{what}.sha256: manifest {d}, file {actual}"));
            }
        }
    }
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| CoreError::io(path, e))
}

impl Model {
    /// Loads the export/registry version folder `dir`.
    pub fn load(dir: &Path, opts: &LoadOptions) -> Result<Model> {
        let m = Manifest::load(dir)?;
        let mut bad: Vec<String> = Vec::new();
        let n_features = m.feature_names.len();
        let n_classes = m.classes.len();

        let onnx_path = m.onnx_path();
        let bytes = read(&onnx_path)?;
        check_sha("onnx", m.onnx_sha256.as_deref(), &bytes, &mut bad);
        let (session, ins, outs) = OnnxModel::open(&onnx_path, &bytes, opts.intra_threads)?;
        compare_io("inputs", &m.inputs, &ins, &mut bad);
        compare_io("outputs", &m.outputs, &outs, &mut bad);

        // The manifest's IO must itself be what the engine feeds and reads.
        let want_in: Vec<i64> = match m.lookback {
            Some(l) => vec![-1, l as i64, n_features as i64],
            None => vec![-1, n_features as i64],
        };
        match m.inputs.as_slice() {
            [i] => {
                if i.dtype != "float32" {
                    bad.push(format!(
                        "input {}: dtype {}, the engine feeds float32",
                        i.name, i.dtype
                    ));
                }
                if i.shape != want_in {
                    bad.push(format!(
                        "input {}: shape {:?}, expected {want_in:?} ({n_features} feature_set.names{})",
                        i.name,
                        i.shape,
                        if m.lookback.is_some() { ", sequence.lookback" } else { "" }
                    ));
                }
            }
            other => bad.push(format!(
                "onnx.inputs: {} inputs, the engine feeds exactly one",
                other.len()
            )),
        }
        match m.outputs.iter().find(|o| o.name == PROBABILITIES) {
            None => bad.push(format!("onnx.outputs: no {PROBABILITIES:?} output")),
            Some(o) => {
                let want = vec![-1, n_classes as i64];
                if o.dtype != "float32" || o.shape != want {
                    bad.push(format!(
                        "output {PROBABILITIES}: {}{:?}, expected float32{want:?} ({n_classes} classes)",
                        o.dtype, o.shape
                    ));
                }
            }
        }

        // The engine's features, in the engine's order (stacking models read member
        // probabilities instead, checked by the ensemble).
        if let (Some(fs), true) = (&opts.feature_set, m.kind != ModelKind::Stacking) {
            if fs.hash() != m.feature_hash {
                bad.push(format!(
                    "feature_set.hash: model trained on {}, the engine computes {}",
                    m.feature_hash,
                    fs.hash()
                ));
            }
            let engine = fs.names();
            if engine != m.feature_names {
                let first = engine
                    .iter()
                    .zip(&m.feature_names)
                    .position(|(a, b)| a != b)
                    .unwrap_or(engine.len().min(n_features));
                bad.push(format!(
                    "feature_set.names: model has {n_features}, engine {}; first difference at \
                     column {first} (model {:?}, engine {:?})",
                    engine.len(),
                    m.feature_names.get(first),
                    engine.get(first)
                ));
            }
        }

        let mut trees = None;
        // The dump is read (and checked) only when it will serve: an ONNX-only load must
        // not depend on a file it never uses.
        if let (Some(native), true) = (&m.native, opts.prefer_native) {
            let path = m.native_path().expect("native is set");
            if m.kind != ModelKind::LightGbm {
                bad.push(format!(
                    "native: given for a {} model; only lightgbm has one",
                    m.kind.label()
                ));
            } else {
                let text = read(&path)?;
                check_sha("native", native.sha256.as_deref(), &text, &mut bad);
                let text = String::from_utf8(text).map_err(|_| CoreError::ModelFile {
                    path: path.clone(),
                    detail: "not UTF-8 text".into(),
                })?;
                let t = TreeEnsemble::parse(&path, &text)?;
                if t.num_features != n_features {
                    bad.push(format!(
                        "native: the dump uses {} features, the manifest names {n_features}",
                        t.num_features
                    ));
                }
                if t.num_classes() != n_classes {
                    bad.push(format!(
                        "native: the dump has {} classes, the manifest {n_classes}",
                        t.num_classes()
                    ));
                }
                // LightGBM calls unnamed columns Column_<i>; named ones must be ours.
                let named = !t
                    .feature_names
                    .iter()
                    .enumerate()
                    .all(|(i, n)| *n == format!("Column_{i}"));
                if named && t.feature_names != m.feature_names {
                    bad.push(
                        "native: the dump's feature_names differ from feature_set.names".into(),
                    );
                }
                trees = Some(t);
            }
        }
        if !bad.is_empty() {
            return Err(CoreError::ModelContract {
                path: dir.join("manifest.json"),
                mismatches: bad,
            });
        }

        let row_len = m.lookback.unwrap_or(1) * n_features;
        let backend = match trees {
            Some(t) if opts.prefer_native => Backend::Trees(t),
            _ => Backend::Onnx(OnnxModel::bind(
                session,
                &m.model_id,
                &m.inputs[0],
                n_classes,
            )),
        };
        let gate = Gate::new(
            opts.gate,
            m.created_at_ns,
            m.max_age_days,
            m.input_bounds.as_ref(),
        );
        let mut model = Model {
            manifest: m,
            backend,
            gate,
            counters: Arc::new(GateCounters::default()),
            row_len,
            n_classes,
            pass_rows: Vec::new(),
            pass_out: Vec::new(),
        };
        model.warm_up()?;
        Ok(model)
    }

    /// A few single-row and one batched run on a typical row (the middle of the training
    /// range, else zeros), so the hot path's first call finds buffers allocated.
    fn warm_up(&mut self) -> Result<()> {
        let n_features = self.manifest.feature_names.len();
        let row: Vec<f32> = match &self.manifest.input_bounds {
            Some((lo, hi)) => lo
                .iter()
                .zip(hi)
                .map(|(a, b)| ((a + b) / 2.0) as f32)
                .collect(),
            None => vec![0.0; n_features],
        };
        let x: Vec<f32> = row.iter().copied().cycle().take(self.row_len).collect();
        let mut out = vec![0.0; self.n_classes * 4];
        for _ in 0..3 {
            self.predict_proba(&x, 1, &mut out[..self.n_classes])?;
        }
        let x4: Vec<f32> = x.iter().copied().cycle().take(self.row_len * 4).collect();
        self.predict_proba(&x4, 4, &mut out)
    }

    pub fn model_id(&self) -> &str {
        &self.manifest.model_id
    }

    /// "native-trees" or "onnx".
    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Onnx(_) => "onnx",
            Backend::Trees(_) => "native-trees",
        }
    }

    pub fn row_len(&self) -> usize {
        self.row_len
    }

    pub fn n_classes(&self) -> usize {
        self.n_classes
    }

    pub fn counters(&self) -> &Arc<GateCounters> {
        &self.counters
    }

    pub fn gate(&self) -> &Gate {
        &self.gate
    }

    /// Shape of one input row: `[features]`, or `[lookback, features]` for sequences.
    pub fn row_shape(&self) -> Vec<usize> {
        let f = self.manifest.feature_names.len();
        match self.manifest.lookback {
            Some(l) => vec![l, f],
            None => vec![f],
        }
    }

    /// Rows in an array of `shape`: either one row (`shape == row_shape`) or a batch
    /// (`[n] + row_shape`). Anything else is a typed error naming both shapes.
    pub fn rows_of(&self, shape: &[usize]) -> Result<usize> {
        let row = self.row_shape();
        if shape == row.as_slice() {
            return Ok(1);
        }
        if shape.len() == row.len() + 1 && shape[1..] == row[..] {
            return Ok(shape[0]);
        }
        Err(CoreError::InputShape {
            model: self.manifest.model_id.clone(),
            detail: format!(
                "array of shape {shape:?}; expected one row {row:?} or a batch [n, {}]",
                row.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
    }

    fn check_len(&self, x: usize, n_rows: usize, out: usize) -> Result<()> {
        if x != n_rows * self.row_len || out != n_rows * self.n_classes {
            return Err(CoreError::InputShape {
                model: self.manifest.model_id.clone(),
                detail: format!(
                    "{x} input values / {out} output slots for {n_rows} rows; the model takes \
                     {} values per row{} and gives {} probabilities",
                    self.row_len,
                    match self.manifest.lookback {
                        Some(l) => format!(
                            " ({l} steps x {} features)",
                            self.manifest.feature_names.len()
                        ),
                        None => String::new(),
                    },
                    self.n_classes
                ),
            });
        }
        Ok(())
    }

    /// Ungated probabilities of `n_rows` rows (row-major, `row_len` values each) into `out`
    /// (`n_rows * n_classes`). This is the model's plain output, as for parity checks.
    pub fn predict_proba(&mut self, x: &[f32], n_rows: usize, out: &mut [f64]) -> Result<()> {
        self.check_len(x.len(), n_rows, out.len())?;
        if n_rows == 0 {
            return Ok(());
        }
        match &mut self.backend {
            Backend::Onnx(o) => o.predict_proba(x, n_rows, out),
            Backend::Trees(t) => {
                for (row, o) in x
                    .chunks_exact(self.row_len)
                    .zip(out.chunks_exact_mut(self.n_classes))
                {
                    t.predict_row(row, o);
                }
                Ok(())
            }
        }
    }

    /// The gated, counted hot-path call: probabilities of one row into `out`, or the reason
    /// it produces no signal. `now_ns` is the engine clock (event time in a backtest).
    pub fn infer_row(
        &mut self,
        row: &[f32],
        now_ns: i64,
        out: &mut [f64],
    ) -> Result<Option<GateReason>> {
        self.check_len(row.len(), 1, out.len())?;
        let reason = self.gate.check(row, now_ns);
        if reason.is_none() {
            self.predict_proba(row, 1, out)?;
        }
        self.counters.record(reason);
        Ok(reason)
    }

    /// Gated batch: rows that pass are evaluated in one backend call; `out` rows of gated
    /// inputs are NaN and `reasons[i]` says why.
    pub fn infer(
        &mut self,
        x: &[f32],
        n_rows: usize,
        now_ns: i64,
        out: &mut [f64],
        reasons: &mut [Option<GateReason>],
    ) -> Result<()> {
        self.check_len(x.len(), n_rows, out.len())?;
        if reasons.len() != n_rows {
            return Err(CoreError::InputShape {
                model: self.manifest.model_id.clone(),
                detail: format!("{} reason slots for {n_rows} rows", reasons.len()),
            });
        }
        let mut rows = std::mem::take(&mut self.pass_rows);
        rows.clear();
        for (row, r) in x.chunks_exact(self.row_len).zip(reasons.iter_mut()) {
            *r = self.gate.check(row, now_ns);
            self.counters.record(*r);
            if r.is_none() {
                rows.extend_from_slice(row);
            }
        }
        let n_pass = rows.len() / self.row_len.max(1);
        let mut probs = std::mem::take(&mut self.pass_out);
        probs.clear();
        probs.resize(n_pass * self.n_classes, 0.0);
        let res = self.predict_proba(&rows, n_pass, &mut probs);
        if res.is_ok() {
            let mut src = probs.chunks_exact(self.n_classes);
            for (o, r) in out.chunks_exact_mut(self.n_classes).zip(reasons.iter()) {
                match r {
                    None => o.copy_from_slice(src.next().expect("one per passing row")),
                    Some(_) => o.fill(f64::NAN),
                }
            }
        }
        self.pass_rows = rows;
        self.pass_out = probs;
        res
    }
}

/// Index of the largest probability (first on ties, like numpy's argmax).
pub fn argmax(p: &[f64]) -> usize {
    let mut best = 0;
    for (i, &v) in p.iter().enumerate() {
        if v > p[best] {
            best = i;
        }
    }
    best
}
