"""Stacking meta-learner over member models' out-of-fold probabilities.

Fitted only on out-of-fold rows that precede the rows it predicts (the run hands it the
members' test-fold predictions from earlier folds, ending ``purge + embargo`` rows before
the fold, so every label it sees was complete before the fold starts):

1. weights: member ``m``'s accuracy over the last ``recent`` of those rows, normalised to
   sum 1 (all zero -> equal weights). "Recent" because a member that stopped working
   should lose weight quickly; the weights are frozen for the fold (and in the export),
   so the ONNX graph is a pure function of its input;
2. blend: ``sum_m w_m p_m``;
3. calibrate: multinomial logistic regression on ``log(max(blend, EPS))``.

The ONNX export (:meth:`Stacker.export_onnx`) takes the members' probabilities concatenated
(``member_probabilities``, ``[-1, M*C]``, member order as in the manifest's ``members``)
and does the same arithmetic with MatMul/Log/Softmax, so parity is exact up to float32.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression

Arr = np.ndarray[Any, Any]
EPS = 1e-6
# logit of a class the calibration rows never showed: exp(-30) ~ 1e-13, i.e. probability 0
_ABSENT = -30.0
OPSET = 15


class Stacker:
    """Recent-accuracy-weighted blend of ``M`` members over ``classes``, then calibration."""

    def __init__(self, classes: Arr, recent: int = 200, C: float = 1.0) -> None:
        self.classes = np.asarray(classes, dtype=np.int64)
        self.recent, self.C = int(recent), float(C)
        self.weights: Arr = np.zeros(0)
        self.coef: Arr = np.zeros(0)
        self.intercept: Arr = np.zeros(0)

    def _check(self, member_probs: Arr) -> Arr:
        p = np.asarray(member_probs, dtype=np.float64)
        if p.ndim != 3 or p.shape[2] != len(self.classes):
            raise ValueError(
                f"Stacker: member probabilities must be (members, rows, {len(self.classes)}), "
                f"got {p.shape}"
            )
        return p

    def blend(self, member_probs: Arr) -> Arr:
        p = self._check(member_probs)
        out: Arr = np.einsum("m,mrc->rc", self.weights, p)
        return out

    def fit(self, member_probs: Arr, y: Arr) -> Stacker:
        """``member_probs`` (members, rows, classes) and ``y`` in time order."""
        p = self._check(member_probs)
        y = np.asarray(y, dtype=np.int64)
        if p.shape[1] != len(y) or len(y) == 0:
            raise ValueError(f"Stacker.fit: {p.shape[1]} rows of probabilities, {len(y)} labels")
        tail = slice(max(0, len(y) - self.recent), len(y))
        acc = np.array([np.mean(self.classes[pm[tail].argmax(axis=1)] == y[tail]) for pm in p])
        self.weights = acc / acc.sum() if acc.sum() > 0 else np.full(len(p), 1.0 / len(p))
        z = np.log(np.maximum(self.blend(p), EPS))
        C = len(self.classes)
        coef = np.zeros((C, C))
        intercept = np.full(C, _ABSENT)
        seen = np.unique(y)
        idx = np.searchsorted(self.classes, seen)
        if len(seen) == 1:
            intercept[idx] = 0.0
        else:
            lr = LogisticRegression(C=self.C, max_iter=1000).fit(z, y)
            if len(seen) == 2:  # sklearn keeps one row: softmax([0, d]) = sigmoid(d)
                coef[idx[1]] = lr.coef_[0]
                intercept[idx[0]] = 0.0
                intercept[idx[1]] = lr.intercept_[0]
            else:
                coef[idx] = lr.coef_
                intercept[idx] = lr.intercept_
        self.coef, self.intercept = coef, intercept
        return self

    def predict_proba(self, member_probs: Arr) -> Arr:
        z = np.log(np.maximum(self.blend(member_probs), EPS))
        logits = z @ self.coef.T + self.intercept
        logits -= logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        out: Arr = e / e.sum(axis=1, keepdims=True)
        return out

    def proba_from_inputs(self, x: Arr) -> Arr:
        """Probabilities from the ONNX input layout ``(rows, M*C)``."""
        x = np.asarray(x, dtype=np.float32).astype(np.float64)
        m, c = len(self.weights), len(self.classes)
        return self.predict_proba(x.reshape(len(x), m, c).transpose(1, 0, 2))

    def export_onnx(self, path: Path) -> dict[str, Any]:
        """Writes the meta model; returns the manifest's ``onnx`` block (sans hash)."""
        import onnx
        from onnx import TensorProto, helper, numpy_helper

        m, c = len(self.weights), len(self.classes)
        # (M*C, C): column k sums w_m * p_m[k] over members
        w = np.zeros((m * c, c), dtype=np.float32)
        for j in range(m):
            w[j * c : (j + 1) * c] = self.weights[j] * np.eye(c, dtype=np.float32)
        inits = [
            numpy_helper.from_array(w, "blend_w"),
            numpy_helper.from_array(np.array(EPS, dtype=np.float32), "eps"),
            numpy_helper.from_array(self.coef.T.astype(np.float32), "coef_t"),
            numpy_helper.from_array(self.intercept.astype(np.float32), "intercept"),
            numpy_helper.from_array(self.classes.astype(np.int64), "class_values"),
        ]
        nodes = [
            helper.make_node("MatMul", ["member_probabilities", "blend_w"], ["blend"]),
            helper.make_node("Max", ["blend", "eps"], ["blend_floor"]),
            helper.make_node("Log", ["blend_floor"], ["log_blend"]),
            helper.make_node("MatMul", ["log_blend", "coef_t"], ["z"]),
            helper.make_node("Add", ["z", "intercept"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
            helper.make_node("ArgMax", ["probabilities"], ["argmax"], axis=1, keepdims=0),
            helper.make_node("Gather", ["class_values", "argmax"], ["label"], axis=0),
        ]
        graph = helper.make_graph(
            nodes,
            "stacking",
            [
                helper.make_tensor_value_info(
                    "member_probabilities", TensorProto.FLOAT, [None, m * c]
                )
            ],
            [
                helper.make_tensor_value_info("label", TensorProto.INT64, [None]),
                helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, c]),
            ],
            inits,
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
        model.ir_version = 8
        onnx.checker.check_model(model)
        path.write_bytes(model.SerializeToString())
        return {
            "opset": OPSET,
            "inputs": [{"name": "member_probabilities", "dtype": "float32", "shape": [-1, m * c]}],
            "outputs": [
                {"name": "label", "dtype": "int64", "shape": [-1]},
                {"name": "probabilities", "dtype": "float32", "shape": [-1, c]},
            ],
            "native": None,
        }
