"""`pycontrol features ...`: the generated feature reference (names, formulas, windows,
warm-ups) of the default sets, as a table, Markdown (docs/features.md) or JSON."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from pycontrol.commands import add_command, add_sub

if TYPE_CHECKING:
    from pycontrol.features import FeatureSet


def register(sub: Any) -> None:
    p = add_command(sub, "features")
    fsub = p.add_subparsers(dest="features_command", required=True, metavar="SUBCOMMAND")
    ls = add_sub(
        fsub,
        "list",
        "list every feature with its formula, window, warm-up",
        "pycontrol features list | head",
    )
    fmt = ls.add_mutually_exclusive_group()
    fmt.add_argument("--markdown", action="store_true", help="the docs/features.md page")
    fmt.add_argument("--json", action="store_true", help="FeatureSet JSON (bar set only)")
    ls.set_defaults(func=_list)


# Cross-asset features need a reference instrument, so they are not in the default set;
# these are the ones documented (any window or timeframe works the same way).
CROSS = [
    f"tf{tf}_{k}_ref_{n}" for tf in ("1m", "5m", "1h") for n in (20, 60) for k in ("corr", "beta")
]


def _rows(fs: FeatureSet) -> str:
    return "| name |" + fs.markdown().split("| name |", 1)[1]


def reference_markdown() -> str:
    """docs/features.md: the default bar set, the default microstructure set, then the
    cross-asset features (which need ``reference=`` bars)."""
    from pycontrol.features import FeatureSet

    bars, micro, cross = FeatureSet.default(), FeatureSet.default_micro(), FeatureSet(CROSS)
    return (
        bars.markdown()
        + f"\n## Microstructure features (one row per book event; set hash `{micro.hash}`)\n\n"
        + _rows(micro)
        + "\n## Cross-asset features (pass `reference=` bars, e.g. ES for NQ)\n\n"
        + _rows(cross)
    )


def _list(args: argparse.Namespace) -> int:
    from pycontrol.features import FeatureSet

    if args.markdown:
        print(reference_markdown(), end="")
        return 0
    if args.json:
        print(FeatureSet.default().to_json())
        return 0
    for fs in (FeatureSet.default(), FeatureSet.default_micro(), FeatureSet(CROSS)):
        print(f"# {len(fs)} features, hash {fs.hash}")
        for s in fs.specs():
            print(
                f"{s['name']:<28} window {s['window']:>5}  warm-up {s['warmup']:>5}  {s['formula']}"
            )
    return 0
