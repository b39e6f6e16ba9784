"""`EngineSession` (core-rs/py/src/engine_session.rs): bad input gets typed errors and leaves
the engine as it was; the controls act on the engine in event time."""

from __future__ import annotations

from pathlib import Path

import pytest

from pycontrol import ConfigError, _core
from pycontrol.backtest.config import BacktestConfig
from pycontrol.backtest.run import engine_kwargs


def _session(data: Path) -> _core.EngineSession:
    bt = BacktestConfig.from_dict(
        {"name": "t", "data": [str(data)], "signals": {"kind": "placebo", "interval_s": 5.0}}
    )
    return _core.EngineSession([str(data)], **engine_kwargs(bt, {}, None))


def test_bad_controls_are_typed_errors_and_change_nothing(esh4_mbo: Path) -> None:
    s = _session(esh4_mbo)
    before = s.risk_limits()
    with pytest.raises(ValueError, match="ACTIVE, REDUCING or HALTED"):
        s.set_state("PAUSED")
    assert s.state == "ACTIVE"
    with pytest.raises(ConfigError) as e:
        s.set_risk_limits([("max_order_qty", 0.0), ("max_drawdown", 3.0), ("colour", 1.0)])
    for field in ("max_order_qty", "max_drawdown", "colour"):
        assert field in str(e.value)
    assert s.risk_limits() == before
    s.set_risk_limits([("max_position", 1.0)])
    assert dict(s.risk_limits())["max_position"] == 1.0


def test_halted_from_the_start_sends_nothing_and_counts_denials(esh4_mbo: Path) -> None:
    s = _session(esh4_mbo)
    s.set_state("HALTED")
    fills = denials = orders = 0
    while s.step(8192):
        d = s.drain()
        orders += len(d["new_orders"])
        fills += len(d["fills"])
        denials += sum(x["reason"] == "TRADING_HALTED" for x in d["denials"])
    snap = s.snapshot()
    assert orders == 0 and fills == 0 and snap["orders"] == 0
    assert denials > 0 and snap["denials_by_reason"]["TRADING_HALTED"] == denials
    assert snap["state"] == "HALTED" and snap["done"]


def test_a_file_that_is_not_mbo_is_a_typed_error(shared_data: Path) -> None:
    mbp = shared_data / "dbn/nautilus/futures_mbp-1_2024-07-01T23-58_2024-07-02T00-02.dbn.zst"
    defs = shared_data / "dbn/nautilus/futures_definition_2024-07-01.dbn.zst"
    bt = BacktestConfig.from_dict({"name": "t", "data": [str(mbp)], "definitions": str(defs)})
    with pytest.raises(_core.UnknownFormatError, match="needs MBO"):
        _core.EngineSession([str(mbp)], **engine_kwargs(bt, {}, defs))
