"""``POST /predict`` over HTTP (FastAPI's test client on the real app) with a real LightGBM
model in a registry: the production version scores rows, equal to the model's own
probabilities; the contract is checked (names, widths, types); gated rows say why; no
production version, an unknown family and a missing token are refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from pycontrol.inference import Model
from pycontrol.service.app import ServiceConfig, create_app
from pycontrol.testing import models as testing

TOKEN = "t0ken-for-tests"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, testing.Export]:
    root = tmp_path_factory.mktemp("registry")
    exp = testing.make_lightgbm(root.parent / "export", n_features=6, n_trees=10)
    testing.publish(root, exp.path, "test_family", "v1")
    testing.set_alias(root, "test_family", "production", "v1")
    (root / "other").mkdir()
    testing.set_alias(root, "other", "candidate", None)
    return root, exp


@pytest.fixture
def client(registry: tuple[Path, Any], tmp_path: Path) -> Iterator[TestClient]:
    root, _ = registry
    cfg = ServiceConfig(run_dir=tmp_path / "no-session", token=TOKEN, registry_root=root)
    with TestClient(create_app(cfg)) as c:
        c.headers["Authorization"] = f"Bearer {TOKEN}"
        yield c


def _finite(exp: testing.Export) -> np.ndarray[Any, Any]:
    x = exp.x.astype(np.float32)
    return x[np.isfinite(x).all(axis=1)]


def test_production_model_scores_rows_as_the_model_does(
    client: TestClient, registry: tuple[Path, testing.Export]
) -> None:
    root, exp = registry
    rows = _finite(exp)[:5]
    r = client.post("/predict", json={"family": "test_family", "rows": rows.tolist()})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["version"] == "v1" and body["features"] == exp.feature_names
    want = Model.load(root / "test_family" / "v1").predict_proba(rows)
    got = np.array([p["probabilities"] for p in body["predictions"]])
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
    assert [p["class"] for p in body["predictions"]] == [
        body["classes"][k] for k in np.argmax(want, axis=1)
    ]
    # rows as objects, any key order
    named = [
        dict(reversed(list(zip(exp.feature_names, map(float, r_), strict=True)))) for r_ in rows
    ]
    r2 = client.post("/predict", json={"family": "test_family", "rows": named})
    assert r2.status_code == 200 and r2.json()["predictions"] == body["predictions"]


def test_gated_rows_say_why(client: TestClient, registry: tuple[Path, testing.Export]) -> None:
    _, exp = registry
    row = _finite(exp)[0].astype(float).tolist()
    nan_row = [None, *row[1:]]
    r = client.post("/predict", json={"family": "test_family", "rows": [row, nan_row]})
    preds = r.json()["predictions"]
    assert "probabilities" in preds[0] and preds[1] == {"gated": "non_finite"}
    future = 4_000_000_000 * 10**9  # far past the model's max_age_days
    r = client.post("/predict", json={"family": "test_family", "rows": [row], "now_ns": future})
    assert r.json()["predictions"] == [{"gated": "stale"}]
    assert r.json()["gate_counts"]["stale"] >= 1


def test_contract_and_refusals(client: TestClient, registry: tuple[Path, testing.Export]) -> None:
    _, exp = registry
    names = exp.feature_names
    bad = client.post("/predict", json={"family": "test_family", "rows": [[1.0, 2.0]]})
    assert bad.status_code == 422 and "2 values, the model takes 6" in bad.text
    missing = {n: 0.0 for n in names[1:]} | {"nonsense": 1.0}
    bad = client.post("/predict", json={"family": "test_family", "rows": [missing]})
    assert bad.status_code == 422
    assert names[0] in bad.text and "nonsense" in bad.text
    bad = client.post("/predict", json={"family": "test_family", "rows": [["x"] * 6]})
    assert bad.status_code == 422 and "not numbers" in bad.text
    assert client.post("/predict", json={"family": "nope", "rows": [[0.0]]}).status_code == 404
    r = client.post("/predict", json={"family": "other", "rows": [[0.0]]})
    assert r.status_code == 409 and "no production version" in r.text
    assert client.post("/predict", json={"rows": [[0.0]]}).status_code == 422
    assert client.post("/predict", content=b"{oops").status_code == 400
    anon = client.post(
        "/predict", json={"family": "test_family", "rows": []}, headers={"Authorization": ""}
    )
    assert anon.status_code == 401
