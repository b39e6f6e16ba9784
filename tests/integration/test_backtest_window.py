"""Backtests over a date range (`--start/--end`): of several files, those with events in the
range are replayed; a file only partly inside is replayed from its snapshot and traded only
inside the range (the engine's trading window); an empty range and an inverted one are
errors; the data manifest can supply the files. The real ES day and a synthetic session
(different dates) are the data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pycontrol.backtest.config import BacktestConfigError
from pycontrol.backtest.run import manifest_files, parse_when, select_window
from pycontrol.cli import main
from pycontrol.data.manifest import Manifest
from pycontrol.data.synth import synth_mbo
from pycontrol.dbn import dbn_info

DAY = 86_400 * 10**9


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("w") / "synth.mbo.dbn.zst"
    synth_mbo(p, 20_000, 3, ["ES"])
    return p


def _days_of(path: Path) -> tuple[int, int]:
    """Midnight before the file's first event, midnight after its last."""
    info = dbn_info(path)
    return info["ts_event_min"] // DAY * DAY, (info["ts_event_max"] // DAY + 1) * DAY


def test_parse_when() -> None:
    assert parse_when("2023-12-25", "--start") == 1703462400 * 10**9
    assert parse_when("2023-12-25T14:30", "--start") == (1703462400 + 52200) * 10**9
    assert parse_when("2023-12-25T14:30:00+01:00", "--start") == (1703462400 + 48600) * 10**9
    with pytest.raises(BacktestConfigError, match="--end: expected YYYY-MM-DD"):
        parse_when("25/12/2023", "--end")


def test_window_selects_the_files_it_overlaps(esh4_mbo: Path, synth: Path) -> None:
    files = [esh4_mbo, synth]
    (es0, es1), (synth0, _) = _days_of(esh4_mbo), _days_of(synth)
    assert es1 <= synth0
    assert select_window(files, es0, es1) == [esh4_mbo]
    assert select_window(files, synth0, None) == [synth]
    assert select_window(files, None, None) == files
    # a file only partly inside is kept (the engine trades only inside the window)
    assert select_window(files, es0, int(dbn_info(esh4_mbo)["ts_event_min"]) + 10**9) == [esh4_mbo]
    with pytest.raises(BacktestConfigError, match="no data file has events"):
        select_window(files, es1 + DAY, es1 + 2 * DAY)
    with pytest.raises(BacktestConfigError, match="--start must be before --end"):
        select_window(files, es0, es0)


def test_manifest_supplies_mbo_files(esh4_mbo: Path, synth: Path, tmp_path: Path) -> None:
    Manifest(tmp_path / "data").ingest([synth, esh4_mbo])
    assert manifest_files(tmp_path / "data") == [esh4_mbo, synth]  # oldest first


def test_cli_backtest_over_a_day(
    esh4_mbo: Path, shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "backtest",
        "--config",
        "configs/backtest/es_mbo.toml",
        "--out",
        str(tmp_path),
        "--run-id",
        "day",
        "--start",
        "2023-12-24",
        "--end",
        "2023-12-26",
        "--no-progress",
    ]
    assert main(argv) == 0
    info = json.loads((tmp_path / "day" / "run.json").read_text())
    assert [Path(d["path"]).resolve() for d in info["data"]] == [esh4_mbo.resolve()]
    assert info["window"] == {"start": 1703376000 * 10**9, "end": 1703548800 * 10**9}
    argv[-4:-1] = ["2023-12-26", "--end", "2023-12-27"]
    assert main(argv) == 2
    assert "no data file has events" in capsys.readouterr().err


def test_cli_backtest_over_an_hour_inside_one_file(
    esh4_mbo: Path, shared_data: Path, tmp_path: Path
) -> None:
    import polars as pl

    argv = ["backtest", "--config", "configs/backtest/es_mbo.toml", "--out", str(tmp_path),
            "--no-progress", "--run-id"]  # fmt: skip
    assert main([*argv, "all"]) == 0
    start, end = "2023-12-25T23:10", "2023-12-25T23:45"
    assert main([*argv, "hour", "--start", start, "--end", end]) == 0
    lo, hi = parse_when(start, "--start"), parse_when(end, "--end")
    every = pl.read_parquet(tmp_path / "all" / "orders.parquet")
    some = pl.read_parquet(tmp_path / "hour" / "orders.parquet")
    assert len(some) >= 1 and len(some) < len(every), (len(some), len(every))
    entries = some.filter(pl.col("leg") == "ENTRY")
    assert entries["ts"].min() >= lo and entries["ts"].max() < hi + 10**9
    eq = pl.read_parquet(tmp_path / "hour" / "equity.parquet")
    assert eq["ts"].min() >= lo
    info = json.loads((tmp_path / "hour" / "run.json").read_text())
    assert info["window"] == {"start": lo, "end": hi}
