"""Python face of the core's inference: `Model` (one export/registry version folder),
`Ensemble` (members + stacking meta-learner) and `ModelSlot` (a family's hot-swappable
production model). All work runs in Rust with the GIL released; these classes convert
arrays to float32 and shape results.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from pycontrol import _core
from pycontrol.inference.runtime import ensure_onnxruntime

Array = np.ndarray[Any, Any]


@dataclass(frozen=True)
class Gated:
    """A prediction withheld by a gate: no signal. `reason` is one of GATE_REASONS."""

    reason: str


GATE_REASONS: tuple[str, ...] = tuple(_core.GATE_REASONS)


def _f32(x: Any) -> Array:
    return np.ascontiguousarray(x, dtype=np.float32)


def _names(feature_set: Any) -> list[str] | None:
    if feature_set is None:
        return None
    return list(feature_set.names())


class Model:
    """A loaded model. `backend` is "native-trees" (LightGBM dump evaluated in Rust) or
    "onnx" (ONNX Runtime); the contract between manifest, files and `feature_set` is checked
    at load (`ModelContractError` lists every mismatch)."""

    def __init__(self, inner: _core.Model) -> None:
        self._inner = inner
        self.manifest: dict[str, Any] = json.loads(inner.manifest_json)

    @classmethod
    def load(
        cls,
        path: str | PathLike[str],
        *,
        feature_set: Any = None,
        intra_threads: int = 1,
        prefer_native: bool = True,
        bounds_tolerance: float = 0.05,
        gate_non_finite: bool = True,
    ) -> Model:
        ensure_onnxruntime()
        inner = _core.Model.load(
            str(Path(path)),
            feature_names=_names(feature_set),
            intra_threads=intra_threads,
            prefer_native=prefer_native,
            bounds_tolerance=bounds_tolerance,
            gate_non_finite=gate_non_finite,
        )
        return cls(inner)

    @property
    def backend(self) -> str:
        return self._inner.backend

    @property
    def model_id(self) -> str:
        return self._inner.model_id

    @property
    def classes(self) -> list[str]:
        return list(self.manifest["classes"])

    @property
    def n_classes(self) -> int:
        return self._inner.n_classes

    @property
    def row_shape(self) -> tuple[int, ...]:
        return tuple(self._inner.row_shape)

    def predict_proba(self, x: Any) -> Array:
        """Probabilities (n, n_classes) of one row or a batch; no gating (parity, research)."""
        return self._inner.predict_proba(_f32(x))

    def predict(self, x: Any) -> Array:
        """Class indices (into `classes`) of one row or a batch."""
        out: Array = np.argmax(self.predict_proba(x), axis=1)
        return out

    def infer(self, x: Any, now_ns: int) -> tuple[Array, list[str | None]]:
        """Gated batch at clock `now_ns` (event time in backtests): probabilities with NaN
        rows where gated, and per row the gate reason or None. Counted in gate_counts()."""
        probs, reasons = self._inner.infer(_f32(x), int(now_ns))
        return probs, reasons

    def infer_row(self, row: Any, now_ns: int) -> Array | Gated:
        """One gated prediction: probabilities, or `Gated(reason)`."""
        probs, reasons = self._inner.infer(_f32(row), int(now_ns))
        reason = reasons[0]
        return Gated(reason) if reason is not None else probs[0]

    def gate_counts(self) -> dict[str, int]:
        return dict(self._inner.gate_counts())

    def __repr__(self) -> str:
        return f"Model({self.model_id}, backend={self.backend})"


class Ensemble:
    """Member models plus a stacking meta-learner: one calibrated probability per class."""

    def __init__(self, inner: _core.Ensemble) -> None:
        self._inner = inner

    @classmethod
    def load(
        cls,
        members: list[str | PathLike[str]],
        meta: str | PathLike[str],
        *,
        intra_threads: int = 1,
        prefer_native: bool = True,
        bounds_tolerance: float = 0.05,
        gate_non_finite: bool = True,
    ) -> Ensemble:
        ensure_onnxruntime()
        inner = _core.Ensemble.load(
            [str(m) for m in members],
            str(meta),
            intra_threads=intra_threads,
            prefer_native=prefer_native,
            bounds_tolerance=bounds_tolerance,
            gate_non_finite=gate_non_finite,
        )
        return cls(inner)

    @property
    def member_ids(self) -> list[str]:
        return list(self._inner.member_ids)

    @property
    def meta_id(self) -> str:
        return self._inner.meta_id

    def predict_proba(self, inputs: list[Any]) -> Array:
        """Ungated: one array per member (same rows), probabilities (n, n_classes)."""
        return self._inner.predict_proba([_f32(x) for x in inputs])

    def infer_row(self, inputs: list[Any], now_ns: int) -> Array | Gated:
        out = self._inner.infer_row([_f32(x) for x in inputs], int(now_ns))
        return Gated(out) if isinstance(out, str) else out

    def gate_counts(self) -> dict[str, int]:
        return dict(self._inner.gate_counts())


class ModelSlot:
    """The production model of one registry family, hot-swappable. `step` is one event of
    the hot path; `request_swap` (any thread) re-reads `aliases.json` and loads a changed
    production version in the background; it is swapped in between two events."""

    def __init__(
        self,
        root: str | PathLike[str],
        family: str,
        *,
        feature_set: Any = None,
        intra_threads: int = 1,
        prefer_native: bool = True,
        bounds_tolerance: float = 0.05,
        gate_non_finite: bool = True,
    ) -> None:
        ensure_onnxruntime()
        self._inner = _core.ModelSlot(
            str(root),
            family,
            feature_names=_names(feature_set),
            intra_threads=intra_threads,
            prefer_native=prefer_native,
            bounds_tolerance=bounds_tolerance,
            gate_non_finite=gate_non_finite,
        )

    @property
    def version(self) -> str:
        return self._inner.version

    @property
    def swaps(self) -> int:
        return self._inner.swaps

    @property
    def events(self) -> int:
        return self._inner.events

    def request_swap(self) -> None:
        self._inner.request_swap()

    def step(self, row: Any, now_ns: int) -> tuple[str, Array | Gated]:
        """One event: (version that served it, probabilities or Gated)."""
        version, probs, reason = self._inner.step(_f32(row), int(now_ns))
        if probs is None:
            return version, Gated(reason or "unknown")
        return version, probs

    def replay(self, rows: Any, now_ns: int) -> tuple[list[str], Array, Array, Array]:
        """Many events in one Rust loop: (versions, per-event version index, per-event gate
        code (-1 = predicted, else index into GATE_REASONS), probabilities)."""
        return self._inner.replay(_f32(rows), int(now_ns))

    def alerts(self) -> list[dict[str, Any]]:
        """Failed loads (the old model stayed): family, version, error, at_event."""
        return [dict(a) for a in self._inner.alerts()]

    def gate_counts(self) -> dict[str, int]:
        return dict(self._inner.gate_counts())
