"""`pycontrol journal show | export`: inspect a session journal (read-only)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pycontrol.session.journal import Journal, JournalError


def register(sub: Any) -> None:
    p = sub.add_parser("journal", help="inspect a session journal")
    jsub = p.add_subparsers(dest="journal_command", required=True)
    s = jsub.add_parser("show", help="print events, positions and working orders")
    s.add_argument("journal", help="path to journal.sqlite")
    s.add_argument("--kind", default=None, help="only events of this kind (fill, order, ...)")
    s.add_argument("--limit", type=int, default=50, help="last N events (0: all)")
    s.set_defaults(func=_show)
    e = jsub.add_parser("export", help="export events (and fills, orders) to Parquet or JSONL")
    e.add_argument("journal")
    e.add_argument("--out", required=True, help="FILE.parquet or FILE.jsonl")
    e.add_argument("--table", choices=["events", "fills", "orders"], default="events")
    e.set_defaults(func=_export)


def _open(path: str) -> Journal | None:
    if not Path(path).is_file():
        print(f"error: journal not found: {path}", file=sys.stderr)
        return None
    try:
        return Journal(path)
    except JournalError as e:
        print(f"error: {e}", file=sys.stderr)
        return None


def _rows(j: Journal, table: str) -> list[dict[str, Any]]:
    if table == "fills":
        return j.fills()
    if table == "orders":
        return [o.__dict__ for o in j.orders()]
    return [{**e, "payload": json.dumps(e["payload"])} for e in j.events()]


def _show(args: argparse.Namespace) -> int:
    j = _open(args.journal)
    if j is None:
        return 2
    events = list(j.events(args.kind))
    if args.limit:
        events = events[-args.limit :]
    for e in events:
        print(
            f"{e['seq']:>6} {e['ts_ns']} {e['kind']:<18} intent={e['intent_id']} "
            f"cid={e['client_order_id']} {json.dumps(e['payload'])}"
        )
    print("positions:", {s: q for s, (q, _) in j.positions().items()})
    print("working orders:", [o.client_order_id for o in j.orders(working_only=True)])
    j.close()
    return 0


def _export(args: argparse.Namespace) -> int:
    j = _open(args.journal)
    if j is None:
        return 2
    rows = _rows(j, args.table)
    j.close()
    out = Path(args.out)
    if out.suffix == ".jsonl":
        with out.open("w") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")
    elif out.suffix == ".parquet":
        import polars as pl

        pl.DataFrame(rows, infer_schema_length=None).write_parquet(out)
    else:
        print(f"error: --out must end in .parquet or .jsonl, got {out.name}", file=sys.stderr)
        return 2
    print(f"wrote {len(rows)} {args.table} rows to {out}")
    return 0
