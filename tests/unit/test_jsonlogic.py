"""JSON-Logic through the Rust core (`pycontrol._core.json_logic`, datalogic-rs): every case of
the official jsonlogic.com test file (vendored in tests/data/jsonlogic, see its README), the
typed errors gate rules get, and the helper that records which values a rule read. The Rust
twin of the official run is core-rs/core/tests/jsonlogic_official.rs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pycontrol import ConfigError, JsonLogicError
from pycontrol.registry.jsonlogic import apply, variables

OFFICIAL = Path(__file__).resolve().parents[1] / "data" / "jsonlogic" / "tests.json"
# Operators whose official cases are not run, with the reason. Empty: datalogic-rs 5.4.0
# passes all 267 cases of the vendored file.
EXCLUDED_OPERATORS: dict[str, str] = {}
EXPECTED_CASES = 267


def _operators(rule: Any) -> set[str]:
    if isinstance(rule, dict) and len(rule) == 1:
        ((op, args),) = rule.items()
        return {op} | _operators(args)
    if isinstance(rule, list):
        return set().union(*(_operators(r) for r in rule)) if rule else set()
    return set()


def _cases() -> list[Any]:
    entries = json.loads(OFFICIAL.read_text())
    return [e for e in entries if not isinstance(e, str)]


CASES = _cases()


def test_the_vendored_file_has_every_case() -> None:
    assert len(CASES) == EXPECTED_CASES
    assert all(isinstance(c, list) and len(c) == 3 for c in CASES)


@pytest.mark.parametrize(
    ("rule", "data", "expected"), CASES, ids=[str(i) for i in range(len(CASES))]
)
def test_official_case(rule: Any, data: Any, expected: Any) -> None:
    excluded = _operators(rule) & set(EXCLUDED_OPERATORS)
    assert not excluded, f"case uses excluded operators {excluded}"
    got = apply(rule, data)
    assert got == expected
    # 1 and 1.0 compare equal in Python; the JSON-Logic result must keep its JSON type too.
    assert type(got) is type(expected) or {type(got), type(expected)} <= {int, float}


def test_gate_shaped_rule_reads_nested_manifest_values() -> None:
    rule = {">=": [{"var": "manifest.metrics.aggregate.accuracy_over_best_baseline"}, 0.01]}
    data = {"manifest": {"metrics": {"aggregate": {"accuracy_over_best_baseline": 0.02}}}}
    assert apply(rule, data) is True
    data["manifest"]["metrics"]["aggregate"]["accuracy_over_best_baseline"] = 0.0
    assert apply(rule, data) is False
    assert apply(rule, {}) is False  # an absent metric fails the floor, never passes it


def test_errors_are_typed_and_name_the_rule() -> None:
    with pytest.raises(JsonLogicError) as e:
        apply({"no_such_operator": [1]}, {}, name="beats_best_baseline")
    assert isinstance(e.value, ConfigError)
    assert "beats_best_baseline" in str(e.value) and "no_such_operator" in str(e.value)
    with pytest.raises(JsonLogicError, match="NaN"):
        apply({"==": [{"var": "production"}, None]}, {"production": {"model_id": "x"}}, name="r")


def test_unnamed_rule_is_named_by_its_text() -> None:
    with pytest.raises(JsonLogicError, match="nope"):
        apply({"nope": []})


def test_non_json_input_is_a_typed_error() -> None:
    with pytest.raises(JsonLogicError, match="not JSON-serialisable"):
        apply({">": [{"var": "x"}, 0]}, {"x": float("nan")}, name="floor")


def test_variables_lists_top_level_paths_only() -> None:
    rule = {
        "and": [
            {">=": [{"var": "manifest.parity.rows"}, 10000]},
            {"all": [{"var": "manifest.metrics.folds"}, {">": [{"var": "model.accuracy"}, 0]}]},
            {"var": ["manifest.parity.rows", 0]},
        ]
    }
    assert variables(rule) == ["manifest.parity.rows", "manifest.metrics.folds"]
