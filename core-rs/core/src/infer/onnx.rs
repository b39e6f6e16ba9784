//! ONNX Runtime backend: one session per model (threads configurable), the session's real IO
//! read back and compared with the manifest, probabilities read from the `probabilities`
//! output. Sessions are created only after [`super::runtime::ensure_onnxruntime`].

use std::path::Path;

use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use ort::value::{TensorElementType, TensorRef, ValueType};

use super::manifest::TensorSpec;
use super::runtime::ensure_onnxruntime;
use crate::error::{CoreError, Result};

/// The output the engine reads: float32 `[-1, n_classes]`.
pub const PROBABILITIES: &str = "probabilities";

pub struct OnnxModel {
    session: Session,
    model_id: String,
    /// Index of the probabilities output among the session's outputs.
    prob_index: usize,
    /// Shape of one input row after the batch axis (e.g. `[61]` or `[30, 61]`).
    row_shape: Vec<usize>,
    row_len: usize,
    n_classes: usize,
}

fn dtype_name(t: TensorElementType) -> String {
    match t {
        TensorElementType::Float32 => "float32".into(),
        TensorElementType::Float64 => "float64".into(),
        TensorElementType::Int64 => "int64".into(),
        TensorElementType::Int32 => "int32".into(),
        TensorElementType::String => "string".into(),
        other => other.to_string(),
    }
}

fn spec_of(name: &str, t: &ValueType) -> TensorSpec {
    match t {
        ValueType::Tensor { ty, shape, .. } => TensorSpec {
            name: name.to_string(),
            dtype: dtype_name(*ty),
            shape: shape.iter().copied().collect(),
        },
        // A ZipMap output (sequence of maps) is exactly what the manifest forbids.
        other => TensorSpec {
            name: name.to_string(),
            dtype: format!("non-tensor ({other})"),
            shape: Vec::new(),
        },
    }
}

/// Compares declared with actual IO, position by position, adding every difference.
pub fn compare_io(
    what: &str,
    declared: &[TensorSpec],
    actual: &[TensorSpec],
    out: &mut Vec<String>,
) {
    if declared.len() != actual.len() {
        out.push(format!(
            "onnx.{what}: manifest declares {} ({}), the model has {} ({})",
            declared.len(),
            declared
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            actual.len(),
            actual
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
        ));
    }
    for (i, (d, a)) in declared.iter().zip(actual).enumerate() {
        if d.name != a.name {
            out.push(format!(
                "onnx.{what}[{i}].name: manifest {:?}, model {:?}",
                d.name, a.name
            ));
        }
        if d.dtype != a.dtype {
            out.push(format!(
                "onnx.{what}[{i}] ({}).dtype: manifest {}, model {}",
                d.name, d.dtype, a.dtype
            ));
        }
        if d.shape != a.shape {
            out.push(format!(
                "onnx.{what}[{i}] ({}).shape: manifest {:?}, model {:?}",
                d.name, d.shape, a.shape
            ));
        }
    }
}

impl OnnxModel {
    /// Builds a session from the model bytes and returns it with its actual IO, which the
    /// caller checks against the manifest before using it ([`OnnxModel::bind`]).
    pub fn open(
        path: &Path,
        bytes: &[u8],
        intra_threads: usize,
    ) -> Result<(Session, Vec<TensorSpec>, Vec<TensorSpec>)> {
        ensure_onnxruntime()?;
        let file_err = |detail: String| CoreError::ModelFile {
            path: path.to_path_buf(),
            detail,
        };
        let session = Session::builder()
            .map_err(|e| file_err(format!("session builder: {e}")))?
            .with_optimization_level(GraphOptimizationLevel::Level3)
            .map_err(|e| file_err(e.to_string()))?
            .with_intra_threads(intra_threads.max(1))
            .map_err(|e| file_err(e.to_string()))?
            .with_inter_threads(1)
            .map_err(|e| file_err(e.to_string()))?
            .commit_from_memory(bytes)
            .map_err(|e| file_err(format!("ONNX Runtime cannot load it: {e}")))?;
        let inputs = session
            .inputs()
            .iter()
            .map(|o| spec_of(o.name(), o.dtype()))
            .collect();
        let outputs = session
            .outputs()
            .iter()
            .map(|o| spec_of(o.name(), o.dtype()))
            .collect();
        Ok((session, inputs, outputs))
    }

    /// Wraps a session whose IO already matched the manifest: one float32 input, a
    /// `probabilities` output of `n_classes` columns.
    pub fn bind(session: Session, model_id: &str, input: &TensorSpec, n_classes: usize) -> Self {
        let prob_index = session
            .outputs()
            .iter()
            .position(|o| o.name() == PROBABILITIES)
            .unwrap_or(0);
        let row_shape: Vec<usize> = input.shape[1..]
            .iter()
            .map(|&d| d.max(0) as usize)
            .collect();
        let row_len = row_shape.iter().product();
        OnnxModel {
            session,
            model_id: model_id.to_string(),
            prob_index,
            row_shape,
            row_len,
            n_classes,
        }
    }

    pub fn row_len(&self) -> usize {
        self.row_len
    }

    /// Probabilities of `n_rows` rows (`x.len() == n_rows * row_len`) into `out`
    /// (`n_rows * n_classes`, widened to f64).
    pub fn predict_proba(&mut self, x: &[f32], n_rows: usize, out: &mut [f64]) -> Result<()> {
        let fail = |detail: String| CoreError::Inference {
            model: self.model_id.clone(),
            detail,
        };
        let mut shape = Vec::with_capacity(1 + self.row_shape.len());
        shape.push(n_rows);
        shape.extend_from_slice(&self.row_shape);
        let input = TensorRef::from_array_view((shape, x)).map_err(|e| fail(e.to_string()))?;
        let outputs = self
            .session
            .run(ort::inputs![input])
            .map_err(|e| CoreError::Inference {
                model: self.model_id.clone(),
                detail: e.to_string(),
            })?;
        let (shape, probs) = outputs[self.prob_index]
            .try_extract_tensor::<f32>()
            .map_err(|e| CoreError::Inference {
                model: self.model_id.clone(),
                detail: format!("probabilities output: {e}"),
            })?;
        if probs.len() != n_rows * self.n_classes {
            return Err(CoreError::Inference {
                model: self.model_id.clone(),
                detail: format!(
                    "probabilities output has shape {shape:?}, expected [{n_rows}, {}]",
                    self.n_classes
                ),
            });
        }
        for (o, &p) in out.iter_mut().zip(probs) {
            *o = f64::from(p);
        }
        Ok(())
    }
}
