"""Sequence classifiers over lookback windows (LSTM, GRU, a small Transformer encoder),
trained with torch on CPU and exported to ONNX for the Rust engine.

Input: ``(rows, lookback, features)`` float32 windows of RAW features
(:func:`pycontrol.training.windows.make_windows`), the values the engine computes live.
Per-feature standardization is part of the network (buffers fitted on the training windows),
so the exported graph takes raw features too and no scaler has to travel beside it.

Choices, and why:

- Loss: plain (unweighted) cross-entropy. Class weights would buy balanced accuracy at the
  price of probabilities that no longer estimate the class frequencies; the decision layer
  sets thresholds on calibrated probabilities, so imbalance is handled there, not here.
- Recurrent nets classify from the last time step's hidden state (the state at the decision
  time). The Transformer uses a learned positional embedding (a window has a fixed length)
  and mean pooling over time steps (every step contributes, more stable than one token),
  pre-norm layers (train without warm-up at this size).
- Determinism: one seed fixes the initial weights, the shuffling order and dropout; ``fit``
  and ``predict_proba`` run single-process with ``config.threads`` intra-op threads and
  deterministic algorithms, and restore torch's global RNG, thread count and determinism
  flag afterwards. Bit-identical results hold for the same seed, data, config and thread
  count (a different thread count may change float summation order).
- ONNX: ``label`` is the class VALUE (``classes[argmax]``, as LightGBM exports label), not
  the column index; ``probabilities`` are in ``classes`` order.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from pycontrol.training.errors import SequenceConfigError, bad_input, fail, unknown_fields
from pycontrol.training.parity import parity

ARCHS = ("lstm", "gru", "transformer")
# The legacy (TorchScript) exporter's maximum opset; all three archs export and match torch
# at it in onnxruntime 1.31 (and 1.28, the Rust `ort` API level). The Transformer needs >= 17
# (LayerNormalization).
OPSET = 20
# A feature whose training std is below this is treated as constant: centred, not scaled
# (dividing by ~0 would turn tiny live deviations into huge inputs).
STD_FLOOR = 1e-8
# Rows per forward pass when predicting: bounds memory, not results (rows are independent).
_PREDICT_BATCH = 8192
# Gradient-norm clip: recurrent nets on raw-ish market features have rare exploding steps.
_CLIP = 1.0

F32 = np.ndarray[Any, np.dtype[np.float32]]


def _is_int(v: object) -> bool:
    return isinstance(v, int | np.integer) and not isinstance(v, bool)


def _is_num(v: object) -> bool:
    return isinstance(v, int | float | np.number) and not isinstance(v, bool) and math.isfinite(v)


@dataclass(frozen=True)
class SequenceConfig:
    """Architecture and training settings of one :class:`SequenceClassifier`.

    ``lookback`` is the window length in bars; ``hidden`` the recurrent state / model width;
    ``heads`` applies to the Transformer only (``hidden % heads == 0``); ``dropout`` applies
    between stacked layers and before the head; ``threads`` is torch's intra-op thread count
    during fit and predict (part of the determinism contract)."""

    arch: str
    lookback: int = 30
    hidden: int = 32
    layers: int = 1
    heads: int = 2
    dropout: float = 0.0
    epochs: int = 10
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 0.0
    threads: int = 1

    def __post_init__(self) -> None:
        bad: list[str] = []
        if self.arch not in ARCHS:
            bad.append(f"arch must be one of {', '.join(ARCHS)}, got {self.arch!r}")
        for name in ("lookback", "hidden", "layers", "heads", "epochs", "batch_size", "threads"):
            v = getattr(self, name)
            if not _is_int(v) or int(v) < 1:
                bad.append(f"{name} must be an int >= 1, got {v!r}")
        ints_ok = _is_int(self.hidden) and _is_int(self.heads) and self.heads >= 1
        if self.arch == "transformer" and ints_ok and self.hidden % self.heads != 0:
            bad.append(f"hidden {self.hidden} must be divisible by heads {self.heads}")
        if not _is_num(self.dropout) or not 0.0 <= self.dropout < 1.0:
            bad.append(f"dropout must be a number in [0, 1), got {self.dropout!r}")
        if not _is_num(self.lr) or self.lr <= 0:
            bad.append(f"lr must be a finite number > 0, got {self.lr!r}")
        if not _is_num(self.weight_decay) or self.weight_decay < 0:
            bad.append(f"weight_decay must be a finite number >= 0, got {self.weight_decay!r}")
        if bad:
            fail(SequenceConfigError, "SequenceConfig", bad)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SequenceConfig:
        """Builds a config from a mapping (a TOML table); unknown keys, a missing ``arch`` and
        every bad value are reported together in one :class:`SequenceConfigError`."""
        known = [f.name for f in fields(cls)]
        bad = unknown_fields(data, known)
        kwargs = {k: v for k, v in data.items() if k in known}
        if "arch" not in data:
            bad.append("arch is required")
            kwargs["arch"] = "lstm"  # a stand-in, so the other fields are still checked
        try:
            obj = cls(**kwargs)
        except SequenceConfigError as e:
            bad += e.violations
        if bad:
            fail(SequenceConfigError, "SequenceConfig", bad)
        return obj


class _Standardize(nn.Module):
    """(x - mean) / std per feature; buffers, so they are saved and exported with the net."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, n_features: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_features))
        self.register_buffer("std", torch.ones(n_features))

    def fit(self, X: F32) -> None:
        flat = X.reshape(-1, X.shape[-1]).astype(np.float64)  # float64: no drift on 1e6 rows
        mean = flat.mean(axis=0)
        std = flat.std(axis=0)
        std = np.where(std < STD_FLOOR, 1.0, std)
        self.mean.copy_(torch.from_numpy(mean.astype(np.float32)))
        self.std.copy_(torch.from_numpy(std.astype(np.float32)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class _Recurrent(nn.Module):
    """LSTM or GRU; the head reads the hidden state at the last step (the decision time)."""

    def __init__(self, cfg: SequenceConfig, n_features: int, n_classes: int) -> None:
        super().__init__()
        cell = nn.LSTM if cfg.arch == "lstm" else nn.GRU
        self.rnn = cell(
            n_features,
            cfg.hidden,
            num_layers=cfg.layers,
            batch_first=True,
            dropout=cfg.dropout if cfg.layers > 1 else 0.0,  # torch warns on 1 layer
        )
        self.drop = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(cfg.hidden, n_classes)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(z)
        logits: torch.Tensor = self.head(self.drop(out[:, -1, :]))
        return logits


class _Transformer(nn.Module):
    """Linear input projection + learned positions, pre-norm encoder, mean pooling."""

    def __init__(self, cfg: SequenceConfig, n_features: int, n_classes: int) -> None:
        super().__init__()
        self.proj = nn.Linear(n_features, cfg.hidden)
        self.pos = nn.Parameter(torch.randn(1, cfg.lookback, cfg.hidden) * 0.02)
        layer = nn.TransformerEncoderLayer(
            cfg.hidden,
            cfg.heads,
            dim_feedforward=2 * cfg.hidden,
            dropout=cfg.dropout,
            batch_first=True,
            norm_first=True,
        )
        # No nested tensors: there is no padding mask, and the plain path exports to ONNX.
        self.encoder = nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(cfg.hidden)
        self.drop = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(cfg.hidden, n_classes)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.encoder(self.proj(z) + self.pos)
        logits: torch.Tensor = self.head(self.drop(self.norm(h.mean(dim=1))))
        return logits


class _Net(nn.Module):
    """Raw windows in, logits out: scaling, body and head in one module."""

    def __init__(self, cfg: SequenceConfig, n_features: int, n_classes: int) -> None:
        super().__init__()
        self.scale = _Standardize(n_features)
        self.body: nn.Module = (
            _Transformer(cfg, n_features, n_classes)
            if cfg.arch == "transformer"
            else _Recurrent(cfg, n_features, n_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.body(self.scale(x))
        return logits


class _Exported(nn.Module):
    """The graph the engine runs: ``input`` -> (``label`` class value, ``probabilities``)."""

    class_values: torch.Tensor

    def __init__(self, net: _Net, classes: Sequence[int]) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("class_values", torch.tensor(list(classes), dtype=torch.int64))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        proba = torch.softmax(self.net(x), dim=1)
        return self.class_values[torch.argmax(proba, dim=1)], proba


@contextmanager
def _torch_session(threads: int, seed: int | None) -> Iterator[None]:
    """Runs the body with ``threads`` intra-op threads, deterministic algorithms, no fused
    attention fast path (and, with a seed, a freshly seeded global RNG for init and dropout),
    then restores all four."""
    prev_threads = torch.get_num_threads()
    prev_det = torch.are_deterministic_algorithms_enabled()
    prev_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    prev_fast = torch.backends.mha.get_fastpath_enabled()
    with torch.random.fork_rng(devices=[]):
        try:
            torch.set_num_threads(threads)
            torch.use_deterministic_algorithms(True)
            # The fused Transformer inference kernel has no ONNX export; without it torch
            # predicts with the same ops the exported graph runs.
            torch.backends.mha.set_fastpath_enabled(False)
            if seed is not None:
                torch.manual_seed(seed)
            yield
        finally:
            torch.backends.mha.set_fastpath_enabled(prev_fast)
            torch.use_deterministic_algorithms(prev_det, warn_only=prev_warn)
            torch.set_num_threads(prev_threads)


class SequenceClassifier:
    """One sequence model: ``fit`` on windows and labels, ``predict_proba``, ``export_onnx``
    and ``onnx_parity`` (the export check the registry gates on).

    ``classes`` are the label values (e.g. ``[-1, 0, 1]``); probability column ``j`` is
    ``classes[j]``. After ``fit``: ``loss_history_`` (mean training loss per epoch) and
    ``epoch_seconds_`` (wall time per epoch)."""

    def __init__(
        self, config: SequenceConfig, n_features: int, classes: Sequence[int], seed: int
    ) -> None:
        bad: list[str] = []
        if not isinstance(config, SequenceConfig):
            bad.append(f"config must be a SequenceConfig, got {type(config).__name__}")
        if not _is_int(n_features) or n_features < 1:
            bad.append(f"n_features must be an int >= 1, got {n_features!r}")
        cls_list = list(classes) if isinstance(classes, Sequence | np.ndarray) else None
        if cls_list is None or not all(_is_int(c) for c in cls_list):
            bad.append(f"classes must be a sequence of ints, got {classes!r}")
        elif len(cls_list) < 2 or len(set(cls_list)) != len(cls_list):
            bad.append(f"classes must hold >= 2 distinct values, got {cls_list}")
        if not _is_int(seed) or seed < 0:
            bad.append(f"seed must be an int >= 0, got {seed!r}")
        if bad:
            fail(SequenceConfigError, "SequenceClassifier", bad)
        self.config = config
        self.n_features = int(n_features)
        self.classes: tuple[int, ...] = tuple(int(c) for c in cls_list or ())
        self.seed = int(seed)
        self._net: _Net | None = None
        self.loss_history_: list[float] = []
        self.epoch_seconds_: list[float] = []

    # -- input checks -----------------------------------------------------------------
    def _check_X(self, X: Any, where: str) -> F32:
        where = f"SequenceClassifier.{where}(X)"
        a = np.asarray(X)
        L, F = self.config.lookback, self.n_features
        if a.ndim != 3:
            bad_input(where, [f"X must be 3-D (rows, {L}, {F}), got shape {a.shape}"])
        bad = []
        if a.shape[0] < 1:
            bad.append("X has no rows")
        if a.shape[1] != L:
            bad.append(f"X has lookback {a.shape[1]}, the model expects {L}")
        if a.shape[2] != F:
            bad.append(f"X has {a.shape[2]} features, the model expects {F}")
        if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
            bad.append(f"X must be numeric, got dtype {a.dtype}")
        if bad:
            bad_input(where, bad)
        with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported just below
            x = np.ascontiguousarray(a, dtype=np.float32)
        finite = np.isfinite(x)
        if not finite.all():
            r, t, f = (int(i) for i in np.argwhere(~finite)[0])
            bad_input(
                where,
                [
                    f"X has {int((~finite).sum())} non-finite values (NaN/inf, or too large "
                    f"for float32); first at row {r}, step {t}, feature {f}"
                ],
            )
        return x

    def _check_y(self, y: Any, n: int) -> np.ndarray[Any, np.dtype[np.int64]]:
        where = "SequenceClassifier.fit(y)"
        a = np.asarray(y)
        if a.ndim != 1 or a.shape[0] != n:
            bad_input(where, [f"y must be 1-D with {n} rows (one per window), got {a.shape}"])
        if not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
            bad_input(where, [f"y must hold integer labels, got dtype {a.dtype}"])
        af = a.astype(np.float64)
        known = np.isin(af, np.asarray(self.classes, dtype=np.float64))
        if not known.all():
            bad_vals = np.unique(af[~known])[:5].tolist()
            bad_input(
                where,
                [
                    f"y has {int((~known).sum())} labels not in classes {list(self.classes)} "
                    f"(e.g. {bad_vals}); drop unlabeled rows before fit"
                ],
            )
        order = np.argsort(self.classes)
        sorted_vals = np.asarray(self.classes, dtype=np.float64)[order]
        return order[np.searchsorted(sorted_vals, af)].astype(np.int64)

    def _fitted(self, where: str) -> _Net:
        if self._net is None:
            bad_input(f"SequenceClassifier.{where}", ["the model is not fitted; call fit first"])
        return self._net

    # -- training and prediction ------------------------------------------------------
    def fit(self, X: np.ndarray[Any, Any], y: np.ndarray[Any, Any]) -> SequenceClassifier:
        """Trains from scratch (a refit forgets the previous weights)."""
        x = self._check_X(X, "fit")
        yi = self._check_y(y, len(x))
        cfg = self.config
        self.loss_history_, self.epoch_seconds_ = [], []
        with _torch_session(cfg.threads, self.seed):
            net = _Net(cfg, self.n_features, len(self.classes))
            net.scale.fit(x)
            opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
            gen = torch.Generator().manual_seed(self.seed)
            xt, yt = torch.from_numpy(x), torch.from_numpy(yi)
            n = len(x)
            for _ in range(cfg.epochs):
                t0 = time.perf_counter()
                net.train()
                perm = torch.randperm(n, generator=gen)
                total = 0.0
                for start in range(0, n, cfg.batch_size):
                    idx = perm[start : start + cfg.batch_size]
                    loss = nn.functional.cross_entropy(net(xt[idx]), yt[idx])
                    opt.zero_grad(set_to_none=True)
                    loss.backward()  # type: ignore[no-untyped-call]  # torch stub lacks it
                    nn.utils.clip_grad_norm_(net.parameters(), _CLIP)
                    opt.step()
                    total += float(loss.detach()) * len(idx)
                self.loss_history_.append(total / n)
                self.epoch_seconds_.append(time.perf_counter() - t0)
            net.eval()
        self._net = net
        return self

    def predict_proba(self, X: np.ndarray[Any, Any]) -> F32:
        """(rows, len(classes)) float32 softmax probabilities, columns in ``classes`` order."""
        net = self._fitted("predict_proba")
        x = self._check_X(X, "predict_proba")
        out = np.empty((len(x), len(self.classes)), dtype=np.float32)
        with _torch_session(self.config.threads, None), torch.no_grad():
            for s in range(0, len(x), _PREDICT_BATCH):
                chunk = torch.from_numpy(x[s : s + _PREDICT_BATCH])
                out[s : s + len(chunk)] = torch.softmax(net(chunk), dim=1).numpy()
        return out

    def predict(self, X: np.ndarray[Any, Any]) -> np.ndarray[Any, np.dtype[np.int64]]:
        """The most probable class value per row (what the ONNX ``label`` output gives)."""
        values = np.asarray(self.classes, dtype=np.int64)
        out: np.ndarray[Any, np.dtype[np.int64]] = values[self.predict_proba(X).argmax(axis=1)]
        return out

    # -- export ---------------------------------------------------------------------
    def export_onnx(self, path: Path) -> dict[str, Any]:
        """Writes the ONNX model to ``path``; returns its interface for the manifest's ``onnx``
        section (``opset``, ``inputs``, ``outputs``), plus ``label`` = ``"class_value"``
        (the ``label`` output is ``classes[argmax]``) and ``class_values``."""
        net = self._fitted("export_onnx")
        L, F, C = self.config.lookback, self.n_features, len(self.classes)
        wrapper = _Exported(net, self.classes).eval()
        dummy = torch.zeros(2, L, F, dtype=torch.float32)
        path = Path(path)
        with _torch_session(self.config.threads, None), torch.no_grad(), warnings.catch_warnings():
            # The tracer warns that RNN shape checks become constants and that a dummy batch
            # of 2 may not generalize to other batch sizes: the batch axis is dynamic and
            # onnx_parity (and the tests) run other batch sizes, so these warnings are noise.
            warnings.filterwarnings("ignore", message="Converting a tensor to a Python boolean")
            warnings.filterwarnings("ignore", message="Exporting a model to ONNX with a batch_size")
            torch.onnx.export(
                wrapper,
                (dummy,),
                str(path),
                input_names=["input"],
                output_names=["label", "probabilities"],
                dynamic_axes={
                    "input": {0: "batch"},
                    "label": {0: "batch"},
                    "probabilities": {0: "batch"},
                },
                opset_version=OPSET,
                dynamo=False,
            )
        return {
            "opset": OPSET,
            "inputs": [{"name": "input", "dtype": "float32", "shape": [-1, L, F]}],
            "outputs": [
                {"name": "label", "dtype": "int64", "shape": [-1]},
                {"name": "probabilities", "dtype": "float32", "shape": [-1, C]},
            ],
            "label": "class_value",
            "class_values": list(self.classes),
            "sequence": {"lookback": L},
        }

    def onnx_proba(self, path: Path, X: np.ndarray[Any, Any]) -> tuple[F32, np.ndarray[Any, Any]]:
        """(probabilities, label) from the exported model at ``path``, run by onnxruntime."""
        import onnxruntime as ort  # only the export check needs it

        x = self._check_X(X, "onnx_proba")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.config.threads
        opts.inter_op_num_threads = 1
        sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        label, proba = sess.run(["label", "probabilities"], {"input": x})
        return np.asarray(proba, dtype=np.float32), np.asarray(label)

    def onnx_parity(
        self,
        path: Path,
        X: np.ndarray[Any, Any],
        source: str = "held-out",
        reference: np.ndarray[Any, Any] | None = None,
    ) -> dict[str, Any]:
        """The parity record (docs/model-manifest.md ``parity``) of the ONNX model at ``path``
        against this model on windows ``X`` (held-out rows; >= 10,000 for ``passed``).

        ``reference``: this model's ``predict_proba(X)`` when the caller already has it (it
        is recomputed otherwise)."""
        ref = self.predict_proba(X) if reference is None else reference
        got, _ = self.onnx_proba(path, X)
        return parity(ref, got, "torch", source=source)
