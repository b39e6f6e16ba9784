"""`pycontrol runs`: two real engine backtests (placebo signals on a synthetic MBO session,
different seeds and decision thresholds) are listed newest first, shown with their
provenance, and compared: metrics side by side, exactly the changed config keys reported,
and an offline HTML page with both equity curves overlaid. A training run folder (the layout
`pycontrol train` writes) is listed and shown beside them."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest

from pycontrol.backtest.config import BacktestConfig
from pycontrol.backtest.run import run_backtest
from pycontrol.cli import main
from pycontrol.runs.store import RunNotFoundError, discover, resolve

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def runs_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("runs")
    raw = tomllib.loads((REPO / "configs/backtest/demo.toml").read_text())
    raw["synth"] = {**raw["synth"], "events": 40_000, "cache_dir": str(tmp / "cache")}
    raw["out"] = str(tmp / "root" / "backtest")
    run_backtest(BacktestConfig.from_dict(raw), run_id="a", progress=False)
    raw2 = {**raw, "seed": 11, "signals": {**raw["signals"], "seed": 6}}
    run_backtest(BacktestConfig.from_dict(raw2), run_id="b", progress=False)
    train = tmp / "root" / "fam" / "20260101T000000Z-abc"
    train.mkdir(parents=True)
    agg = {
        "model": {"accuracy": 0.41, "accuracy_std": 0.01, "log_loss": 1.09},
        "best_baseline": "majority",
        "accuracy_over_best_baseline": 0.02,
    }
    folds = [{"fold": 0, "model": {"accuracy": 0.40}}, {"fold": 1, "model": {"accuracy": 0.42}}]
    (train / "metrics.json").write_text(
        json.dumps(
            {
                "family": "fam",
                "run_id": train.name,
                "models": {"lgbm": {"aggregate": agg, "folds": folds}},
                "strategy": {"lgbm": {"net_pnl": -3.5}},
            }
        )
    )
    (train / "resolved.json").write_text(json.dumps({"family": "fam", "seeds": [0, 1]}))
    return tmp / "root"


def test_list_finds_both_kinds(runs_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    found = {r.name: r for r in discover([runs_root])}
    assert set(found) == {"a", "b", "fam/20260101T000000Z-abc"}
    assert found["a"].kind == "backtest" and found["fam/20260101T000000Z-abc"].kind == "training"
    assert main(["runs", "list", "--root", str(runs_root)]) == 0
    out = capsys.readouterr().out
    assert "3 runs under" in out and "lgbm.accuracy 41.00 %" in out


def test_show_has_provenance(runs_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runs", "show", str(runs_root / "backtest" / "a")]) == 0
    out = capsys.readouterr().out
    assert re.search(r"data .*synth-ES-40000-7\.mbo\.dbn\.zst sha256 [0-9a-f]{16}", out)
    assert "code_commit" in out and "n_trades" in out
    info = json.loads((runs_root / "backtest" / "a" / "run.json").read_text())
    assert info["data"][0]["sha256"] and info["model"]["signals"] == "placebo"


def test_compare_reports_exactly_the_config_changes(
    runs_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cmp.html"
    a, b = str(runs_root / "backtest" / "a"), str(runs_root / "backtest" / "b")
    assert main(["runs", "compare", a, b, "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "config differences (2 keys):" in text
    diff = text.split("config differences")[1].splitlines()[2:4]
    assert [ln.split()[0] for ln in diff] == ["seed", "signals.seed"]
    assert diff[0].split()[1:] == ["3", "11"]
    doc = out.read_text()
    assert '"name": "[1] a"' in doc and '"name": "[2] b"' in doc  # both curves in the chart
    assert not re.search(r"\b(src|href)=", doc)


def test_compare_overlays_training_runs_oos_equity(runs_root: Path, tmp_path: Path) -> None:
    import numpy as np

    from pycontrol.training.run import _equity_frame

    day = 86_400 * 10**9
    ts = np.arange(5, dtype=np.int64) * day
    folders = []
    for k, (run_id, drift) in enumerate(
        (("20260102T000000Z-one", 10.0), ("20260103T000000Z-two", -5.0))
    ):
        src = runs_root / "fam" / "20260101T000000Z-abc"
        dst = runs_root / "fam" / run_id
        dst.mkdir()
        (dst / "resolved.json").write_text((src / "resolved.json").read_text())
        m = json.loads((src / "metrics.json").read_text())
        (dst / "metrics.json").write_text(json.dumps({**m, "run_id": run_id}))
        eq = {"lgbm": (ts, np.full(5, drift)), "logreg": (ts, np.full(5, drift - 100.0 * k - 1)),
              "baseline: always long": (ts, np.full(5, 1.0))}  # fmt: skip
        _equity_frame(eq).write_parquet(dst / "oos_equity.parquet")
        folders.append(str(dst))
    out = tmp_path / "cmp.html"
    assert main(["runs", "compare", *folders, "--out", str(out)]) == 0
    doc = out.read_text()
    charts = {}
    for raw in re.findall(
        r'<script type="application/json" class="chart-data">(.*?)</script>', doc
    ):
        c = json.loads(raw.replace("<\\/", "</"))
        charts[c["id"]] = c
    series = charts["train_equity"]["spec"]["series"]
    # each run's best model by net P&L, cumulative USD, and always-long once
    assert [x["name"] for x in series] == [
        "[1] fam/20260102T000000Z-one: lgbm", "[1] always long",
        "[2] fam/20260103T000000Z-two: lgbm",
    ]  # fmt: skip
    assert series[0]["y"] == [10.0, 20.0, 30.0, 40.0, 50.0]
    assert series[2]["y"] == [-5.0, -10.0, -15.0, -20.0, -25.0]


def test_unknown_run_is_a_typed_error(runs_root: Path) -> None:
    with pytest.raises(RunNotFoundError, match="no such run folder"):
        resolve("definitely-not-a-run")
    assert main(["runs", "show", str(runs_root)]) == 2  # a folder, but not a run
