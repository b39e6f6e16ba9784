"""Probability calibration before Kelly: scores (expected calibration error, multi-class Brier)
and two calibrators fitted on out-of-fold predictions, chosen on inner folds, and appended to
an exported ONNX graph so the engine serves calibrated probabilities.

- ECE (top label, 10 equal-width bins of the top probability): sum over bins of
  ``n_bin / n * |accuracy_bin - mean confidence_bin|``.
- Brier (multi-class): mean over rows of ``sum_c (p_c - 1[y = c])^2``, 0..2.
- Platt (multinomial): ``softmax(log(max(p, 1e-7)) W^T + b)``, ``W, b`` by an L2-light
  multinomial logistic regression on the log probabilities.
- Isotonic (per class, then renormalised): scikit-learn's isotonic regression of
  ``1[y = c]`` on ``p_c``, sampled at 21 evenly spaced knots (0, 0.05, ..., 1) and linearly
  interpolated between them: ``v(x) = y_0 + sum_k s_k min(max(x - x_k, 0), 0.05)``. Still
  non-decreasing; continuous with slopes <= 20, so the graph's float32 rounding of its input
  (LightGBM: ~3e-7) moves a value by <= 6e-6, inside parity's 1e-5 (a raw step function, or
  knots at the data points, can jump across a step: parity failed that way). Floored at
  1e-6, then each row is renormalised to sum 1.
- Choice: forward-chained inner folds over the out-of-fold rows (time order): fit on the
  first ``k`` of ``n_inner + 1`` blocks, score Brier on block ``k + 1``; the method with the
  lower mean Brier wins (ties: Platt, the smoother).
- Walk-forward calibrated figures: for outer fold ``k``, the calibrator (method chosen on
  those rows) is fitted on the out-of-fold rows before fold ``k``'s training end, as the
  stacking meta-learner is, and applied to fold ``k``; fold 0 has nothing before it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

Arr = np.ndarray[Any, Any]
Method = Literal["platt", "isotonic"]
EPS_LOG = 1e-7
FLOOR = 1e-6
KNOTS = np.linspace(0.0, 1.0, 21)


def ece(proba: Arr, y: Arr, classes: Arr, bins: int = 10) -> float:
    conf = proba.max(axis=1)
    hit = classes[proba.argmax(axis=1)] == y
    idx = np.minimum((conf * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            total += m.mean() * abs(float(hit[m].mean()) - float(conf[m].mean()))
    return float(total)


def brier(proba: Arr, y: Arr, classes: Arr) -> float:
    onehot = (y[:, None] == classes[None, :]).astype(np.float64)
    return float(np.mean(((proba - onehot) ** 2).sum(axis=1)))


@dataclass
class Calibrator:
    """A fitted calibrator of ``n_classes`` probabilities (columns in class order)."""

    method: Method
    n_classes: int
    W: Arr = field(default_factory=lambda: np.zeros(0))
    b: Arr = field(default_factory=lambda: np.zeros(0))
    thresholds: list[Arr] = field(default_factory=list)
    values: list[Arr] = field(default_factory=list)

    @classmethod
    def fit(cls, method: Method, proba: Arr, y: Arr, classes: Arr) -> Calibrator:
        c = len(classes)
        cal = cls(method, c)
        if method == "platt":
            from sklearn.linear_model import LogisticRegression

            z = np.log(np.maximum(proba, EPS_LOG))
            lr = LogisticRegression(C=100.0, max_iter=2000)
            lr.fit(z, y)
            W = np.zeros((c, c))
            b = np.full(c, -30.0)  # a class never seen in calibration keeps ~0
            pos = np.searchsorted(classes, lr.classes_)
            if len(lr.classes_) == 2:  # sklearn's binary form: one row for the second class
                W[pos[1]], b[pos[1]] = lr.coef_[0], lr.intercept_[0]
                W[pos[0]], b[pos[0]] = 0.0, 0.0
            else:
                W[pos], b[pos] = lr.coef_, lr.intercept_
            cal.W, cal.b = W, b
        else:
            from sklearn.isotonic import IsotonicRegression

            for j in range(c):
                ir = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
                ir.fit(proba[:, j], (y == classes[j]).astype(np.float64))
                cal.thresholds.append(KNOTS.copy())
                cal.values.append(np.asarray(ir.predict(KNOTS), dtype=np.float64))
        return cal

    def _segments(self, j: int) -> tuple[Arr, Arr, Arr, float]:
        """(starts, widths, slopes, y_0) of class ``j``'s interpolation."""
        t, v = self.thresholds[j], self.values[j]
        w = np.diff(t)
        ok = w > 0
        s = np.zeros_like(w)
        s[ok] = np.diff(v)[ok] / w[ok]
        return t[:-1], w, s, float(v[0])

    def apply(self, proba: Arr) -> Arr:
        p = np.asarray(proba, dtype=np.float64)
        if self.method == "platt":
            z = np.log(np.maximum(p, EPS_LOG)) @ self.W.T + self.b
            z -= z.max(axis=1, keepdims=True)
            e = np.exp(z)
            soft: Arr = e / e.sum(axis=1, keepdims=True)
            return soft
        out = np.empty_like(p)
        for j in range(self.n_classes):
            t, w, s, y0 = self._segments(j)
            seg = np.minimum(np.maximum(p[:, j : j + 1] - t[None, :], 0.0), w[None, :])
            out[:, j] = y0 + seg @ s
        out = np.maximum(out, FLOOR)
        res: Arr = out / out.sum(axis=1, keepdims=True)
        return res

    @classmethod
    def from_description(cls, d: dict[str, Any]) -> Calibrator:
        """The calibrator ``describe()`` wrote (``calibration.json`` of an export)."""
        if d["method"] == "platt":
            W = np.asarray(d["W"], dtype=np.float64)
            return cls("platt", len(W), W=W, b=np.asarray(d["b"], dtype=np.float64))
        t = [np.asarray(x, dtype=np.float64) for x in d["thresholds"]]
        v = [np.asarray(x, dtype=np.float64) for x in d["values"]]
        return cls("isotonic", len(t), thresholds=t, values=v)

    def describe(self) -> dict[str, Any]:
        if self.method == "platt":
            return {"method": "platt", "W": self.W.tolist(), "b": self.b.tolist()}
        return {
            "method": "isotonic",
            "thresholds": [t.tolist() for t in self.thresholds],
            "values": [v.tolist() for v in self.values],
        }


