"""Baselines every model is reported next to, run on the identical folds: majority class,
persistence (sign of the last completed return at ``t``) and a logistic regression.

:func:`evaluate_baselines` takes features, labels and a splitter (or explicit folds) and
returns per-fold and pooled accuracy, balanced accuracy and log-loss (where a model gives
probabilities). Extra models passed in ``models`` run on the same rows, so a model's figure
never appears without the baselines beside it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import polars as pl
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from pycontrol.training.errors import SplitConfigError, fail
from pycontrol.training.splits import PurgedWalkForward

Arr = np.ndarray[Any, Any]
_EPS = 1e-15


class Model(Protocol):
    """What :func:`evaluate_baselines` needs of a model (scikit-learn classifiers fit)."""

    classes_: Arr

    def fit(self, X: Arr, y: Arr) -> Any: ...
    def predict_proba(self, X: Arr) -> Arr: ...


class MajorityClass:
    """Predicts the most frequent training class (ties: the smallest); its probabilities are
    the training class frequencies."""

    def fit(self, X: Arr, y: Arr) -> MajorityClass:
        self.classes_, counts = np.unique(y, return_counts=True)
        self.freq_ = counts / counts.sum()
        return self

    def predict_proba(self, X: Arr) -> Arr:
        return np.tile(self.freq_, (len(X), 1))


class Persistence:
    """Predicts the sign (-1/0/+1) of the last completed return at ``t``: tomorrow looks like
    today. No probabilities, so no log-loss."""

    def predict(self, last_return: Arr) -> Arr:
        return np.sign(last_return).astype(np.int64)


class LogisticBaseline:
    """Standardization fitted on the training rows only, then multinomial logistic
    regression (lbfgs, deterministic given ``seed``)."""

    def __init__(self, seed: int = 0, C: float = 1.0, max_iter: int = 1000) -> None:
        self.seed, self.C, self.max_iter = seed, C, max_iter

    def fit(self, X: Arr, y: Arr) -> LogisticBaseline:
        self.classes_ = np.unique(y)
        self._pipe: Pipeline | None = None
        if len(self.classes_) > 1:  # lbfgs cannot fit one class; then it is the majority
            self._pipe = Pipeline(
                [
                    ("scale", StandardScaler()),
                    (
                        "logit",
                        LogisticRegression(
                            C=self.C, max_iter=self.max_iter, random_state=self.seed
                        ),
                    ),
                ]
            ).fit(X, y)
        return self

    def predict_proba(self, X: Arr) -> Arr:
        if self._pipe is None:
            return np.ones((len(X), 1))
        out: Arr = self._pipe.predict_proba(X)
        return out


@dataclass(frozen=True)
class BaselineReport:
    """``per_fold``: fold, model, n_train, n_test, accuracy, balanced_accuracy, log_loss;
    ``aggregate``: the same metrics pooled over every test row of every fold;
    ``params``: splitter parameters, seed, classes, row counts (log them with the run)."""

    per_fold: pl.DataFrame
    aggregate: pl.DataFrame
    params: dict[str, Any] = field(default_factory=dict)


def _proba_on(classes: Arr, model_classes: Arr, p: Arr) -> Arr:
    """Probabilities over all ``classes`` (a class unseen in training gets 0)."""
    out = np.zeros((len(p), len(classes)))
    for j, c in enumerate(model_classes):
        out[:, int(np.searchsorted(classes, c))] = p[:, j]
    return out


def classification_metrics(
    y: Arr, pred: Arr, proba: Arr | None, classes: Arr
) -> dict[str, float | None]:
    """Accuracy, balanced accuracy and log-loss (None without probabilities): the one
    definition every model and baseline is scored with."""
    ll = None
    if proba is not None:
        pt = proba[np.arange(len(y)), np.searchsorted(classes, y)]
        ll = float(-np.mean(np.log(np.clip(pt, _EPS, 1.0))))
    return {
        "accuracy": float(np.mean(pred == y)),
        "balanced_accuracy": float(balanced_accuracy_score(y, pred)),
        "log_loss": ll,
    }


def _as_2d(X: pl.DataFrame | Arr) -> Arr:
    a = X.cast(pl.Float64).to_numpy() if isinstance(X, pl.DataFrame) else np.asarray(X, float)
    if a.ndim != 2:
        fail(SplitConfigError, "evaluate_baselines", [f"X must be 2-D, got shape {a.shape}"])
    return np.asarray(a, dtype=np.float64)


def _as_1d(v: pl.Series | Arr) -> Arr:
    a = v.cast(pl.Float64).to_numpy() if isinstance(v, pl.Series) else np.asarray(v, float)
    return np.asarray(a, dtype=np.float64).reshape(-1)


def evaluate_baselines(
    X: pl.DataFrame | Arr,
    y: pl.Series | Arr,
    splits: PurgedWalkForward | Iterable[tuple[Arr, Arr]],
    *,
    last_return: pl.Series | Arr,
    seed: int = 0,
    models: Mapping[str, Callable[[], Model]] | None = None,
) -> BaselineReport:
    """Runs ``majority``, ``persistence``, ``logistic`` (and ``models``) on every fold.

    ``X`` (rows x features), ``y`` (integer class labels, null/NaN = no label) and
    ``last_return`` (the last completed return known at each row) are time-ordered and
    aligned. A row is used only where ``y``, every feature and ``last_return`` are finite,
    the same rows for every model; ``n_train``/``n_test`` count those rows.
    """
    Xa, ya, lr = _as_2d(X), _as_1d(y), _as_1d(last_return)
    n = len(Xa)
    bad = [
        f"{k} has {len(v)} rows, X has {n}"
        for k, v in (("y", ya), ("last_return", lr))
        if len(v) != n
    ]
    if bad:
        fail(SplitConfigError, "evaluate_baselines", bad)
    ok = np.isfinite(ya) & np.isfinite(Xa).all(axis=1) & np.isfinite(lr)
    classes = np.unique(ya[ok]).astype(np.int64)
    params: dict[str, Any] = {"seed": seed, "n_rows": n, "n_usable": int(ok.sum())}
    if isinstance(splits, PurgedWalkForward):
        params["splitter"] = splits.params()
        folds = list(splits.split(n))
    else:
        params["splitter"] = {"splitter": "explicit"}
        folds = list(splits)
    params["classes"] = classes.tolist()
    factories: dict[str, Callable[[], Any]] = {
        "majority": MajorityClass,
        "logistic": lambda: LogisticBaseline(seed=seed),
    }
    for name, make in (models or {}).items():
        if name in ("majority", "persistence", "logistic"):
            fail(SplitConfigError, "evaluate_baselines", [f"model name {name!r} is a baseline's"])
        factories[name] = make
    rows: list[dict[str, Any]] = []
    pooled: dict[str, list[tuple[Arr, Arr, Arr | None]]] = {}
    for k, (tr, te) in enumerate(folds):
        tr, te = tr[ok[tr]], te[ok[te]]
        if len(tr) == 0 or len(te) == 0:
            continue
        y_tr, y_te = ya[tr].astype(np.int64), ya[te].astype(np.int64)
        preds: dict[str, tuple[Arr, Arr | None]] = {
            "persistence": (Persistence().predict(lr[te]), None)
        }
        for name, make in factories.items():
            m = make().fit(Xa[tr], y_tr)
            proba = _proba_on(classes, np.asarray(m.classes_), m.predict_proba(Xa[te]))
            preds[name] = (classes[np.argmax(proba, axis=1)], proba)
        for name in ("majority", "persistence", "logistic", *(models or {})):
            pred, maybe_proba = preds[name]
            rows.append(
                {"fold": k, "model": name, "n_train": len(tr), "n_test": len(te)}
                | classification_metrics(y_te, pred, maybe_proba, classes)
            )
            pooled.setdefault(name, []).append((y_te, pred, maybe_proba))
    agg = []
    for name, parts in pooled.items():
        yy = np.concatenate([p[0] for p in parts])
        pp = np.concatenate([p[1] for p in parts])
        prob = None if parts[0][2] is None else np.concatenate([p[2] for p in parts])
        agg.append(
            {"model": name, "n_folds": len(parts), "n_test": len(yy)}
            | classification_metrics(yy, pp, prob, classes)
        )
    schema = {"log_loss": pl.Float64}
    return BaselineReport(
        per_fold=pl.DataFrame(rows, schema_overrides=schema),
        aggregate=pl.DataFrame(agg, schema_overrides=schema),
        params=params,
    )
