"""Training-run configs: the shipped ones load, and a bad one is one typed error naming
every violation (unknown keys never silently become defaults)."""

from __future__ import annotations

from pathlib import Path

import pytest

import pycontrol
from pycontrol.training.config import TrainConfig, TrainConfigError
from pycontrol.training.errors import PipelineConfigError
from pycontrol.training.families import FAMILIES

REPO = Path(__file__).resolve().parents[2]

GOOD = {
    "family": "regime_hourly",
    "data": {"path": "x.csv.gz", "resample": "1h"},
    "features": {"timeframes": ["1h"], "max_warmup": 26},
    "labels": {"kind": "regime", "horizon": 4},
    "models": [{"name": "m", "kind": "lightgbm", "params": {"n_estimators": 5}}],
}


@pytest.mark.parametrize("path", sorted((REPO / "configs" / "train").glob("*.toml")))
def test_shipped_configs_load(path: Path) -> None:
    cfg = TrainConfig.load(path)
    assert path.stem.startswith(cfg.family) and cfg.family in FAMILIES
    assert len(cfg.seeds) >= 5
    assert cfg.source_sha256 is not None and len(cfg.source_sha256) == 64


def test_defaults_fill_in() -> None:
    cfg = TrainConfig.from_dict(GOOD)
    assert cfg.seeds == (0, 1, 2, 3, 4)
    assert cfg.split.n_folds == 4 and cfg.stacking.enabled and cfg.tracking.uri is None
    assert cfg.data.model_timeframe == "1h"


def test_every_violation_is_reported_at_once() -> None:
    bad = {
        **GOOD,
        "famly": "typo",
        "seeds": [1, 1],
        "split": {"n_folds": 1, "embargo": -1},
        "labels": {"kind": "regime", "horizon": 0},
        "costs": {"threshold": 1.5},
        "models": [
            {"name": "m", "kind": "lightgbm", "params": {"num_leafs": 3, "subsample": 2.0}},
            {"name": "m", "kind": "xgboost"},
        ],
    }
    with pytest.raises(TrainConfigError) as e:
        TrainConfig.from_dict(bad, source="configs/train/bad.toml")
    err = e.value
    assert isinstance(err, PipelineConfigError) and isinstance(err, pycontrol.ConfigError)
    text = "\n".join(err.violations)
    for needle in ("'famly'", "seeds", "n_folds", "embargo", "horizon", "threshold",
                   "names must be unique"):  # fmt: skip
        assert needle in text, needle
    assert err.path == "configs/train/bad.toml"


def test_family_and_model_kind_must_match() -> None:
    wrong_labels = {**GOOD, "labels": {"kind": "direction", "horizon": 5, "dead_zone": 1.0,
                                       "half_spread": 0.5, "fees": 0.3}}  # fmt: skip
    with pytest.raises(TrainConfigError, match="uses kind 'regime'"):
        TrainConfig.from_dict(wrong_labels)
    lstm = {**GOOD, "models": [{"name": "s", "kind": "lstm"}]}
    with pytest.raises(TrainConfigError, match="admits kinds"):
        TrainConfig.from_dict(lstm)
    with pytest.raises(TrainConfigError, match="family must be one of"):
        TrainConfig.from_dict({**GOOD, "family": "gap_opener"})


def test_unreadable_and_invalid_toml_are_typed(tmp_path: Path) -> None:
    with pytest.raises(TrainConfigError, match="cannot read"):
        TrainConfig.load(tmp_path / "missing.toml")
    p = tmp_path / "broken.toml"
    p.write_text("family = [")
    with pytest.raises(TrainConfigError, match="not valid TOML"):
        TrainConfig.load(p)


def test_cli_reports_a_bad_config_as_one_line_and_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pycontrol.cli import main

    p = tmp_path / "bad.toml"
    p.write_text('family = "regime_hourly"\n[data]\npath = 3\n')
    assert main(["train", "--config", str(p), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "TrainConfigError" in err and "[data] path must be a non-empty string" in err
    assert "[[models]] needs at least one member" in err


def test_bars_from_trades_are_checked(tmp_path: Path) -> None:
    from pycontrol.data.synth import synth_mbo
    from pycontrol.training.config import DataConfig
    from pycontrol.training.dataset import trade_bars

    with pytest.raises(PipelineConfigError) as e:
        DataConfig(path="x", source="ticks", resample="1h", instrument_id=-1)
    text = "\n".join(e.value.violations)
    for needle in ("source must be", "instrument_id must be"):
        assert needle in text, text
    with pytest.raises(PipelineConfigError, match="resample does not apply"):
        DataConfig(path="x", source="trades", resample="1h")

    path = tmp_path / "two.mbo.dbn.zst"
    synth_mbo(path, 20_000, 3, ["ES", "NQ"])
    with pytest.raises(TrainConfigError, match="trades of 2 instruments"):
        trade_bars(path, DataConfig(path=str(path), source="trades", timeframe="1s"))
    with pytest.raises(TrainConfigError, match="has no trades"):
        trade_bars(
            path, DataConfig(path=str(path), source="trades", timeframe="1s", instrument_id=7)
        )
    full = pycontrol.build_bars(path, "1s")
    one = full["instrument_id"][0]
    bars = trade_bars(
        path, DataConfig(path=str(path), source="trades", timeframe="1s", instrument_id=one)
    )
    assert bars.columns == ["ts", "open", "high", "low", "close", "volume"]
    assert bars.height == full.filter(full["instrument_id"] == one).height > 0
