"""The data manifest on the real shared files (DBN MBO and trades, a Lean zip, the 6E CSV,
a LOBSTER pair): recorded facts checked against databento, hashlib and the data README;
the `pycontrol data ingest` / `data ls` commands run as subprocesses."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pycontrol.data import Manifest

NS = 1_000_000_000


def _ns(dt: datetime) -> int:
    # Python datetimes hold microseconds; the manifest keeps ns, so compare at us precision.
    return int(dt.timestamp()) * NS + dt.microsecond * 1000


def _databento_range(path: Path) -> tuple[int, int, int]:
    import databento

    df = databento.DBNStore.from_file(path).to_df(pretty_ts=False, map_symbols=False)
    ts = df["ts_event"]
    return int(ts.min()), int(ts.max()), len(df)


@pytest.fixture(scope="module")
def files(shared_data: Path) -> dict[str, Path]:
    lob = shared_data / "lobster"
    return {
        "mbo": shared_data / "dbn" / "nautilus" / "esh4-glbx-mdp3-20231225.mbo.dbn.zst",
        "trades": shared_data
        / "dbn"
        / "nautilus"
        / "futures_trades_2024-07-01T23-58_2024-07-02T00-02.dbn.zst",
        "lean": shared_data / "bars" / "lean-es-minute" / "20131007_trade.zip",
        "6e": shared_data / "bars" / "other" / "6EH4.XCME_1min_bars_20240101_20240131.csv.gz",
        "msg": lob / "AMZN_2012-06-21_34200000_57600000_message_1.csv.gz",
        "book": lob / "AMZN_2012-06-21_34200000_57600000_orderbook_1.csv.gz",
    }


@pytest.fixture(scope="module")
def ingested(
    files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Manifest, dict[str, dict[str, Any]]]:
    m = Manifest(tmp_path_factory.mktemp("root"))
    results = m.ingest(files.values())
    assert [r.status for r in results] == ["added"] * len(files)
    return m, {k: r.entry for k, r in zip(files, results, strict=True)}


def test_sha256_and_size_match_the_bytes(
    files: dict[str, Path], ingested: tuple[Manifest, dict[str, dict[str, Any]]]
) -> None:
    m, _ = ingested
    for path in files.values():
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        e = m.get(digest)
        assert e["source_path"] == str(path.resolve())
        assert e["size_bytes"] == path.stat().st_size


def test_dbn_mbo_facts(
    files: dict[str, Path], ingested: tuple[Manifest, dict[str, dict[str, Any]]]
) -> None:
    e = ingested[1]["mbo"]
    lo, hi, n = _databento_range(files["mbo"])
    assert (e["format"], e["schema"], e["rows"]) == ("dbn", "mbo", 68_792)
    assert n == 68_792
    assert e["instruments"] == ["ESH4", "17077"]
    assert _ns(e["ts_start"]) == lo // 1000 * 1000
    assert _ns(e["ts_end"]) == hi // 1000 * 1000


def test_dbn_trades_facts(
    files: dict[str, Path], ingested: tuple[Manifest, dict[str, dict[str, Any]]]
) -> None:
    e = ingested[1]["trades"]
    lo, hi, _ = _databento_range(files["trades"])
    assert (e["format"], e["schema"], e["rows"]) == ("dbn", "trades", 120)
    assert e["instruments"] == ["ESU4", "118"]
    assert _ns(e["ts_start"]) == lo // 1000 * 1000
    assert _ns(e["ts_end"]) == hi // 1000 * 1000
    assert e["ts_start"].isoformat().startswith("2024-07-01T23:58:01.218")


def test_lean_zip_facts(
    files: dict[str, Path], ingested: tuple[Manifest, dict[str, dict[str, Any]]]
) -> None:
    e = ingested[1]["lean"]
    with zipfile.ZipFile(files["lean"]) as zf:
        lines = sum(len(zf.read(n).splitlines()) for n in zf.namelist())
    assert (e["format"], e["schema"], e["rows"]) == ("lean-zip", "minute-trade", lines)
    assert 1_512 <= lines <= 1_767  # the README's per-day range
    # This day's zip holds three contract months (the README lists five over the week).
    assert e["instruments"] == ["ES 201312", "ES 201403", "ES 201406"]
    assert e["ts_start"] >= datetime(2013, 10, 7, tzinfo=UTC)
    assert e["ts_end"] < datetime(2013, 10, 8, tzinfo=UTC)


def test_6e_csv_facts(ingested: tuple[Manifest, dict[str, dict[str, Any]]]) -> None:
    e = ingested[1]["6e"]
    assert (e["format"], e["rows"], e["instruments"]) == ("csv", 29_996, ["6EH4.XCME"])
    # Stamped at bar close 2024-01-01 23:01 .. 2024-01-31 23:59; recorded as bar opens.
    assert e["ts_start"] == datetime(2024, 1, 1, 23, 0, tzinfo=UTC)
    assert e["ts_end"] == datetime(2024, 1, 31, 23, 58, tzinfo=UTC)


def test_lobster_pair_facts(ingested: tuple[Manifest, dict[str, dict[str, Any]]]) -> None:
    msg, book = ingested[1]["msg"], ingested[1]["book"]
    assert (msg["format"], msg["schema"], msg["rows"]) == ("lobster-message", "1-level", 57_515)
    assert (book["format"], book["schema"], book["rows"]) == (
        "lobster-orderbook",
        "1-level",
        57_515,
    )
    assert msg["instruments"] == book["instruments"] == ["AMZN"]
    # 34200.017459617 .. 57599.959359650 s after midnight New York (EDT, UTC-4).
    assert msg["ts_start"].isoformat() == "2012-06-21T13:30:00.017459+00:00"
    assert msg["ts_end"].isoformat() == "2012-06-21T19:59:59.959359+00:00"
    assert book["ts_start"] == datetime(2012, 6, 21, 13, 30, tzinfo=UTC)
    assert book["ts_end"] == datetime(2012, 6, 21, 20, 0, tzinfo=UTC)


def test_reingest_real_files_changes_nothing(
    files: dict[str, Path], ingested: tuple[Manifest, dict[str, dict[str, Any]]]
) -> None:
    m, _ = ingested
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in m.parts()}
    results = m.ingest(files.values())
    assert {r.status for r in results} == {"present"}
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in m.parts()} == before
    assert m.entries().height == len(files)


def _cli(*args: str, env_root: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("PYCONTROL_DATA_ROOT", None)
    if env_root is not None:
        env["PYCONTROL_DATA_ROOT"] = str(env_root)
    return subprocess.run(
        [sys.executable, "-m", "pycontrol.cli", "data", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def test_cli_ingest_and_ls(files: dict[str, Path], tmp_path: Path) -> None:
    root = tmp_path / "root"
    trades, book = str(files["trades"]), str(files["book"])
    first = _cli("ingest", trades, book, "--root", str(root))
    assert first.returncode == 0, first.stderr
    lines = first.stdout.strip().splitlines()
    assert lines[0].startswith(f"{trades}: added ") or lines[0].startswith(
        f"{files['trades'].resolve()}: added "
    )
    assert "dbn trades rows 120 2024-07-01 23:58:01" in lines[0]
    assert lines[-1].startswith("2 added, 0 already present")

    copy = tmp_path / "copy.dbn.zst"
    copy.write_bytes(files["trades"].read_bytes())
    again = _cli("ingest", str(copy), env_root=root)
    assert again.returncode == 0, again.stderr
    assert "already present (same content as" in again.stdout
    assert again.stdout.strip().splitlines()[-1].startswith("0 added, 1 already present")

    ls = _cli("ls", "--root", str(root))
    assert ls.returncode == 0, ls.stderr
    assert ls.stdout.strip().splitlines()[-1].startswith("2 entries in ")
    as_json = json.loads(_cli("ls", "--json", "--root", str(root)).stdout)
    assert [e["format"] for e in as_json] == ["dbn", "lobster-orderbook"]
    assert as_json[0]["sha256"] == hashlib.sha256(files["trades"].read_bytes()).hexdigest()
    assert as_json[0]["instruments"] == ["ESU4", "118"]


def test_cli_unknown_format_fails_naming_the_file(tmp_path: Path) -> None:
    odd = tmp_path / "notes.bin"
    odd.write_bytes(b"\x00 not market data")
    bad = _cli("ingest", str(odd), "--root", str(tmp_path / "root"))
    assert bad.returncode == 2
    assert "UnknownFormatError" in bad.stderr and "notes.bin" in bad.stderr
    ok = _cli("ingest", str(odd), "--allow-unknown", "--root", str(tmp_path / "root"))
    assert ok.returncode == 0, ok.stderr
    assert " unknown " in ok.stdout.splitlines()[0]
