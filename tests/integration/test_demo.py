"""`pycontrol demo` end to end at small settings: every stage leaves its artifacts (a
schema-valid manifest, the production alias, a complete backtest run folder), the engine
traded on the model's own predictions, the backtest is deterministic, and the engine refuses
a model whose feature set differs from the one it streams."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import polars as pl
import pytest
from sessionkit import SessionProc, wait_for, write_config

import pycontrol
from pycontrol.backtest.config import BacktestConfig
from pycontrol.backtest.run import make_run, run_backtest
from pycontrol.registry import Registry
from pycontrol.registry.contract import manifest_violations
from pycontrol.session.journal import Journal
from pycontrol.testing.ib_gateway import BboVenue, TestGateway
from pycontrol.testing.models import derive, set_alias

REPO = Path(__file__).resolve().parents[2]
RUN_FILES = (
    "orders.parquet",
    "fills.parquet",
    "trades.parquet",
    "equity.parquet",
    "denials.parquet",
    "holds.parquet",
    "latency.npy",
    "config.json",
    "telemetry.json",
    "metrics.json",
    "report.html",
)


def _config(run: Path) -> dict[str, object]:
    """The run's config.json as from_dict input (unset optional sections left out)."""
    d = json.loads((run / "config.json").read_text())
    return {k: v for k, v in d.items() if v is not None}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("demo")
    cmd = [sys.executable, "-m", "pycontrol.cli", "demo", "--out", str(out)]
    cmd += ["--train-events", "2000000", "--trade-events", "400000", "--seed", "4"]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    return out, res.stdout


def test_each_stage_prints_and_leaves_its_artifacts(demo: tuple[Path, str]) -> None:
    out, stdout = demo
    for n in range(1, 6):
        assert f"[{n}/5]" in stdout, stdout
    for needle in ("baselines: majority", "ONNX parity passed", "PASS parity", "report:"):
        assert needle in stdout, stdout
    assert "FAIL" not in stdout, stdout
    assert (out / "session-train.mbo.dbn.zst").is_file()
    assert (out / "session-trade.mbo.dbn.zst").is_file()

    reg = Registry(out / "registry")
    aliases = reg.aliases("demo")
    assert aliases["production"] is not None
    assert aliases["production"] == aliases["staging"] == aliases["candidate"]
    manifest = reg.manifest("demo", aliases["production"])
    assert manifest_violations(manifest) == []
    assert manifest["parity"]["passed"] is True
    assert manifest["feature_set"]["timeframe"] == "1s"

    run = out / "backtest" / "demo"
    for name in RUN_FILES:
        assert (run / name).is_file(), name
    tele = json.loads((run / "telemetry.json").read_text())
    model = tele["model"]
    assert model["version"] == aliases["production"]
    # every engine signal is a model prediction that passed the gate, and there were some
    assert tele["signals"] > 0
    assert model["passed"] == tele["signals"]
    # warm-up bars (NaN features) are gated, not predicted
    assert model["gated_by_reason"]["non_finite"] > 0
    holds = sum(tele["holds_by_reason"].values())
    assert tele["decisions"] + holds == tele["signals"]
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["signals"]["kind"] == "model"
    # the deflated Sharpe deflates for every model the family compared (the trial ledger's
    # count in the served version's manifest), not for the config's default of 1
    metrics = json.loads((run / "metrics.json").read_text())
    ledger = manifest["lineage"]["trial_count"]
    assert ledger >= 1 and metrics["n_trials"] == max(ledger, cfg["n_trials"])
    assert metrics["n_trials_source"].startswith("the family's trial ledger")
    risk = dict(cfg["risk"])
    assert risk["max_drawdown"] == 0.10 and risk["daily_loss_limit"] == 10_000.0


def test_the_demo_backtest_is_deterministic(demo: tuple[Path, str], tmp_path: Path) -> None:
    out, _ = demo
    cfg = BacktestConfig.from_dict(_config(out / "backtest/demo"))
    again = run_backtest(cfg, out=tmp_path, run_id="again", progress=False)
    for name in ("fills", "orders", "trades", "equity"):
        a = pl.read_parquet(out / "backtest/demo" / f"{name}.parquet")
        b = pl.read_parquet(again / f"{name}.parquet")
        assert a.equals(b), name


