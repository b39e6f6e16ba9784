"""The model registry on disk (layout in docs/model-manifest.md, "Registry layout"; the engine
reads it): ``<root>/<family>/<version>/`` per registered export, ``<root>/<family>/aliases.json``
(candidate, staging, production) rewritten atomically, ``<root>/audit.jsonl`` appended with
fsync. Every alias move (register, promote, rollback) and every refused promotion is audited;
audit entries are hash-chained so a rewritten entry is detected.

Promotion order is candidate -> staging -> production; each step re-runs the gate evaluation
against the current production version. Mutations hold an exclusive lock on ``<root>/.lock``.
"""

from __future__ import annotations

import contextlib
import fcntl
import getpass
import hashlib
import json
import os
import shutil
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pycontrol._core import FeatureSet
from pycontrol.data.manifest import sha256_file
from pycontrol.registry import contract, gates
from pycontrol.registry.errors import (
    AuditTrailError,
    PromotionRefusedError,
    RegistryError,
    make,
)

ROOT_ENV = "PYCONTROL_MODELS"
DEFAULT_ROOT = Path("models") / "registry"
ALIASES = ("candidate", "staging", "production")
# Each alias is promoted from the one before it; nothing skips a stage.
SOURCE_OF = {"staging": "candidate", "production": "staging"}
ALIASES_FILE = "aliases.json"
AUDIT_FILE = "audit.jsonl"
GENESIS = "0" * 64
# Indirection so a test can simulate a crash between the temp write and the rename.
_replace = os.replace


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _refuse(
    where: str, violations: list[str], evaluation: dict[str, Any] | None = None
) -> PromotionRefusedError:
    err = make(PromotionRefusedError, where, violations, evaluation=evaluation)
    assert isinstance(err, PromotionRefusedError)
    return err


