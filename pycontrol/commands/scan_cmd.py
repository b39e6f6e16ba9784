"""`pycontrol scan`: the momentum scanner over a futures universe (pycontrol.scan.score)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any

from pycontrol.commands import add_command


def register(sub: Any) -> None:
    p = add_command(sub, "scan")
    p.add_argument("--universe", required=True, help="a universe config (configs/universe/)")
    p.add_argument("--asof", default=None, help="score the bars up to this UTC date/time")
    p.add_argument("--threshold", type=float, default=None, help="0..100 (default: config's)")
    p.add_argument("--json", action="store_true", help="the ranked list as JSON")
    p.set_defaults(func=_scan)


def _scan(args: argparse.Namespace) -> int:
    import dataclasses

    from pycontrol._core import CoreError
    from pycontrol.backtest.config import BacktestConfigError
    from pycontrol.backtest.run import parse_when
    from pycontrol.scan.score import Universe, scan

    try:
        u = Universe.load(args.universe)
        if args.threshold is not None:
            if not 0 <= args.threshold <= 100:
                raise BacktestConfigError(f"--threshold {args.threshold} must be in 0..100")
            u = dataclasses.replace(u, threshold=args.threshold)
        asof = parse_when(args.asof, "--asof") if args.asof else None
        ranked = scan(u, asof)
    except CoreError as e:
        print(f"error: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"universe": u.name, "threshold": u.threshold, "ranked": ranked}))
        return 0
    print(
        f"universe {u.name}: {len(ranked)} instruments, threshold {u.threshold:g}, "
        f"timeframes {', '.join(u.timeframes)}"
    )
    head = f"{'':2}{'instrument':<12}{'score':>7}  {'dir':<5}{'bars':>8}  last bar (UTC)"
    print(head)
    for r in ranked:
        mark = "* " if r["selected"] else "  "
        sc = "-" if r["score"] is None else f"{r['score']:.1f}"
        last = (
            datetime.fromtimestamp(r["last_bar"] / 1e9, UTC).strftime("%Y-%m-%d %H:%M")
            if r["last_bar"] is not None
            else "-"
        )
        cold = f"  (not warmed up: {', '.join(r['not_warmed_up'])})" if r["not_warmed_up"] else ""
        print(f"{mark}{r['name']:<12}{sc:>7}  {r['direction']:<5}{r['bars']:>8}  {last}{cold}")
    kept = [r["name"] for r in ranked if r["selected"]]
    print(f"selected (score >= {u.threshold:g}): {', '.join(kept) or 'none'}")
    return 0
