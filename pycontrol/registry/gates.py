"""Promotion gates: ``models/gates/<family>.json`` holds JSON-Logic rules over
``{"manifest": <candidate>, "production": <current production manifest or null>}``,
evaluated by the Rust core. Before the rules, four built-in checks every promotion needs:
the manifest contract, the files' sha256, a passed parity check, and the FeatureSet hash
against the one the engine runs for the family. The evaluation records each check's result
and the value(s) it saw, so a refusal can say exactly why."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pycontrol._core import ConfigError, CoreError, FeatureSet
from pycontrol.data.manifest import sha256_file
from pycontrol.registry import jsonlogic
from pycontrol.registry.contract import (
    CONTRACTS_DIR,
    MANIFEST_FILE,
    MODELS_DIR,
    file_violations,
    manifest_violations,
    schema_violations,
)
from pycontrol.registry.errors import GateConfigError, make

GATES_DIR = MODELS_DIR / "gates"
GATES_SCHEMA = CONTRACTS_DIR / "gates.schema.json"
REPO_ROOT = MODELS_DIR.parent
BUILTIN_CHECKS = ("schema", "integrity", "parity", "feature_set")


@dataclass(frozen=True)
class GateConfig:
    """One family's gate file, validated."""

    path: Path
    family: str
    engine_feature_set: str
    rules: list[dict[str, Any]]
    sha256: str


def load_gates(family: str, gates_dir: Path = GATES_DIR) -> GateConfig:
    """The family's gate file, checked against models/contracts/gates.schema.json, with
    unique rule names and a family that matches the file name."""
    path = gates_dir / f"{family}.json"
    try:
        raw = path.read_bytes()
        doc = json.loads(raw)
        if jsonlogic.depth(doc, 2 * jsonlogic.MAX_DEPTH) > 2 * jsonlogic.MAX_DEPTH:
            raise ValueError(f"nested deeper than {2 * jsonlogic.MAX_DEPTH} levels")
    except FileNotFoundError as e:
        known = sorted(p.stem for p in gates_dir.glob("*.json"))
        raise make(
            GateConfigError, str(path), [f"no gate file for family {family!r} (known: {known})"]
        ) from e
    except (OSError, ValueError, RecursionError) as e:
        raise make(GateConfigError, str(path), [f"not readable JSON: {e}"]) from e
    found = schema_violations(doc, GATES_SCHEMA)
    if not found:
        names = [r["name"] for r in doc["rules"]]
        found += [
            f"$.rules: rule name {n!r} repeats" for n in sorted(set(names)) if names.count(n) > 1
        ]
        found += [f"$.rules: {n!r} is a built-in check name" for n in names if n in BUILTIN_CHECKS]
        if doc["family"] != family:
            found.append(f"$.family: {doc['family']!r} in the file for family {family!r}")
    if found:
        raise make(GateConfigError, str(path), found)
    return GateConfig(
        path=path,
        family=family,
        engine_feature_set=doc["engine_feature_set"],
        rules=list(doc["rules"]),
        sha256=hashlib.sha256(raw).hexdigest(),
    )


def engine_feature_set(spec: str | Path, base: Path = REPO_ROOT) -> FeatureSet:
    """The FeatureSet the engine runs: ``"default"``, ``"default_micro"`` or a FeatureSet JSON
    file (relative paths resolve against ``base``, the repository root)."""
    if spec == "default":
        return FeatureSet.default()
    if spec == "default_micro":
        return FeatureSet.default_micro()
    path = Path(spec)
    path = path if path.is_absolute() else base / path
    try:
        return FeatureSet.from_json(path.read_text())
    except OSError as e:
        raise make(GateConfigError, str(path), [f"cannot read the FeatureSet file: {e}"]) from e
    except ConfigError as e:
        raise make(GateConfigError, str(path), [f"not a FeatureSet: {e}"]) from e


def _check(name: str, passed: bool, value: Any, description: str) -> dict[str, Any]:
    return {"name": name, "description": description, "passed": passed, "value": value}


