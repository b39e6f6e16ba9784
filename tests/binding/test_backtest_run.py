"""`_core.BacktestRun` / `_core.instrument_specs`: typed errors for bad input, and a backtest
over two files (two instruments) merged by time."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from pycontrol import ConfigError, UnknownFormatError, _core
from pycontrol.backtest.config import BacktestConfig, SignalsConfig
from pycontrol.backtest.run import run_backtest
from pycontrol.data.synth import synth_mbo


def kwargs(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = dict(
        definitions=None,
        fee_per_contract=1.0,
        seed=0,
        order_latency=("constant", [1000.0]),
        feed_latency=("constant", [0.0]),
        initial_equity=100_000.0,
        min_confidence_ensemble=0.7,
        min_confidence_external=0.87,
        max_risk_score=6,
        horizon_ns=900 * 10**9,
        kelly_fraction=0.25,
        vol_target=0.01,
        stop_k=2.0,
        reward_risk=2.0,
        max_qty=1,
        risk_limits=[],
        equity_interval_ns=10**9,
        flatten_at_end=True,
        vol_halflife_s=300.0,
        vol_min_samples=60,
        signal_classes=[-1, 0, 1],
        signal_ts=[],
        signal_instrument_id=[],
        signal_probs=[],
        signal_max_age_ns=0,
    )
    base.update(over)
    return base


def test_bad_inputs_raise_typed_errors_naming_the_problem(
    esh4_mbo: Path, shared_data: Path
) -> None:
    with pytest.raises(ConfigError, match='unknown latency kind "gamma"'):
        _core.BacktestRun([str(esh4_mbo)], **kwargs(order_latency=("gamma", [1.0])))
    with pytest.raises(ConfigError, match="signals row 0: probabilities sum to"):
        _core.BacktestRun(
            [str(esh4_mbo)],
            **kwargs(signal_ts=[1], signal_instrument_id=[17077], signal_probs=[0.5, 0.5, 0.5]),
        )
    with pytest.raises(ConfigError, match="max_positon"):
        _core.BacktestRun([str(esh4_mbo)], **kwargs(risk_limits=[("max_positon", 1.0)]))
    mbp = shared_data / "dbn/nautilus/futures_mbp-1_2024-07-01T23-58_2024-07-02T00-02.dbn.zst"
    with pytest.raises(UnknownFormatError, match="needs MBO"):
        _core.BacktestRun([str(mbp)], **kwargs())


def test_specs_come_from_the_definition_by_product(esh4_mbo: Path, shared_data: Path) -> None:
    defs = shared_data / "dbn/nautilus/definition-glbx-es-fut.dbn.zst"
    (s,) = _core.instrument_specs([str(esh4_mbo)], str(defs), 2.5)
    assert (s["instrument_id"], s["symbol"], s["tick_size"], s["multiplier"]) == (
        17077,
        "ESH4",
        0.25,
        50.0,
    )
    assert s["fee_per_contract"] == 2.5 and "ESM3" in s["source"]


def test_two_files_two_instruments_merge_into_one_run(tmp_path: Path) -> None:
    es, nq = tmp_path / "es.mbo.dbn.zst", tmp_path / "nq.mbo.dbn.zst"
    a = synth_mbo(es, 20_000, 1, ["ES"])
    b = synth_mbo(nq, 20_000, 2, ["NQ"])
    cfg = BacktestConfig.from_dict(
        {"name": "two", "data": [str(es), str(nq)], "vol_min_samples": 10}
    )
    cfg = replace(cfg, signals=SignalsConfig(kind="placebo", interval_s=5.0, seed=3))
    folder = run_backtest(cfg, tmp_path, "two", progress=False)
    tele = json.loads((folder / "telemetry.json").read_text())
    assert tele["records"] == a["records"] + b["records"]
    assert sorted(tele["symbols"].values()) == sorted(
        [a["instruments"][0]["symbol"], b["instruments"][0]["symbol"]]
    )
    assert len(tele["positions"]) == 2
    assert all(p["qty"] == 0 for p in tele["positions"])
