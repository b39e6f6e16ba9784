//! Inference: ONNX Runtime (loaded dynamically from the onnxruntime wheel) and a native
//! LightGBM tree evaluator behind one [`Model`], loaded from an export folder whose manifest
//! (docs/model-manifest.md) is the contract; gating with counted reasons; a stacking
//! [`Ensemble`]; and a [`ModelSlot`] that hot-swaps a family's production model off the
//! hot path.

pub mod audit;
pub mod ensemble;
pub mod gate;
pub mod manifest;
pub mod model;
pub mod onnx;
pub mod predictor;
pub mod runtime;
pub mod swap;
pub mod trees;

pub use ensemble::Ensemble;
pub use gate::{Gate, GateConfig, GateCounters, GateReason};
pub use manifest::{Manifest, ModelKind, TensorSpec};
pub use model::{argmax, LoadOptions, Model};
pub use predictor::ModelPredictor;
pub use runtime::{init_onnxruntime, onnxruntime_path};
pub use swap::{ModelSlot, SlotControl, SwapAlert};
pub use trees::TreeEnsemble;
