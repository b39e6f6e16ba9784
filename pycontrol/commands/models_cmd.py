"""`pycontrol models ...`: the model registry (list, show, validate, register, promote,
rollback, audit). Refusals raise typed errors; the CLI turns them into exit status 2."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pycontrol.commands import add_command, add_sub

if TYPE_CHECKING:
    from pycontrol._core import FeatureSet
    from pycontrol.registry.store import Registry

# pycontrol.registry.store's ALIASES, SOURCE_OF and ROOT_ENV (a test keeps them equal),
# spelled out so that `models --help` does not load the registry (jsonschema, numpy).
ALIASES = ("candidate", "staging", "production")
PROMOTE_TO = ("production", "staging")
ROOT_ENV = "PYCONTROL_MODELS"
# Where `pycontrol demo` keeps its registry (named when the default registry is empty).
DEMO_REGISTRY = Path("build/demo/registry")


def register(sub: Any) -> None:
    p = add_command(sub, "models")
    msub = p.add_subparsers(dest="models_command", required=True, metavar="SUBCOMMAND")
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

    ls = add_sub(
        msub,
        "list",
        "families, aliases and versions with their out-of-sample accuracy",
        "pycontrol models list --root build/demo/registry",
        parents=[root],
    )
    ls.add_argument("--family", default=None)
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=_list)

    sh = add_sub(
        msub,
        "show",
        "one version's manifest summary",
        "pycontrol models show demo production --root build/demo/registry",
        parents=[root],
    )
    sh.add_argument("family")
    sh.add_argument("ref", help="a version or an alias (candidate, staging, production)")
    sh.add_argument("--json", action="store_true", help="print the whole manifest")
    sh.set_defaults(func=_show)

    va = add_sub(
        msub,
        "validate",
        "check an export folder (or manifest.json): schema, cross-field rules, sha256",
        "pycontrol models validate runs/demo/RUN/export/lgbm",
    )
    va.add_argument("path", type=Path)
    va.set_defaults(func=_validate)

    rg = add_sub(
        msub,
        "register",
        "copy an export in; candidate -> it",
        "pycontrol models register runs/demo/RUN/export/lgbm --reason 'new features'",
        parents=[root],
    )
    rg.add_argument("export_dir", type=Path)
    rg.add_argument("--reason", default="")
    rg.set_defaults(func=_register)

    pr = add_sub(
        msub,
        "promote",
        "candidate -> staging -> production, through the gates",
        "pycontrol models promote demo --to staging --dry-run",
        parents=[root, fs],
    )
    pr.add_argument("family")
    pr.add_argument("--to", required=True, choices=sorted(PROMOTE_TO))
    pr.add_argument("--version", default=None, help="assert the version being promoted")
    pr.add_argument("--dry-run", action="store_true", help="evaluate only; move nothing")
    pr.add_argument("--reason", default="")
    pr.add_argument("--json", action="store_true", help="print the evaluation as JSON")
    pr.set_defaults(func=_promote)

    rb = add_sub(
        msub,
        "rollback",
        "move an alias back to its previous version",
        "pycontrol models rollback demo --alias production --reason 'drift'",
        parents=[root, fs],
    )
    rb.add_argument("family")
    rb.add_argument("--alias", default="production", choices=list(ALIASES))
    rb.add_argument("--reason", required=True)
    rb.set_defaults(func=_rollback)

    au = add_sub(
        msub,
        "audit",
        "the audit trail, chain verified",
        "pycontrol models audit --family demo",
        parents=[root],
    )
    au.add_argument("--family", default=None)
    au.add_argument("--json", action="store_true")
    au.set_defaults(func=_audit)

    tr = add_sub(
        msub,
        "trials",
        "a family's trial ledger (trial count, DSR, PBO)",
        "pycontrol models trials regime_hourly --runs runs",
    )
    tr.add_argument("family")
    tr.add_argument("--runs", default="runs", type=Path, help="training runs root (default runs)")
    tr.add_argument("--json", action="store_true")
    tr.set_defaults(func=_trials)


def _registry(args: argparse.Namespace) -> Registry:
    from pycontrol.registry.store import Registry

    return Registry(args.root, args.gates)


def _feature_set(args: argparse.Namespace) -> tuple[FeatureSet | None, str | None]:
    from pycontrol.registry import gates

    if args.feature_set is None:
        return None, None
    return gates.engine_feature_set(args.feature_set, base=Path.cwd()), str(args.feature_set)


def _accuracy(m: dict[str, Any]) -> str:
    """Out-of-sample accuracy as the demo and ``train`` print it: mean +- std over folds and
    seeds, then the best baseline and the model's margin over it."""
    try:
        agg = m["metrics"]["aggregate"]
        model = agg["model"]
        out = f"OOS acc {model['accuracy']:.4f} +- {model['accuracy_std']:.4f}"
    except (KeyError, TypeError):
        return "OOS acc ?"
    best = agg.get("best_baseline")
    over = agg.get("accuracy_over_best_baseline")
    if best is not None and over is not None:
        out += f" ({over:+.4f} vs {best})"
    return out


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
    if not rows and args.root is None:
        demo = DEMO_REGISTRY.resolve()
        if demo.is_dir() and demo != Path(reg.root).resolve():
            print(f"the demo's registry is elsewhere: pycontrol models list --root {DEMO_REGISTRY}")
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
    from pycontrol.registry import contract

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
    from pycontrol.registry import gates

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
    from pycontrol.registry.errors import PromotionRefusedError, make

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
    from pycontrol.registry.errors import RegistryError, make

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


def _trials(args: argparse.Namespace) -> int:
    from pycontrol.registry import trials  # imported here: the CLI loads commands lazily

    path = trials.ledger_path(args.runs, args.family)
    found = trials.read_trials(path)
    rows = trials.summary(found)
    pbo = trials.pbo_from_trials(found)
    if args.json:
        print(json.dumps({"ledger": str(path), "trials": rows, "pbo": pbo}, indent=2))
        return 0
    for r in rows:
        sr = "-" if r["sharpe_daily"] is None else f"{r['sharpe_daily']:+.3f}"
        print(
            f"{r['seq']:>5} {r['recorded_at']} {r['run_id']} {r['model']:<16} {r['kind']:<12} "
            f"{r['days']:>4} days  net {r['net_usd']:>+12,.2f} USD  daily Sharpe {sr}"
        )
    shown = "-" if pbo is None else f"{pbo:.3f}"
    print(f"{len(rows)} trials in {path}; chain intact; PBO (CSCV) {shown}")
    return 0
