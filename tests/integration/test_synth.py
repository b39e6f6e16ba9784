"""The synthetic MBO generator end to end: determinism, validity for `databento`, a clean
L3 replay, and the L3 book matching the generator's own MBP-10 ground truth row for row."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import databento as db
import numpy as np
import polars as pl
import pytest

import pycontrol
from pycontrol.data.synth import synth_mbo

PRICE_SCALE = 1e9


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def two_instruments(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, Any]]:
    d = tmp_path_factory.mktemp("synth")
    mbo, mbp = d / "es_nq.mbo.dbn.zst", d / "es_nq.mbp10.dbn.zst"
    summary = synth_mbo(mbo, 30_000, seed=5, instruments=["ES", "NQ"], mbp10=mbp)
    return mbo, mbp, summary


def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a.dbn.zst", tmp_path / "b.dbn.zst", tmp_path / "c.dbn.zst"
    synth_mbo(a, 5_000, seed=42)
    synth_mbo(b, 5_000, seed=42)
    synth_mbo(c, 5_000, seed=43)
    assert sha256(a) == sha256(b)
    assert sha256(a) != sha256(c)


def test_databento_reads_it(two_instruments: tuple[Path, Path, dict[str, Any]]) -> None:
    mbo, _, summary = two_instruments
    store = db.DBNStore.from_file(mbo)
    assert store.schema == db.Schema.MBO
    assert store.dataset == "GLBX.MDP3"
    assert store.metadata.version == 3
    assert sorted(store.symbols) == ["ESZ6", "NQZ6"]
    df = store.to_df(pretty_ts=False)
    assert len(df) == summary["records"]
    assert set(df["symbol"]) == {"ESZ6", "NQZ6"}
    assert set(df["action"]) == {"R", "A", "C", "M", "T", "F"}
    # Records are in ts_recv order; ts_event never after ts_recv.
    recv = df.index.to_numpy().astype("uint64")
    assert (np.diff(recv.astype("int64")) >= 0).all()
    assert (df["ts_event"].to_numpy() <= recv).all()
    # F_LAST closes every event: one per live event plus one per instrument's snapshot.
    assert int(((df["flags"].to_numpy() & 128) != 0).sum()) == summary["boundaries"]
    assert summary["boundaries"] == summary["events"] + 2


def test_summary_describes_the_instruments(
    two_instruments: tuple[Path, Path, dict[str, Any]],
) -> None:
    _, _, summary = two_instruments
    by_root = {i["root"]: i for i in summary["instruments"]}
    assert set(by_root) == {"ES", "NQ"}
    es, nq = by_root["ES"], by_root["NQ"]
    assert (es["tick_size"], es["multiplier"], es["symbol"]) == (0.25, 50, "ESZ6")
    assert (nq["tick_size"], nq["multiplier"], nq["symbol"]) == (0.25, 20, "NQZ6")
    assert es["instrument_id"] != nq["instrument_id"]
    assert es["events"] + nq["events"] == summary["events"] == 30_000
    assert 5_000 < es["last_bid"] < es["last_ask"] < 7_000
    assert 18_000 < nq["last_bid"] < nq["last_ask"] < 24_000
    assert summary["trades"] > 0 and summary["fills"] >= summary["trades"]


def test_replay_is_clean(two_instruments: tuple[Path, Path, dict[str, Any]]) -> None:
    mbo, _, summary = two_instruments
    df, stats = pycontrol.replay_book(mbo, levels=1, with_stats=True)
    assert stats["records"] == summary["records"]
    assert stats["boundaries"] == summary["boundaries"] == len(df)
    assert stats["instruments"] == 2
    assert all(v == 0 for v in stats["anomalies"].values()), stats["anomalies"]
    assert not df["crossed"].any()
    assert (df["bid_px_00"] < df["ask_px_00"]).all()
    # Every instrument has its own rows, at its own price level.
    for inst in summary["instruments"]:
        rows = df.filter(pl.col("instrument_id") == inst["instrument_id"])
        assert len(rows) == inst["events"] + 1
        assert rows["bid_px_00"][-1] == inst["last_bid"]
        assert rows["ask_px_00"][-1] == inst["last_ask"]


def test_mbo_replay_equals_mbp10_ground_truth(
    two_instruments: tuple[Path, Path, dict[str, Any]],
) -> None:
    mbo, mbp, summary = two_instruments
    l3 = pycontrol.replay_book(mbo, levels=10)
    l2 = pycontrol.replay_book(mbp, levels=10)
    assert summary["mbp10_records"] == len(l2) == len(l3)
    assert l3.columns == l2.columns
    for col in l3.columns:
        assert l3[col].equals(l2[col]), f"column {col} differs"
    # Ten levels really are in play, not just the top.
    assert l3["bid_px_09"].null_count() < len(l3)


def test_prices_sit_on_the_tick_grid(two_instruments: tuple[Path, Path, dict[str, Any]]) -> None:
    mbo, _, _ = two_instruments
    df = db.DBNStore.from_file(mbo).to_df(price_type="fixed")
    px = df.loc[df["action"] != "R", "price"].to_numpy()
    assert (px % 250_000_000 == 0).all()


def test_price_process_has_structure(tmp_path: Path) -> None:
    """Volatility clusters: absolute mid changes over 200-event steps are autocorrelated."""
    path = tmp_path / "es.dbn.zst"
    synth_mbo(path, 200_000, seed=9)
    df = pycontrol.replay_book(path, levels=1)
    mid = ((df["bid_px_00"] + df["ask_px_00"]) / 2).to_numpy()[1::200]
    moves = np.abs(np.diff(mid))
    ac = np.corrcoef(moves[:-1], moves[1:])[0, 1]
    assert ac > 0.05, ac
    # ... and the mid does move: a day-like range, not a frozen book.
    assert mid.max() - mid.min() > 5 * 0.25


def test_uncompressed_output(tmp_path: Path) -> None:
    path = tmp_path / "plain.mbo.dbn"
    summary = synth_mbo(path, 1_000, seed=1, instruments=["CL"])
    assert path.read_bytes()[:4] == b"DBN\x03"
    df = db.DBNStore.from_file(path).to_df()
    assert len(df) == summary["records"]
    assert set(df["symbol"]) == {"CLF7"}


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"events": 0}, "events"),
        ({"events": -3}, "events"),
        ({"events": 10, "instruments": ["ZZ"]}, "ZZ"),
        ({"events": 10, "instruments": ["ES", "es"]}, "twice"),
        ({"events": 10, "instruments": []}, "at least one"),
    ],
)
def test_bad_arguments_are_config_errors(
    tmp_path: Path, kwargs: dict[str, Any], needle: str
) -> None:
    with pytest.raises(pycontrol.ConfigError, match=needle):
        synth_mbo(tmp_path / "x.dbn.zst", **kwargs)
    assert not (tmp_path / "x.dbn.zst").exists()


def test_unwritable_path_is_an_io_error(tmp_path: Path) -> None:
    target = tmp_path / "missing-dir" / "x.dbn.zst"
    with pytest.raises(pycontrol.CoreIOError) as err:
        synth_mbo(target, 10)
    assert err.value.path == str(target)


def test_cli_writes_and_reports(tmp_path: Path) -> None:
    out, mbp = tmp_path / "cli.mbo.dbn.zst", tmp_path / "cli.mbp10.dbn.zst"
    cmd = [sys.executable, "-m", "pycontrol.cli", "data", "synth", "--out", str(out)]
    cmd += ["--events", "2000", "--seed", "3", "--instruments", "ES", "GC"]
    cmd += ["--mbp10", str(mbp), "--json"]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert summary["events"] == 2000
    assert [i["symbol"] for i in summary["instruments"]] == ["ESZ6", "GCG7"]
    assert summary["records"] == len(db.DBNStore.from_file(out).to_df())
    assert summary["mbp10_records"] == summary["boundaries"]
    # Same arguments from Python give the same file.
    again = tmp_path / "py.mbo.dbn.zst"
    synth_mbo(again, 2000, seed=3, instruments=["ES", "GC"])
    assert sha256(again) == sha256(out)


def test_cli_bad_root_exits_with_a_message(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "pycontrol.cli", "data", "synth"]
    cmd += ["--out", str(tmp_path / "x.dbn.zst"), "--events", "10", "--instruments", "XX"]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert res.returncode == 2
    assert "ConfigError" in res.stderr and "XX" in res.stderr
