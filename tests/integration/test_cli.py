"""The command line as a user meets it: --version, a description and an example on every
command, and every bad input answered by one line ``error: <Class>: <message>`` on stderr with
exit status 2, never a traceback (negative counts and ports, a negative timeout, a closed
pipe, a missing file, a refused live session, an unreadable bar file). Also the demo's folder
rules: a rerun replaces only what the demo created."""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pycontrol.cli import build_parser
from pycontrol.commands.demo_cmd import MARKER, OUTPUTS, clear_previous

REPO = Path(__file__).resolve().parents[2]


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pycontrol.cli", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=timeout,
    )


def one_line_error(r: subprocess.CompletedProcess[str], cls: str | tuple[str, ...]) -> str:
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    names = (cls,) if isinstance(cls, str) else cls
    assert lines[0].startswith(tuple(f"error: {c}: " for c in names)), lines[0]
    assert "Traceback" not in r.stderr
    return lines[0]


def test_version() -> None:
    r = cli("--version")
    assert r.returncode == 0 and r.stdout.startswith("pycontrol 0.1.0")
    assert "commit" in r.stdout


def _walk(p: argparse.ArgumentParser, path: str) -> list[tuple[str, argparse.ArgumentParser]]:
    out = [(path, p)]
    for a in p._actions:
        if isinstance(a, argparse._SubParsersAction):
            for name, sp in a.choices.items():
                out += _walk(sp, f"{path} {name}")
    return out


def test_every_command_has_a_description_and_an_example() -> None:
    parsers = _walk(build_parser(), "pycontrol")
    assert len(parsers) > 30
    for path, p in parsers[1:]:
        assert p.description, path
        has_sub = any(isinstance(a, argparse._SubParsersAction) for a in p._actions)
        assert has_sub or (p.epilog and "example:\n  pycontrol " in p.epilog), path


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["book", "replay", "x.dbn", "--levels", "-1"], "--levels: must be >= 1, got -1"),
        (["ib", "test-gateway", "--port", "-1"], "--port: must be in 0..65535, got -1"),
        (["ib", "test-gateway", "--port", "70000"], "--port: must be in 0..65535"),
        (["ctl", "--endpoint", "tcp://127.0.0.1:9", "--timeout", "-1", "status"], "--timeout"),
        (["data", "synth", "--out", "x.dbn", "--events", "0"], "--events: must be >= 1"),
        (["journal", "show", "--limit", "-3", "j.sqlite"], "--limit: must be >= 0"),
        (["nosuchcommand"], "invalid choice"),
    ],
)
def test_bad_arguments_are_one_line(args: list[str], needle: str) -> None:
    line = one_line_error(cli(*args, timeout=30), "UsageError")
    assert needle in line


def test_ctl_without_a_session_times_out_as_asked() -> None:
    with socket.socket() as s:  # a port nobody answers on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t = time.monotonic()
    r = cli("ctl", "--endpoint", f"tcp://127.0.0.1:{port}", "--timeout", "0.5", "status")
    assert time.monotonic() - t < 20
    assert "no reply" in one_line_error(r, "TimeoutError")


def test_closed_pipe_is_not_a_traceback() -> None:
    # a 4 KiB pipe: the command blocks on its output (46 KB) until the reader is gone, as
    # with `pycontrol features list | head -1`, whatever the timing
    r, w = os.pipe()
    fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, 4096)
    p = subprocess.Popen(
        [sys.executable, "-m", "pycontrol.cli", "features", "list"],
        stdout=w,
        stderr=subprocess.PIPE,
        cwd=REPO,
    )
    os.close(w)
    with os.fdopen(r, "rb") as reader:
        first = reader.readline()
    assert p.stderr is not None
    err = p.stderr.read().decode()
    assert p.wait(60) == 141, err
    assert first.startswith(b"#") and err == ""


