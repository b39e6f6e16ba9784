"""The registry cannot be tampered with unnoticed: a torn audit line is a typed error, a
broken chain stops promotion, a hand-edited aliases.json or a manifest rewritten after
registration (with its model) is refused by the core when it loads the version, and a gate
rule that reads a path the data lacks fails instead of reading null. Deeply nested
JSON-Logic is a typed error, never a RecursionError."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from pycontrol import AuditChainError, JsonLogicError, ModelSlot
from pycontrol.cli import main
from pycontrol.registry import GateConfigError, PromotionRefusedError, Registry, json_logic
from pycontrol.registry.errors import AuditTrailError
from pycontrol.registry.gates import GateConfig, evaluate_rules
from pycontrol.testing.models import build_export, derive

FAMILY = "regime_hourly"


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from pycontrol.registry import engine_feature_set, load_gates

    out = tmp_path_factory.mktemp("export") / "v1"
    build_export(
        out,
        family=FAMILY,
        seed=0,
        feature_set=engine_feature_set(load_gates(FAMILY).engine_feature_set),
    )
    return out


def production(root: Path, export: Path, tag: str) -> str:
    src = root.parent / f"export-{tag}"
    derive(export, src, None)
    reg = Registry(root)
    reg.register(src)
    reg.promote(FAMILY, "staging")
    reg.promote(FAMILY, "production")
    version: str = reg.aliases(FAMILY)["production"]
    return version


def slot(root: Path) -> ModelSlot:
    from pycontrol.registry import engine_feature_set, load_gates

    return ModelSlot(
        root, FAMILY, feature_set=engine_feature_set(load_gates(FAMILY).engine_feature_set)
    )


def test_models_audit_on_a_torn_last_line(
    tmp_path: Path, export: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "registry"
    production(root, export, "a")
    with open(root / "audit.jsonl", "ab") as fh:
        fh.write(b'{"seq": 3, "prev": "ab')  # a crash mid-append
    with pytest.raises(AuditTrailError, match="line 4 is not JSON"):
        Registry(root).audit()
    capsys.readouterr()
    assert main(["models", "audit", "--root", str(root)]) == 2
    err = capsys.readouterr().err
    assert "line 4 is not JSON" in err and "Traceback" not in err


def test_promotion_refused_on_a_broken_chain(tmp_path: Path, export: Path) -> None:
    root = tmp_path / "registry"
    production(root, export, "a")
    src = tmp_path / "export-b"
    derive(export, src, None)
    Registry(root).register(src)
    lines = (root / "audit.jsonl").read_bytes().splitlines(keepends=True)
    lines[1] = lines[1].replace(b'"reason": ""', b'"reason": "rewritten"')
    (root / "audit.jsonl").write_bytes(b"".join(lines))
    before = Registry(root).aliases(FAMILY)
    with pytest.raises(PromotionRefusedError, match="breaks the chain"):
        Registry(root).promote(FAMILY, "staging")
    assert Registry(root).aliases(FAMILY) == before


def test_hand_edited_alias_is_refused_by_the_core(
    tmp_path: Path, export: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "registry"
    first = production(root, export, "a")
    assert slot(root).version == first
    src = tmp_path / "export-b"
    derive(export, src, None)
    second = Registry(root).register(src)["to"]  # a candidate, never promoted
    path = root / FAMILY / "aliases.json"
    doc = json.loads(path.read_text())
    doc["production"] = second
    path.write_text(json.dumps(doc))
    with pytest.raises(AuditChainError, match="changed outside the registry") as info:
        slot(root)
    assert info.value.path == str(path)
    with pytest.raises(PromotionRefusedError, match="changed outside the registry"):
        Registry(root).promote(FAMILY, "staging")
    capsys.readouterr()
    assert main(["models", "audit", "--root", str(root)]) == 2
    assert "changed outside the registry" in capsys.readouterr().err


def test_model_edited_with_its_manifest_sha_is_refused(tmp_path: Path, export: Path) -> None:
    root = tmp_path / "registry"
    version = production(root, export, "a")
    folder = root / FAMILY / version
    for f in folder.iterdir():
        f.chmod(0o644)
    onnx = folder / "model.onnx"
    onnx.write_bytes(onnx.read_bytes() + b"\0")  # an edited model ...
    m = json.loads((folder / "manifest.json").read_text())
    import hashlib

    def fix(node: Any) -> None:  # ... with every sha256 of it updated in the manifest
        if isinstance(node, dict):
            if node.get("path") == "model.onnx" or node.get("file") == "model.onnx":
                node["sha256"] = hashlib.sha256(onnx.read_bytes()).hexdigest()
            for v in node.values():
                fix(v)
        elif isinstance(node, list):
            for v in node:
                fix(v)

    fix(m)
    (folder / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(AuditChainError, match=r"recorded when .* was registered"):
        slot(root)


def test_gate_rule_reading_a_missing_path_fails() -> None:
    cfg = GateConfig(
        path=Path("g.json"),
        family="f",
        engine_feature_set="x",
        rules=[
            {"name": "typo", "description": "", "logic": {"!": {"var": "manifest.parity.pased"}}},
            {"name": "guarded", "description": "", "logic": {"!": {"var": "production.model_id"}}},
            {"name": "default", "description": "", "logic": {"var": ["manifest.nope", True]}},
        ],
        sha256="",
    )
    out = {r["name"]: r for r in evaluate_rules(cfg, {"parity": {"passed": False}}, None)}
    assert not out["typo"]["passed"] and "manifest.parity.pased" in out["typo"]["error"]
    # null production is a value a rule can test; a default is an explicit choice.
    assert out["guarded"]["passed"] and out["default"]["passed"]


def test_deep_json_logic_is_typed() -> None:
    rule: Any = True
    for _ in range(100_000):
        rule = {"!": [rule]}
    with pytest.raises(JsonLogicError, match="nested deeper than 64"):
        json_logic(rule, {})
    data: Any = 1
    for _ in range(100_000):
        data = [data]
    with pytest.raises(JsonLogicError, match="data is nested deeper"):
        json_logic({"var": "a"}, data)


def test_deep_gate_file_is_typed(tmp_path: Path) -> None:
    from pycontrol.registry import load_gates

    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(GateConfigError, match="not readable JSON"):
        load_gates("deep", tmp_path)


def test_verify_audit_on_non_object_lines(tmp_path: Path) -> None:
    root = tmp_path / "registry"
    root.mkdir()
    (root / "audit.jsonl").write_text("[1, 2]\n")
    assert "not a JSON object" in Registry(root).verify_audit()[0]
    assert not os.environ.get("NO_SUCH")
