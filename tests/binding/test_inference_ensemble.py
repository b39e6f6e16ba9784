"""`pycontrol.Ensemble`: members' probabilities stacked into a meta-learner, checked at load
(member ids and widths) and gated as a whole."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pycontrol import Ensemble, Model, ModelContractError
from pycontrol.inference import Gated
from pycontrol.testing import models as testing


@pytest.fixture(scope="module")
def parts(tmp_path_factory: pytest.TempPathFactory) -> tuple[testing.Export, ...]:
    d = tmp_path_factory.mktemp("ens")
    a = testing.make_lightgbm(d / "a", n_classes=3, n_features=6, n_trees=10, seed=1)
    b = testing.make_lightgbm(d / "b", n_classes=2, n_features=6, n_trees=10, seed=2)
    meta = testing.make_stacking(d / "meta", [a, b], [3, 2], n_classes=3)
    return a, b, meta


def test_stacked_probabilities_are_the_meta_of_the_members(
    parts: tuple[testing.Export, ...],
) -> None:
    a, b, meta = parts
    ens = Ensemble.load([a.path, b.path], meta.path)
    assert ens.member_ids == [a.model_id, b.model_id] and ens.meta_id == meta.model_id
    x = a.x[:500]
    got = ens.predict_proba([x, x])
    pa = Model.load(a.path).predict_proba(x)
    pb = Model.load(b.path).predict_proba(x)
    stacked = np.hstack([pa, pb]).astype(np.float32)
    want = Model.load(meta.path).predict_proba(stacked)
    assert got.shape == (500, 3)
    assert np.allclose(got, want, atol=1e-7)
    assert np.allclose(got.sum(axis=1), 1.0, atol=1e-6)


def test_a_gated_member_gates_the_ensemble(parts: tuple[testing.Export, ...]) -> None:
    a, b, meta = parts
    ens = Ensemble.load([a.path, b.path], meta.path)
    row = np.nanmedian(a.x, axis=0).astype(np.float32)
    ok = ens.infer_row([row, row], 0)
    assert not isinstance(ok, Gated) and ok.shape == (3,)
    nan = row.copy()
    nan[0] = np.nan
    assert ens.infer_row([row, nan], 0) == Gated("non_finite")
    assert ens.gate_counts()["passed"] == 1 and ens.gate_counts()["non_finite"] == 1


def test_members_must_be_the_ones_stacked(
    parts: tuple[testing.Export, ...], tmp_path: Path
) -> None:
    a, b, meta = parts
    with pytest.raises(ModelContractError) as e:
        Ensemble.load([b.path, a.path], meta.path)
    assert any("members" in m for m in e.value.mismatches)
    with pytest.raises(ModelContractError) as e:
        Ensemble.load([a.path, b.path], a.path)
    assert any("stacking" in m for m in e.value.mismatches)
