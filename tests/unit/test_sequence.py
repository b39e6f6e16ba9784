"""Sequence models on synthetic windows: each architecture learns a planted lag-5 pattern from
raw (unscaled) features, fits are bit-reproducible, the ONNX export matches torch on 10k rows,
and bad configs or inputs raise typed errors that name every problem."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import torch

from pycontrol import ConfigError, CoreError
from pycontrol.training.errors import SequenceConfigError, SequenceInputError
from pycontrol.training.sequence import ARCHS, SequenceClassifier, SequenceConfig

L, F, LAG = 12, 4, 5
CLASSES = [-1, 1]  # class values that are not column indices, so label mapping is checked


def planted(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Windows whose label is the sign of feature 0, LAG steps before the last step.

    Features are on wildly different raw scales (level 100 +- 5, 1e-4 noise, a constant) so a
    model only learns if its built-in standardization works."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, L, F))
    X[:, :, 0] = 100.0 + 5.0 * X[:, :, 0]
    X[:, :, 1] *= 1e-4
    X[:, :, 2] = 7.0
    y = np.where(X[:, L - 1 - LAG, 0] > 100.0, 1, -1)
    return X.astype(np.float32), y


def config(arch: str, **kw: Any) -> SequenceConfig:
    base: dict[str, Any] = {
        "arch": arch,
        "lookback": L,
        "hidden": 16,
        "epochs": 8,
        "batch_size": 64,
        "lr": 1e-2,
    }
    return SequenceConfig(**(base | kw))


@pytest.fixture(scope="module")
def fitted() -> dict[str, SequenceClassifier]:
    X, y = planted(3000, seed=1)
    return {a: SequenceClassifier(config(a), F, CLASSES, seed=0).fit(X, y) for a in ARCHS}


@pytest.fixture(scope="module")
def held_out() -> tuple[np.ndarray, np.ndarray]:
    return planted(10_000, seed=2)


@pytest.mark.parametrize("arch", ARCHS)
def test_learns_planted_lag_pattern(
    arch: str, fitted: dict[str, SequenceClassifier], held_out: tuple[np.ndarray, np.ndarray]
) -> None:
    X, y = held_out
    model = fitted[arch]
    majority = max(np.mean(y == 1), np.mean(y == -1))
    acc = float(np.mean(model.predict(X) == y))
    assert 0.45 < majority < 0.55
    assert acc >= 0.9, f"{arch}: accuracy {acc:.3f} vs majority {majority:.3f}"
    assert model.loss_history_[-1] < model.loss_history_[0]
    assert len(model.epoch_seconds_) == model.config.epochs


@pytest.mark.parametrize("arch", ARCHS)
def test_probabilities_are_a_distribution_in_class_order(
    arch: str, fitted: dict[str, SequenceClassifier], held_out: tuple[np.ndarray, np.ndarray]
) -> None:
    X, y = held_out
    p = fitted[arch].predict_proba(X[:2000])
    assert p.shape == (2000, 2) and p.dtype == np.float32
    assert np.all((p >= 0) & (p <= 1))
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-5)
    # column 1 is class +1: its probability is high exactly where the planted label is +1
    assert np.mean((p[:, 1] > 0.5) == (y[:2000] == 1)) >= 0.9


def test_columns_follow_the_given_class_order() -> None:
    X, y = planted(3000, seed=5)
    model = SequenceClassifier(config("gru", epochs=5), F, [1, -1], seed=0).fit(X, y)
    p = model.predict_proba(X)
    assert np.mean((p[:, 0] > 0.5) == (y == 1)) > 0.8  # column 0 is class +1
    np.testing.assert_array_equal(model.predict(X), np.where(p[:, 0] > p[:, 1], 1, -1))


def test_scaling_lives_in_the_network(fitted: dict[str, SequenceClassifier]) -> None:
    net = fitted["lstm"]._net
    assert net is not None
    mean, std = net.scale.mean.numpy(), net.scale.std.numpy()
    assert abs(mean[0] - 100.0) < 0.5 and abs(std[0] - 5.0) < 0.2
    assert 5e-5 < std[1] < 2e-4
    assert mean[2] == pytest.approx(7.0) and std[2] == 1.0  # constant: centred, not scaled


@pytest.mark.parametrize("arch", ARCHS)
def test_onnx_export_matches_torch_on_10k_rows(
    arch: str,
    fitted: dict[str, SequenceClassifier],
    held_out: tuple[np.ndarray, np.ndarray],
    tmp_path: Path,
) -> None:
    model, (X, _) = fitted[arch], held_out
    path = tmp_path / f"{arch}.onnx"
    info = model.export_onnx(path)
    graph = onnx.load(str(path)).graph
    onnx.checker.check_model(onnx.load(str(path)))
    io = {
        v.name: (
            v.type.tensor_type.elem_type,
            [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim],
        )
        for v in [*graph.input, *graph.output]
    }
    assert io == {  # the batch axis is symbolic: any batch size runs
        "input": (onnx.TensorProto.FLOAT, ["batch", L, F]),
        "label": (onnx.TensorProto.INT64, ["batch"]),
        "probabilities": (onnx.TensorProto.FLOAT, ["batch", 2]),
    }
    assert info["opset"] >= 15
    assert info["inputs"] == [{"name": "input", "dtype": "float32", "shape": [-1, L, F]}]
    assert [o["name"] for o in info["outputs"]] == ["label", "probabilities"]
    assert info["outputs"][1]["shape"] == [-1, 2] and info["label"] == "class_value"

    rec = model.onnx_parity(path, X)
    assert rec["passed"], rec
    assert rec["rows"] == 10_000 and rec["max_abs_diff"] <= 1e-5 and rec["class_agreement"] == 1
    assert rec["reference"] == "torch"

    proba, label = model.onnx_proba(path, X[:3])  # a batch size other than the dummy's
    assert label.dtype == np.int64 and label.shape == (3,)
    np.testing.assert_array_equal(label, np.asarray(CLASSES)[proba.argmax(axis=1)])
    np.testing.assert_array_equal(label, model.predict(X[:3]))


def test_parity_fails_below_10k_rows(
    fitted: dict[str, SequenceClassifier],
    held_out: tuple[np.ndarray, np.ndarray],
    tmp_path: Path,
) -> None:
    model = fitted["gru"]
    path = tmp_path / "gru.onnx"
    model.export_onnx(path)
    rec = model.onnx_parity(path, held_out[0][:500])
    assert rec["max_abs_diff"] <= 1e-5 and not rec["passed"]


@pytest.mark.parametrize("arch", ["gru", "transformer"])
def test_same_seed_is_bit_identical_and_global_state_is_restored(arch: str) -> None:
    X, y = planted(400, seed=3)
    cfg = config(arch, epochs=2, dropout=0.1)
    threads, det = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    fast = torch.backends.mha.get_fastpath_enabled()
    rng = torch.get_rng_state()
    a = SequenceClassifier(cfg, F, CLASSES, seed=7).fit(X, y).predict_proba(X)
    b = SequenceClassifier(cfg, F, CLASSES, seed=7).fit(X, y).predict_proba(X)
    c = SequenceClassifier(cfg, F, CLASSES, seed=8).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert torch.get_num_threads() == threads
    assert torch.are_deterministic_algorithms_enabled() == det
    assert torch.equal(torch.get_rng_state(), rng)
    assert torch.backends.mha.get_fastpath_enabled() == fast


def test_config_defaults_pass_and_from_dict_round_trips() -> None:
    for arch in ARCHS:
        assert SequenceConfig.from_dict({"arch": arch}) == SequenceConfig(arch)
    cfg = SequenceConfig.from_dict({"arch": "transformer", "hidden": 48, "heads": 4})
    assert (cfg.hidden, cfg.heads, cfg.lookback) == (48, 4, 30)


def test_config_errors_list_every_violation() -> None:
    with pytest.raises(SequenceConfigError) as e:
        SequenceConfig.from_dict(
            {
                "arch": "transformer",
                "hidden": 30,
                "heads": 4,
                "lookback": 0,
                "dropout": 1.5,
                "lr": -1,
                "weight_decay": float("nan"),
                "batch_size": 2.5,
                "epochs": True,
                "threads": 0,
                "lookbak": 30,
            }
        )
    v = e.value.violations
    assert isinstance(e.value, ConfigError)
    for needle in (
        "unknown field 'lookbak'",
        "lookback must be",
        "hidden 30 must be divisible by heads 4",
        "dropout must be",
        "lr must be",
        "weight_decay must be",
        "batch_size must be",
        "epochs must be",
        "threads must be",
    ):
        assert any(needle in s for s in v), (needle, v)
    assert len(v) == 9


def test_config_needs_a_known_arch() -> None:
    with pytest.raises(SequenceConfigError, match="arch is required") as e:
        SequenceConfig.from_dict({"hidden": 0})
    assert len(e.value.violations) == 2  # the other fields are checked too
    with pytest.raises(SequenceConfigError, match="arch must be one of lstm, gru, transformer"):
        SequenceConfig("tcn")


def test_classifier_arguments_are_validated() -> None:
    with pytest.raises(SequenceConfigError) as e:
        SequenceClassifier(SequenceConfig("gru"), 0, [1, 1], seed=-1)
    assert len(e.value.violations) == 3


@pytest.mark.parametrize(
    ("X", "needle"),
    [
        (np.zeros((5, L * F), np.float32), "must be 3-D"),
        (np.zeros((5, L + 1, F), np.float32), f"lookback {L + 1}, the model expects {L}"),
        (np.zeros((5, L, F - 1), np.float32), f"{F - 1} features, the model expects {F}"),
        (np.zeros((0, L, F), np.float32), "no rows"),
        (np.full((5, L, F), "a"), "numeric"),
        (np.full((5, L, F), 1e39), "non-finite"),
    ],
)
def test_bad_windows_raise_a_typed_error_naming_the_problem(X: np.ndarray, needle: str) -> None:
    with pytest.raises(SequenceInputError, match=needle) as e:
        SequenceClassifier(config("lstm"), F, CLASSES, seed=0).fit(X, np.ones(len(X)))
    assert isinstance(e.value, ValueError) and isinstance(e.value, CoreError)
    assert e.value.path == "SequenceClassifier.fit(X)"


def test_nan_is_located_and_bad_labels_are_named(fitted: dict[str, SequenceClassifier]) -> None:
    X, y = planted(50, seed=4)
    X[7, 3, 2] = np.nan
    with pytest.raises(SequenceInputError, match=r"1 non-finite .* row 7, step 3, feature 2"):
        fitted["lstm"].predict_proba(X)
    X, y = planted(50, seed=4)
    model = SequenceClassifier(config("lstm"), F, CLASSES, seed=0)
    with pytest.raises(SequenceInputError, match="not fitted"):
        model.predict_proba(X)
    with pytest.raises(SequenceInputError, match=r"2 labels not in classes \[-1, 1\]"):
        model.fit(X, np.where(np.arange(50) < 2, 0, y))
    with pytest.raises(SequenceInputError, match="1-D with 50 rows"):
        model.fit(X, y[:-1])
