"""The seed's classic base learners as members: random forest, RBF support-vector machine and
multi-layer perceptron (scikit-learn), exported to ONNX by skl2onnx with the input scaling
inside the graph, so the engine feeds the raw features it computes.

- ``random_forest``: ``RandomForestClassifier`` (bootstrap rows, ``max_features`` "sqrt";
  the seed fixes both). After fitting, split thresholds are rounded DOWN to float32: the
  inputs are float32, so every comparison decides the same, and the ONNX tree ensemble
  (float32 thresholds) agrees with scikit-learn (a double midpoint that rounded up would
  flip splits), as for LightGBM.
- ``svm``: ``StandardScaler`` + ``SVC(kernel="rbf", probability=True)`` (Platt scaling on
  internal folds, seeded). Quadratic in rows: for small families.
- ``mlp``: ``StandardScaler`` + ``MLPClassifier`` (Adam, early stopping off, seeded).

Params a config may set are listed per kind; unknown ones are refused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

Arr = np.ndarray[Any, Any]
OPSET = 15

_PARAMS: dict[str, dict[str, tuple[type, float]]] = {
    "random_forest": {
        "n_estimators": (int, 1),
        "max_depth": (int, 1),
        "min_samples_leaf": (int, 1),
    },
    "svm": {"C": (float, 0.0), "gamma": (float, 0.0)},
    "mlp": {"hidden": (int, 1), "layers": (int, 1), "alpha": (float, 0.0), "max_iter": (int, 1)},
}
SKLEARN_KINDS = tuple(_PARAMS)


def check_sklearn(kind: str, params: Mapping[str, Any]) -> list[str]:
    bad = []
    for k, v in params.items():
        if k not in _PARAMS[kind]:
            bad.append(f"unknown {kind} param {k!r} (known: {', '.join(_PARAMS[kind])})")
            continue
        typ, lo = _PARAMS[kind][k]
        ok = isinstance(v, int | float) and not isinstance(v, bool)
        if typ is int:
            ok = ok and isinstance(v, int)
        if not ok or v < lo or (typ is float and v == lo == 0.0 and k != "alpha"):
            bad.append(f"{kind} {k} must be {typ.__name__} > {lo}, got {v!r}")
    return bad


def _float32_down(x: Arr) -> Arr:
    """The largest float32 <= each value (as float64)."""
    f = x.astype(np.float32)
    up = f.astype(np.float64) > x
    f[up] = np.nextafter(f[up], np.float32(-np.inf))
    return f.astype(np.float64)


class SklearnMember:
    """One scikit-learn base learner (module docstring)."""

    sequence: dict[str, Any] | None = None

    def __init__(self, kind: str, params: Mapping[str, Any], classes: Arr, seed: int) -> None:
        self.kind = kind
        self.params = dict(params)
        self.classes = np.asarray(classes, dtype=np.int64)
        self.seed = seed
        self.model: Any = None

    def _make(self) -> Any:
        from sklearn.ensemble import RandomForestClassifier
        from sklearn.neural_network import MLPClassifier
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
        from sklearn.svm import SVC

        p = self.params
        if self.kind == "random_forest":
            return RandomForestClassifier(
                n_estimators=p.get("n_estimators", 100),
                max_depth=p.get("max_depth"),
                min_samples_leaf=p.get("min_samples_leaf", 20),
                random_state=self.seed,
                n_jobs=1,
            )
        if self.kind == "svm":
            svc = SVC(
                C=p.get("C", 1.0),
                gamma=p.get("gamma", "scale"),
                probability=True,
                random_state=self.seed,
            )
            return make_pipeline(StandardScaler(), svc)
        sizes = (int(p.get("hidden", 32)),) * int(p.get("layers", 1))
        mlp = MLPClassifier(
            hidden_layer_sizes=sizes,
            alpha=p.get("alpha", 1e-4),
            max_iter=p.get("max_iter", 200),
            random_state=self.seed,
        )
        return make_pipeline(StandardScaler(), mlp)

    def inputs(self, features: Arr, rows: Arr) -> Arr:
        return np.asarray(features[rows], dtype=np.float32)

    def fit(self, features: Arr, rows: Arr, y: Arr) -> None:
        import warnings

        from sklearn.exceptions import ConvergenceWarning

        self.model = self._make()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            # SVC(probability=True) is deprecated from scikit-learn 1.9 (removed in 1.11;
            # the lock pins 1.9.1): its internal Platt fit is what skl2onnx converts.
            warnings.simplefilter("ignore", FutureWarning)
            self.model.fit(self.inputs(features, rows), y)
        if self.kind == "random_forest":
            for est in self.model.estimators_:
                t = est.tree_.threshold
                t[:] = _float32_down(t)

    @property
    def calibrations(self) -> tuple[str, ...]:
        """Calibrators its export may carry: the SVM's and MLP's float32 graphs differ from
        scikit-learn by ~1e-6, which isotonic slopes (<= 20) would push past parity's 1e-5;
        Platt acts on log probabilities, where that error stays relative."""
        return ("platt", "isotonic") if self.kind == "random_forest" else ("platt",)

    def proba_from_inputs(self, x: Arr) -> Arr:
        import warnings

        from pycontrol.training.models import on_classes

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # SVC's probA_/probB_ (see fit)
            p = self.model.predict_proba(np.asarray(x, dtype=np.float32))
        return on_classes(self.classes, self.model.classes_, p)

    def predict_proba(self, features: Arr, rows: Arr) -> Arr:
        return self.proba_from_inputs(self.inputs(features, rows))

    def importance(self, names: Sequence[str]) -> dict[str, float] | None:
        if self.kind != "random_forest":
            return None
        return dict(zip(names, map(float, self.model.feature_importances_), strict=True))

    def export(self, folder: Path) -> dict[str, Any]:
        import warnings

        from skl2onnx import convert_sklearn
        from skl2onnx.common.data_types import FloatTensorType

        from pycontrol.training.export import onnx_io

        n = int(self.model.n_features_in_)
        final = self.model.steps[-1][1] if hasattr(self.model, "steps") else self.model
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # SVC's probA_/probB_ (see fit)
            onx = convert_sklearn(
                self.model,
                initial_types=[("input", FloatTensorType([None, n]))],
                options={id(final): {"zipmap": False}},
                target_opset=OPSET,
            )
        (folder / "model.onnx").write_bytes(onx.SerializeToString())
        info = dict(onnx_io(folder / "model.onnx"))
        info["native"] = None
        return info
