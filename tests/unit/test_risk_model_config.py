"""Backtest ``[risk_model]``: EWMA by default; the GARCH params file is checked by the core
when the config loads (every bad field named with the file), unknown keys and bad values
are listed at once, and the reference resolves against the run's symbols."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pycontrol.backtest.config import BacktestConfig, BacktestConfigError, RiskModelSection

PARAMS: dict[str, Any] = {
    "schema": "tradecore.risk_model/1",
    "kind": "garch",
    "dist": "t",
    "nu": 6.0,
    "mu": 0.001,
    "omega": 0.02,
    "alpha": 0.05,
    "beta": 0.93,
    "scale": 10000.0,
    "backcast": 0.9,
    "interval_ns": 60_000_000_000,
    "regime_cuts": [0.0001, 0.0003],
}


def _write(tmp_path: Path, **over: Any) -> str:
    p = tmp_path / "params.json"
    p.write_text(json.dumps(PARAMS | over))
    return str(p)


def test_default_is_the_ewma_model() -> None:
    cfg = BacktestConfig.from_dict({"name": "x", "data": ["a.dbn.zst"]})
    assert cfg.risk_model.vol_model == "ewma"
    assert cfg.risk_model.core_json({1: "ESH4"}) is None


def test_garch_section_loads_its_params_file(tmp_path: Path) -> None:
    path = _write(tmp_path)
    cfg = BacktestConfig.from_dict(
        {
            "name": "x",
            "data": ["a.dbn.zst"],
            "risk_model": {"vol_model": "garch", "params": path, "corr_window": 50},
        }
    )
    text = cfg.risk_model.core_json({1: "ESH4"})
    assert text is not None
    d = json.loads(text)
    assert d["corr_window"] == 50 and d["omega"] == 0.02
    assert cfg.to_dict()["risk_model"]["params"] == path


def test_every_risk_model_violation_is_listed(tmp_path: Path) -> None:
    with pytest.raises(BacktestConfigError) as ei:
        BacktestConfig.from_dict(
            {
                "name": "x",
                "data": ["a"],
                "risk_model": {"vol_model": "gerch", "corr_window": 1, "window": 3},
            }
        )
    v = "\n".join(ei.value.violations)
    for needle in ("vol_model must be", "corr_window must be an int >= 2", "unknown key 'window'"):
        assert needle in v, (needle, v)
    with pytest.raises(BacktestConfigError, match=r"params .* is needed"):
        RiskModelSection(vol_model="garch")
    with pytest.raises(BacktestConfigError, match="params file not found"):
        RiskModelSection(vol_model="garch", params=str(tmp_path / "nope.json"))


def test_a_non_stationary_params_file_is_refused_naming_file_and_field(tmp_path: Path) -> None:
    path = _write(tmp_path, beta=0.96, omega=-1.0)
    with pytest.raises(BacktestConfigError) as ei:
        RiskModelSection(vol_model="garch", params=path)
    msg = str(ei.value)
    assert path in msg and "alpha + beta = 1.01" in msg and "omega = -1 must be > 0" in msg, msg


def test_reference_resolves_by_symbol_or_product(tmp_path: Path) -> None:
    sec = RiskModelSection(vol_model="garch", params=_write(tmp_path), reference="NQ")
    text = sec.core_json({17077: "ESH4", 42: "NQH4"})
    assert text is not None and json.loads(text)["reference_instrument_id"] == 42
    sec = RiskModelSection(vol_model="garch", params=_write(tmp_path), reference="ESH4")
    assert json.loads(sec.core_json({17077: "ESH4"}) or "{}")["reference_instrument_id"] == 17077
    with pytest.raises(BacktestConfigError, match="matches 0 instruments"):
        RiskModelSection(vol_model="garch", params=_write(tmp_path), reference="ZN").core_json(
            {17077: "ESH4"}
        )
