"""Backtests on the real ES MBO day: the run folder, its accounting, determinism, external
signal files, synthetic data, and the CLI's handling of bad configs."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from pycontrol.backtest.config import BacktestConfig, SignalsConfig, SynthData
from pycontrol.backtest.run import run_backtest
from pycontrol.cli import main

REPO = Path(__file__).resolve().parents[2]
MULT = 50.0  # ES, from the definition file


def es_config(shared_data: Path, **over: object) -> BacktestConfig:
    cfg = BacktestConfig.load(REPO / "configs/backtest/es_mbo.toml")
    data = (str(shared_data / "dbn/nautilus/esh4-glbx-mdp3-20231225.mbo.dbn.zst"),)
    defs = str(shared_data / "dbn/nautilus/definition-glbx-es-fut.dbn.zst")
    return replace(cfg, data=data, definitions=defs, **over)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def es_run(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bt")
    return run_backtest(es_config(shared_data), out, "a", progress=False)


def test_run_folder_has_the_contract_files_and_columns(es_run: Path) -> None:
    for f in ("orders", "fills", "trades", "equity", "denials"):
        assert (es_run / f"{f}.parquet").is_file(), f
    import json

    metrics = json.loads((es_run / "metrics.json").read_text())
    assert metrics  # computed by pycontrol.backtest.metrics from these files
    doc = (es_run / "report.html").read_text()
    assert "PcCharts" in doc and "ESH4" in doc  # charts inlined, instrument in the header
    info = json.loads((es_run / "run.json").read_text())
    assert info["data"][0]["sha256"] and info["instruments"]
    assert np.load(es_run / "latency.npy").dtype == np.int64
    orders = pl.read_parquet(es_run / "orders.parquet")
    assert orders.schema["ts"] == pl.Int64 and orders.schema["client_order_id"] == pl.UInt64
    assert set(orders["leg"].unique()) <= {"ENTRY", "STOP_LOSS", "TAKE_PROFIT"}
    assert set(orders["status"].unique()) <= {
        "FILLED",
        "PARTIALLY_FILLED",
        "CANCELLED",
        "REJECTED",
        "WORKING",
    }
    fills = pl.read_parquet(es_run / "fills.parquet")
    assert fills.height > 0
    assert fills.columns == [
        "ts",
        "client_order_id",
        "instrument_id",
        "symbol",
        "side",
        "price",
        "qty",
        "fee",
        "liquidity",
    ]
    assert set(fills["symbol"]) == {"ESH4"}
    # Fill prices sit on the 0.25 tick grid from the definition file.
    assert ((fills["price"] * 4) % 1 == 0).all()
    trades = pl.read_parquet(es_run / "trades.parquet")
    assert trades.height > 0
    equity = pl.read_parquet(es_run / "equity.parquet")
    assert equity["ts"].is_sorted()


def test_accounting_is_consistent(es_run: Path) -> None:
    import json

    fills = pl.read_parquet(es_run / "fills.parquet")
    tele = json.loads((es_run / "telemetry.json").read_text())
    pos = tele["positions"][0]
    sign = pl.when(pl.col("side") == "BUY").then(1).otherwise(-1)
    signed = fills.select((sign * pl.col("qty").cast(pl.Int64)).sum()).item()
    # Positions equal the sum of signed fills (flat at the end: flatten_at_end).
    assert pos["qty"] == signed == 0
    cash = fills.select(
        (-sign * pl.col("qty").cast(pl.Float64) * pl.col("price") * MULT).sum()
    ).item()
    fees = fills["fee"].sum()
    assert fees == pytest.approx(2.0 * fills["qty"].sum())
    # Fill cash flows and fees add up to the final realized P&L.
    assert pos["realized"] == pytest.approx(cash, abs=1e-6)
    assert pos["fees"] == pytest.approx(fees, abs=1e-9)
    trades = pl.read_parquet(es_run / "trades.parquet")
    assert trades["pnl"].sum() == pytest.approx(cash - fees, abs=1e-6)
    equity = pl.read_parquet(es_run / "equity.parquet")
    assert equity["equity"][-1] == pytest.approx(100_000.0 + cash - fees, abs=1e-6)
    # Every order's filled quantity is the sum of its fills.
    orders = pl.read_parquet(es_run / "orders.parquet")
    per = fills.group_by("client_order_id").agg(pl.col("qty").sum().alias("q"))
    joined = orders.join(per, on="client_order_id", how="left").with_columns(
        pl.col("q").fill_null(0)
    )
    assert (joined["q"] == joined["filled_qty"]).all()


def test_same_config_and_seed_give_identical_outputs(
    shared_data: Path, es_run: Path, tmp_path: Path
) -> None:
    b = run_backtest(es_config(shared_data), tmp_path, "b", progress=False)
    for f in ("orders", "fills", "trades", "equity", "denials"):
        x, y = pl.read_parquet(es_run / f"{f}.parquet"), pl.read_parquet(b / f"{f}.parquet")
        assert x.equals(y), f
    # The seed matters (latency draws): a different one moves order arrival and fills.
    c = run_backtest(es_config(shared_data, seed=8), tmp_path, "c", progress=False)
    fa, fc = pl.read_parquet(es_run / "fills.parquet"), pl.read_parquet(c / "fills.parquet")
    assert not fa.equals(fc)


def test_external_signal_file_goes_through_decision_and_risk(
    shared_data: Path, tmp_path: Path
) -> None:
    # One strong BUY at 23:20 UTC (20 minutes after the reopen: the volatility estimate is
    # warm), one weak one (0.8 < 0.87 external threshold) at 23:40.
    t0 = 1_703_546_400_000_000_000
    sig = pl.DataFrame(
        {
            "ts": [t0, t0 + 1_200_000_000_000],
            "symbol": ["ESH4", "ESH4"],
            "p_sell": [0.02, 0.1],
            "p_hold": [0.03, 0.1],
            "p_buy": [0.95, 0.8],
        }
    )
    path = tmp_path / "sig.parquet"
    sig.write_parquet(path)
    cfg = es_config(
        shared_data, signals=SignalsConfig(kind="file", path=str(path), max_age_s=120.0)
    )
    import json

    folder = run_backtest(cfg, tmp_path, "ext", progress=False)
    tele = json.loads((folder / "telemetry.json").read_text())
    assert tele["signals"] == 2
    assert tele["holds_by_reason"].get("LOW_CONFIDENCE") == 1
    orders = pl.read_parquet(folder / "orders.parquet")
    entries = orders.filter(pl.col("leg") == "ENTRY", pl.col("intent_id") == 1)
    assert entries.height == 1 and entries["side"][0] == "BUY"
    assert entries["ts"][0] >= t0


def test_synthetic_demo_data_runs(tmp_path: Path) -> None:
    cfg = BacktestConfig.load(REPO / "configs/backtest/demo.toml")
    cfg = replace(cfg, synth=SynthData(events=20_000, seed=7, cache_dir=str(tmp_path / "cache")))
    folder = run_backtest(cfg, tmp_path, "demo", progress=False)
    assert (folder / "fills.parquet").is_file()
    eq = pl.read_parquet(folder / "equity.parquet")
    assert eq.height > 10


def test_cli_reports_a_bad_config_with_every_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\ndata = ["nope.dbn.zst"]\nseeed = 1\n[sizing]\nmax_qty = 0\n')
    assert main(["backtest", "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "unknown key 'seeed'" in err and "max_qty must be >= 1" in err
    ok = tmp_path / "missing.toml"
    ok.write_text('name = "x"\ndata = ["nope.dbn.zst"]\n')
    assert main(["backtest", "--config", str(ok)]) == 2
    assert "data files not found" in capsys.readouterr().err
