"""The seed's base learners (random forest, RBF SVM, MLP; scikit-learn) as members of a real
family on 6E hourly bars: trained over seeds on the purged walk-forward, stacked, exported
to ONNX with their scaling and calibrator inside the graph, parity passed on held-out rows,
and every one a trial in the family's ledger."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from pycontrol import FeatureSet, Model
from pycontrol.registry import trials as ledger
from pycontrol.registry.contract import check_export
from pycontrol.training import run
from pycontrol.training.config import TrainConfig, TrainConfigError

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
MODELS = [
    {"name": "rf", "kind": "random_forest", "params": {"n_estimators": 50, "max_depth": 4}},
    {"name": "svm", "kind": "svm", "params": {"C": 1.0}},
    {"name": "mlp", "kind": "mlp", "params": {"hidden": 16, "alpha": 0.01}},
]


def test_base_learners_train_export_and_pass_parity(shared_data: Path, tmp_path: Path) -> None:
    raw = TrainConfig.load(ROOT / "configs" / "train" / "regime_hourly.toml").raw
    cfg = TrainConfig.from_dict(
        {**raw, "seeds": [0], "models": MODELS, "tracking": {"enabled": False}}
    )
    runs = tmp_path / "runs"
    res = run.train(cfg, runs, data_root=shared_data, progress=False, tracking=False)
    assert sorted(res.manifests) == ["mlp", "rf", "stacking", "svm"]
    for name in ("rf", "svm", "mlp"):
        man = check_export(res.folder / "export" / name)  # schema, cross-field, hashes
        assert man["parity"]["passed"] and man["parity"]["rows"] >= 10_000, name
        assert man["native"] is None
        agg = man["metrics"]["aggregate"]
        # float32 graphs of the SVM and MLP differ by ~1e-6: Platt only (log space)
        if name != "rf":
            assert agg["calibration"]["method"] == "platt"
        assert {"net_usd", "psr", "dsr", "pbo", "rank_ic"} <= set(agg["trading"])
        n = len(man["feature_set"]["names"])
        lo, hi = np.array(man["input_bounds"]["min"]), np.array(man["input_bounds"]["max"])
        x = (lo + np.random.default_rng(2).uniform(size=(50, n)) * (hi - lo)).astype("f4")
        sess = ort.InferenceSession(str(res.folder / "export" / name / "model.onnx"))
        label, proba = sess.run(["label", "probabilities"], {"input": x})
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
        assert set(label.tolist()) <= {-2, -1, 0, 1, 2}
        # the Rust core loads the export (its manifest contract) and serves the same rows
        core = Model.load(
            res.folder / "export" / name, feature_set=FeatureSet(man["feature_set"]["names"])
        )
        np.testing.assert_allclose(core.predict_proba(x), proba, atol=1e-6)
        print(
            f"\n{name}: accuracy {agg['model']['accuracy']:.3f} (best baseline "
            f"{agg['best_baseline_accuracy']:.3f}), parity {man['parity']['max_abs_diff']:.2g}",
            end="",
        )
    found = ledger.read_trials(ledger.ledger_path(runs, "regime_hourly"))
    assert [t["model"] for t in found] == ["rf", "svm", "mlp", "stacking"]


def test_base_learner_params_are_checked() -> None:
    raw = TrainConfig.load(ROOT / "configs" / "train" / "regime_hourly.toml").raw
    bad = [{"name": "rf", "kind": "random_forest", "params": {"n_trees": 5}}]
    with pytest.raises(TrainConfigError, match="unknown random_forest param 'n_trees'"):
        TrainConfig.from_dict({**raw, "models": bad})
