"""`pycontrol.dbn_info` and `pycontrol data info` on real files: metadata, record counts,
instrument ids, and the contract terms read from definition records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pycontrol import dbn_info
from pycontrol.cli import main


def test_mbo_day_summary(esh4_mbo: Path) -> None:
    info = dbn_info(esh4_mbo)
    assert (info["version"], info["compressed"], info["dataset"]) == (1, True, "GLBX.MDP3")
    assert info["schema"] == "mbo"
    assert info["records"] == 68_792
    assert info["record_counts"] == {"mbo": 68_792}
    assert info["instrument_ids"] == [17077]
    assert info["instruments"] == []
    assert info["symbols"] == ["ESH4"]
    assert "ESH4" in info["mappings"]
    assert info["ts_event_min"] < info["ts_event_max"]
    assert info["out_of_order"] == 0
    assert info["path"] == str(esh4_mbo)


def test_mixed_instrument_bars(shared_data: Path) -> None:
    p = (
        shared_data
        / "dbn"
        / "nautilus"
        / "futures_ohlcv-1m_2024-07-01T23-40_2024-07-02T00-10.dbn.zst"
    )
    info = dbn_info(p)
    assert info["schema"] == "ohlcv-1m"
    assert info["records"] == 60
    assert info["instrument_ids"] == [118, 4358]
    # 2024-07-01 23:40 .. 2024-07-02 00:09 UTC, one bar a minute.
    assert info["ts_event_min"] == 1_719_877_200_000_000_000
    assert info["ts_event_max"] == 1_719_878_940_000_000_000


def test_definitions_give_tick_multiplier_expiry(shared_data: Path) -> None:
    info = dbn_info(shared_data / "dbn" / "nautilus" / "futures_definition_2024-07-01.dbn.zst")
    assert info["schema"] == "definition"
    assert info["record_counts"] == {"definition": 2}
    by_sym = {i["raw_symbol"]: i for i in info["instruments"]}
    es, nq = by_sym["ESU4"], by_sym["NQU4"]
    assert (es["instrument_id"], es["tick_size"], es["tick_size_fixed"]) == (118, 0.25, 250_000_000)
    assert (es["multiplier"], es["unit_of_measure_qty"], es["contract_multiplier"]) == (
        50.0,
        50.0,
        None,
    )
    assert es["expiration"] == 1_726_839_000_000_000_000
    assert (es["currency"], es["exchange"], es["asset"]) == ("USD", "XCME", "ES")
    assert (es["instrument_class"], es["security_type"]) == ("F", "FUT")
    assert (nq["instrument_id"], nq["multiplier"]) == (4358, 20.0)


def test_every_version_reports_itself(shared_data: Path) -> None:
    c = shared_data / "dbn" / "dbn-test-corpus"
    for name, version, compressed in [
        ("test_data.trades.v1.dbn.zst", 1, True),
        ("test_data.trades.v2.dbn.zst", 2, True),
        ("test_data.trades.v3.dbn.zst", 3, True),
        ("test_data.trades.dbn", 2, False),
        ("test_data.mbo.v3.dbn", 3, False),
    ]:
        info = dbn_info(c / name)
        assert (info["version"], info["compressed"], info["records"]) == (version, compressed, 2)
    assert dbn_info(c / "test_data.ohlcv-1d.v3.dbn.zst")["records"] == 0


def test_cli_data_info(shared_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = shared_data / "dbn" / "nautilus" / "futures_definition_2024-07-01.dbn.zst"
    assert main(["data", "info", str(p)]) == 0
    out = capsys.readouterr().out
    assert "DBN v1 (zstd)" in out
    assert "ESU4 (id 118): tick 0.25, multiplier 50.0" in out
    assert "2024-09-20 13:30:00" in out
    assert main(["data", "info", "--json", str(p)]) == 0
    assert json.loads(capsys.readouterr().out)["records"] == 2


def test_cli_data_info_bad_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "empty.dbn"
    p.write_bytes(b"")
    assert main(["data", "info", str(p)]) == 2
    assert "EmptyFileError" in capsys.readouterr().err