def test_a_model_trained_on_other_features_is_refused(
    demo: tuple[Path, str], tmp_path: Path
) -> None:
    out, _ = demo
    reg = Registry(out / "registry")
    src = reg.folder("demo", str(reg.aliases("demo")["production"]))
    bad = tmp_path / "model"
    shutil.copytree(src, bad)
    m = json.loads((bad / "manifest.json").read_text())
    # the names the engine will stream, but the hash of another feature set
    m["feature_set"]["hash"] = pycontrol.FeatureSet(["tf1s_ret_1"]).hash
    (bad / "manifest.json").write_text(json.dumps(m))
    cfg = BacktestConfig.from_dict(
        {
            **_config(out / "backtest/demo"),
            "signals": {"kind": "model", "path": str(bad)},
        }
    )
    with pytest.raises(pycontrol.ModelContractError, match=r"feature_set\.hash"):
        make_run(cfg)


def test_the_real_es_session_runs_with_the_model_in_the_engine(
    demo: tuple[Path, str], tmp_path: Path
) -> None:
    """The model path is not tied to synthetic data: the engine streams the model's 1s bar
    features from the real ES MBO day and the model answers. (A strategy check it is not:
    the model was trained on synthetic flow; es_mbo.toml stays on placebo signals.)"""
    out, _ = demo
    raw = tomllib.loads((REPO / "configs/backtest/es_mbo.toml").read_text())
    raw["signals"] = {"kind": "model", "registry": str(out / "registry"), "family": "demo"}
    folder = run_backtest(BacktestConfig.from_dict(raw), out=tmp_path, run_id="es", progress=False)
    tele = json.loads((folder / "telemetry.json").read_text())
    assert tele["signals"] > 0
    assert tele["model"]["passed"] == tele["signals"]
    assert tele["records"] > 60_000  # the whole day (68,792 MBO records)


def test_the_whole_chain_is_deterministic(demo: tuple[Path, str], tmp_path: Path) -> None:
    """Same seed, fresh folder: a new model version (its id carries the time) but the same
    trained model, hence the same fills, bit for bit."""
    from pycontrol.commands.demo_cmd import run_demo

    out, _ = demo
    r = run_demo(tmp_path / "again", train_events=2_000_000, trade_events=400_000, seed=4)
    for name in ("fills", "orders", "trades"):
        a = pl.read_parquet(out / "backtest/demo" / f"{name}.parquet")
        b = pl.read_parquet(r.run_dir / f"{name}.parquet")
        assert a.height > 0 and a.equals(b), name


def _two_versions(out: Path, tmp_path: Path) -> tuple[Path, str, str]:
    """A copy of the demo's registry with a second version of `demo` beside production: the
    same model files under a fresh id, as a retrain would bring. Returns (root, v1, v2)."""
    reg = tmp_path / "registry"
    shutil.copytree(out / "registry", reg)
    v1 = str(Registry(reg).aliases("demo")["production"])
    v2 = str(derive(reg / "demo" / v1, tmp_path / "v2")["model_id"])
    shutil.move(tmp_path / "v2", reg / "demo" / v2)
    return reg, v1, v2


