"""The command line starts without the research stack: building the parser (for any one
command, or the top level) imports no numpy, polars, sklearn, torch, lightgbm, matplotlib or
zmq. Run in a fresh interpreter, so what the test process imported does not count."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from pycontrol.commands import COMMANDS

HEAVY = (
    "torch",
    "sklearn",
    "lightgbm",
    "matplotlib",
    "polars",
    "numpy",
    "pyarrow",
    "scipy",
    "zmq",
    "jsonschema",
    "onnxruntime",
    "mlflow",
)


def _loaded_after(code: str) -> list[str]:
    probe = (
        "import sys, json\n"
        + code
        + f"\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return list(json.loads(out.stdout.strip().splitlines()[-1]))


def test_top_level_parser_imports_nothing_heavy() -> None:
    assert _loaded_after("from pycontrol.cli import build_parser; build_parser([])") == []


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_each_command_parser_imports_nothing_heavy(command: str) -> None:
    code = f"from pycontrol.cli import build_parser; build_parser([{command!r}])"
    assert _loaded_after(code) == []


def test_help_of_the_whole_tree_imports_nothing_heavy() -> None:
    # every command registered in full (what the README test parses against)
    assert _loaded_after("from pycontrol.cli import build_parser; build_parser()") == []


def test_package_attributes_still_resolve() -> None:
    import pycontrol

    assert callable(pycontrol.replay_book) and pycontrol.FeatureSet.default().hash
    with pytest.raises(AttributeError):
        _ = pycontrol.no_such_thing  # type: ignore[attr-defined]
