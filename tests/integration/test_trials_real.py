"""Issue 16, defect 2 on real 6E bars: every model a training run compares lands in the
family's trial ledger, the ledger alone gives the trial count, and the deflated Sharpe
computed from it falls as trials are added (before: `trial_count = 1` in every config, so
the "deflated" Sharpe was the plain PSR). Also the horizon-held USD P&L (defect 4): figures
over every seed, PSR and rank IC in the metrics, and `pycontrol models trials FAMILY`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pycontrol.cli import main
from pycontrol.registry import trials as ledger
from pycontrol.training import run
from pycontrol.training.config import TrainConfig, TrainConfigError

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def _config() -> TrainConfig:
    """The shipped regime_hourly family, smaller: 2 seeds, no export or tracking."""
    raw = TrainConfig.load(ROOT / "configs" / "train" / "regime_hourly.toml").raw
    return TrainConfig.from_dict(
        {**raw, "seeds": [0, 1], "export": {"enabled": False}, "tracking": {"enabled": False}}
    )


def test_trial_count_is_a_ledger_figure_not_a_config_key() -> None:
    raw = TrainConfig.load(ROOT / "configs" / "train" / "regime_hourly.toml").raw
    with pytest.raises(TrainConfigError, match="trial ledger"):
        TrainConfig.from_dict({**raw, "trial_count": 1})


def test_ledger_counts_every_model_and_deflates_the_sharpe(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = _config()
    runs = tmp_path / "runs"
    a = run.train(cfg, runs, data_root=shared_data, progress=False, tracking=False)
    path = ledger.ledger_path(runs, "regime_hourly")
    first = ledger.read_trials(path)
    assert [t["model"] for t in first] == ["lgbm_shallow", "lgbm_deep", "stacking"]
    deep = a.metrics["models"]["lgbm_deep"]["aggregate"]["trading"]
    assert deep["n_trials"] == 3
    # the same P&L judged as the only trial: its DSR is the plain PSR, higher
    alone = ledger.deflated(first[1]["daily_net_usd"], first[:1])
    assert alone["n_trials"] == 1 and alone["sr_star"] == 0.0
    print(f"\nlgbm_deep DSR: 1 trial {alone['dsr']:.3f}, 3 trials {deep['dsr']:.3f}", end="")
    assert alone["dsr"] > deep["dsr"]
    # trading figures: every seed, USD, horizon-held; PSR and rank IC beside accuracy
    assert len(deep["net_usd_per_seed"]) == 2 and deep["horizon_bars"] == 4
    assert deep["net_usd"] == pytest.approx(np.mean(deep["net_usd_per_seed"]))
    assert deep["point_value_usd"] == 125_000.0 and deep["days"] >= 10
    assert 0 <= deep["psr"] <= 1 and -1 <= deep["rank_ic"] <= 1
    assert deep["pbo"] is not None and 0 <= deep["pbo"] <= 1
    # a second run of the same config: 3 more trials, a lower DSR for the same P&L
    b = run.train(cfg, runs, data_root=shared_data, progress=False, tracking=False)
    deep_b = b.metrics["models"]["lgbm_deep"]["aggregate"]["trading"]
    assert deep_b["n_trials"] == 6 and len(ledger.read_trials(path)) == 6
    assert deep_b["net_usd"] == deep["net_usd"]  # deterministic: only the count changed
    print(f", 6 trials {deep_b['dsr']:.3f}")
    assert deep_b["dsr"] < deep["dsr"]
    # the production gates read these figures: this model is refused on the DSR
    from pycontrol.registry.gates import evaluate_rules, load_gates

    manifest = {
        "metrics": b.metrics["models"]["lgbm_deep"],
        "lineage": {"trial_count": deep_b["n_trials"]},
    }
    ev = {r["name"]: r for r in evaluate_rules(load_gates("regime_hourly"), manifest, None)}
    assert ev["trial_count_from_ledger"]["passed"]
    assert not ev["deflated_sharpe"]["passed"]
    assert ev["no_backtest_overfitting"]["passed"] is (deep_b["pbo"] <= 0.2)
    # the CLI shows the ledger
    capsys.readouterr()
    rc = main(["models", "trials", "regime_hourly", "--runs", str(runs), "--json"])
    shown = json.loads(capsys.readouterr().out)
    assert rc == 0 and len(shown["trials"]) == 6 and shown["pbo"] == deep_b["pbo"]
    assert {t["model"] for t in shown["trials"]} == {"lgbm_shallow", "lgbm_deep", "stacking"}