def choose(
    proba: Arr,
    y: Arr,
    classes: Arr,
    n_inner: int = 3,
    methods: Sequence[Method] = ("platt", "isotonic"),
) -> Method:
    """Platt or isotonic (of ``methods``) by mean Brier on forward-chained inner folds
    (module docstring)."""
    blocks = np.array_split(np.arange(len(y)), n_inner + 1)
    score: dict[Method, list[float]] = {m: [] for m in methods}
    for k in range(1, n_inner + 1):
        fit = np.concatenate(blocks[:k])
        test = blocks[k]
        if len(np.unique(y[fit])) < 2 or len(test) == 0:
            continue
        for m in score:
            cal = Calibrator.fit(m, proba[fit], y[fit], classes)
            score[m].append(brier(cal.apply(proba[test]), y[test], classes))
    if not all(score.values()):
        return methods[0]
    return min(methods, key=lambda m: (float(np.mean(score[m])), m != "platt"))


def walk_forward(
    oof: Arr, y: Arr, classes: Arr, folds: Sequence[tuple[Arr, Arr]], scored: Sequence[int]
) -> tuple[Arr, list[int]]:
    """Out-of-fold probabilities calibrated fold by fold (module docstring); returns them
    and the folds calibrated (NaN rows elsewhere)."""
    have: Arr = np.asarray(np.isfinite(oof).all(axis=1))
    out = np.full_like(oof, np.nan)
    done: list[int] = []
    for k in scored:
        train, test = folds[k]
        end = int(train[-1]) + 1 if len(train) else 0
        rows = np.flatnonzero(have[:end])
        if len(rows) < 50 or len(np.unique(y[rows])) < 2:
            continue
        method = choose(oof[rows], y[rows], classes)
        out[test] = Calibrator.fit(method, oof[rows], y[rows], classes).apply(oof[test])
        done.append(k)
    return out, done


