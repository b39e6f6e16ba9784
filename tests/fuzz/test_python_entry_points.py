"""Hypothesis on the Python entry points that read files and rules: bar loaders (CSV and
Lean zips), the LOBSTER replay, JSON-Logic, the registry's audit trail. Whatever the input,
each call returns or raises a `pycontrol.CoreError` subclass: no other exception, no hang.
(The DBN readers have their own in tests/unit/test_decode_fuzz.py; the Rust fuzz targets
are in core-rs/fuzz.) `FUZZ_EXAMPLES` raises the example count for `make fuzz`."""

from __future__ import annotations

import contextlib
import os
import zipfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pycontrol
from pycontrol import CoreError
from pycontrol.registry import Registry, json_logic

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "40"))
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

number = st.one_of(
    st.integers(-(10**12), 10**12).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", "-", "1e400", "nan", "0x10", " 1", "1676.5"]),
)
line = st.lists(number, min_size=0, max_size=13).map(",".join)
text = st.lists(line, max_size=12).map("\n".join)


def returns_or_core_error(call: Any, *args: Any) -> None:
    with contextlib.suppress(CoreError):
        call(*args)


@SETTINGS
@given(body=text)
def test_lean_zip_members(tmp_path: Path, body: str) -> None:
    p = tmp_path / "20131007_trade.zip"
    with zipfile.ZipFile(p, "w") as zf:
        zf.writestr("20131007_es_minute_trade_201312.csv", body)
    returns_or_core_error(pycontrol.load_bars, p)


@SETTINGS
@given(body=text, header=st.sampled_from(["timestamp_utc,open,high,low,close,volume", "x,y", ""]))
def test_csv_bars(tmp_path: Path, body: str, header: str) -> None:
    p = tmp_path / "bars.csv"
    p.write_text(header + "\n" + body)
    returns_or_core_error(pycontrol.load_bars, p)


@SETTINGS
@given(msg=text, book=text, levels=st.integers(-3, 60))
def test_lobster(tmp_path: Path, msg: str, book: str, levels: int) -> None:
    m = tmp_path / "X_2012-06-21_34200000_57600000_message_1.csv"
    b = tmp_path / "X_2012-06-21_34200000_57600000_orderbook_1.csv"
    m.write_text(msg)
    b.write_text(book)
    returns_or_core_error(pycontrol.verify_lobster, m, b, levels)


json_value = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=5)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(
            st.sampled_from(["var", "if", "==", "!", "and", "or", "+", "map", "all", "x"]),
            inner,
            max_size=2,
        ),
    ),
    max_leaves=30,
)


@SETTINGS
@given(rule=json_value, data=json_value)
def test_json_logic(rule: Any, data: Any) -> None:
    returns_or_core_error(json_logic, rule, data)


@SETTINGS
@given(lines=st.lists(st.one_of(st.text(max_size=40), json_value.map(repr)), max_size=5))
def test_audit_trail(tmp_path: Path, lines: list[str]) -> None:
    root = tmp_path / "registry"
    root.mkdir(exist_ok=True)
    (root / "audit.jsonl").write_text("\n".join(lines))
    reg = Registry(root)
    assert isinstance(reg.verify_audit(), list)
    returns_or_core_error(reg.audit)
    returns_or_core_error(reg.history, "f", "production")
