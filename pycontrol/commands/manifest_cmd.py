"""`pycontrol data ingest` and `pycontrol data ls`: record files in the data manifest and
list what it holds."""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from typing import Any

from pycontrol.commands import add_sub

# pycontrol.data.manifest.ROOT_ENV (a test keeps them equal), spelled out so that
# `data --help` does not load polars.
ROOT_ENV = "PYCONTROL_DATA_ROOT"


def register(dsub: Any) -> None:
    root_help = f"data root (default ${ROOT_ENV}, else ./data)"
    i = add_sub(
        dsub,
        "ingest",
        "record files in the append-only data manifest (sha256, format, time range)",
        "pycontrol data ingest ../shared/data/dbn/nautilus/*.dbn.zst --root data",
    )
    i.add_argument("paths", nargs="+", metavar="FILE")
    i.add_argument("--root", default=None, help=root_help)
    i.add_argument(
        "--copy", action="store_true", help="also keep a copy under ROOT/raw/<sha256 prefix>/"
    )
    i.add_argument(
        "--allow-unknown",
        action="store_true",
        help='record files of unrecognised format as "unknown" instead of failing',
    )
    i.set_defaults(func=_ingest)
    ls = add_sub(dsub, "ls", "list the data manifest's entries", "pycontrol data ls --root data")
    ls.add_argument("--root", default=None, help=root_help)
    ls.add_argument("--json", action="store_true", help="print the entries as a JSON list")
    ls.set_defaults(func=_ls)


def _t(ts: datetime | None) -> str:
    return "-" if ts is None else ts.strftime("%Y-%m-%d %H:%M:%S.%f UTC")


def _range(entry: dict[str, Any]) -> str:
    return f"{_t(entry['ts_start'])} .. {_t(entry['ts_end'])}"


def _rows(entry: dict[str, Any]) -> str:
    return "-" if entry["rows"] is None else f"{entry['rows']:,}"


def _ingest(args: argparse.Namespace) -> int:
    from pycontrol.data.manifest import Manifest

    manifest = Manifest(args.root)
    results = manifest.ingest(args.paths, copy=args.copy, allow_unknown=args.allow_unknown)
    for r in results:
        e = r.entry
        if r.status == "added":
            what = "added"
        elif e["source_path"] == str(r.path):
            what = "already present"
        else:
            what = f"already present (same content as {e['source_path']})"
        print(
            f"{r.path}: {what} {r.sha256[:12]} {e['format']} {e['schema'] or '-'} "
            f"rows {_rows(e)} {_range(e)}"
        )
    added = sum(r.status == "added" for r in results)
    print(f"{added} added, {len(results) - added} already present, manifest {manifest.dir}")
    return 0


def _ls(args: argparse.Namespace) -> int:
    from pycontrol.data.manifest import Manifest

    manifest = Manifest(args.root)
    entries = manifest.entries()
    if args.json:
        rows = [
            {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in e.items()}
            for e in entries.iter_rows(named=True)
        ]
        print(json.dumps(rows, indent=2))
        return 0
    for e in entries.iter_rows(named=True):
        insts = ",".join(e["instruments"]) or "-"
        print(
            f"{e['sha256'][:12]} {e['format']:<17} {e['schema'] or '-':<12} "
            f"rows {_rows(e):>9} {_range(e)} [{insts}] {e['source_path']}"
        )
    print(f"{entries.height} entries in {manifest.dir}")
    return 0