def builtin_checks(
    folder: Path,
    manifest: Mapping[str, Any],
    feature_set: FeatureSet,
    feature_set_name: str,
    manifest_sha256: str | None = None,
) -> list[dict[str, Any]]:
    """The four checks that need no gate file; each records what it saw. ``manifest_sha256``
    (recorded at registration) makes an edit of the registered manifest an integrity failure:
    the gates read that file, so it must be the one that was checked in."""
    contract = manifest_violations(manifest)
    checks = [
        _check("schema", not contract, contract, "manifest contract (JSON Schema + cross-field)")
    ]
    if schema_violations(manifest):
        # Without a schema-valid manifest the other checks cannot read their fields.
        for name in BUILTIN_CHECKS[1:]:
            checks.append(_check(name, False, None, "not checked: the manifest breaks its schema"))
        return checks
    files = file_violations(folder, manifest)
    if manifest_sha256 is not None:
        got = sha256_file(folder / MANIFEST_FILE)
        if got != manifest_sha256:
            files.append(
                f"{folder / MANIFEST_FILE}: sha256 {got} != {manifest_sha256} recorded at "
                "registration (edited after registration)"
            )
    checks.append(_check("integrity", not files, files, "sha256 of model files vs manifest"))
    parity = manifest["parity"]
    checks.append(
        _check(
            "parity",
            parity is not None and parity["passed"] is True,
            parity,
            "parity check present and passed" if parity else "parity check missing",
        )
    )
    ours, theirs = manifest["feature_set"]["hash"], feature_set.hash
    checks.append(
        _check(
            "feature_set",
            ours == theirs,
            {"model": ours, "engine": theirs, "engine_feature_set": feature_set_name},
            "model FeatureSet hash equals the engine's",
        )
    )
    return checks


def evaluate_rules(
    gates: GateConfig, manifest: Mapping[str, Any], production: Mapping[str, Any] | None
) -> list[dict[str, Any]]:
    """Every rule's result and the values it saw. A rule passes only if it returns ``true``; a
    rule that cannot be evaluated fails with its error recorded (it never passes silently)."""
    data = {"manifest": manifest, "production": production}
    out = []
    for rule in gates.rules:
        name = rule["name"]
        record: dict[str, Any] = {"name": name, "description": rule["description"]}
        try:
            missing = jsonlogic.missing_paths(rule["logic"], data)
            if missing:
                # A typo'd or absent path would read as null and could pass: it fails.
                record.update(
                    passed=False,
                    result=None,
                    error=f"reads {', '.join(missing)}, which the data does not have",
                )
            else:
                result = jsonlogic.apply(rule["logic"], data, name=name)
                record.update(passed=result is True, result=result, error=None)
        except CoreError as e:
            record.update(passed=False, result=None, error=str(e))
        try:
            shown = rule.get("values") or {
                p: {"var": p} for p in jsonlogic.variables(rule["logic"])
            }
        except CoreError as e:
            shown, record["error"] = {}, record["error"] or str(e)
        values: dict[str, Any] = {}
        for label, expr in shown.items():
            try:
                values[label] = jsonlogic.apply(expr, data, name=f"{name}.values.{label}")
            except CoreError as e:
                values[label] = f"<error: {e}>"
        record["values"] = values
        out.append(record)
    return out


def evaluate(
    folder: Path,
    manifest: Mapping[str, Any],
    production: Mapping[str, Any] | None,
    gates: GateConfig,
    feature_set: FeatureSet,
    feature_set_name: str,
    manifest_sha256: str | None = None,
) -> dict[str, Any]:
    """The full gate evaluation of the version in ``folder``: built-in checks, then rules.
    ``passed`` is true only if every one passed; ``failures`` says which, with values."""
    checks = builtin_checks(folder, manifest, feature_set, feature_set_name, manifest_sha256)
    rules = evaluate_rules(gates, manifest, production)
    failures = [f"{c['name']}: {violations_text(c['value'])}" for c in checks if not c["passed"]]
    failures += [
        f"{r['name']}: "
        + (
            f"error {r['error']}"
            if r["error"]
            else f"{brief(r['result'])} with {brief(r['values'])}"
        )
        for r in rules
        if not r["passed"]
    ]
    return {
        "evaluated_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "gates": {"file": str(gates.path), "sha256": gates.sha256},
        "production": production["model_id"] if production else None,
        "checks": checks,
        "rules": rules,
        "passed": not failures,
        "failures": failures,
    }


def violations_text(value: Any) -> str:
    """Violation lists in full (each names a file or JSON path); other values in brief."""
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return "; ".join(value)
    return brief(value)


def brief(value: Any, limit: int = 300) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[:limit] + "..."
