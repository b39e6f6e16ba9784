"""README and CLI agree: every `pycontrol ...` line in the README's code blocks parses with
the real parser (optional `[...]` parts dropped, each `a | b | c` alternative tried,
placeholders such as FILE filled in), and the cheap ones run for real from an empty folder
against the shared market data."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pycontrol.cli import build_parser

REPO = Path(__file__).resolve().parents[2]
# Placeholders the README uses for values; numbers where the option wants one.
NUMERIC = {"N": "1", "S": "1"}
# (command words) that finish in seconds on the shared data: run for real, from an empty
# folder holding a copy of configs/ (a backtest of the real ES day takes a few seconds).
CHEAP = {
    ("features", "list"),
    ("data", "info"),
    ("book", "replay"),
    ("models", "list"),
    ("runs", "list"),
    ("data", "synth"),
    ("data", "ls"),
    ("backtest", "--config"),
    ("risk", "fit"),
}


def readme_lines() -> list[str]:
    text = (REPO / "README.md").read_text()
    out = []
    for block in re.findall(r"```([^\n]*)\n(.*?)```", text, re.S):
        lang, body = block
        if lang.strip() not in ("", "sh", "bash", "console"):
            continue
        for ln in body.splitlines():
            if ln.strip().startswith("pycontrol "):
                out.append(ln.strip())
    return out


def _drop_optional(s: str) -> str:
    while True:
        t = re.sub(r"\[[^\[\]]*\]", "", s)
        if t == s:
            return s
        s = t


def _fill(tok: str) -> str:
    tok = tok.removesuffix("...")
    if "|" in tok:  # staging|production
        tok = tok.split("|")[0]
    if tok in NUMERIC:
        return NUMERIC[tok]
    return tok


def _subcommand_depth(tokens: list[str]) -> int:
    """Index of the last sub-command word in ``tokens`` (walking the real parser)."""
    import argparse

    p = build_parser()
    last = 0
    i = 1
    while i < len(tokens):
        subs = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            break
        if tokens[i] in subs[0].choices:
            p, last = subs[0].choices[tokens[i]], i
        i += 1
    return last


def variants(line: str) -> list[list[str]]:
    """The command lines a README line stands for."""
    line = line.split(" #", 1)[0]
    line = _drop_optional(line)
    pieces = [p.strip() for p in line.split(" | ")]
    first = [_fill(t) for t in shlex.split(pieces[0])]
    out = [first]
    if len(pieces) > 1:
        cut = _subcommand_depth(first)
        for alt in pieces[1:]:
            out.append(first[:cut] + [_fill(t) for t in shlex.split(alt)])
    return [v[1:] for v in out]  # without the program name


LINES = readme_lines()


def test_readme_has_commands() -> None:
    assert len(LINES) >= 25


@pytest.mark.parametrize("line", LINES)
def test_readme_command_parses(line: str) -> None:
    for argv in variants(line):
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as e:
            pytest.fail(f"README line does not parse ({e.code}): {' '.join(argv)}")
        assert callable(args.func)


@pytest.mark.parametrize("line", [ln for ln in LINES if tuple(shlex.split(ln)[1:3]) in CHEAP])
def test_cheap_readme_commands_run(line: str, tmp_path: Path, shared_data: Path) -> None:
    shutil.copytree(REPO / "configs", tmp_path / "configs")
    for argv in variants(line):
        argv = [a.replace("../shared/data", str(shared_data)) for a in argv]
        if argv[:2] == ["data", "ls"]:
            argv += ["--root", str(tmp_path / "data")]
        r = subprocess.run(
            [sys.executable, "-m", "pycontrol.cli", *argv],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=300,
            env={**os.environ, "SHARED_DATA": str(shared_data)},  # as `make test` exports it
        )
        assert r.returncode == 0, (argv, r.stdout[-2000:], r.stderr[-2000:])
