"""The data manifest: an append-only record of every market-data file ingested under a data
root, so datasets and models can name their inputs by content hash (lineage).

Storage: ``<root>/manifest/part-<utc time>-<short hash>.parquet``, one file per ingest batch.
A part is written under a temporary name, fsynced, then linked to its final name (which
fails rather than replace an existing part) and the folder fsynced, so a crash leaves either
the whole batch or nothing. Parts are never rewritten; the manifest is their concatenation.
Temporary files left by a crash (``.tmp-*``) are not parts and are never read.

Raw files are referenced where they are (DESIGN: raw DBN kept as received); ``copy=True``
also stores an immutable copy under ``<root>/raw/<sha256 prefix>/<name>``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from os import PathLike
from pathlib import Path
from typing import Any, Literal

import polars as pl

from pycontrol import _core
from pycontrol.data.detect import FileFacts, detect

PathArg = str | PathLike[str]

ROOT_ENV = "PYCONTROL_DATA_ROOT"
_CHUNK = 1 << 20
_TS = pl.Datetime("ns", "UTC")

SCHEMA: dict[str, pl.DataType] = {
    "sha256": pl.String(),
    "source_path": pl.String(),
    "size_bytes": pl.Int64(),
    "format": pl.String(),
    "schema": pl.String(),
    "instruments": pl.List(pl.String()),
    "ts_start": _TS,
    "ts_end": _TS,
    "rows": pl.Int64(),
    "ingested_at": _TS,
    "tool_version": pl.String(),
    "stored_path": pl.String(),
}


class ManifestError(_core.CoreError):
    """A manifest operation failed; the message names the file or hash concerned."""


class EntryNotFoundError(ManifestError):
    """No manifest entry has this hash (or hash prefix), or a file was never ingested."""


class AmbiguousPrefixError(ManifestError):
    """A hash prefix matches more than one manifest entry."""


def _error(cls: type[_core.CoreError], where: object, msg: str) -> _core.CoreError:
    err = cls(f"{where}: {msg}")
    err.path = str(where)
    err.record = None
    err.offset = None
    return err


@dataclass(frozen=True)
class IngestResult:
    """The outcome for one input: ``added`` (a new entry) or ``present`` (its content is
    already recorded, possibly under another path: ``entry`` is the matching entry)."""

    path: Path
    sha256: str
    status: Literal["added", "present"]
    entry: dict[str, Any]


def default_root() -> Path:
    """``$PYCONTROL_DATA_ROOT`` if set, else ``./data``."""
    return Path(os.environ.get(ROOT_ENV) or "data")


def tool_version() -> str:
    try:
        return version("pycontrol")
    except PackageNotFoundError:
        return "unknown"


def sha256_file(path: Path) -> str:
    """SHA-256 of the file's bytes, streamed in bounded memory."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _publish(tmp: Path, final: Path) -> None:
    """Durably moves ``tmp`` to ``final``; refuses to replace an existing ``final``."""
    with tmp.open("rb+") as fh:
        os.fsync(fh.fileno())
    # link() fails if final exists, where rename() would silently replace it.
    os.link(tmp, final)
    tmp.unlink()
    _fsync_dir(final.parent)


def _frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=SCHEMA)


