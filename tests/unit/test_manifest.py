"""Data manifest storage semantics on small files written here: append-only parts,
content-addressed no-op re-ingest, crash safety, typed errors, lookups and lineage."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from pycontrol import CoreIOError, UnknownFormatError
from pycontrol.data import Manifest
from pycontrol.data.manifest import (
    AmbiguousPrefixError,
    EntryNotFoundError,
    ManifestError,
    default_root,
)

BARS = "timestamp_utc,open,high,low,close,volume\n{rows}"


def _bars(path: Path, start_minute: int = 1, n: int = 3) -> Path:
    rows = "".join(
        f"2024-01-02 10:{m:02d}:00,1.10,1.20,1.00,1.15,{m}\n"
        for m in range(start_minute, start_minute + n)
    )
    path.write_text(BARS.format(rows=rows))
    return path


def _snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.glob("part-*")}


def test_csv_bars_entry_facts(tmp_path: Path) -> None:
    f = _bars(tmp_path / "6EH4.XCME_1min_bars.csv")
    [r] = Manifest(tmp_path / "root").ingest([f])
    assert r.status == "added"
    assert r.sha256 == hashlib.sha256(f.read_bytes()).hexdigest()
    e = Manifest(tmp_path / "root").entries().row(0, named=True)
    assert e["format"] == "csv" and e["schema"] == "ohlcv-bars"
    assert e["instruments"] == ["6EH4.XCME"]
    assert e["rows"] == 3
    assert e["size_bytes"] == f.stat().st_size
    assert e["source_path"] == str(f.resolve())
    # Close-stamped bars: the range is of bar open times (first close 10:01 -> open 10:00).
    assert e["ts_start"].isoformat() == "2024-01-02T10:00:00+00:00"
    assert e["ts_end"].isoformat() == "2024-01-02T10:02:00+00:00"
    assert e["ingested_at"] is not None and e["tool_version"]
    assert e["stored_path"] is None


def test_reingest_is_a_noop(tmp_path: Path) -> None:
    m = Manifest(tmp_path / "root")
    f = _bars(tmp_path / "a.csv")
    m.ingest([f])
    before = _snapshot(m.dir)
    [r] = m.ingest([f])
    assert r.status == "present"
    assert r.entry["source_path"] == str(f.resolve())
    assert _snapshot(m.dir) == before
    assert m.entries().height == 1


def test_same_content_at_another_path_is_recognised(tmp_path: Path) -> None:
    m = Manifest(tmp_path / "root")
    f = _bars(tmp_path / "a.csv")
    g = tmp_path / "elsewhere" / "b.csv"
    g.parent.mkdir()
    g.write_bytes(f.read_bytes())
    m.ingest([f])
    [r] = m.ingest([g])
    assert r.status == "present"
    assert r.entry["source_path"] == str(f.resolve())
    assert m.entries().height == 1


def test_duplicates_within_one_batch_add_one_entry(tmp_path: Path) -> None:
    f = _bars(tmp_path / "a.csv")
    g = tmp_path / "b.csv"
    g.write_bytes(f.read_bytes())
    results = Manifest(tmp_path / "root").ingest([f, g])
    assert [r.status for r in results] == ["added", "present"]
    assert results[1].entry["source_path"] == str(f.resolve())
    assert Manifest(tmp_path / "root").entries().height == 1


def test_second_batch_appends_a_part_and_leaves_the_first_untouched(tmp_path: Path) -> None:
    m = Manifest(tmp_path / "root")
    m.ingest([_bars(tmp_path / "a.csv")])
    first = _snapshot(m.dir)
    m.ingest([_bars(tmp_path / "b.csv", start_minute=10)])
    after = _snapshot(m.dir)
    assert len(after) == 2
    for name, (body, mtime) in first.items():
        assert after[name] == (body, mtime)
    assert m.entries()["source_path"].to_list() == [
        str((tmp_path / "a.csv").resolve()),
        str((tmp_path / "b.csv").resolve()),
    ]


def test_crash_during_write_leaves_no_partial_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    m = Manifest(tmp_path / "root")
    m.ingest([_bars(tmp_path / "a.csv")])
    before = _snapshot(m.dir)

    def torn_write(self: pl.DataFrame, file: Any, *args: Any, **kwargs: Any) -> None:
        Path(file).write_bytes(b"PAR1 half a part")
        raise OSError("disk went away")

    monkeypatch.setattr(pl.DataFrame, "write_parquet", torn_write)
    with pytest.raises(OSError, match="disk went away"):
        m.ingest([_bars(tmp_path / "b.csv", start_minute=10)])
    monkeypatch.undo()
    assert _snapshot(m.dir) == before
    assert not list(m.dir.glob(".tmp-*"))
    assert m.entries().height == 1


def test_crash_before_publish_leaves_no_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    m = Manifest(tmp_path / "root")

    def no_link(src: Any, dst: Any) -> None:
        raise OSError("killed before the rename")

    monkeypatch.setattr(os, "link", no_link)
    with pytest.raises(OSError, match="killed"):
        m.ingest([_bars(tmp_path / "a.csv")])
    monkeypatch.undo()
    assert m.parts() == []
    assert m.entries().height == 0
    # The file can be ingested once the fault is gone.
    assert m.ingest([tmp_path / "a.csv"])[0].status == "added"


def test_leftover_temp_file_is_not_an_entry(tmp_path: Path) -> None:
    m = Manifest(tmp_path / "root")
    m.ingest([_bars(tmp_path / "a.csv")])
    (m.dir / ".tmp-999-part-x.parquet").write_bytes(b"torn")
    assert m.entries().height == 1


def test_unknown_format_is_a_typed_error_naming_the_file(tmp_path: Path) -> None:
    m = Manifest(tmp_path / "root")
    good = _bars(tmp_path / "a.csv")
    odd = tmp_path / "notes.bin"
    odd.write_bytes(b"\x00\x01 not market data")
    with pytest.raises(UnknownFormatError, match=r"notes\.bin") as info:
        m.ingest([good, odd])
    assert info.value.path == str(odd.resolve())
    # All or nothing: the good file of the failed batch was not recorded either.
    assert m.entries().height == 0


def test_allow_unknown_records_format_unknown(tmp_path: Path) -> None:
    odd = tmp_path / "notes.bin"
    odd.write_bytes(b"\x00\x01 not market data")
    m = Manifest(tmp_path / "root")
    [r] = m.ingest([odd], allow_unknown=True)
    assert r.status == "added"
    e = m.get(r.sha256)
    assert e["format"] == "unknown" and e["rows"] is None and e["instruments"] == []


def test_missing_file_is_an_io_error(tmp_path: Path) -> None:
    with pytest.raises(CoreIOError, match=r"nope\.csv"):
        Manifest(tmp_path / "root").ingest([tmp_path / "nope.csv"])


def test_get_by_prefix_unknown_and_ambiguous(tmp_path: Path) -> None:
    m = Manifest(tmp_path / "root")
    files = []
    # 17 distinct contents: two of them must share a first hex digit.
    for i in range(17):
        p = tmp_path / f"f{i}.bin"
        p.write_bytes(f"blob {i}".encode())
        files.append(p)
    results = m.ingest(files, allow_unknown=True)
    digests = [r.sha256 for r in results]
    assert m.get(digests[0][:12].upper())["sha256"] == digests[0]
    first = [d[0] for d in digests]
    shared = next(c for c in first if first.count(c) > 1)
    with pytest.raises(AmbiguousPrefixError, match="matches"):
        m.get(shared)
    with pytest.raises(EntryNotFoundError, match="no manifest entry"):
        m.get("0" * 64)
    with pytest.raises(EntryNotFoundError, match="not a hex"):
        m.get("xyz")


def test_lineage_names_ingested_files_and_rejects_others(tmp_path: Path) -> None:
    m = Manifest(tmp_path / "root")
    a = _bars(tmp_path / "a.csv")
    b = _bars(tmp_path / "b.csv", start_minute=20)
    m.ingest([a])
    assert m.lineage([a]) == [hashlib.sha256(a.read_bytes()).hexdigest()]
    with pytest.raises(EntryNotFoundError, match=r"b\.csv"):
        m.lineage([a, b])


def test_copy_stores_an_immutable_copy(tmp_path: Path) -> None:
    m = Manifest(tmp_path / "root")
    a = _bars(tmp_path / "a.csv")
    [r] = m.ingest([a], copy=True)
    stored = Path(r.entry["stored_path"])
    assert stored == (m.raw_dir / r.sha256[:16] / "a.csv").resolve()
    assert stored.read_bytes() == a.read_bytes()
    assert m.get(r.sha256)["stored_path"] == str(stored)
    assert not list(stored.parent.glob(".tmp-*"))


def test_default_root_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PYCONTROL_DATA_ROOT", str(tmp_path / "r"))
    assert Manifest().root == tmp_path / "r"
    monkeypatch.delenv("PYCONTROL_DATA_ROOT")
    assert default_root() == Path("data")


def test_empty_manifest_has_the_entry_schema(tmp_path: Path) -> None:
    df = Manifest(tmp_path / "none").entries()
    assert df.height == 0
    assert df.schema["ts_start"] == pl.Datetime("ns", "UTC")
    assert df.schema["instruments"] == pl.List(pl.String)


def test_damaged_part_is_a_typed_error_naming_it(tmp_path: Path) -> None:
    m = Manifest(tmp_path / "root")
    m.ingest([_bars(tmp_path / "a.csv")])
    [part] = m.parts()
    part.write_bytes(part.read_bytes()[:20])
    with pytest.raises(ManifestError, match=part.name):
        m.entries()


def test_file_changing_during_ingest_records_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pycontrol.data import manifest as mod

    a = _bars(tmp_path / "a.csv")
    real_detect = mod.detect

    def detect_then_append(path: Path) -> Any:
        facts = real_detect(path)
        with path.open("a") as fh:
            fh.write("2024-01-02 11:00:00,1.1,1.2,1.0,1.1,5\n")
        return facts

    monkeypatch.setattr(mod, "detect", detect_then_append)
    m = Manifest(tmp_path / "root")
    with pytest.raises(ManifestError, match="changed while being ingested"):
        m.ingest([a])
    assert m.entries().height == 0
