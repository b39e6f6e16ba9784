"""Inference from Python: models, ensembles and hot-swappable slots served by the Rust core
(ONNX Runtime loaded from the onnxruntime wheel, or native LightGBM trees)."""

from pycontrol.inference.model import GATE_REASONS, Ensemble, Gated, Model, ModelSlot
from pycontrol.inference.runtime import ensure_onnxruntime, find_onnxruntime_library

__all__ = [
    "GATE_REASONS",
    "Ensemble",
    "Gated",
    "Model",
    "ModelSlot",
    "ensure_onnxruntime",
    "find_onnxruntime_library",
]
