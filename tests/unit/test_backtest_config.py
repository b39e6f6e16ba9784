"""Backtest config: frozen, validated on construction, unknown keys and every violation
reported at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from pycontrol import ConfigError
from pycontrol.backtest.config import BacktestConfig, BacktestConfigError, LatencyConfig

REPO = Path(__file__).resolve().parents[2]


def test_shipped_configs_load() -> None:
    es = BacktestConfig.load(REPO / "configs/backtest/es_mbo.toml")
    assert es.name == "es_mbo" and len(es.data) == 1 and es.synth is None
    assert es.order_latency.kind == "lognormal"
    demo = BacktestConfig.load(REPO / "configs/backtest/demo.toml")
    assert demo.synth is not None and demo.synth.instruments == ("ES",)


def test_every_violation_is_listed_at_once() -> None:
    raw = {
        "name": "bad name!",
        "data": ["x.dbn.zst"],
        "seed": -1,
        "colour": "blue",
        "order_latency": {"kind": "lognormal", "median_ns": -5.0, "sigma": 0.1, "max_ns": 1},
        "sizing": {"kelly_fraction": 0.9, "max_qty": 0, "typo": 1},
        "decision": {"min_confidence_external": 1.5},
        "risk": {"max_positon": 3, "max_drawdown": 2.0},
    }
    with pytest.raises(BacktestConfigError) as ei:
        BacktestConfig.from_dict(raw)
    v = "\n".join(ei.value.violations)
    for needle in (
        "unknown key 'colour'",
        "median_ns must be > 0",
        "kelly_fraction must be in (0, 0.5]",
        "max_qty must be >= 1",
        "unknown key 'typo'",
        "min_confidence_external must be in (0, 1]",
        "name must be",
        "seed must be an int >= 0",
        "max_positon",
        "max_drawdown",
    ):
        assert needle in v, (needle, v)
    assert isinstance(ei.value, ConfigError)


def test_data_and_synth_are_exclusive_and_one_is_required() -> None:
    with pytest.raises(BacktestConfigError, match="exactly one of data"):
        BacktestConfig.from_dict({"name": "x"})
    with pytest.raises(BacktestConfigError, match="exactly one of data"):
        BacktestConfig.from_dict({"name": "x", "data": ["a"], "synth": {"events": 10}})


def test_config_is_frozen_and_latency_converts() -> None:
    cfg = BacktestConfig.from_dict({"name": "x", "data": ["a"]})
    with pytest.raises(AttributeError):
        cfg.seed = 3  # type: ignore[misc]
    assert LatencyConfig(kind="empirical", samples_ns=(1, 2)).to_core() == ("empirical", [1.0, 2.0])
    with pytest.raises(BacktestConfigError, match="kind must be"):
        LatencyConfig(kind="gamma")


def test_model_signals_name_a_registry_family_or_a_folder() -> None:
    demo = BacktestConfig.load(REPO / "configs/backtest/demo_model.toml")
    assert demo.signals.kind == "model" and demo.signals.family == "demo"
    ok = BacktestConfig.from_dict(
        {"name": "x", "data": ["a"], "signals": {"kind": "model", "path": "runs/e/export/lgbm"}}
    )
    assert ok.signals.path == "runs/e/export/lgbm"
    for signals, needle in (
        ({"kind": "model"}, "need registry + family"),
        ({"kind": "model", "registry": "r", "family": "f", "path": "p"}, "not both"),
        ({"kind": "model", "family": "demo"}, "need registry"),
        ({"kind": "model", "registry": "r", "family": "Bad-Name"}, "family must be"),
        ({"kind": "model", "path": 3}, "path must be a string"),
        ({"kind": "onnx"}, "kind must be file, placebo, model or pushed"),
    ):
        with pytest.raises(BacktestConfigError) as ei:
            BacktestConfig.from_dict({"name": "x", "data": ["a"], "signals": signals})
        assert needle in "\n".join(ei.value.violations), (signals, ei.value.violations)
    # every violation at once: signals and the top level together
    with pytest.raises(BacktestConfigError) as ei:
        BacktestConfig.from_dict({"name": "bad name!", "data": ["a"], "signals": {"kind": "model"}})
    v = "\n".join(ei.value.violations)
    assert "need registry + family" in v and "name must be" in v


def test_engine_defaults_are_the_cores() -> None:
    """The config's engine defaults are read from the core's EngineSettings (one definition):
    a config that sets nothing hands the engine exactly the core's defaults."""
    from pycontrol._core import engine_settings_defaults
    from pycontrol.backtest.run import engine_kwargs

    core = engine_settings_defaults()
    kw = engine_kwargs(BacktestConfig(name="x", data=("a",)), {}, None)
    for key, want in core.items():
        if key in ("corr_halflife_s", "corr_min_samples"):
            assert key not in kw  # not a backtest setting: the core's own default applies
            continue
        got = kw[key]
        if isinstance(got, tuple):
            got = [got[0], list(got[1])]
        assert got == want, (key, got, want)
