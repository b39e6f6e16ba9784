"""Member models of a training run behind one small interface, and the registry of model
kinds (``lightgbm``, ``lstm``, ``gru``, ``transformer``, and the scikit-learn base learners
``random_forest``, ``svm``, ``mlp`` of :mod:`sklearn_members`) a config's ``[[models]]``
name.

A member sees the whole feature matrix and the bar rows it is asked about, so a tabular
model takes ``features[rows]`` and a sequence model the windows ending at ``rows``
(:func:`pycontrol.training.windows.make_windows`): both split on the same rows.
Probabilities always come back over the dataset's full class list (a class a fold's
training rows lack gets probability 0).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from pycontrol.training.windows import make_windows

Arr = np.ndarray[Any, Any]

# LightGBM knobs a config may set; the determinism knobs are fixed (not configurable).
_LGBM_PARAMS = {
    "n_estimators": (int, 1),
    "num_leaves": (int, 2),
    "max_depth": (int, -1),
    "learning_rate": (float, 0.0),
    "min_child_samples": (int, 1),
    "subsample": (float, 0.0),
    "colsample_bytree": (float, 0.0),
    "reg_lambda": (float, 0.0),
    "n_jobs": (int, 1),
}
_LGBM_DEFAULTS: dict[str, Any] = {
    "n_estimators": 100,
    "num_leaves": 15,
    "max_depth": -1,
    "learning_rate": 0.05,
    "min_child_samples": 20,
    # < 1 so the seed matters: each seed bags other rows and features
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "reg_lambda": 0.0,
    "n_jobs": 1,
}


def on_classes(classes: Arr, model_classes: Arr, p: Arr) -> Arr:
    """Probabilities over all ``classes`` (a class unseen in training gets 0)."""
    out = np.zeros((len(p), len(classes)), dtype=np.float64)
    for j, c in enumerate(model_classes):
        out[:, int(np.searchsorted(classes, c))] = p[:, j]
    return out


class Member(Protocol):
    """What the run needs of a member model."""

    kind: str
    sequence: dict[str, Any] | None

    def inputs(self, features: Arr, rows: Arr) -> Arr: ...
    def fit(self, features: Arr, rows: Arr, y: Arr) -> None: ...
    def predict_proba(self, features: Arr, rows: Arr) -> Arr: ...
    def proba_from_inputs(self, x: Arr) -> Arr: ...
    def export(self, folder: Path) -> dict[str, Any]: ...
    def importance(self, names: Sequence[str]) -> dict[str, float] | None: ...


def _check_lgbm(params: Mapping[str, Any]) -> list[str]:
    bad = []
    for k, v in params.items():
        if k not in _LGBM_PARAMS:
            bad.append(f"unknown lightgbm param {k!r} (known: {', '.join(_LGBM_PARAMS)})")
            continue
        typ, lo = _LGBM_PARAMS[k]
        ok = isinstance(v, int | float) and not isinstance(v, bool)
        if typ is int:
            ok = ok and isinstance(v, int)
        if not ok or v < lo:
            bad.append(f"lightgbm {k} must be {typ.__name__} >= {lo}, got {v!r}")
    for k in ("subsample", "colsample_bytree"):
        if k in params and isinstance(params[k], int | float) and params[k] > 1:
            bad.append(f"lightgbm {k} must be <= 1, got {params[k]!r}")
    return bad


class LightGBMMember:
    """LightGBM multiclass classifier, deterministic given ``seed``
    (``deterministic=True, force_row_wise=True``), bagging rows and features so that seeds
    differ. Exports ONNX (onnxmltools, no ZipMap, opset 15) and the text dump the Rust
    native tree evaluator reads."""

    kind = "lightgbm"
    sequence: dict[str, Any] | None = None
    OPSET = 15

    def __init__(self, params: Mapping[str, Any], classes: Arr, seed: int) -> None:
        self.params = {**_LGBM_DEFAULTS, **params}
        self.classes = np.asarray(classes, dtype=np.int64)
        self.seed = seed
        self.model: Any = None

    def inputs(self, features: Arr, rows: Arr) -> Arr:
        return np.asarray(features[rows], dtype=np.float32)

    def fit(self, features: Arr, rows: Arr, y: Arr) -> None:
        import lightgbm as lgb

        p = dict(self.params)
        self.model = lgb.LGBMClassifier(
            n_estimators=p.pop("n_estimators"),
            subsample_freq=1,
            random_state=self.seed,
            deterministic=True,
            force_row_wise=True,
            verbose=-1,
            **p,
        )
        self.model.fit(self.inputs(features, rows).astype(np.float64), y)
        self.model._Booster = float32_thresholds(self.model.booster_)

    def proba_from_inputs(self, x: Arr) -> Arr:
        p = self.model.predict_proba(np.asarray(x, dtype=np.float32).astype(np.float64))
        return on_classes(self.classes, self.model.classes_, p)

    def predict_proba(self, features: Arr, rows: Arr) -> Arr:
        return self.proba_from_inputs(self.inputs(features, rows))

    def importance(self, names: Sequence[str]) -> dict[str, float]:
        gain = self.model.booster_.feature_importance(importance_type="gain")
        return {n: float(g) for n, g in zip(names, gain, strict=True)}

    def export(self, folder: Path) -> dict[str, Any]:
        """Writes ``model.onnx`` and ``model.lgbm.txt``; returns the manifest's ``onnx``
        block (without file hashes) and ``native`` file name."""
        from onnxmltools import convert_lightgbm
        from onnxmltools.convert.common.data_types import FloatTensorType

        if not np.array_equal(self.model.classes_, self.classes):
            raise ValueError(
                f"export: the model saw classes {self.model.classes_.tolist()}, the dataset "
                f"has {self.classes.tolist()}; probabilities would not line up"
            )
        n_features = int(self.model.n_features_in_)
        onx = convert_lightgbm(
            self.model,
            initial_types=[("input", FloatTensorType([None, n_features]))],
            zipmap=False,
            target_opset=self.OPSET,
        )
        _rename_outputs(onx, ("label", "probabilities"))
        (folder / "model.onnx").write_bytes(onx.SerializeToString())
        self.model.booster_.save_model(str(folder / "model.lgbm.txt"))
        return {
            "opset": self.OPSET,
            "inputs": [{"name": "input", "dtype": "float32", "shape": [-1, n_features]}],
            "outputs": [
                {"name": "label", "dtype": "int64", "shape": [-1]},
                {"name": "probabilities", "dtype": "float32", "shape": [-1, len(self.classes)]},
            ],
            "native": "model.lgbm.txt",
        }


def float32_thresholds(booster: Any) -> Any:
    """The same trees with every split threshold ``t`` replaced by the largest float32
    ``<= t``. On float32 inputs (what the engine feeds) ``x <= t`` and ``x <= t32`` agree
    exactly, so predictions do not change, and the ONNX graph (float32 thresholds) and the
    native evaluator compare against the very same numbers. Without this, a double
    threshold that rounds up to float32 flips splits for inputs equal to the rounded value
    (seen here: probabilities 0.04 apart)."""
    import lightgbm as lgb

    def down(tok: str) -> str:
        t = float(tok)
        t32 = np.float32(t)
        if float(t32) > t:
            t32 = np.nextafter(t32, np.float32(-np.inf))
        return repr(float(t32))

    # tree_sizes holds each tree's byte length, which the edit changes; without it
    # LightGBM parses the trees one after another
    lines = [x for x in booster.model_to_string().split("\n") if not x.startswith("tree_sizes=")]
    for i, line in enumerate(lines):
        if line.startswith("threshold="):
            lines[i] = "threshold=" + " ".join(down(t) for t in line[10:].split())
    return lgb.Booster(model_str="\n".join(lines))


def _rename_outputs(model: Any, names: tuple[str, ...]) -> None:
    """Renames the graph outputs (and every reference to them) to ``names``."""
    graph = model.graph
    mapping = {o.name: n for o, n in zip(graph.output, names, strict=True)}
    for node in graph.node:
        for i, out in enumerate(node.output):
            if out in mapping:
                node.output[i] = mapping[out]
        for i, inp in enumerate(node.input):
            if inp in mapping:
                node.input[i] = mapping[inp]
    for o in graph.output:
        o.name = mapping[o.name]
        # the converter declares the label as [1]; both outputs have one row per input row
        dims = o.type.tensor_type.shape.dim
        dims[0].ClearField("dim_value")
        dims[0].dim_param = "N"


SEQUENCE_KINDS = ("lstm", "gru", "transformer")


def _check_sequence(kind: str, params: Mapping[str, Any]) -> list[str]:
    """Validated by :class:`SequenceConfig` when the module is present; the lookback is
    checked here either way because the dataset needs it before any model exists."""
    bad = []
    lb = params.get("lookback", 30)
    if not isinstance(lb, int) or isinstance(lb, bool) or lb < 1:
        bad.append(f"lookback must be an int >= 1, got {lb!r}")
    if "arch" in params:
        bad.append("arch comes from the member's kind, not from params")
    try:
        from pycontrol.training.sequence import SequenceConfig  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return bad
    from pycontrol.training.errors import PipelineConfigError

    try:
        SequenceConfig.from_dict({**params, "arch": kind})
    except (PipelineConfigError, ValueError, TypeError) as e:
        bad.append(str(e))
    return bad


class SequenceMember:
    """A PyTorch sequence classifier (``pycontrol.training.sequence``, imported only when a
    sequence family runs) over lookback windows of the same feature matrix."""

    sequence: dict[str, Any] | None

    def __init__(self, kind: str, params: Mapping[str, Any], classes: Arr, seed: int) -> None:
        from pycontrol.training.sequence import (  # type: ignore[import-not-found,unused-ignore]
            SequenceClassifier,
            SequenceConfig,
        )

        self.kind = kind
        self.config = SequenceConfig.from_dict({**params, "arch": kind})
        self.lookback = int(self.config.lookback)
        self.sequence = {"lookback": self.lookback}
        self.classes = np.asarray(classes, dtype=np.int64)
        self.seed = seed
        self._make: Callable[[int], Any] = lambda n_features: SequenceClassifier(
            self.config, n_features, [int(c) for c in self.classes], seed
        )
        self.model: Any = None

    def inputs(self, features: Arr, rows: Arr) -> Arr:
        return make_windows(features, rows, self.lookback)

    def fit(self, features: Arr, rows: Arr, y: Arr) -> None:
        self.model = self._make(features.shape[1]).fit(self.inputs(features, rows), y)

    def proba_from_inputs(self, x: Arr) -> Arr:
        return np.asarray(self.model.predict_proba(np.asarray(x, dtype=np.float32)), float)

    def predict_proba(self, features: Arr, rows: Arr) -> Arr:
        return self.proba_from_inputs(self.inputs(features, rows))

    def importance(self, names: Sequence[str]) -> dict[str, float] | None:
        return None

    def export(self, folder: Path) -> dict[str, Any]:
        info = dict(self.model.export_onnx(folder / "model.onnx"))
        info["native"] = None
        return info


def make_member(kind: str, params: Mapping[str, Any], classes: Arr, seed: int) -> Member:
    """A fresh, unfitted member of ``kind``."""
    from pycontrol.training.sklearn_members import SKLEARN_KINDS, SklearnMember

    if kind == "lightgbm":
        return LightGBMMember(params, classes, seed)
    if kind in SKLEARN_KINDS:
        return SklearnMember(kind, params, classes, seed)
    try:
        return SequenceMember(kind, params, classes, seed)
    except ImportError as e:
        from pycontrol.training.config import TrainConfigError
        from pycontrol.training.errors import fail

        fail(TrainConfigError, f"model kind {kind!r}", [f"needs pycontrol.training.sequence: {e}"])


def check_params(kind: str, params: Mapping[str, Any]) -> list[str]:
    """Violations of ``params`` for ``kind`` (empty when valid)."""
    from pycontrol.training.sklearn_members import SKLEARN_KINDS, check_sklearn

    if kind == "lightgbm":
        return _check_lgbm(params)
    if kind in SEQUENCE_KINDS:
        return _check_sequence(kind, params)
    if kind in SKLEARN_KINDS:
        return check_sklearn(kind, params)
    known = ", ".join(("lightgbm", *SEQUENCE_KINDS, *SKLEARN_KINDS))
    return [f"unknown model kind {kind!r} (known: {known})"]


def member_lookback(kind: str, params: Mapping[str, Any]) -> int:
    """Bars of input window a member reads (1 for tabular models)."""
    return int(params.get("lookback", 30)) if kind in SEQUENCE_KINDS else 1
