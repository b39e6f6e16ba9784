"""`pycontrol features ...`: the generated feature reference (names, formulas, windows,
warm-ups) of the default sets, as a table, Markdown (docs/features.md) or JSON."""

from __future__ import annotations

import argparse
from typing import Any

from pycontrol.features import FeatureSet


def register(sub: Any) -> None:
    p = sub.add_parser("features", help="feature sets and their reference")
    fsub = p.add_subparsers(dest="features_command", required=True)
    ls = fsub.add_parser("list", help="list every feature with its formula, window, warm-up")
    fmt = ls.add_mutually_exclusive_group()
    fmt.add_argument("--markdown", action="store_true", help="the docs/features.md page")
    fmt.add_argument("--json", action="store_true", help="FeatureSet JSON (bar set only)")
    ls.set_defaults(func=_list)


def reference_markdown() -> str:
    """docs/features.md: the default bar set, then the default microstructure set."""
    bars, micro = FeatureSet.default(), FeatureSet.default_micro()
    micro_rows = micro.markdown().split("| name |", 1)[1]
    return (
        bars.markdown()
        + f"\n## Microstructure features (one row per book event; set hash `{micro.hash}`)\n\n"
        + "| name |"
        + micro_rows
    )


def _list(args: argparse.Namespace) -> int:
    if args.markdown:
        print(reference_markdown(), end="")
        return 0
    if args.json:
        print(FeatureSet.default().to_json())
        return 0
    for fs in (FeatureSet.default(), FeatureSet.default_micro()):
        print(f"# {len(fs)} features, hash {fs.hash}")
        for s in fs.specs():
            print(
                f"{s['name']:<28} window {s['window']:>5}  warm-up {s['warmup']:>5}  {s['formula']}"
            )
    return 0