def test_missing_files_are_one_line(tmp_path: Path) -> None:
    one_line_error(cli("data", "info", str(tmp_path / "nope.dbn.zst")), "CoreIOError")
    one_line_error(cli("journal", "show", "--run-dir", str(tmp_path)), "FileNotFoundError")
    cfg = (REPO / "configs/session/es-replay.toml").read_text()
    missing = tmp_path / "gone" / "missing.mbo.dbn.zst"
    cfg = cfg.replace('data = "build/demo/synth.mbo.dbn.zst"', f'data = "{missing}"')
    (tmp_path / "replay.toml").write_text(cfg)
    r = cli(
        "session",
        "--config",
        str(tmp_path / "replay.toml"),
        "--mode",
        "replay",
        "--run-dir",
        str(tmp_path / "rd"),
    )
    # the session's own check (a SessionConfigError, a CoreError) or the file system's
    assert str(missing) in one_line_error(r, ("SessionConfigError", "FileNotFoundError"))


def test_live_refusal_names_its_class(tmp_path: Path) -> None:
    r = cli(
        "session",
        "--config",
        "configs/session/es-paper.toml",
        "--mode",
        "live",
        "--confirm-live",
        "--run-dir",
        str(tmp_path),
    )
    assert 'live needs mode = "live"' in one_line_error(r, "LiveModeRefused")


def test_unreadable_bar_file_is_a_short_line(tmp_path: Path) -> None:
    bad = tmp_path / "bars.csv"
    bad.write_text(",".join(f"col{i}" for i in range(2000)) + "\n" + "1," * 1999 + "1\n")
    r = cli("risk", "fit", "--bars", str(bad), "--out", str(tmp_path / "p.json"))
    line = one_line_error(r, "UnknownFormatError")
    assert len(line) < 600


def test_synth_creates_the_output_folder(tmp_path: Path) -> None:
    out = tmp_path / "new" / "deeper" / "es.mbo.dbn.zst"
    r = cli("data", "synth", "--out", str(out), "--events", "2000", "--seed", "1")
    assert r.returncode == 0, r.stderr
    assert out.is_file() and out.stat().st_size > 0


def test_demo_folder_keeps_what_it_did_not_create(tmp_path: Path) -> None:
    mine = tmp_path / "notes.txt"
    mine.write_text("mine")
    (tmp_path / "synth.mbo.dbn.zst").write_bytes(b"kept")
    clear_previous(tmp_path)
    assert json.loads((tmp_path / MARKER).read_text())["created"] == list(OUTPUTS)
    # pretend a run wrote its outputs; the next run removes exactly those
    (tmp_path / "registry").mkdir()
    (tmp_path / "session-train.mbo.dbn.zst").write_bytes(b"old")
    clear_previous(tmp_path)
    assert mine.read_text() == "mine" and (tmp_path / "synth.mbo.dbn.zst").exists()
    assert not (tmp_path / "registry").exists()
    assert not (tmp_path / "session-train.mbo.dbn.zst").exists()


def test_demo_refuses_to_replace_a_foreign_folder(tmp_path: Path) -> None:
    (tmp_path / "registry").mkdir()
    (tmp_path / "registry" / "precious.json").write_text("{}")
    from pycontrol import ConfigError

    with pytest.raises(ConfigError, match="not created by pycontrol demo"):
        clear_previous(tmp_path)
    assert (tmp_path / "registry" / "precious.json").exists()


def test_models_list_names_the_demo_registry(tmp_path: Path) -> None:
    from pycontrol.registry import Registry

    (tmp_path / "build" / "demo" / "registry").mkdir(parents=True)
    Registry(tmp_path / "build" / "demo" / "registry")  # an empty one is enough to be found
    r = subprocess.run(
        [sys.executable, "-m", "pycontrol.cli", "models", "list"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if k != "PYCONTROL_MODELS"},
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert "0 versions" in r.stdout
    assert "pycontrol models list --root build/demo/registry" in r.stdout
