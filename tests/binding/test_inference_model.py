"""`pycontrol.Model` from Python: load-time contract checks (every mismatch listed), typed
errors for corrupt files and bad inputs, gating with counted reasons."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pytest

import pycontrol
from pycontrol import (
    BadLineError,
    FeatureSet,
    InputShapeError,
    Model,
    ModelContractError,
    ModelFileError,
    OnnxRuntimeUnavailableError,
    UnsupportedModelError,
    _core,
)
from pycontrol.inference import Gated
from pycontrol.testing import models as testing

DAY_NS = 86_400 * 10**9


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> testing.Export:
    return testing.make_lightgbm(tmp_path_factory.mktemp("gbt"), n_features=6, n_trees=10)


def _copy(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


def _edit(path: Path, fn: Any) -> None:
    m = json.loads((path / "manifest.json").read_text())
    fn(m)
    (path / "manifest.json").write_text(json.dumps(m))


def _now(model: Model) -> int:
    created = datetime.strptime(model.manifest["created_at"], "%Y-%m-%dT%H:%M:%SZ")
    return int(created.replace(tzinfo=UTC).timestamp()) * 10**9


def test_loads_with_manifest_and_predicts(export: testing.Export) -> None:
    m = Model.load(export.path, feature_set=FeatureSet(export.feature_names))
    assert m.backend == "native-trees"
    assert m.model_id == export.model_id
    assert m.manifest["classes"] == ["SELL", "HOLD", "BUY"]
    p = m.predict_proba(export.x[:10])
    assert p.shape == (10, 3) and np.allclose(p.sum(axis=1), 1.0)
    assert list(m.predict(export.x[:10])) == list(p.argmax(axis=1))


def test_every_mismatch_is_listed(export: testing.Export, tmp_path: Path) -> None:
    bad = _copy(export.path, tmp_path / "bad")

    def spoil(m: dict[str, Any]) -> None:
        m["onnx"]["inputs"][0]["name"] = "features"
        m["onnx"]["outputs"][1]["shape"] = [-1, 4]
        m["feature_set"]["names"] = m["feature_set"]["names"][::-1]

    _edit(bad, spoil)
    with pytest.raises(ModelContractError) as e:
        Model.load(bad, feature_set=FeatureSet(export.feature_names))
    found = "\n".join(e.value.mismatches)
    assert "inputs[0].name" in found
    assert "probabilities" in found and "[-1, 4]" in found
    assert "feature_set.names" in found
    assert len(e.value.mismatches) >= 4
    assert e.value.path is not None and e.value.path.endswith("manifest.json")


def test_engine_feature_set_must_match(export: testing.Export) -> None:
    other = FeatureSet(testing.feature_names(7)[1:])
    with pytest.raises(ModelContractError) as e:
        Model.load(export.path, feature_set=other)
    assert any("feature_set.hash" in m for m in e.value.mismatches)
    assert isinstance(e.value, pycontrol.ModelError) and isinstance(e.value, pycontrol.CoreError)


def test_tampered_file_fails_the_hash(export: testing.Export, tmp_path: Path) -> None:
    bad = _copy(export.path, tmp_path / "tampered")
    with open(bad / "model.lgbm.txt", "a") as f:
        f.write("\n")
    with pytest.raises(ModelContractError, match=r"native\.sha256"):
        Model.load(bad)


def test_corrupt_onnx_is_a_model_file_error(export: testing.Export, tmp_path: Path) -> None:
    bad = _copy(export.path, tmp_path / "corrupt")
    (bad / "model.onnx").write_bytes(b"\x08\x07garbage" * 10)
    _edit(bad, lambda m: m["onnx"].update(sha256=testing.sha256(bad / "model.onnx")))
    with pytest.raises(ModelFileError) as e:
        Model.load(bad)
    assert e.value.path is not None and e.value.path.endswith("model.onnx")


def test_truncated_dump_names_the_line(export: testing.Export, tmp_path: Path) -> None:
    bad = _copy(export.path, tmp_path / "truncated")
    text = (bad / "model.lgbm.txt").read_text()
    (bad / "model.lgbm.txt").write_text(text[: len(text) // 2])
    _edit(bad, lambda m: m["native"].update(sha256=testing.sha256(bad / "model.lgbm.txt")))
    with pytest.raises(BadLineError) as e:
        Model.load(bad)
    assert e.value.record is not None and e.value.record > 0


def test_categorical_splits_are_refused(export: testing.Export, tmp_path: Path) -> None:
    bad = _copy(export.path, tmp_path / "categorical")
    x = export.x.copy()
    x[:, 0] = np.random.default_rng(0).integers(0, 5, size=len(x))
    y = (x[:, 0] > 2).astype(int) + (np.nan_to_num(x[:, 1]) > 0)
    booster = lgb.train(
        {"objective": "multiclass", "num_class": 3, "verbose": -1, "num_threads": 1},
        lgb.Dataset(x, y, categorical_feature=[0], feature_name=export.feature_names),
        num_boost_round=3,
    )
    booster.save_model(str(bad / "model.lgbm.txt"))
    _edit(bad, lambda m: m["native"].update(sha256=testing.sha256(bad / "model.lgbm.txt")))
    with pytest.raises(UnsupportedModelError, match="categorical"):
        Model.load(bad)
    # An ONNX-only load does not read the dump at all.
    assert Model.load(bad, prefer_native=False).backend == "onnx"


def test_bad_input_shapes(export: testing.Export) -> None:
    m = Model.load(export.path)
    with pytest.raises(InputShapeError, match=r"\[5\]"):
        m.predict_proba(np.zeros(5, dtype=np.float32))
    with pytest.raises(InputShapeError):
        m.predict_proba(np.zeros((3, 7), dtype=np.float32))
    with pytest.raises(InputShapeError):
        m.predict_proba(np.zeros((2, 3, 6), dtype=np.float32))


def test_missing_runtime_library_is_typed() -> None:
    with pytest.raises(OnnxRuntimeUnavailableError, match=r"/nowhere/libonnxruntime\.so\.1"):
        _core.init_onnxruntime("/nowhere/libonnxruntime.so.1")


def test_runtime_comes_from_the_wheel(export: testing.Export) -> None:
    Model.load(export.path)
    loaded = _core.onnxruntime_path()
    assert loaded is not None and "onnxruntime/capi/libonnxruntime.so" in loaded


def test_gates_count_each_reason(export: testing.Export) -> None:
    m = Model.load(export.path)
    now = _now(m)
    row = np.nanmedian(export.x, axis=0).astype(np.float32)
    assert not isinstance(m.infer_row(row, now), Gated)
    stale = now + 31 * DAY_NS
    assert m.infer_row(row, stale) == Gated("stale")
    nan_row = row.copy()
    nan_row[2] = np.nan
    assert m.infer_row(nan_row, now) == Gated("non_finite")
    far = row.copy()
    far[0] = float(np.nanmax(export.x[:, 0])) + 10.0
    assert m.infer_row(far, now) == Gated("out_of_bounds")
    # A batch: gated rows are NaN, the others match the ungated output.
    batch = np.vstack([row, nan_row, far, row])
    probs, reasons = m.infer(batch, now)
    assert reasons == [None, "non_finite", "out_of_bounds", None]
    assert np.isnan(probs[1]).all() and np.isnan(probs[2]).all()
    assert np.array_equal(probs[[0, 3]], m.predict_proba(batch[[0, 3]]))
    assert m.gate_counts() == {"passed": 3, "stale": 1, "non_finite": 2, "out_of_bounds": 2}


def test_bounds_tolerance_is_configurable(export: testing.Export) -> None:
    row = np.nanmedian(export.x, axis=0).astype(np.float32)
    lo, hi = np.nanmin(export.x[:, 0]), np.nanmax(export.x[:, 0])
    row[0] = hi + 0.2 * (hi - lo)
    strict = Model.load(export.path, bounds_tolerance=0.0)
    loose = Model.load(export.path, bounds_tolerance=0.5)
    now = _now(strict)
    assert strict.infer_row(row, now) == Gated("out_of_bounds")
    assert not isinstance(loose.infer_row(row, now), Gated)


def test_old_model_is_stale_against_event_time(tmp_path: Path) -> None:
    created = datetime(2024, 1, 2, tzinfo=UTC)
    exp = testing.make_lightgbm(tmp_path / "old", n_features=6, n_trees=3, created_at=created)
    m = Model.load(exp.path)
    row = np.nanmedian(exp.x, axis=0).astype(np.float32)
    in_backtest = int((created + timedelta(days=10)).timestamp()) * 10**9
    assert not isinstance(m.infer_row(row, in_backtest), Gated)
    assert m.infer_row(row, in_backtest + 21 * DAY_NS) == Gated("stale")