def append_to_onnx(path: Path, cal: Calibrator, class_values: Sequence[int]) -> None:
    """Rewrites ``path`` so its ``probabilities`` output is calibrated by ``cal`` and its
    ``label`` is ``class_values[argmax]`` of the calibrated probabilities; the original
    outputs are kept inside the graph under ``raw_probabilities`` / ``raw_label``."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(path))
    g = model.graph
    raw = {"probabilities": "raw_probabilities", "label": "raw_label"}
    for node in g.node:  # producers and in-graph consumers (a torch graph's ArgMax) alike
        node.output[:] = [raw.get(o, o) for o in node.output]
        node.input[:] = [raw.get(i, i) for i in node.input]
    c = cal.n_classes

    def const(name: str, arr: Arr, dtype: Any = np.float32) -> str:
        g.initializer.append(numpy_helper.from_array(np.asarray(arr, dtype=dtype), name))
        return name

    nodes = []
    if cal.method == "platt":
        const("cal_eps", np.array(EPS_LOG))
        const("cal_Wt", cal.W.T)
        const("cal_b", cal.b)
        nodes += [
            helper.make_node("Max", ["raw_probabilities", "cal_eps"], ["cal_floor"]),
            helper.make_node("Log", ["cal_floor"], ["cal_log"]),
            helper.make_node("MatMul", ["cal_log", "cal_Wt"], ["cal_z0"]),
            helper.make_node("Add", ["cal_z0", "cal_b"], ["cal_z"]),
            helper.make_node("Softmax", ["cal_z"], ["probabilities"], axis=1),
        ]
    else:
        k = max(1, max(len(t) - 1 for t in cal.thresholds))
        T = np.zeros((c, k))
        W = np.zeros((c, k))  # padding: zero width and slope, adds nothing
        S = np.zeros((c, k))
        Y0 = np.zeros(c)
        for j in range(c):
            t, w, s, y0 = cal._segments(j)
            T[j, : len(t)], W[j, : len(w)], S[j, : len(s)], Y0[j] = t, w, s, y0
        const("cal_T", T[None, :, :])
        const("cal_W", W[None, :, :])
        const("cal_S", S[None, :, :])
        const("cal_Y0", Y0)
        const("cal_zero", np.array(0.0))
        const("cal_onesK", np.ones((k, 1)))
        const("cal_onesC", np.ones((c, 1)))
        const("cal_floor_v", np.array(FLOOR))
        const("cal_shape3", np.array([-1, c, 1]), np.int64)
        const("cal_shape", np.array([-1, c]), np.int64)
        nodes += [
            helper.make_node("Reshape", ["raw_probabilities", "cal_shape3"], ["cal_x3"]),
            helper.make_node("Sub", ["cal_x3", "cal_T"], ["cal_dx"]),
            helper.make_node("Max", ["cal_dx", "cal_zero"], ["cal_pos"]),
            helper.make_node("Min", ["cal_pos", "cal_W"], ["cal_seg"]),
            helper.make_node("Mul", ["cal_seg", "cal_S"], ["cal_rise"]),
            helper.make_node("MatMul", ["cal_rise", "cal_onesK"], ["cal_sum3"]),
            helper.make_node("Reshape", ["cal_sum3", "cal_shape"], ["cal_sum"]),
            helper.make_node("Add", ["cal_sum", "cal_Y0"], ["cal_v"]),
            helper.make_node("Max", ["cal_v", "cal_floor_v"], ["cal_vf"]),
            helper.make_node("MatMul", ["cal_vf", "cal_onesC"], ["cal_rowsum"]),
            helper.make_node("Div", ["cal_vf", "cal_rowsum"], ["probabilities"]),
        ]
    const("cal_class_values", np.asarray(class_values), np.int64)
    nodes += [
        helper.make_node("ArgMax", ["probabilities"], ["cal_arg"], axis=1, keepdims=0),
        helper.make_node("Gather", ["cal_class_values", "cal_arg"], ["label"], axis=0),
    ]
    g.node.extend(nodes)
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())
