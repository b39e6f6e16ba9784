"""`pycontrol journal show | export | trace`: inspect a session journal (read-only)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pycontrol.commands import add_command, add_sub
from pycontrol.commands.argtypes import NONNEG

if TYPE_CHECKING:
    from pycontrol.session.journal import Journal

# The file a session keeps in its run directory (pycontrol.session.runtime).
JOURNAL_FILE = "journal.sqlite"


def _where(p: argparse.ArgumentParser) -> None:
    """The journal by path or by the session's run directory (as the README writes it)."""
    p.add_argument("journal", nargs="?", default=None, help=f"path to {JOURNAL_FILE}")
    p.add_argument("--run-dir", default=None, help=f"the session's run directory ({JOURNAL_FILE})")


def register(sub: Any) -> None:
    p = add_command(sub, "journal")
    jsub = p.add_subparsers(dest="journal_command", required=True, metavar="SUBCOMMAND")
    s = add_sub(
        jsub,
        "show",
        "print events, positions and working orders",
        "pycontrol journal show --run-dir build/sessions/es-paper-rust --kind fill",
    )
    _where(s)
    s.add_argument("--kind", default=None, help="only events of this kind (fill, order, ...)")
    s.add_argument("--limit", type=NONNEG, default=50, help="last N events (0: all)")
    s.set_defaults(func=_show)
    e = add_sub(
        jsub,
        "export",
        "export events (and fills, orders) to Parquet or JSONL",
        "pycontrol journal export --run-dir build/sessions/es-paper-rust --out fills.parquet "
        "--table fills",
    )
    _where(e)
    e.add_argument("--out", required=True, help="FILE.parquet or FILE.jsonl")
    e.add_argument("--table", choices=["events", "fills", "orders"], default="events")
    e.set_defaults(func=_export)
    t = add_sub(
        jsub,
        "trace",
        "one webhook alert: alert -> decision -> intent -> orders -> fills",
        "pycontrol journal trace tv-1 --run-dir build/sessions/es-paper-webhook",
    )
    t.add_argument("alert_id", help="the alert's id (its correlation id)")
    _where(t)
    t.set_defaults(func=_trace)


def journal_path(args: argparse.Namespace) -> Path | None:
    """The journal file named by ``args`` (exactly one of the path and ``--run-dir``)."""
    if (args.journal is None) == (args.run_dir is None):
        print(
            f"error: UsageError: journal {args.journal_command}: give the journal file or "
            "--run-dir (one of them)",
            file=sys.stderr,
        )
        return None
    return Path(args.journal) if args.journal else Path(args.run_dir) / JOURNAL_FILE


def _open(args: argparse.Namespace) -> Journal | None:
    from pycontrol.session.journal import Journal, JournalError

    path = journal_path(args)
    if path is None:
        return None
    if not path.is_file():
        print(f"error: FileNotFoundError: journal not found: {path}", file=sys.stderr)
        return None
    try:
        return Journal(path)
    except JournalError as e:
        print(f"error: {type(e).__name__}: {e}", file=sys.stderr)
        return None


def _rows(j: Journal, table: str) -> list[dict[str, Any]]:
    if table == "fills":
        return j.fills()
    if table == "orders":
        return [o.__dict__ for o in j.orders()]
    return [{**e, "payload": json.dumps(e["payload"])} for e in j.events()]


def _show(args: argparse.Namespace) -> int:
    j = _open(args)
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


def _trace(args: argparse.Namespace) -> int:
    from pycontrol.session.alerts import trace

    j = _open(args)
    if j is None:
        return 2
    rows = trace(j, args.alert_id)
    j.close()
    if not rows:
        print(f"error: NotFound: no alert {args.alert_id!r} in the journal", file=sys.stderr)
        return 1
    for r in rows:
        step = r.pop("step")
        print(f"{step:<9} {json.dumps(r, default=str)}")
    return 0


def _export(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.suffix not in (".jsonl", ".parquet"):
        print(
            f"error: UsageError: --out must end in .parquet or .jsonl, got {out.name}",
            file=sys.stderr,
        )
        return 2
    j = _open(args)
    if j is None:
        return 2
    rows = _rows(j, args.table)
    j.close()
    if out.suffix == ".jsonl":
        with out.open("w") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")
    else:
        import polars as pl

        pl.DataFrame(rows, infer_schema_length=None).write_parquet(out)
    print(f"wrote {len(rows)} {args.table} rows to {out}")
    return 0
