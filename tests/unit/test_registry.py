"""The model registry end to end on a REAL model: a LightGBM classifier exported to ONNX with
a real parity check (pycontrol.testing.models), registered, promoted through the JSON-Logic
gates and the built-in checks by the CLI, refused for each reason with the reason named,
rolled back, with an append-only audit trail and atomic alias writes."""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pycontrol import ConfigError, CoreError, FeatureSet
from pycontrol.cli import main
from pycontrol.registry import (
    GateConfigError,
    IntegrityError,
    ManifestError,
    PromotionRefusedError,
    Registry,
    RegistryError,
    engine_feature_set,
    json_logic,
    load_gates,
    manifest_violations,
)
from pycontrol.registry import store as store_mod
from pycontrol.registry.contract import cross_field_violations
from pycontrol.testing.models import build_export, derive, set_accuracy
from pycontrol.training.parity import parity

FAMILY = "regime_hourly"
# The FeatureSet the family's engine runs, as its gate file names it (configs/features/).
ENGINE_FS = engine_feature_set(load_gates(FAMILY).engine_feature_set)


@pytest.fixture(scope="session")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real export (LightGBM -> ONNX, parity over 10k rows), built once."""
    out = tmp_path_factory.mktemp("export") / "v1"
    build_export(out, family=FAMILY, seed=0, feature_set=ENGINE_FS)
    return out


@pytest.fixture()
def make(export: Path, tmp_path: Path) -> Callable[..., tuple[Path, dict[str, Any]]]:
    """A variant of the real export with a fresh version id and an optional manifest edit."""
    n = iter(range(1000))

    def _make(edit: Callable[[dict[str, Any]], None] | None = None) -> tuple[Path, dict[str, Any]]:
        dst = tmp_path / f"export-{next(n)}"
        return dst, derive(export, dst, edit)

    return _make


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    return tmp_path / "registry"


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["models", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def aliases(root: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((root / FAMILY / "aliases.json").read_text())
    return data


def audit_bytes(root: Path) -> bytes:
    p = root / "audit.jsonl"
    return p.read_bytes() if p.exists() else b""


def to_production(capsys: pytest.CaptureFixture[str], root: Path, export_dir: Path) -> str:
    assert cli(capsys, "register", str(export_dir), "--root", str(root))[0] == 0
    for stage in ("staging", "production"):
        code, out, err = cli(capsys, "promote", FAMILY, "--to", stage, "--root", str(root))
        assert code == 0, out + err
    version: str = aliases(root)["production"]
    return version


# ---- the happy path ------------------------------------------------------------------------


def test_real_fixture_is_a_valid_export_with_real_parity(export: Path) -> None:
    m = json.loads((export / "manifest.json").read_text())
    assert manifest_violations(m) == []
    assert m["parity"]["passed"] is True and m["parity"]["rows"] >= 10_000
    assert 0 < m["parity"]["max_abs_diff"] < 1e-5
    agg = m["metrics"]["aggregate"]
    assert agg["accuracy_over_best_baseline"] > 0.05  # trees find the non-linear signal
    assert m["feature_set"]["hash"] == ENGINE_FS.hash


def test_register_then_promote_through_staging_to_production(
    capsys: pytest.CaptureFixture[str], root: Path, make: Any
) -> None:
    src, m = make()
    code, out, _ = cli(capsys, "register", str(src), "--root", str(root), "--reason", "first")
    assert code == 0 and m["model_id"] in out
    assert aliases(root) == {"candidate": m["model_id"], "staging": None, "production": None}
    copied = root / FAMILY / m["model_id"] / "model.onnx"
    assert copied.read_bytes() == (src / "model.onnx").read_bytes()
    assert copied.stat().st_mode & 0o222 == 0  # versions are read-only

    code, out, _ = cli(capsys, "promote", FAMILY, "--to", "staging", "--root", str(root))
    assert code == 0
    assert "PASS parity_passed" in out and "PASS min_gain_over_production" in out
    assert "PASS feature_set" in out and "passed" in out
    assert aliases(root)["staging"] == m["model_id"]

    code, out, _ = cli(capsys, "promote", FAMILY, "--to", "production", "--root", str(root))
    assert code == 0 and "PASS beats_best_baseline" in out
    assert aliases(root) == {
        "candidate": m["model_id"],
        "staging": m["model_id"],
        "production": m["model_id"],
    }
    entries = Registry(root).audit()
    assert [(e["action"], e["alias"], e["to"]) for e in entries] == [
        ("register", "candidate", m["model_id"]),
        ("promote", "staging", m["model_id"]),
        ("promote", "production", m["model_id"]),
    ]
    last = entries[-1]
    assert last["from"] is None and last["reason"] == "" and last["evaluation"]["passed"] is True
    rule = next(r for r in last["evaluation"]["rules"] if r["name"] == "beats_best_baseline")
    got = rule["values"]["manifest.metrics.aggregate.accuracy_over_best_baseline"]
    assert got == pytest.approx(m["metrics"]["aggregate"]["accuracy_over_best_baseline"])

    code, out, _ = cli(capsys, "list", "--root", str(root))
    assert code == 0 and "candidate,staging,production" in out
    code, out, _ = cli(capsys, "show", FAMILY, "production", "--root", str(root))
    assert code == 0 and m["model_id"] in out and m["feature_set"]["hash"] in out
    code, out, _ = cli(capsys, "audit", "--root", str(root))
    assert code == 0 and "3 entries; chain intact" in out


def test_validate_command(capsys: pytest.CaptureFixture[str], make: Any) -> None:
    src, _ = make()
    assert cli(capsys, "validate", str(src))[0] == 0
    assert cli(capsys, "validate", str(src / "manifest.json"))[0] == 0
    bad, _ = make(lambda m: m.update(kind="xgboost"))
    code, _, err = cli(capsys, "validate", str(bad))
    assert code == 2 and "ManifestError" in err and "$.kind" in err


# ---- refusals ------------------------------------------------------------------------------


def test_schema_violations_are_all_reported_with_json_paths(
    capsys: pytest.CaptureFixture[str], root: Path, make: Any
) -> None:
    def edit(m: dict[str, Any]) -> None:
        m["kind"] = "xgboost"
        m["onnx"]["sha256"] = "XYZ"
        m["onnx"]["inputs"][0]["dtype"] = "float16"
        m["surprise"] = 1
        del m["lineage"]["trial_count"]

    src, _ = make(edit)
    code, _, err = cli(capsys, "register", str(src), "--root", str(root))
    assert code == 2 and "ManifestError" in err
    for path in ("$.kind", "$.onnx.sha256", "$.onnx.inputs[0].dtype", "$.lineage", "$:"):
        assert path in err, path
    assert "'trial_count' is a required property" in err and "'surprise'" in err
    assert not (root / FAMILY).exists() and audit_bytes(root) == b""


def test_a_registered_manifest_that_breaks_the_schema_is_refused_at_promotion(
    capsys: pytest.CaptureFixture[str], root: Path, make: Any
) -> None:
    src, m = make()
    assert cli(capsys, "register", str(src), "--root", str(root))[0] == 0
    path = root / FAMILY / m["model_id"] / "manifest.json"
    path.chmod(0o644)
    path.write_text(json.dumps(dict(m, kind="xgboost")))
    code, out, err = cli(capsys, "promote", FAMILY, "--to", "staging", "--root", str(root))
    assert code == 2 and "FAIL schema" in out and "$.kind: 'xgboost' is not one of" in err
    assert "FAIL integrity" in out  # not checked: the fields it needs are not trustworthy
    assert aliases(root)["staging"] is None


def test_missing_parity_is_refused_at_promotion(
    capsys: pytest.CaptureFixture[str], root: Path, make: Any
) -> None:
    src, _m = make(lambda m: m.update(parity=None))
    assert cli(capsys, "register", str(src), "--root", str(root))[0] == 0
    code, out, err = cli(capsys, "promote", FAMILY, "--to", "staging", "--root", str(root))
    assert code == 2 and "PromotionRefusedError" in err
    assert "parity: null" in err and "parity_passed: false" in err
    assert "FAIL parity" in out
    assert aliases(root)["staging"] is None


def test_failed_parity_is_refused_with_its_figures(
    capsys: pytest.CaptureFixture[str], root: Path, make: Any
) -> None:
    rng = np.random.default_rng(0)
    ref = rng.dirichlet(np.ones(5), size=10_000)
    failed = parity(ref, ref + rng.normal(scale=1e-3, size=ref.shape), "lightgbm")
    assert failed["passed"] is False
    src, _ = make(lambda m: m.update(parity=failed))
    assert cli(capsys, "register", str(src), "--root", str(root))[0] == 0
    code, _, err = cli(capsys, "promote", FAMILY, "--to", "staging", "--root", str(root))
    assert code == 2
    assert '"passed": false' in err and f'"max_abs_diff": {failed["max_abs_diff"]}' in err
    assert aliases(root)["staging"] is None


def test_parity_claiming_a_pass_its_figures_do_not_support_breaks_the_contract(make: Any) -> None:
    _, m = make(lambda m: m["parity"].update(max_abs_diff=0.5))
    assert any(
        "$.parity.passed: true with max_abs_diff 0.5" in v for v in cross_field_violations(m)
    )


def test_gate_rule_false_when_accuracy_is_below_the_best_baseline(
    capsys: pytest.CaptureFixture[str], root: Path, make: Any
) -> None:
    def worse(m: dict[str, Any]) -> None:
        set_accuracy(m, m["metrics"]["aggregate"]["best_baseline_accuracy"] - 0.02)

    src, m = make(worse)
    assert cli(capsys, "register", str(src), "--root", str(root))[0] == 0
    code, out, err = cli(capsys, "promote", FAMILY, "--to", "staging", "--root", str(root))
    assert code == 2
    assert "FAIL beats_best_baseline" in out
    assert "beats_best_baseline: false" in err
    gain = m["metrics"]["aggregate"]["accuracy_over_best_baseline"]
    assert gain < 0 and f"{gain}" in err
    entry = Registry(root).audit()[-1]  # the refusal is audited, and nothing moved
    assert entry["moved"] is False and entry["evaluation"]["passed"] is False


def test_feature_set_hash_mismatch_is_refused(
    capsys: pytest.CaptureFixture[str], root: Path, make: Any, tmp_path: Path
) -> None:
    other = FeatureSet(FeatureSet.default().names()[:12])
    fs_file = tmp_path / "hourly.json"
    fs_file.write_text(other.to_json())
    src, m = make()
    assert cli(capsys, "register", str(src), "--root", str(root))[0] == 0
    argv = ["promote", FAMILY, "--to", "staging", "--root", str(root)]
    code, out, err = cli(capsys, *argv, "--feature-set", str(fs_file))
    assert code == 2 and "FAIL feature_set" in out
    assert m["feature_set"]["hash"] in err and other.hash in err
    # The same version passes against the family's engine set (the gate file's choice).
    assert cli(capsys, *argv)[0] == 0


def test_tampered_model_is_refused_at_register_and_at_promotion(
    capsys: pytest.CaptureFixture[str], root: Path, make: Any
) -> None:
    src, _ = make()
    with open(src / "model.onnx", "ab") as fh:
        fh.write(b"\0")
    code, _, err = cli(capsys, "register", str(src), "--root", str(root))
    assert code == 2 and "IntegrityError" in err and "sha256" in err

    src, m = make()
    assert cli(capsys, "register", str(src), "--root", str(root))[0] == 0
    onnx = root / FAMILY / m["model_id"] / "model.onnx"
    onnx.chmod(0o644)
    tampered = bytearray(onnx.read_bytes())
    tampered[-1] ^= 0xFF  # one flipped byte, same size
    onnx.write_bytes(bytes(tampered))
    code, out, err = cli(capsys, "promote", FAMILY, "--to", "staging", "--root", str(root))
    assert code == 2 and "FAIL integrity" in out and "the file changed after export" in err


def test_a_manifest_edited_after_registration_is_refused(
    capsys: pytest.CaptureFixture[str], root: Path, make: Any
) -> None:
    def worse(m: dict[str, Any]) -> None:
        set_accuracy(m, m["metrics"]["aggregate"]["best_baseline_accuracy"] - 0.05)

    src, m = make(worse)
    assert cli(capsys, "register", str(src), "--root", str(root))[0] == 0
    # Someone "fixes" the metrics in place so the gates would pass: contract-valid, but not
    # the manifest that was registered.
    path = root / FAMILY / m["model_id"] / "manifest.json"
    set_accuracy(m, m["metrics"]["aggregate"]["best_baseline_accuracy"] + 0.2)
    path.chmod(0o644)
    path.write_text(json.dumps(m))
    code, out, err = cli(capsys, "promote", FAMILY, "--to", "staging", "--root", str(root))
    assert code == 2 and "PASS beats_best_baseline" in out and "FAIL integrity" in out
    assert "edited after registration" in err and aliases(root)["staging"] is None


def test_staging_cannot_be_skipped(
    capsys: pytest.CaptureFixture[str], root: Path, make: Any
) -> None:
    src, m = make()
    assert cli(capsys, "register", str(src), "--root", str(root))[0] == 0
    code, _, err = cli(capsys, "promote", FAMILY, "--to", "production", "--root", str(root))
    assert code == 2 and "staging points at no version" in err
    argv = ["promote", FAMILY, "--to", "production", "--version", m["model_id"]]
    code, _, err = cli(capsys, *argv, "--root", str(root))
    assert code == 2 and "no skipping" in err
    assert aliases(root) == {"candidate": m["model_id"], "staging": None, "production": None}


def test_dry_run_moves_nothing(capsys: pytest.CaptureFixture[str], root: Path, make: Any) -> None:
    src, _m = make()
    assert cli(capsys, "register", str(src), "--root", str(root))[0] == 0
    before, log = (root / FAMILY / "aliases.json").read_bytes(), audit_bytes(root)
    code, out, _ = cli(
        capsys, "promote", FAMILY, "--to", "staging", "--dry-run", "--root", str(root)
    )
    assert code == 0 and "PASS beats_best_baseline" in out and "nothing moved" in out
    assert (root / FAMILY / "aliases.json").read_bytes() == before and audit_bytes(root) == log

    bad, _ = make(lambda m: m.update(parity=None))
    assert cli(capsys, "register", str(bad), "--root", str(root))[0] == 0
    before, log = (root / FAMILY / "aliases.json").read_bytes(), audit_bytes(root)
    code, out, err = cli(
        capsys, "promote", FAMILY, "--to", "staging", "--dry-run", "--json", "--root", str(root)
    )
    assert code == 2 and "would be refused" in err
    assert json.loads(out)["passed"] is False
    assert (root / FAMILY / "aliases.json").read_bytes() == before and audit_bytes(root) == log


# ---- production comparisons, rollback, audit -----------------------------------------------


def test_min_gain_over_production(
    capsys: pytest.CaptureFixture[str], root: Path, make: Any
) -> None:
    src, m1 = make()
    v1 = to_production(capsys, root, src)
    acc = m1["metrics"]["aggregate"]["model"]["accuracy"]

    small, m2 = make(lambda m: set_accuracy(m, acc + 0.002))
    assert cli(capsys, "register", str(small), "--root", str(root))[0] == 0
    code, out, err = cli(capsys, "promote", FAMILY, "--to", "staging", "--root", str(root))
    assert code == 2 and "FAIL min_gain_over_production" in out
    assert f'"production_model_id": "{v1}"' in err
    refused = Registry(root).audit()[-1]["evaluation"]
    rule = next(r for r in refused["rules"] if r["name"] == "min_gain_over_production")
    assert rule["values"]["gain"] == pytest.approx(0.002)
    assert rule["values"]["production_accuracy"] == pytest.approx(acc)

    big, m3 = make(lambda m: set_accuracy(m, acc + 0.01))
    assert cli(capsys, "register", str(big), "--root", str(root))[0] == 0
    code, out, _ = cli(capsys, "promote", FAMILY, "--to", "staging", "--root", str(root))
    assert code == 0 and "PASS min_gain_over_production" in out
    assert aliases(root)["staging"] == m3["model_id"] != m2["model_id"]


def test_rollback_restores_the_previous_production_and_is_audited(
    capsys: pytest.CaptureFixture[str], root: Path, make: Any
) -> None:
    src, m1 = make()
    v1 = to_production(capsys, root, src)
    acc = m1["metrics"]["aggregate"]["model"]["accuracy"]
    better, _ = make(lambda m: set_accuracy(m, acc + 0.02))
    v2 = to_production(capsys, root, better)
    assert v2 != v1

    code, _, _ = cli(capsys, "rollback", FAMILY, "--reason", "live slippage", "--root", str(root))
    assert code == 0 and aliases(root)["production"] == v1
    entry = Registry(root).audit()[-1]
    assert (entry["action"], entry["from"], entry["to"]) == ("rollback", v2, v1)
    assert entry["reason"] == "live slippage" and entry["evaluation"]["passed"] is True

    # v1 was the first production version: nothing earlier to roll back to.
    code, _, err = cli(capsys, "rollback", FAMILY, "--reason", "again", "--root", str(root))
    assert code == 2 and "nothing before it" in err and aliases(root)["production"] == v1


def test_rollback_refuses_a_hand_edited_alias(
    capsys: pytest.CaptureFixture[str], root: Path, make: Any
) -> None:
    src, _ = make()
    to_production(capsys, root, src)
    doc = aliases(root)
    doc["production"] = "someone-else"
    (root / FAMILY / "aliases.json").write_text(json.dumps(doc))
    code, _, err = cli(capsys, "rollback", FAMILY, "--reason", "x", "--root", str(root))
    assert code == 2 and "changed outside the registry" in err


def test_audit_is_append_only_and_hash_chained(
    capsys: pytest.CaptureFixture[str], root: Path, make: Any
) -> None:
    src, _m1 = make()
    seen = [audit_bytes(root)]
    assert cli(capsys, "register", str(src), "--root", str(root))[0] == 0
    seen.append(audit_bytes(root))
    for stage in ("staging", "production"):
        cli(capsys, "promote", FAMILY, "--to", stage, "--root", str(root))
        seen.append(audit_bytes(root))
    worse, _ = make(lambda m: set_accuracy(m, 0.0))
    cli(capsys, "register", str(worse), "--root", str(root))
    cli(capsys, "promote", FAMILY, "--to", "staging", "--root", str(root))  # refused, audited
    seen.append(audit_bytes(root))
    for a, b in itertools.pairwise(seen):
        assert b.startswith(a) and len(b) > len(a)  # earlier bytes never rewritten
    reg = Registry(root)
    assert [e["seq"] for e in reg.audit()] == list(range(5)) and reg.verify_audit() == []

    lines = audit_bytes(root).splitlines(keepends=True)
    lines[1] = lines[1].replace(b'"reason": ""', b'"reason": "edited"')
    (root / "audit.jsonl").write_bytes(b"".join(lines))
    assert reg.verify_audit() == [
        f"{root / 'audit.jsonl'}: line 3 breaks the chain (seq/prev do not follow)"
    ]
    code, _, err = cli(capsys, "audit", "--root", str(root))
    assert code == 2 and "breaks the chain" in err


def test_a_failed_alias_write_leaves_the_old_aliases_intact(
    root: Path, make: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    src, m = make()
    reg = Registry(root)
    reg.register(src)
    path = root / FAMILY / "aliases.json"
    before, log = path.read_bytes(), audit_bytes(root)

    def refuse(a: Any, b: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store_mod, "_replace", refuse)
    with pytest.raises(RegistryError, match="cannot write aliases"):
        reg.promote(FAMILY, "staging")
    assert path.read_bytes() == before and audit_bytes(root) == log
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []

    # A hard crash (the process dies between the temp write and the rename): the temp file
    # stays behind, the engine still reads the old aliases, and the next write succeeds.
    class Crash(BaseException):
        pass

    def crash(a: Any, b: Any) -> None:
        raise Crash

    monkeypatch.setattr(store_mod, "_replace", crash)
    with pytest.raises(Crash):
        reg.promote(FAMILY, "staging")
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] != []
    assert path.read_bytes() == before and audit_bytes(root) == log
    assert json.loads(path.read_text())["staging"] is None
    monkeypatch.setattr(store_mod, "_replace", os.replace)
    reg.promote(FAMILY, "staging")
    assert aliases(root)["staging"] == m["model_id"]


# ---- contract details and bad inputs -------------------------------------------------------


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            lambda m: m.update(
                kind="stacking", model_id=m["model_id"].replace("lightgbm", "stacking")
            ),
            "$.members: None is not of type 'array'",
        ),
        (lambda m: m.update(native=None), "$.native: None is not of type 'object'"),
        (
            lambda m: m.update(
                kind="lstm", native=None, model_id=m["model_id"].replace("lightgbm", "lstm")
            ),
            "$.sequence: None is not of type 'object'",
        ),
        (
            lambda m: m.update(
                kind="lstm",
                native=None,
                sequence={"lookback": 30},
                model_id=m["model_id"].replace("lightgbm", "lstm"),
            ),
            f"$.onnx.inputs[0].shape: [-1, {len(ENGINE_FS)}] is too short",
        ),
        (
            lambda m: m.update(sequence={"lookback": 30}),
            "$.sequence: {'lookback': 30} is not of type 'null'",
        ),
        (
            lambda m: m["feature_set"].update(hash="9F3C"),
            "$.feature_set.hash: '9F3C' does not match",
        ),
        (lambda m: m["onnx"]["outputs"][1].update(dtype="float64"), "$.onnx.outputs: "),
        (lambda m: m.update(created_at="2026-11-21 00:45:00"), "$.created_at: "),
        (lambda m: m.update(model_id="../escape"), "$.model_id: '../escape' does not match"),
    ],
)
def test_schema_conditional_and_pattern_rules(
    make: Any, edit: Callable[[dict[str, Any]], None], expected: str
) -> None:
    _, m = make(edit)
    found = manifest_violations(m)
    assert any(v.startswith(expected) for v in found), found


def test_cross_field_rules(make: Any) -> None:
    def edit(m: dict[str, Any]) -> None:
        m["metrics"]["aggregate"]["accuracy_over_best_baseline"] = 0.5
        m["input_bounds"]["min"] = m["input_bounds"]["min"][:-1]
        m["class_values"] = [-1, 0, 1]
        m["model_id"] = m["model_id"].replace("regime_hourly", "bar_timing")

    _, m = make(edit)
    found = "\n".join(cross_field_violations(m))
    for text in (
        "accuracy_over_best_baseline: 0.5 != model.accuracy - best_baseline_accuracy",
        f"$.input_bounds.min: {len(ENGINE_FS) - 1} values for {len(ENGINE_FS)} features",
        "$.class_values: 3 values for 5 classes",
        "must start with 'regime_hourly-lightgbm-'",
    ):
        assert text in found


def test_bad_gate_files_and_failing_rules_are_typed(tmp_path: Path, root: Path, make: Any) -> None:
    gates_dir = tmp_path / "gates"
    gates_dir.mkdir()
    good = json.loads(
        (Path(__file__).resolve().parents[2] / "models/gates/regime_hourly.json").read_text()
    )
    bad = dict(good, rules=[*good["rules"], good["rules"][0]], extra=True)
    (gates_dir / f"{FAMILY}.json").write_text(json.dumps(bad))
    with pytest.raises(GateConfigError) as e:
        load_gates(FAMILY, gates_dir)
    assert isinstance(e.value, ConfigError)
    assert "'extra' was unexpected" in str(e.value)
    with pytest.raises(GateConfigError, match="no gate file for family 'nope'"):
        load_gates("nope", gates_dir)

    # A rule that cannot be evaluated fails, with its error recorded; it never passes silently.
    broken = dict(good, rules=[{"name": "typo", "description": "d", "logic": {"=>": [1, 0]}}])
    (gates_dir / f"{FAMILY}.json").write_text(json.dumps(broken))
    src, _ = make()
    reg = Registry(root, gates_dir)
    reg.register(src)
    with pytest.raises(PromotionRefusedError) as refused:
        reg.promote(FAMILY, "staging")
    assert "typo: error json-logic rule typo" in str(refused.value)
    assert isinstance(refused.value, CoreError)


def test_unknown_family_version_and_alias_errors(root: Path, make: Any) -> None:
    reg = Registry(root)
    with pytest.raises(RegistryError, match="no such version"):
        reg.resolve(FAMILY, "nope")
    with pytest.raises(ManifestError, match=r"no manifest\.json"):
        reg.register(root / "missing")
    src, _ = make(
        lambda m: m.update(
            family="no_such_family", model_id=m["model_id"].replace(FAMILY, "no_such_family")
        )
    )
    with pytest.raises(GateConfigError, match="no gate file for family 'no_such_family'"):
        reg.register(src)
    src, _m = make()
    reg.register(src)
    with pytest.raises(RegistryError, match="already registered"):
        reg.register(src)
    with pytest.raises(RegistryError, match="alias points at no version"):
        reg.resolve(FAMILY, "production")
    assert isinstance(IntegrityError("x"), RegistryError)


@pytest.mark.parametrize("family", ["regime_hourly", "bar_timing"])
def test_shipped_min_gain_rule_fails_closed(family: str) -> None:
    rule = next(r for r in load_gates(family).rules if r["name"] == "min_gain_over_production")

    def acc(a: float) -> dict[str, Any]:
        return {"metrics": {"aggregate": {"model": {"accuracy": a}}}}

    def run(production: Any) -> Any:
        return json_logic(rule["logic"], {"manifest": acc(0.60), "production": production})

    assert run(None) is True  # no production yet
    assert run(acc(0.59)) is True  # +0.01
    assert run(acc(0.597)) is False  # +0.003 < 0.005
    # A production manifest without the figure must not read as accuracy 0.
    assert run({"model_id": "x"}) is False