def test_a_replay_session_swaps_only_to_the_promoted_version(
    demo: tuple[Path, str], esh4_mbo: Path, tmp_path: Path
) -> None:
    """`ctl swap-model` on the Rust engine serving a registry family: a version that is not
    production is refused (promotion through the registry's gates is the only way in); once
    promoted, the engine's slot loads it between two events and the journal records it."""
    reg, v1, v2 = _two_versions(demo[0], tmp_path)

    strategy = (REPO / "configs/backtest/es_mbo.toml").read_text()
    placebo = 'kind = "placebo"\ninterval_s = 20.0\nseed = 11\nmax_age_s = 10.0\n'
    assert placebo in strategy
    model = f'kind = "model"\nregistry = "{reg}"\nfamily = "demo"\n'
    (tmp_path / "strategy.toml").write_text(strategy.replace(placebo, model))
    run = tmp_path / "run"
    text = (REPO / "configs/session/es-replay.toml").read_text()
    for a, b in (
        ('run_dir = "build/sessions/es-replay"', f'run_dir = "{run}"'),
        ('data = "build/demo/synth.mbo.dbn.zst"', f'data = "{esh4_mbo}"\nrate_hz = 1500'),
        ("chunk_records = 4096", "chunk_records = 512"),
        ('"configs/backtest/es_replay_session.toml"', f'"{tmp_path / "strategy.toml"}"'),
    ):
        assert a in text, a
        text = text.replace(a, b)
    run.mkdir()
    (tmp_path / "s.toml").write_text(text)
    s = SessionProc(tmp_path / "s.toml", run, mode="replay")
    try:
        s.wait_ready(60)
        eng = s.cmd("status")["result"]["engine"]
        assert eng["model"]["version"] == v1 and eng["model_source"] == "model:demo"

        refused = s.cmd("swap-model", model=v2, override="test: promoted")
        assert not refused["ok"] and refused["error"]["code"] == "unsupported"
        assert "promote" in refused["error"]["message"] and v1 in refused["error"]["message"]

        set_alias(reg, "demo", "production", v2)
        ok = s.cmd("swap-model", model=v2, override="test: promoted")
        assert ok["ok"], ok
        wait_for(
            lambda: s.cmd("status")["result"]["engine"]["model"]["version"] == v2,
            60, "the promoted version to serve",
        )  # fmt: skip
        eng = s.cmd("status")["result"]["engine"]
        assert eng["model"]["swap_alerts"] == []
        assert s.cmd("shutdown")["ok"]
        s.proc.wait(30)
    finally:
        s.stop()
    j = Journal(run / "journal.sqlite")
    try:
        swaps = [e["payload"]["model"] for e in j.events("model_swap")]
        assert swaps == [v2], "the refused swap is not journaled"
    finally:
        j.close()


def test_a_paper_session_serves_the_model_on_ib_trades_and_swaps_it(
    demo: tuple[Path, str], tmp_path: Path
) -> None:
    """Paper on the Rust engine with the demo's production model (1s bar features): the bars
    are built from IB's trade prints (last-trade ticks from the test gateway), the model is
    asked on each, and `swap-model` to a newly promoted version lands in the running engine."""
    reg, v1, v2 = _two_versions(demo[0], tmp_path)
    (tmp_path / "strategy.toml").write_text(
        f'name = "paper-model"\ndata = ["<broker feed>"]\n'
        f'[signals]\nkind = "model"\nregistry = "{reg}"\nfamily = "demo"\n'
    )
    run = tmp_path / "run"
    run.mkdir()
    gw = TestGateway(account="DU1234567", venue=BboVenue()).start()
    s: SessionProc | None = None
    try:
        con = gw.front("ES").con_id
        gw.set_quote(con, 5000.0, 5000.25)
        cfg = write_config(
            tmp_path / "s.toml", run, gw.port, [], strategy=tmp_path / "strategy.toml"
        )
        s = SessionProc(cfg, run, env={"IB_ACCOUNT": "DU1234567"})
        s.wait_ready(60)
        wait_for(lambda: gw.market_data_subscribers(con), what="the subscription")
        step = iter(range(10**6))

        def asked() -> int:
            # one quote and one trade per poll (~20 a second): 1s bars close as time passes
            k = next(step)
            px = 5000.0 + 0.25 * (k % 4)
            gw.set_quote(con, px, px + 0.25)
            gw.trade(con, px + 0.25, 1 + k % 3)
            m = s.cmd("status")["result"]["engine"]["model"]
            return int(m["passed"] + sum(m["gated_by_reason"].values()))

        wait_for(lambda: asked() >= 3, 60, "the model to be asked on bars of trade prints")
        eng = s.cmd("status")["result"]["engine"]
        assert eng["model"]["version"] == v1 and eng["model_source"] == "model:demo"

        set_alias(reg, "demo", "production", v2)
        assert s.cmd("swap-model", model=v2, override="test: promoted")["ok"]

        def swapped() -> bool:
            asked()
            return bool(s.cmd("status")["result"]["engine"]["model"]["version"] == v2)

        wait_for(swapped, 60, "the promoted version to serve in the paper session")
    finally:
        if s is not None:
            s.stop()
        gw.stop()