class Registry:
    """Versions, aliases and audit trail under ``root`` (default ``$PYCONTROL_MODELS``, else
    ``models/registry`` in the working directory); gate files come from ``gates_dir``."""

    def __init__(self, root: str | os.PathLike[str] | None = None, gates_dir: Path | None = None):
        self.root = Path(root or os.environ.get(ROOT_ENV) or DEFAULT_ROOT)
        self.gates_dir = Path(gates_dir) if gates_dir else gates.GATES_DIR

    # ---- reading -------------------------------------------------------------------------

    def families(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / ALIASES_FILE).is_file())

    def versions(self, family: str) -> list[str]:
        d = self.root / family
        if not d.is_dir():
            return []
        # Dot-folders are copies in flight (see register); they are not versions yet.
        return sorted(p.name for p in d.iterdir() if p.is_dir() and not p.name.startswith("."))

    def aliases(self, family: str) -> dict[str, str | None]:
        path = self.root / family / ALIASES_FILE
        if not path.is_file():
            return dict.fromkeys(ALIASES)
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise make(RegistryError, str(path), [f"unreadable aliases: {e}"]) from e
        if not isinstance(doc, dict) or set(doc) != set(ALIASES):
            raise make(RegistryError, str(path), [f"expected exactly the keys {list(ALIASES)}"])
        return {a: doc[a] for a in ALIASES}

    def folder(self, family: str, version: str) -> Path:
        path = self.root / family / version
        if version.startswith(".") or "/" in version or not path.is_dir():
            known = self.versions(family)
            raise make(RegistryError, f"{family}/{version}", [f"no such version (known: {known})"])
        return path

    def resolve(self, family: str, ref: str) -> str:
        """A version name, or the version an alias points at."""
        if ref in ALIASES:
            version = self.aliases(family)[ref]
            if version is None:
                raise make(RegistryError, f"{family}/{ref}", ["alias points at no version"])
            return version
        self.folder(family, ref)
        return ref

    def manifest(self, family: str, version: str) -> dict[str, Any]:
        return contract.load_manifest(self.folder(family, version))

    def audit(self) -> list[dict[str, Any]]:
        """The audit entries in order; a line that is not a JSON object (torn by a crash,
        edited by hand) raises :class:`AuditTrailError` naming it."""
        path = self.root / AUDIT_FILE
        if not path.is_file():
            return []
        out = []
        for i, line in enumerate(path.read_bytes().splitlines()):
            try:
                entry = json.loads(line)
            except (ValueError, RecursionError) as e:
                raise make(AuditTrailError, str(path), [f"line {i + 1} is not JSON: {e}"]) from e
            if not isinstance(entry, dict):
                raise make(AuditTrailError, str(path), [f"line {i + 1} is not a JSON object"])
            out.append(entry)
        return out

    def verify_audit(self) -> list[str]:
        """Problems with the audit chain: each entry names the sha256 of the line before it, so
        an edited, removed or reordered entry breaks the chain from there on."""
        path = self.root / AUDIT_FILE
        if not path.is_file():
            return []
        out, prev = [], GENESIS
        for i, line in enumerate(path.read_bytes().splitlines()):
            try:
                entry = json.loads(line)
            except (ValueError, RecursionError):
                out.append(f"{path}: line {i + 1} is not JSON (torn or edited)")
                entry = {}
            if not isinstance(entry, dict):
                out.append(f"{path}: line {i + 1} is not a JSON object")
                entry = {}
            if entry.get("seq") != i or entry.get("prev") != prev:
                out.append(f"{path}: line {i + 1} breaks the chain (seq/prev do not follow)")
            prev = hashlib.sha256(line).hexdigest()
        return out

    def check_vouched(self, family: str, aliases: Sequence[str] = ALIASES) -> None:
        """Raises :class:`AuditTrailError` unless the audit chain is whole and each alias's
        version in ``aliases.json`` is the one its last audited move left it at: a hand-edited
        ``aliases.json`` or a rewritten audit line stops every alias move (the core refuses to
        serve such a version too)."""
        path = str(self.root / AUDIT_FILE)
        broken = self.verify_audit()
        if broken:
            raise make(AuditTrailError, path, broken)
        current = self.aliases(family)
        wrong = []
        for alias in aliases:
            stack = self.history(family, alias)
            audited = stack[-1] if stack else None
            if current[alias] != audited:
                wrong.append(
                    f"{family}/aliases.json says {alias} = {current[alias]!r} but the audit trail "
                    f"says {audited!r}: changed outside the registry"
                )
        if wrong:
            raise make(AuditTrailError, path, wrong)

    # ---- writing -------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _write_aliases(self, family: str, aliases: Mapping[str, str | None]) -> None:
        """Write temp, fsync, rename, fsync the folder: a reader (the engine) sees the old
        file or the new one, never a torn one, whatever happens in between."""
        path = self.root / family / ALIASES_FILE
        tmp = path.with_name(f".{ALIASES_FILE}.{os.getpid()}.tmp")
        text = json.dumps({a: aliases[a] for a in ALIASES}, indent=2) + "\n"
        try:
            with open(tmp, "w") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            _replace(tmp, path)
        except OSError as e:
            tmp.unlink(missing_ok=True)
            raise make(RegistryError, str(path), [f"cannot write aliases: {e}"]) from e
        _fsync_dir(path.parent)

    def _append_audit(self, entry: dict[str, Any]) -> dict[str, Any]:
        """Append one entry (opened in append mode, fsync'd); earlier bytes are never touched."""
        path = self.root / AUDIT_FILE
        lines = path.read_bytes().splitlines() if path.is_file() else []
        prev = hashlib.sha256(lines[-1]).hexdigest() if lines else GENESIS
        full = {"seq": len(lines), "prev": prev, "at": _now(), "user": getpass.getuser(), **entry}
        with open(path, "ab") as fh:
            fh.write(json.dumps(full, sort_keys=True, default=str).encode() + b"\n")
            fh.flush()
            os.fsync(fh.fileno())
        return full

    def _move(
        self,
        family: str,
        alias: str,
        version: str,
        *,
        action: str,
        evaluation: dict[str, Any] | None,
        reason: str,
    ) -> dict[str, Any]:
        aliases = self.aliases(family)
        previous = aliases[alias]
        aliases[alias] = version
        self._write_aliases(family, aliases)
        entry = self._append_audit(
            {
                "action": action,
                "family": family,
                "alias": alias,
                "from": previous,
                "to": version,
                "moved": True,
                "reason": reason,
                "evaluation": evaluation,
            }
        )
        from pycontrol.notify.client import emit  # a no-op without $PYCONTROL_NOTIFY_URL

        event = "promotion" if action == "promote" else "rollback"
        emit(event, f"{family} {alias}: {previous} -> {version}", "registry", {"reason": reason})
        return entry

    def register(self, export_dir: str | os.PathLike[str], reason: str = "") -> dict[str, Any]:
        """Copies an export folder in as a new version (after the manifest contract and the
        sha256 checks, repeated on the copy) and points ``candidate`` at it. Returns the audit
        entry."""
        src = Path(export_dir)
        m = contract.check_export(src)
        family, version = m["family"], m["model_id"]
        gates.load_gates(family, self.gates_dir)  # a family nobody can promote is a typo
        with self._locked():
            self.check_vouched(family)
            dest = self.root / family / version
            if dest.exists():
                raise make(RegistryError, f"{family}/{version}", ["already registered"])
            dest.parent.mkdir(parents=True, exist_ok=True)
            staging = dest.with_name(f".incoming-{version}-{os.getpid()}")
            shutil.rmtree(staging, ignore_errors=True)
            try:
                shutil.copytree(src, staging)
                contract.check_files(staging, m)
                for f in staging.rglob("*"):
                    if f.is_file():
                        f.chmod(0o444)  # versions are immutable; edits show up as sha256 errors
                os.rename(staging, dest)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
            _fsync_dir(dest.parent)
            checks = {
                "schema": True,
                "integrity": True,
                "source": str(src.resolve()),
                "manifest_sha256": sha256_file(dest / contract.MANIFEST_FILE),
            }
            return self._move(
                family, "candidate", version, action="register", evaluation=checks, reason=reason
            )

    def evaluate(
        self,
        family: str,
        version: str,
        feature_set: FeatureSet | None = None,
        feature_set_name: str | None = None,
    ) -> dict[str, Any]:
        """The gate evaluation of ``version`` against the family's current production."""
        cfg = gates.load_gates(family, self.gates_dir)
        if feature_set is None:
            feature_set = gates.engine_feature_set(cfg.engine_feature_set)
            feature_set_name = cfg.engine_feature_set
        folder = self.folder(family, version)
        m = contract.load_manifest(folder)
        prod_version = self.aliases(family)["production"]
        production = self.manifest(family, prod_version) if prod_version else None
        ev = gates.evaluate(
            folder,
            m,
            production,
            cfg,
            feature_set,
            feature_set_name or "given",
            self.registered_manifest_sha256(family, version),
        )
        return {"family": family, "version": version, **ev}

    def promote(
        self,
        family: str,
        to: str,
        *,
        version: str | None = None,
        feature_set: FeatureSet | None = None,
        feature_set_name: str | None = None,
        dry_run: bool = False,
        reason: str = "",
    ) -> dict[str, Any]:
        """Moves ``to`` (staging or production) to the version at the alias before it, if every
        check and gate rule passes; else raises :class:`PromotionRefusedError` listing each
        failure with its value (and audits the refusal). ``version`` asserts which version that
        is. ``dry_run`` evaluates and returns without moving or auditing anything."""
        where = f"{family}: promote to {to}"
        if to not in SOURCE_OF:
            raise _refuse(where, [f"can only promote to {sorted(SOURCE_OF)}, not {to!r}"])
        source = SOURCE_OF[to]
        with self._locked():
            try:
                self.check_vouched(family)
            except AuditTrailError as e:
                raise _refuse(where, [f"audit trail: {v}" for v in e.violations]) from e
            aliases = self.aliases(family)
            at_source = aliases[source]
            if version is not None and version != at_source:
                raise _refuse(
                    where,
                    [
                        f"{version} is not at {source} (at {source}: {at_source}); "
                        f"promotion order is candidate -> staging -> production, no skipping"
                    ],
                )
            if at_source is None:
                raise _refuse(where, [f"{source} points at no version; promote to {source} first"])
            if aliases[to] == at_source:
                raise _refuse(where, [f"{at_source} is already at {to}"])
            ev = self.evaluate(family, at_source, feature_set, feature_set_name)
            ev.update(to=to, source=source, dry_run=dry_run)
            if dry_run:
                return ev
            if not ev["passed"]:
                self._append_audit(
                    {
                        "action": "promote",
                        "family": family,
                        "alias": to,
                        "from": aliases[to],
                        "to": at_source,
                        "moved": False,
                        "reason": reason,
                        "evaluation": ev,
                    }
                )
                raise _refuse(f"{where}: {at_source} refused", ev["failures"], ev)
            ev["audit"] = self._move(
                family, to, at_source, action="promote", evaluation=ev, reason=reason
            )
            return ev

    def registered_manifest_sha256(self, family: str, version: str) -> str | None:
        """The manifest's sha256 recorded when ``version`` was registered."""
        for e in reversed(self.audit()):
            if e.get("action") == "register" and (e["family"], e["to"]) == (family, version):
                found: str | None = (e.get("evaluation") or {}).get("manifest_sha256")
                return found
        return None

    def history(self, family: str, alias: str) -> list[str]:
        """The alias's versions as a stack replayed from the audit trail: moves push, rollbacks
        pop. Its top is the alias's current version."""
        stack: list[str] = []
        for e in self.audit():
            if e.get("family") != family or e.get("alias") != alias or not e.get("moved"):
                continue
            if e.get("action") == "rollback":
                if stack:
                    stack.pop()
            else:
                to = e.get("to")
                if isinstance(to, str):
                    stack.append(to)
        return stack

    def rollback(
        self,
        family: str,
        reason: str,
        alias: str = "production",
        feature_set: FeatureSet | None = None,
        feature_set_name: str | None = None,
    ) -> dict[str, Any]:
        """Moves ``alias`` back to the version it held before its current one (per the audit
        trail), after the integrity and FeatureSet checks on that version; audited."""
        where = f"{family}: rollback {alias}"
        if alias not in ALIASES:
            raise _refuse(where, [f"unknown alias {alias!r} (aliases: {list(ALIASES)})"])
        if not reason.strip():
            raise _refuse(where, ["a rollback needs a reason"])
        with self._locked():
            try:
                self.check_vouched(family)
            except AuditTrailError as e:
                raise _refuse(where, [f"audit trail: {v}" for v in e.violations]) from e
            current = self.aliases(family)[alias]
            stack = self.history(family, alias)
            if current is None or not stack or stack[-1] != current:
                raise _refuse(
                    where,
                    [
                        f"aliases.json says {current!r} but the audit trail says "
                        f"{stack[-1] if stack else None!r}; refusing to guess"
                    ],
                )
            if len(stack) < 2:
                raise _refuse(where, [f"{current} is the first {alias} version; nothing before it"])
            target = stack[-2]
            cfg = gates.load_gates(family, self.gates_dir)
            if feature_set is None:
                feature_set = gates.engine_feature_set(cfg.engine_feature_set)
                feature_set_name = cfg.engine_feature_set
            folder = self.folder(family, target)
            m = contract.load_manifest(folder)
            checks = [
                c
                for c in gates.builtin_checks(
                    folder,
                    m,
                    feature_set,
                    feature_set_name or "given",
                    self.registered_manifest_sha256(family, target),
                )
                if c["name"] in ("schema", "integrity", "feature_set")
            ]
            failures = [
                f"{c['name']}: {gates.violations_text(c['value'])}"
                for c in checks
                if not c["passed"]
            ]
            ev = {"checks": checks, "passed": not failures, "failures": failures}
            if failures:
                raise _refuse(f"{where} to {target}", failures, ev)
            return self._move(
                family, alias, target, action="rollback", evaluation=ev, reason=reason
            )