class Manifest:
    """The manifest under a data root (created on first ingest)."""

    def __init__(self, root: PathArg | None = None) -> None:
        self.root = Path(root) if root is not None else default_root()
        self.dir = self.root / "manifest"
        self.raw_dir = self.root / "raw"

    def parts(self) -> list[Path]:
        """The committed part files, oldest first (names sort by their UTC time)."""
        if not self.dir.is_dir():
            return []
        return sorted(self.dir.glob("part-*.parquet"))

    def entries(self) -> pl.DataFrame:
        """Every entry, in ingest order; an empty frame of the entry schema if none."""
        parts = self.parts()
        if not parts:
            return _frame([])
        return pl.concat([self._read_part(p) for p in parts])

    def _read_part(self, part: Path) -> pl.DataFrame:
        try:
            df = pl.read_parquet(part)
            missing = [c for c in SCHEMA if c not in df.columns]
            if missing:
                raise _error(ManifestError, part, f"manifest part lacks columns {missing}")
            return df.select(list(SCHEMA)).cast(SCHEMA)  # type: ignore[arg-type]
        except (OSError, pl.exceptions.PolarsError) as e:
            # A committed part is never partial, so this is damage from outside: say where.
            raise _error(ManifestError, part, f"unreadable manifest part: {e}") from e

    def get(self, sha256_or_prefix: str) -> dict[str, Any]:
        """The entry whose sha256 is or starts with ``sha256_or_prefix`` (hex)."""
        key = sha256_or_prefix.strip().lower()
        if not key or any(c not in "0123456789abcdef" for c in key):
            raise _error(EntryNotFoundError, sha256_or_prefix, "not a hex sha256 or prefix")
        hits = self.entries().filter(pl.col("sha256").str.starts_with(key))
        if hits.height == 0:
            raise _error(EntryNotFoundError, key, f"no manifest entry under {self.root}")
        if hits.height > 1:
            names = ", ".join(hits["sha256"].str.slice(0, 16).to_list())
            raise _error(AmbiguousPrefixError, key, f"matches {hits.height} entries: {names}")
        return hits.row(0, named=True)

    def lineage(self, paths: Iterable[PathArg]) -> list[str]:
        """The sha256 of each file, each checked to be a manifest entry (datasets and
        models record these); a file never ingested raises EntryNotFoundError naming it."""
        known = set(self.entries()["sha256"].to_list())
        out = []
        for p in map(Path, paths):
            digest = sha256_file(_checked_file(p))
            if digest not in known:
                raise _error(
                    EntryNotFoundError, p, f"not in the manifest under {self.root} (ingest it)"
                )
            out.append(digest)
        return out

    def ingest(
        self, paths: Iterable[PathArg], *, copy: bool = False, allow_unknown: bool = False
    ) -> list[IngestResult]:
        """Records each file not yet in the manifest (by content) as one new part.

        Files whose content is already recorded (under any path, or earlier in this batch)
        come back ``present`` with the matching entry and add nothing. An unrecognised
        format raises UnknownFormatError naming the file, unless ``allow_unknown`` records
        it as format ``"unknown"``. Nothing is written unless every file was read.
        """
        files = [_checked_file(Path(p)) for p in paths]
        self.dir.mkdir(parents=True, exist_ok=True)
        with self._lock():
            existing = {e["sha256"]: e for e in self.entries().iter_rows(named=True)}
            new: dict[str, dict[str, Any]] = {}
            outcomes: list[tuple[Path, str, Literal["added", "present"]]] = []
            for path in files:
                before = path.stat()
                digest = sha256_file(path)
                if digest in existing or digest in new:
                    outcomes.append((path, digest, "present"))
                    continue
                new[digest] = self._entry(path, digest, allow_unknown=allow_unknown)
                after = path.stat()
                if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns):
                    # The facts would describe other bytes than the hash: record nothing.
                    raise _error(ManifestError, path, "changed while being ingested; retry")
                outcomes.append((path, digest, "added"))
            if copy:
                for entry in new.values():
                    entry["stored_path"] = str(self._store(Path(entry["source_path"]), entry))
            if new:
                # Hand back the rows as written, so added and present entries look alike.
                written = self._write_part(list(new.values()))
                existing.update((e["sha256"], e) for e in written.iter_rows(named=True))
        return [IngestResult(p, d, status, existing[d]) for p, d, status in outcomes]

    def _entry(self, path: Path, digest: str, *, allow_unknown: bool) -> dict[str, Any]:
        try:
            facts = detect(path)
        except _core.UnknownFormatError:
            if not allow_unknown:
                raise
            facts = FileFacts(format="unknown")
        return {
            "sha256": digest,
            "source_path": str(path),
            "size_bytes": path.stat().st_size,  # checked unchanged by the caller
            "format": facts.format,
            "schema": facts.schema,
            "instruments": facts.instruments,
            "ts_start": facts.ts_start_ns,
            "ts_end": facts.ts_end_ns,
            "rows": facts.rows,
            "ingested_at": None,
            "tool_version": tool_version(),
            "stored_path": None,
        }

    def _store(self, src: Path, entry: dict[str, Any]) -> Path:
        """Copies ``src`` to ``raw/<sha prefix>/<name>``, checking the copy's hash."""
        digest: str = entry["sha256"]
        dest_dir = self.raw_dir / digest[:16]
        dest = dest_dir / src.name
        if dest.exists():
            if sha256_file(dest) != digest:
                raise _error(ManifestError, dest, f"exists with content other than {digest}")
            return dest.resolve()
        dest_dir.mkdir(parents=True, exist_ok=True)
        tmp = dest_dir / f".tmp-{os.getpid()}-{src.name}"
        h = hashlib.sha256()
        try:
            with src.open("rb") as fin, tmp.open("wb") as fout:
                while chunk := fin.read(_CHUNK):
                    h.update(chunk)
                    fout.write(chunk)
            if h.hexdigest() != digest:
                raise _error(ManifestError, src, "changed while being ingested (hash differs)")
            _publish(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)
        return dest.resolve()

    def _write_part(self, new: list[dict[str, Any]]) -> pl.DataFrame:
        now = datetime.now(UTC)
        ns = int(now.timestamp()) * 1_000_000_000 + now.microsecond * 1000
        for entry in new:
            entry["ingested_at"] = ns
        frame = _frame(new)
        batch = hashlib.sha256("".join(e["sha256"] for e in new).encode()).hexdigest()[:12]
        final = self.dir / f"part-{now.strftime('%Y%m%dT%H%M%S%fZ')}-{batch}.parquet"
        tmp = self.dir / f".tmp-{os.getpid()}-{final.name}"
        try:
            frame.write_parquet(tmp)
            _publish(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)
        return frame

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        # One ingest at a time per root, so two processes cannot both add the same content.
        with (self.dir / ".lock").open("a") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _checked_file(path: Path) -> Path:
    if not path.exists():
        raise _error(_core.CoreIOError, path, "no such file")
    if not path.is_file():
        raise _error(ManifestError, path, "not a regular file")
    return path.resolve()
