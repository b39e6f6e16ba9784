"""`pycontrol models ...`: the model registry (list, show, validate, register, promote,
rollback, audit). Refusals raise typed errors; the CLI turns them into exit status 2."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from pycontrol._core import FeatureSet
from pycontrol.registry import contract, gates
from pycontrol.registry.errors import PromotionRefusedError, RegistryError, make
from pycontrol.registry.store import ALIASES, ROOT_ENV, SOURCE_OF, Registry


def register(sub: Any) -> None:
    p = sub.add_parser("models", help="model registry: versions, gates, aliases, audit")
    msub = p.add_subparsers(dest="models_command", required=True)
    root = argparse.ArgumentParser(add_help=False)
    root.add_argument(
        "--root", default=None, help=f"registry root (default ${ROOT_ENV}, else ./models/registry)"
    )
    root.add_argument(
        "--gates", default=None, type=Path, help="gate files folder (default models/gates)"
    )
    fs = argparse.ArgumentParser(add_help=False)
    fs.add_argument(
        "--feature-set",
        default=None,
        type=Path,
        metavar="FILE.json",
        help="FeatureSet JSON the engine runs (default: the family's gate file says)",
    )

    ls = msub.add_parser("list", parents=[root], help="families, aliases and versions")
    ls.add_argument("--family", default=None)
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=_list)

    sh = msub.add_parser("show", parents=[root], help="one version's manifest summary")
    sh.add_argument("family")
    sh.add_argument("ref", help="a version or an alias (candidate, staging, production)")
    sh.add_argument("--json", action="store_true", help="print the whole manifest")
    sh.set_defaults(func=_show)

    va = msub.add_parser("validate", help="check an export folder (or manifest.json)")
    va.add_argument("path", type=Path)
    va.set_defaults(func=_validate)

    rg = msub.add_parser("register", parents=[root], help="copy an export in; candidate -> it")
    rg.add_argument("export_dir", type=Path)
    rg.add_argument("--reason", default="")
    rg.set_defaults(func=_register)

    pr = msub.add_parser(
        "promote", parents=[root, fs], help="candidate -> staging -> production, through the gates"
    )
    pr.add_argument("family")
    pr.add_argument("--to", required=True, choices=sorted(SOURCE_OF))
    pr.add_argument("--version", default=None, help="assert the version being promoted")
    pr.add_argument("--dry-run", action="store_true", help="evaluate only; move nothing")
    pr.add_argument("--reason", default="")
    pr.add_argument("--json", action="store_true", help="print the evaluation as JSON")
    pr.set_defaults(func=_promote)

    rb = msub.add_parser(
        "rollback", parents=[root, fs], help="move an alias back to its previous version"
    )
    rb.add_argument("family")
    rb.add_argument("--alias", default="production", choices=list(ALIASES))
    rb.add_argument("--reason", required=True)
    rb.set_defaults(func=_rollback)

    au = msub.add_parser("audit", parents=[root], help="the audit trail, chain verified")
    au.add_argument("--family", default=None)
    au.add_argument("--json", action="store_true")
    au.set_defaults(func=_audit)


def _registry(args: argparse.Namespace) -> Registry:
    return Registry(args.root, args.gates)


def _feature_set(args: argparse.Namespace) -> tuple[FeatureSet | None, str | None]:
    if args.feature_set is None:
        return None, None
    return gates.engine_feature_set(args.feature_set, base=Path.cwd()), str(args.feature_set)


def _accuracy(m: dict[str, Any]) -> str:
    try:
        agg = m["metrics"]["aggregate"]
        return f"acc {agg['model']['accuracy']:.4f} (+{agg['accuracy_over_best_baseline']:.4f})"
    except (KeyError, TypeError):
        return "acc ?"


def _list(args: argparse.Namespace) -> int:
    reg = _registry(args)
    families = [args.family] if args.family else reg.families()
    rows: list[dict[str, Any]] = []
    for fam in families:
        aliases = reg.aliases(fam)
        for v in reg.versions(fam):
            m = reg.manifest(fam, v)
            tags = [a for a in ALIASES if aliases[a] == v]
            rows.append({"family": fam, "version": v, "aliases": tags, "manifest": m})
    if args.json:
        out = [{k: r[k] for k in ("family", "version", "aliases")} for r in rows]
        print(json.dumps(out, indent=2))
        return 0
    for r in rows:
        man: dict[str, Any] = r["manifest"]
        parity = man.get("parity") or {}
        shown = ",".join(r["aliases"]) or "-"
        print(
            f"{r['family']:<16} {r['version']:<52} {shown:<28} {man.get('kind', '?'):<11} "
            f"{_accuracy(man)} parity {parity.get('passed', 'missing')}"
        )
    print(f"{len(rows)} versions in {len(families)} families under {reg.root}")
    return 0


def _show(args: argparse.Namespace) -> int:
    reg = _registry(args)
    version = reg.resolve(args.family, args.ref)
    m = reg.manifest(args.family, version)
    if args.json:
        print(json.dumps(m, indent=2))
        return 0
    aliases = [a for a, v in reg.aliases(args.family).items() if v == version]
    parity = m.get("parity")
    print(f"{args.family}/{version}  aliases: {', '.join(aliases) or '-'}")
    print(f"  kind {m.get('kind')}  created {m.get('created_at')}  classes {m.get('classes')}")
    fs = m.get("feature_set", {})
    n = len(fs.get("names", []))
    print(f"  feature set {fs.get('hash')} ({n} features, {fs.get('timeframe')})")
    best = (m.get("metrics") or {}).get("aggregate", {}).get("best_baseline")
    print(f"  {_accuracy(m)}  best baseline {best}")
    print(f"  parity {json.dumps(parity)}")
    print(f"  folder {reg.folder(args.family, version)}")
    return 0


def _validate(args: argparse.Namespace) -> int:
    folder = args.path.parent if args.path.is_file() else args.path
    m = contract.check_export(folder)
    print(f"{folder}: valid {m['family']}/{m['model_id']} (schema, cross-field, sha256)")
    return 0


def _register(args: argparse.Namespace) -> int:
    entry = _registry(args).register(args.export_dir, reason=args.reason)
    print(
        f"registered {entry['family']}/{entry['to']}; candidate: {entry['from']} -> {entry['to']}"
    )
    return 0


def print_evaluation(ev: dict[str, Any]) -> None:
    """The gate evaluation as one line per check and rule, with the values each saw."""
    head = f"gate evaluation {ev['family']}/{ev['version']}"
    if "to" in ev:
        head += f" -> {ev['to']}"
    print(f"{head} (production: {ev.get('production')}; gates {ev['gates']['file']})")
    for c in ev["checks"]:
        mark = "PASS" if c["passed"] else "FAIL"
        print(f"  {mark} {c['name']:<28} {gates.brief(c['value'], 200)}")
    for r in ev["rules"]:
        mark = "PASS" if r["passed"] else "FAIL"
        seen = f"error {r['error']}" if r["error"] else f"-> {json.dumps(r['result'])}"
        print(f"  {mark} {r['name']:<28} {seen} with {gates.brief(r['values'], 300)}")
    verdict = "passed" if ev["passed"] else f"refused ({len(ev['failures'])} failing)"
    print(f"  {verdict}")


def _promote(args: argparse.Namespace) -> int:
    reg = _registry(args)
    feature_set, name = _feature_set(args)
    try:
        ev = reg.promote(
            args.family,
            args.to,
            version=args.version,
            feature_set=feature_set,
            feature_set_name=name,
            dry_run=args.dry_run,
            reason=args.reason,
        )
    except PromotionRefusedError as e:
        if e.evaluation is not None and "rules" in e.evaluation:
            _show_evaluation(e.evaluation, args.json)
        raise
    _show_evaluation(ev, args.json)
    if args.dry_run:
        if not ev["passed"]:
            raise make(
                PromotionRefusedError,
                f"{args.family}: dry run",
                ["would be refused: " + "; ".join(ev["failures"])],
                evaluation=ev,
            )
        print(f"dry run: {ev['version']} would move to {args.to}; nothing moved")
    else:
        print(f"{args.family}: {args.to} -> {ev['version']} (was {ev['audit']['from']})")
    return 0


def _show_evaluation(ev: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(ev, indent=2, default=str))
    else:
        print_evaluation(ev)


def _rollback(args: argparse.Namespace) -> int:
    feature_set, name = _feature_set(args)
    entry = _registry(args).rollback(
        args.family, args.reason, args.alias, feature_set=feature_set, feature_set_name=name
    )
    print(f"{args.family}: {args.alias} rolled back {entry['from']} -> {entry['to']}")
    return 0


def _audit(args: argparse.Namespace) -> int:
    reg = _registry(args)
    # Verified first: a torn or edited line is reported as a broken chain, never a traceback.
    broken = reg.verify_audit()
    if broken:
        raise make(RegistryError, str(reg.root / "audit.jsonl"), broken)
    # ... and every family's aliases.json against the chain: a hand edit shows here too.
    for family in [args.family] if args.family else reg.families():
        reg.check_vouched(family)
    entries = [e for e in reg.audit() if args.family in (None, e.get("family"))]
    if args.json:
        print(json.dumps(entries, indent=2))
    else:
        for e in entries:
            moved = "" if e.get("moved") else " (refused)"
            print(
                f"{e.get('seq')!s:>5} {e.get('at')} {e.get('action')!s:<8} "
                f"{e.get('family')}/{e.get('alias')}: "
                f"{e.get('from')} -> {e.get('to')}{moved} {e.get('reason') or ''}"
            )
    print(f"{len(entries)} entries; chain intact")
    return 0
