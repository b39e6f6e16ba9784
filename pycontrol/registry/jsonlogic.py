"""JSON-Logic from Python through the Rust core (``tradecore::gates``, datalogic-rs), so the
registry and the engine evaluate a gate rule with the same code. Values cross as JSON text."""

from __future__ import annotations

import json
from typing import Any

from pycontrol import _core

# Deeper rules or data are refused before any recursive code (json, the core) sees them:
# real gate rules nest a handful of levels; Python's json would hit RecursionError near 1000.
MAX_DEPTH = 64


def depth(value: Any, limit: int = MAX_DEPTH) -> int:
    """Nesting depth of a JSON value (a scalar is 0), counted iteratively; stops counting
    once past ``limit`` (returns limit + 1)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, d = stack.pop()
        if isinstance(node, dict | list):
            d += 1
            deepest = max(deepest, d)
            if deepest > limit:
                return limit + 1
            stack.extend((v, d) for v in (node.values() if isinstance(node, dict) else node))
    return deepest


def _error(name: Any, why: str) -> _core.JsonLogicError:
    err = _core.JsonLogicError(f"json-logic rule {name}: {why}")
    err.path, err.record, err.offset = None, None, None
    return err


def apply(rule: Any, data: Any = None, name: str | None = None) -> Any:
    """Evaluates JSON-Logic ``rule`` over ``data`` (both JSON-serialisable Python values) and
    returns the result; errors are :class:`pycontrol.JsonLogicError` naming ``name`` (or the
    rule text). NaN and infinities are refused: they are not JSON; so are rules or data
    nested deeper than :data:`MAX_DEPTH`."""
    for what, value in (("rule", rule), ("data", data)):
        if depth(value) > MAX_DEPTH:
            raise _error(name or "<deep>", f"{what} is nested deeper than {MAX_DEPTH} levels")
    try:
        rule_text = json.dumps(rule, allow_nan=False)
        data_text = json.dumps(data, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise _error(name or repr(rule), f"not JSON-serialisable: {e}") from e
    return json.loads(_core.json_logic(rule_text, data_text, name))


# Operators whose later arguments run once per element, with `var` reading the element.
_SCOPED = frozenset({"all", "some", "none", "map", "filter", "reduce"})


def variables(rule: Any, *, with_defaults: bool = True) -> list[str]:
    """The top-level data paths a rule reads (``{"var": "a.b"}`` -> ``"a.b"``), in first-use
    order, so an evaluation can record the values a rule saw. Paths read per element inside
    ``all``/``some``/``map``/... and computed paths are skipped: they mean nothing at the top.
    ``with_defaults=False`` leaves out paths read with a default (``{"var": ["a", 0]}``)."""
    seen: list[str] = []
    if depth(rule) > MAX_DEPTH:
        raise _error("<deep>", f"rule is nested deeper than {MAX_DEPTH} levels")

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
            return
        if not isinstance(node, dict):
            return
        for op, args in node.items():
            if op == "var":
                first = args[0] if isinstance(args, list) and args else args
                if not with_defaults and isinstance(args, list) and len(args) > 1:
                    continue
                if isinstance(first, str | int) and str(first) and str(first) not in seen:
                    seen.append(str(first))
            elif op in _SCOPED and isinstance(args, list):
                walk(args[:1])
                continue
            walk(args)

    walk(rule)
    return seen


_ABSENT = object()


def missing_paths(rule: Any, data: Any) -> list[str]:
    """The top-level paths ``rule`` reads (without a default) that ``data`` does not have: a
    key absent from an object, or an index past a list. A path that runs into ``null`` (say
    ``production.*`` before any production exists) is not missing: it reads null, which a
    rule can test for. Gate rules fail on a missing path rather than read it as null."""
    out = []
    for path in variables(rule, with_defaults=False):
        node: Any = data
        for key in path.split("."):
            if node is None:
                break
            if isinstance(node, dict):
                node = node.get(key, _ABSENT)
            elif isinstance(node, list) and key.isdigit():
                node = node[int(key)] if int(key) < len(node) else _ABSENT
            else:
                node = _ABSENT
            if node is _ABSENT:
                out.append(path)
                break
    return out
