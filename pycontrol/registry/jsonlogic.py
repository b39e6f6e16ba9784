"""JSON-Logic from Python through the Rust core (``tradecore::gates``, datalogic-rs), so the
registry and the engine evaluate a gate rule with the same code. Values cross as JSON text."""

from __future__ import annotations

import json
from typing import Any

from pycontrol import _core


def apply(rule: Any, data: Any = None, name: str | None = None) -> Any:
    """Evaluates JSON-Logic ``rule`` over ``data`` (both JSON-serialisable Python values) and
    returns the result; errors are :class:`pycontrol.JsonLogicError` naming ``name`` (or the
    rule text). NaN and infinities are refused: they are not JSON."""
    try:
        rule_text = json.dumps(rule, allow_nan=False)
        data_text = json.dumps(data, allow_nan=False)
    except (TypeError, ValueError) as e:
        err = _core.JsonLogicError(f"json-logic rule {name or rule!r}: not JSON-serialisable: {e}")
        err.path, err.record, err.offset = None, None, None
        raise err from e
    return json.loads(_core.json_logic(rule_text, data_text, name))


# Operators whose later arguments run once per element, with `var` reading the element.
_SCOPED = frozenset({"all", "some", "none", "map", "filter", "reduce"})


def variables(rule: Any) -> list[str]:
    """The top-level data paths a rule reads (``{"var": "a.b"}`` -> ``"a.b"``), in first-use
    order, so an evaluation can record the values a rule saw. Paths read per element inside
    ``all``/``some``/``map``/... and computed paths are skipped: they mean nothing at the top."""
    seen: list[str] = []

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
                if isinstance(first, str | int) and str(first) and str(first) not in seen:
                    seen.append(str(first))
            elif op in _SCOPED and isinstance(args, list):
                walk(args[:1])
                continue
            walk(args)

    walk(rule)
    return seen
