"""`pycontrol` command line. Each area registers its own sub-commands; this file wires them
together from the table in ``pycontrol.commands`` and turns every expected failure into one
line ``error: <ErrorClass>: <what and where>`` on stderr with exit status 2.

Start-up is kept cheap: ``pycontrol --help`` imports no command module, and ``pycontrol X``
imports only X's module, whose heavy imports (numpy, polars, the core, sklearn, torch) happen
inside the function that runs. ``tests/unit/test_cli_imports.py`` holds this in place.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Collection, Sequence
from typing import NoReturn

from pycontrol.commands import COMMANDS

EXAMPLES = """examples:
  pycontrol demo                                     # the whole chain on synthetic data
  pycontrol data info FILE.mbo.dbn.zst               # what a DBN file holds
  pycontrol backtest --config configs/backtest/es_mbo.toml
  pycontrol runs list                                # backtests and training runs
  pycontrol X --help                                 # options and an example of command X
"""

# Longest error message printed (one line; a longer one is cut, saying how long it was). Room
# for a config or manifest's full list of violations; a screenful of data is cut.
MAX_MESSAGE = 2000
# Set to 1 to see the traceback of an unexpected error (a bug) instead of one line.
TRACEBACK_ENV = "PYCONTROL_TRACEBACK"


class CliParser(argparse.ArgumentParser):
    """argparse with one-line usage errors: ``error: UsageError: <command>: <message>``."""

    def error(self, message: str) -> NoReturn:
        print(
            f"error: UsageError: {self.prog}: {message} (see {self.prog} --help)",
            file=sys.stderr,
        )
        sys.exit(2)


def version() -> str:
    """``pycontrol <version> (commit <short hash>)`` (the commit when run from a checkout)."""
    from importlib import metadata

    from pycontrol.runs.provenance import code_commit

    try:
        v = metadata.version("pycontrol")
    except metadata.PackageNotFoundError:
        v = "unknown"
    commit = code_commit()
    return f"pycontrol {v}" + (f" (commit {commit})" if commit else "")


class _VersionAction(argparse.Action):
    """``--version``, worked out only when asked for (it reads package metadata and .git)."""

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        print(version())
        parser.exit()


def build_parser(only: Collection[str] | None = None) -> argparse.ArgumentParser:
    """The whole parser; with ``only``, just those commands are registered in full (the
    others are listed by name and summary without importing their modules)."""
    parser = CliParser(
        prog="pycontrol",
        description="Control plane of the CME futures trading system.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version", action=_VersionAction, nargs=0, help="print the version and code commit"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, cmd in COMMANDS.items():
        if only is None or name in only:
            importlib.import_module(cmd.module).register(sub)
        else:
            sub.add_parser(name, help=cmd.summary)
    return parser


def _command_of(argv: Sequence[str]) -> str | None:
    """The command named on the line (the first word that is not an option), if known."""
    for a in argv:
        if not a.startswith("-"):
            return a if a in COMMANDS else None
    return None


def _one_line(msg: str) -> str:
    flat = " ".join(msg.split())
    if len(flat) > MAX_MESSAGE:
        flat = flat[:MAX_MESSAGE] + f"... ({len(flat)} characters)"
    return flat


def _is_expected(e: BaseException) -> bool:
    """Bad input or a missing file: a CoreError (the project's error tree), an OSError."""
    core = sys.modules.get("pycontrol._core")
    if core is not None and isinstance(e, core.CoreError):
        return True
    return isinstance(e, OSError)


def _quiet_stdout() -> None:
    """The reader closed the pipe (``| head``): send the rest of our output nowhere, so the
    interpreter's final flush does not raise again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    cmd = _command_of(args_list)
    args = build_parser([cmd] if cmd else []).parse_args(args_list)
    try:
        code: int = args.func(args)
        sys.stdout.flush()
    except BrokenPipeError:
        _quiet_stdout()
        return 141  # 128 + SIGPIPE, what a shell reports for `yes | head`
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as e:
        name = type(e).__name__
        if _is_expected(e):
            print(f"error: {name}: {_one_line(str(e))}", file=sys.stderr)
            return 2
        if os.environ.get(TRACEBACK_ENV) == "1":
            raise
        print(
            f"error: {name}: {_one_line(str(e))} (an internal error; "
            f"{TRACEBACK_ENV}=1 shows the traceback)",
            file=sys.stderr,
        )
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
