"""`pycontrol risk fit` on real bars writes a params file the core accepts (6E minutes; ES
front month with a t copula against the next contract), and a backtest on the real ES
MBO day runs its decisions on that GARCH model."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from pycontrol import _core
from pycontrol.backtest.config import BacktestConfig, RiskModelSection
from pycontrol.backtest.run import run_backtest
from pycontrol.cli import main

REPO = Path(__file__).resolve().parents[2]
SIXE = "bars/other/6EH4.XCME_1min_bars_20240101_20240131.csv.gz"
LEAN = "bars/lean-es-minute"


@pytest.fixture(scope="module")
def sixe_params(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fit") / "6e.json"
    argv = ["risk", "fit", "--bars", str(shared_data / SIXE), "--timeframe", "1m"]
    assert main([*argv, "--last", "8000", "--out", str(out)]) == 0
    return out


def test_fit_writes_a_params_file_the_core_accepts(sixe_params: Path) -> None:
    d = json.loads(sixe_params.read_text())
    _core.check_risk_model(sixe_params.read_text(), str(sixe_params))
    assert d["kind"] == "garch" and d["dist"] == "t" and 2 < d["nu"] < 30
    assert d["interval_ns"] == 60_000_000_000
    assert d["alpha"] > 0 and d["alpha"] + d["beta"] < 1
    assert d["fit"]["returns"] == 8000
    lo, hi = d["regime_cuts"]
    assert 1e-5 < lo < hi < 1e-3  # 6E minute volatility, fraction of price


def test_fit_with_a_reference_adds_the_t_copula(shared_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "es.json"
    lean = str(shared_data / LEAN)
    argv = ["risk", "fit", "--bars", lean, "--contract", "201312", "--kind", "egarch"]
    argv += ["--reference", lean, "--reference-contract", "201403", "--reference-id", "7"]
    assert main([*argv, "--out", str(out)]) == 0
    d = json.loads(out.read_text())
    assert d["kind"] == "egarch" and d["reference_instrument_id"] == 7
    assert 0.5 < d["copula"]["rho"] < 1 and d["copula"]["nu"] > 2
    assert d["fit"]["aligned_pairs"] > 1000


def test_a_backtest_decides_on_the_fitted_garch(shared_data: Path, sixe_params: Path) -> None:
    cfg = BacktestConfig.load(REPO / "configs/backtest/es_mbo.toml")
    data = (str(shared_data / "dbn/nautilus/esh4-glbx-mdp3-20231225.mbo.dbn.zst"),)
    defs = str(shared_data / "dbn/nautilus/definition-glbx-es-fut.dbn.zst")
    base = replace(cfg, data=data, definitions=defs)
    garch = replace(base, risk_model=RiskModelSection(vol_model="garch", params=str(sixe_params)))
    out = sixe_params.parent
    tele = {}
    for name, c in (("ewma", base), ("garch", garch)):
        folder = run_backtest(c, out, name, progress=False)
        tele[name] = json.loads((folder / "telemetry.json").read_text())
    assert tele["garch"]["signals"] == tele["ewma"]["signals"] > 0
    # The two volatility models warm up differently (30 one-minute bars vs 60 seconds)
    # and size differently: the runs must not be the same run.
    assert tele["garch"] != tele["ewma"]


@pytest.mark.parametrize(
    ("extra", "why"),
    [
        (["--timeframe", "1h"], "bars are 60 s apart (median gap) but --timeframe 1h"),
        (["--timeframe", "1m", "--last", "-5"], "--last: must be >= 2, got -5"),
        (["--timeframe", "1m", "--corr-window", "0"], "--corr-window: must be >= 2, got 0"),
    ],
)
def test_fit_refuses_a_timeframe_the_bars_do_not_have_and_bad_counts(
    shared_data: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    why: str,
) -> None:
    out = tmp_path / "p.json"
    capsys.readouterr()
    argv = ["risk", "fit", "--bars", str(shared_data / SIXE), *extra, "--out", str(out)]
    try:
        code = main(argv)
    except SystemExit as e:  # a count out of range is refused by the parser, before reading
        code = int(e.code or 0)
    err = capsys.readouterr().err
    assert code == 2 and why in err, err
    assert ("RiskInputError" in err) or ("UsageError" in err)
    assert not out.exists()
