"""The FeatureSet a family's engine runs (configs/features/<family>.json, named by the family's
promotion gates) is the one its training config selects: a drift between them would let the
gates compare a model against the wrong engine, so it fails here first."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import pycontrol
from pycontrol.training.config import TrainConfig
from pycontrol.training.dataset import feature_set

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("config", "family"),
    [
        ("regime_hourly.toml", "regime_hourly"),
        ("bar_timing.toml", "bar_timing"),
        ("bar_timing_lgbm.toml", "bar_timing"),
        ("demo.toml", "demo"),
    ],
)
def test_training_selects_the_feature_set_the_gates_name(config: str, family: str) -> None:
    cfg = TrainConfig.load(ROOT / "configs" / "train" / config)
    assert cfg.family == family
    gate = json.loads((ROOT / "models" / "gates" / f"{family}.json").read_text())
    engine = pycontrol.FeatureSet.from_json((ROOT / gate["engine_feature_set"]).read_text())
    trained = feature_set(cfg.features)
    assert trained.names() == engine.names()
    assert trained.hash == engine.hash
