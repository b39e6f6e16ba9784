"""`pycontrol demo`: the main job on embedded data (grows with each capability)."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("demo", help="run the end-to-end demo on synthetic data")
    p.add_argument("--out", default="build/demo")
    p.set_defaults(func=_demo)


def _demo(args: argparse.Namespace) -> int:
    raise SystemExit("demo: not wired yet")
