"""The manifest contract: JSON Schema (models/contracts/manifest.schema.json, draft 2020-12)
plus the cross-field rules a schema cannot state, and the file checks (sha256) of an export
or version folder. Every problem is reported with its JSON path, all at once."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from pycontrol.data.manifest import sha256_file
from pycontrol.registry.errors import IntegrityError, ManifestError, make
from pycontrol.training.parity import MIN_ROWS

# The repository's models/ folder (contracts, gates); pycontrol is installed editable from it.
MODELS_DIR = Path(__file__).resolve().parents[2] / "models"
CONTRACTS_DIR = MODELS_DIR / "contracts"
MANIFEST_SCHEMA = CONTRACTS_DIR / "manifest.schema.json"
MANIFEST_FILE = "manifest.json"
PARITY_FILE = "parity.json"
# optional: the training inputs' reference for drift (tradecore::drift)
DRIFT_REFERENCE_FILE = "drift_reference.json"
# Figures the manifest derives from others must match them to this precision.
_EPS = 1e-9


@functools.cache
def validator(schema_path: Path = MANIFEST_SCHEMA) -> Draft202012Validator:
    """The draft 2020-12 validator of a schema file (the schema itself is checked first)."""
    try:
        schema = json.loads(schema_path.read_text())
    except (OSError, ValueError, RecursionError) as e:
        raise make(ManifestError, str(schema_path), [f"cannot load the schema: {e}"]) from e
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _describe(e: ValidationError) -> str:
    msg = e.message
    if e.context:  # oneOf/anyOf: say why each branch failed, not only that all did
        why = sorted({f"{c.json_path}: {c.message}" for c in e.context})
        msg += " (" + "; ".join(why) + ")"
    return f"{e.json_path}: {msg}"


def schema_violations(doc: Any, schema_path: Path = MANIFEST_SCHEMA) -> list[str]:
    """Every schema error in ``doc`` as ``$.json.path: message``, sorted by path."""
    errors = validator(schema_path).iter_errors(doc)
    return sorted(_describe(e) for e in errors)


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= _EPS


def _last_dim(tensor: Mapping[str, Any]) -> int:
    return int(tensor["shape"][-1])


def cross_field_violations(m: Mapping[str, Any]) -> list[str]:
    """Rules across fields (run on a schema-valid manifest): lengths that must agree, the
    aggregate's arithmetic (a gate reads it, so it must not be hand-set) and a ``passed``
    parity that its own figures support."""
    out: list[str] = []
    prefix = f"{m['family']}-{m['kind']}-"
    if not m["model_id"].startswith(prefix):
        out.append(f"$.model_id: {m['model_id']!r} must start with {prefix!r} (family-kind-)")
    n_classes, names = len(m["classes"]), m["feature_set"]["names"]
    if len(m["class_values"]) != n_classes:
        out.append(f"$.class_values: {len(m['class_values'])} values for {n_classes} classes")
    inp = m["onnx"]["inputs"][0]
    if _last_dim(inp) not in (-1, len(names)):
        out.append(
            f"$.onnx.inputs[0].shape: last axis {_last_dim(inp)} != {len(names)} feature names"
        )
    if m["sequence"] is not None and inp["shape"][1] not in (-1, m["sequence"]["lookback"]):
        out.append(
            f"$.onnx.inputs[0].shape: axis 1 is {inp['shape'][1]}, "
            f"sequence.lookback is {m['sequence']['lookback']}"
        )
    for i, t in enumerate(m["onnx"]["outputs"]):
        if t["name"] == "probabilities" and _last_dim(t) not in (-1, n_classes):
            out.append(
                f"$.onnx.outputs[{i}].shape: {_last_dim(t)} probability columns "
                f"for {n_classes} classes"
            )
    lo, hi = m["input_bounds"]["min"], m["input_bounds"]["max"]
    for key, arr in (("min", lo), ("max", hi)):
        if len(arr) != len(names):
            out.append(f"$.input_bounds.{key}: {len(arr)} values for {len(names)} features")
    bad = [i for i, (a, b) in enumerate(zip(lo, hi, strict=False)) if a > b]
    if bad:
        out.append(f"$.input_bounds: min > max for features at {bad[:10]}")
    out += _aggregate_violations(m["metrics"]["aggregate"])
    out += _parity_violations(m["parity"])
    return out


def _aggregate_violations(agg: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    base, best = agg["baselines"], agg["best_baseline"]
    if best not in base:
        return [f"$.metrics.aggregate.best_baseline: {best!r} is not among {sorted(base)}"]
    top = max(float(b["accuracy"]) for b in base.values())
    if not _close(float(base[best]["accuracy"]), top):
        out.append(
            f"$.metrics.aggregate.best_baseline: {best!r} (accuracy {base[best]['accuracy']}) "
            f"is not the most accurate baseline ({top})"
        )
    if not _close(float(agg["best_baseline_accuracy"]), float(base[best]["accuracy"])):
        out.append(
            f"$.metrics.aggregate.best_baseline_accuracy: {agg['best_baseline_accuracy']} != "
            f"baselines.{best}.accuracy {base[best]['accuracy']}"
        )
    gain = float(agg["model"]["accuracy"]) - float(agg["best_baseline_accuracy"])
    if not _close(float(agg["accuracy_over_best_baseline"]), gain):
        out.append(
            f"$.metrics.aggregate.accuracy_over_best_baseline: {agg['accuracy_over_best_baseline']}"
            f" != model.accuracy - best_baseline_accuracy = {gain}"
        )
    return out


def _parity_violations(p: Mapping[str, Any] | None) -> list[str]:
    if p is None or not p["passed"]:
        return []  # a missing or failed parity is legal here; promotion refuses it
    out = []
    if p["rows"] < MIN_ROWS:
        out.append(f"$.parity.passed: true with rows {p['rows']} < {MIN_ROWS}")
    if p["max_abs_diff"] > p["tolerance"]:
        out.append(
            f"$.parity.passed: true with max_abs_diff {p['max_abs_diff']} > "
            f"tolerance {p['tolerance']}"
        )
    if p["class_agreement"] != 1.0:
        out.append(f"$.parity.passed: true with class_agreement {p['class_agreement']} < 1")
    return out


def manifest_violations(m: Any) -> list[str]:
    """Schema errors, then (only for a schema-valid manifest) cross-field ones."""
    found = schema_violations(m)
    return found or cross_field_violations(m)


def validate_manifest(m: Any, where: str) -> None:
    """Raises :class:`ManifestError` naming ``where`` and every violation."""
    found = manifest_violations(m)
    if found:
        raise make(ManifestError, where, found)


def load_manifest(folder: Path) -> dict[str, Any]:
    """``folder/manifest.json`` parsed (not yet validated); a missing or non-JSON file is a
    :class:`ManifestError` naming it."""
    path = folder / MANIFEST_FILE
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError as e:
        raise make(ManifestError, str(path), ["no manifest.json in this folder"]) from e
    except (OSError, ValueError, RecursionError) as e:
        raise make(ManifestError, str(path), [f"not readable JSON: {e}"]) from e
    if not isinstance(doc, dict):
        raise make(ManifestError, str(path), [f"$: {type(doc).__name__} is not an object"])
    return doc


def file_violations(folder: Path, m: Mapping[str, Any]) -> list[str]:
    """sha256 of model.onnx (and the native dump) against the manifest, and parity.json (if
    present) against the inlined parity record."""
    out: list[str] = []
    files = [("onnx", m["onnx"])] + ([("native", m["native"])] if m["native"] else [])
    # optional: versions exported before drift references have none
    if m.get("drift_reference"):
        files.append(("drift_reference", m["drift_reference"]))
    for key, entry in files:
        path = folder / entry["file"]
        if not path.is_file():
            out.append(f"{path}: missing (manifest $.{key}.file)")
            continue
        got = sha256_file(path)
        if got != entry["sha256"]:
            out.append(
                f"{path}: sha256 {got} != manifest $.{key}.sha256 {entry['sha256']} "
                "(the file changed after export)"
            )
    parity_path = folder / PARITY_FILE
    if parity_path.is_file():
        try:
            parity = json.loads(parity_path.read_text())
        except (ValueError, RecursionError) as e:
            out.append(f"{parity_path}: not JSON: {e}")
        else:
            if parity != m["parity"]:
                out.append(f"{parity_path}: differs from manifest $.parity")
    return out


def check_files(folder: Path, m: Mapping[str, Any]) -> None:
    """Raises :class:`IntegrityError` listing every file that does not match the manifest."""
    found = file_violations(folder, m)
    if found:
        raise make(IntegrityError, str(folder), found)


def check_export(folder: Path) -> dict[str, Any]:
    """The manifest of an export (or version) folder after the contract and file checks."""
    m = load_manifest(folder)
    validate_manifest(m, str(folder / MANIFEST_FILE))
    check_files(folder, m)
    return m
