"""`pycontrol runs list | show | compare`: the backtest and training runs on disk, one run's
headline and provenance, and several side by side (metrics, config differences, an HTML page
with the equity curves overlaid)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from pycontrol.commands import add_command, add_sub


def register(sub: Any) -> None:
    p = add_command(sub, "runs")
    rsub = p.add_subparsers(dest="runs_command", required=True, metavar="SUBCOMMAND")
    ls = add_sub(
        rsub,
        "list",
        "backtest and training runs under the run roots, newest first",
        "pycontrol runs list --root build/demo",
    )
    ls.add_argument(
        "--root",
        action="append",
        type=Path,
        default=None,
        help="folder to search (repeatable; default runs/, build/demo/backtest, "
        "build/demo/runs, or $PYCONTROL_RUNS)",
    )
    ls.add_argument("--kind", choices=("backtest", "training"), default=None)
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=_list)
    sh = add_sub(
        rsub,
        "show",
        "one run: headline metrics, provenance, report path",
        "pycontrol runs show build/demo/backtest/demo",
    )
    sh.add_argument("run", help="run folder, or its name under the run roots")
    sh.add_argument("--json", action="store_true")
    sh.set_defaults(func=_show)
    cmp_ = add_sub(
        rsub,
        "compare",
        "runs side by side: metrics, config differences, equity overlaid (HTML)",
        "pycontrol runs compare build/demo/backtest/demo runs/backtest/RUN --out compare.html",
    )
    cmp_.add_argument("runs", nargs="+", metavar="RUN", help="run folders or names (2 or more)")
    cmp_.add_argument(
        "--out",
        type=Path,
        default=None,
        help="HTML page to write (default: compare.html beside the first run)",
    )
    cmp_.set_defaults(func=_compare)


def _list(args: argparse.Namespace) -> int:
    from pycontrol.runs.compare import fmt_metric
    from pycontrol.runs.store import discover, roots

    search = args.root or roots()
    runs = [r for r in discover(search) if args.kind in (None, r.kind)]
    if args.json:
        rows = [
            {
                "kind": r.kind,
                "name": r.name,
                "path": str(r.path),
                "created": r.created,
                "metrics": r.metrics,
            }
            for r in runs
        ]
        print(json.dumps(rows, indent=2, default=str))
        return 0
    for r in runs:
        if r.kind == "backtest":
            m = r.metrics
            key = (
                f"return {fmt_metric('total_return', m['total_return'])}  "
                f"trades {fmt_metric('n', m['n_trades'])}  "
                f"max dd {fmt_metric('max_drawdown', m['max_drawdown'])}"
            )
        else:
            accs = [k for k in r.metrics if k.endswith(".accuracy")]
            key = "  ".join(f"{k} {fmt_metric(k, r.metrics[k])}" for k in accs)
        print(f"{r.created or '-':<20}  {r.kind:<8}  {r.name:<40}  {key}  {r.path}")
    print(f"{len(runs)} runs under {', '.join(str(p) for p in search)}")
    return 0


def _show(args: argparse.Namespace) -> int:
    from pycontrol.runs.compare import fmt_metric
    from pycontrol.runs.store import resolve

    r = resolve(args.run)
    if args.json:
        doc = {
            "kind": r.kind,
            "name": r.name,
            "path": str(r.path),
            "created": r.created,
            "metrics": r.metrics,
            "info": r.info,
        }
        print(json.dumps(doc, indent=2, default=str))
        return 0
    print(f"{r.kind} {r.name}  ({r.path})")
    print(f"  created {r.created or 'n/a'}")
    for k, v in r.info.items():
        if k == "data":
            for d in v:
                print(f"  data {d['path']} sha256 {str(d.get('sha256'))[:16]}...")
        elif not isinstance(v, dict | list):
            print(f"  {k} {v}")
        elif k == "model":
            print(f"  model {json.dumps(v)}")
    for k, v in r.metrics.items():
        print(f"  {k:<32} {fmt_metric(k, v)}")
    print(f"report: {r.report if r.report.exists() else 'none'}")
    return 0


def _compare(args: argparse.Namespace) -> int:
    from pycontrol.runs.compare import text, write_html
    from pycontrol.runs.store import RunNotFoundError, resolve

    if len(args.runs) < 2:
        raise RunNotFoundError("runs compare: give two or more runs")
    runs = [resolve(x) for x in args.runs]
    print(text(runs))
    out = args.out or runs[0].path / "compare.html"
    write_html(runs, out)
    print(f"report: {out}")
    return 0
