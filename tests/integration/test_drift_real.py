"""Feature drift on real data: a LightGBM model trained on the microstructure features of a
real CME MBO day (ESH4), exported with its drift reference, is backtested with `[drift]` on
its own day (no drift event) and on a different feed, a synthetic ES order flow of another
contract and price era (drift events naming the features, and REDUCING with
``reduce_on_drift``). The model reads the micro set less its price levels (mid,
microprice): levels trend within a day, so a rolling window of them drifts by construction."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from pycontrol import FeatureSet, compute_features
from pycontrol.backtest.config import BacktestConfig, BacktestConfigError
from pycontrol.backtest.run import drive, make_run
from pycontrol.registry.contract import check_files, load_manifest, manifest_violations
from pycontrol.registry.errors import IntegrityError
from pycontrol.testing import models as testing

LEVELS = {"micro_mid", "micro_microprice"}
# most of the day (47,022 events): the window compares the day with the day
WINDOW = 40_000


@pytest.fixture(scope="module")
def model(esh4_mbo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    names = [n for n in FeatureSet.default_micro().names() if n not in LEVELS]
    df = compute_features(esh4_mbo, FeatureSet(names))
    x = df.select(pl.col(names).cast(pl.Float64)).to_numpy()
    out = tmp_path_factory.mktemp("drift") / "model"
    testing.make_lightgbm(
        out, x=x[::5], names=names, n_trees=10, seed=1, family="micro_es", drift_reference=True
    )
    return out


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from pycontrol.cli import main

    path = tmp_path_factory.mktemp("synth") / "synth.mbo.dbn.zst"
    assert main(["data", "synth", "--out", str(path), "--events", "100000", "--seed", "5"]) == 0
    return path


def backtest(model: Path, data: Path, **drift: Any) -> Any:
    cfg = BacktestConfig.from_dict(
        {
            "name": "drift",
            "data": [str(data)],
            "signals": {"kind": "model", "path": str(model)},
            "drift": {"enabled": True, "window_rows": WINDOW, "check_every": 1000, **drift},
        }
    )
    run, _ = make_run(cfg)
    drive(run, 1 << 16, progress=False)
    return run


def check_export(folder: Path) -> dict[str, Any]:
    """The registry's file checks (sha256 of every listed file) and the schema of the
    manifest's drift block (the test builder's manifest is not a full training one)."""
    m = load_manifest(folder)
    assert not [v for v in manifest_violations(m) if "drift" in v]
    check_files(folder, m)
    return m


def test_export_lists_the_reference(model: Path) -> None:
    m = check_export(model)  # the sha256 of the reference is checked with the model's
    bad = m | {"drift_reference": {"file": "other.json", "sha256": "0"}}
    assert [v for v in manifest_violations(bad) if "drift_reference" in v]
    assert m["drift_reference"]["file"] == "drift_reference.json"
    ref = json.loads((model / "drift_reference.json").read_text())
    assert [f["name"] for f in ref["features"]] == m["feature_set"]["names"]
    for f in ref["features"]:
        assert len(f["shares"]) == len(f["edges"]) + 1
        assert abs(sum(f["shares"]) - 1) < 1e-9
    assert 0 < ref["calibration"]["accuracy"] <= 1
    (model / "drift_reference.json").write_text(json.dumps(ref | {"rows": 1}))
    try:
        with pytest.raises(IntegrityError, match=r"\$\.drift_reference\.sha256"):
            check_export(model)
    finally:
        (model / "drift_reference.json").write_text(json.dumps(ref) + "\n")
    check_export(model)


def test_own_training_day_has_no_drift(model: Path, esh4_mbo: Path) -> None:
    run = backtest(model, esh4_mbo)
    t = run.telemetry()
    d = t["drift"]
    assert d["status"] == "watching", d
    assert t["drift_alerts"] == 0 and d["events"] == [] and d["breaches"] == 0
    inst = d["instruments"]["ESH4"]
    assert inst["rows"] == WINDOW and inst["checks"] >= 7
    assert all(w["psi"] < 0.25 and w["ks"] < 0.2 for w in inst["worst"]), inst["worst"]
    assert d["expected"]["accuracy"] > 0
    assert run.state == "ACTIVE"


def test_shifted_feed_raises_drift_events(model: Path, synth: Path) -> None:
    run = backtest(model, synth)
    t = run.telemetry()
    d = t["drift"]
    assert d["status"] == "drifted"
    assert t["drift_alerts"] == len(d["events"]) == 1  # one event at the onset of the breach
    ev = d["events"][0]
    assert ev["symbol"] == "ESZ6" and ev["psi"] > 0.25 and ev["breached_features"] >= 1
    assert ev["feature"] in FeatureSet.default_micro().names()
    assert d["breaches"] > 1  # every later check is still in breach
    worst = d["instruments"]["ESZ6"]["worst"]
    assert worst[0]["psi"] == max(w["psi"] for w in worst) > 0.25
    assert run.state == "ACTIVE"  # reporting only by default


def test_reduce_on_drift_moves_the_engine_to_reducing(model: Path, synth: Path) -> None:
    run = backtest(model, synth, reduce_on_drift=True)
    assert run.telemetry()["drift_alerts"] == 1
    assert run.state == "REDUCING"


def test_model_without_reference_reports_no_reference(
    model: Path, esh4_mbo: Path, tmp_path: Path
) -> None:
    old = tmp_path / "old"
    old.mkdir()
    for f in model.iterdir():
        if f.name != "drift_reference.json":
            (old / f.name).write_bytes(f.read_bytes())
    m = json.loads((old / "manifest.json").read_text())
    del m["drift_reference"]
    (old / "manifest.json").write_text(json.dumps(m))
    check_export(old)  # a version exported before references is still valid
    run = backtest(old, esh4_mbo)
    assert run.telemetry()["drift"] == {"status": "no reference"}


def test_drift_section_lists_every_violation() -> None:
    with pytest.raises(BacktestConfigError) as e:
        BacktestConfig.from_dict(
            {
                "name": "x",
                "synth": {},
                "drift": {"enabled": 1, "psi_alert": -1, "ks_alert": 2, "window_rows": 0},
            }
        )
    v = " ".join(e.value.violations)
    for key in ("enabled", "psi_alert", "ks_alert", "window_rows"):
        assert f"{key} must" in v, v
    assert np.isfinite(BacktestConfig.from_dict({"name": "x", "synth": {}}).drift.psi_alert)


def test_missing_explicit_reference_is_a_config_error(model: Path, esh4_mbo: Path) -> None:
    with pytest.raises(BacktestConfigError, match=r"drift\.reference"):
        backtest(model, esh4_mbo, reference="/nonexistent/drift_reference.json")


def test_replay_session_journals_and_publishes_drift(
    model: Path, synth: Path, tmp_path: Path
) -> None:
    """A replay session whose strategy enables drift with ``reduce_on_drift``: the breach is
    journaled (``drift``), published as ``state``/``drift`` (what the notifier maps to its
    ``drift`` event), the engine's move to REDUCING is journaled, and status shows it."""
    from test_session_rust import rust_config

    from pycontrol.commands.ctl_format import format_status
    from pycontrol.session.config import SessionConfig
    from pycontrol.session.journal import Journal
    from pycontrol.session.rust_engine import RustReplay

    strategy = tmp_path / "strategy.toml"
    strategy.write_text(
        f"""
name = "drift_session"
data = ["{synth}"]

[signals]
kind = "model"
path = "{model}"

[drift]
enabled = true
window_rows = 5000
check_every = 500
reduce_on_drift = true
"""
    )
    cfg_path = rust_config(tmp_path, tmp_path / "run", synth, exit_at_end=True, rate_hz=0)
    text = cfg_path.read_text()
    text = text.replace(
        'strategy = "configs/backtest/es_replay_session.toml"', f'strategy = "{strategy}"'
    )
    cfg_path.write_text(text)
    cfg = SessionConfig.load(cfg_path)
    journal = Journal(tmp_path / "run" / "journal.sqlite")
    published: list[tuple[str, dict[str, Any]]] = []
    try:
        eng = RustReplay(cfg, journal, lambda t, d: published.append((t, d)))
        for _ in range(1000):
            if eng.step(1 << 15) == 0:
                break
        drift = [e["payload"] for e in journal.events("drift")]
        assert len(drift) == 1 and drift[0]["symbol"] == "ESZ6" and drift[0]["psi"] > 0.25
        states = [e["payload"] for e in journal.events("state")]
        assert {"state": "REDUCING", "reason": "engine"} in states
        pub = [d for t, d in published if t == "state" and d.get("event") == "drift"]
        assert pub == [{"event": "drift", **drift[0]}]
        st = eng.status()
        assert st["state"] == "REDUCING"
        assert st["drift"]["status"] == "drifted" and st["drift"]["reduce_on_drift"] is True
        assert st["drift"]["instruments"]["ESZ6"]["breaches"] >= 1
        # `ctl status` prints the block: the worst features with their PSI
        text = format_status({"engine": st})
        assert "drift" in text and f"{drift[0]['feature']}" in text
    finally:
        journal.close()
