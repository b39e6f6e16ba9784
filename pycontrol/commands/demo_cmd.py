"""`pycontrol demo` (`make demo`): the main job end to end on embedded data, no network.

Stages, each printed with its wall time; any failure ends the demo with a nonzero status:

1. synthetic MBO: two ES sessions from the project's generator (different seeds): one to
   train on, one to trade (the backtest is out of sample);
2. bars + features: 1s bars of the training session's trades and their features, by the
   Rust code the engine streams (``configs/train/demo.toml``);
3. train: LightGBM, purged walk-forward OOS metrics beside the baselines, ONNX export with
   a parity check, manifest;
4. registry: register, promote to staging and to production through ``models/gates/demo.json``
   (the evaluation is printed), in a registry under the demo folder;
5. backtest: the Rust engine serves the production version on the trading session, every
   pre-trade risk gate on (``configs/risk/default.toml``), simulated exchange with L3 queue
   position; summary table and HTML report.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from pycontrol.commands import add_command

REPO = Path(__file__).resolve().parents[2]
TRAIN_CONFIG = REPO / "configs" / "train" / "demo.toml"
BACKTEST_CONFIG = REPO / "configs" / "backtest" / "demo_model.toml"
RISK_CONFIG = REPO / "configs" / "risk" / "default.toml"
FAMILY = "demo"
# What the demo writes into its folder, and the marker listing what it created there: a rerun
# replaces only these, and only where the marker says the demo made them. Anything else in the
# folder (a user's file, the replay session's synth.mbo.dbn.zst) is left alone.
OUTPUTS = ("session-train.mbo.dbn.zst", "session-trade.mbo.dbn.zst", "runs", "registry", "backtest")
MARKER = ".pycontrol-demo.json"

T = TypeVar("T")


def register(sub: Any) -> None:
    p = add_command(sub, "demo")
    p.add_argument(
        "--out",
        default="build/demo",
        help="demo folder; a rerun replaces only what the demo created there",
    )
    p.add_argument(
        "--train-events", type=int, default=4_000_000, help="events of the training session"
    )
    p.add_argument(
        "--trade-events", type=int, default=1_500_000, help="events of the traded session"
    )
    p.add_argument("--seed", type=int, default=1, help="generator seed (trading: seed + 1)")
    p.set_defaults(func=_demo)


@dataclass
class DemoResult:
    """What each stage left behind (the test reads these)."""

    out: Path
    train_path: Path
    trade_path: Path
    export_dir: Path
    registry: Path
    production: str
    run_dir: Path
    metrics: dict[str, Any]
    telemetry: dict[str, Any]
    seconds: float


class _Stages:
    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.n = 0

    def run(self, title: str, fn: Callable[[], T]) -> T:
        self.n += 1
        print(f"[{self.n}/5] {title}", flush=True)
        t = time.perf_counter()
        out = fn()
        print(f"      done in {time.perf_counter() - t:.1f} s", flush=True)
        return out


def run_demo(
    out: Path,
    *,
    train_events: int = 4_000_000,
    trade_events: int = 1_500_000,
    seed: int = 1,
    train_overrides: dict[str, Any] | None = None,
) -> DemoResult:
    """The whole chain into ``out`` (emptied first). ``train_overrides`` replaces top-level
    sections of the training config (tests use smaller settings)."""
    from pycontrol.backtest.config import BacktestConfig
    from pycontrol.backtest.run import run_backtest
    from pycontrol.commands.models_cmd import print_evaluation
    from pycontrol.data.synth import synth_mbo
    from pycontrol.registry import PromotionRefusedError, Registry
    from pycontrol.training.config import TrainConfig
    from pycontrol.training.dataset import trade_bars
    from pycontrol.training.run import train

    out = Path(out).resolve()
    clear_previous(out)
    st = _Stages()
    train_path = out / "session-train.mbo.dbn.zst"
    trade_path = out / "session-trade.mbo.dbn.zst"

    def synth() -> None:
        for path, n, s in ((train_path, train_events, seed), (trade_path, trade_events, seed + 1)):
            print(f"      writing {path.name} ({n:,} events) ...", flush=True)
            summary = synth_mbo(path, n, s, ["ES"])
            print(
                f"      {path.name}: {summary['events']:,} events, {summary['trades']:,} "
                f"trades, {path.stat().st_size / 1e6:.1f} MB (seed {s})"
            )

    st.run("synthetic MBO (ES, deterministic seeds)", synth)

    raw = tomllib.loads(TRAIN_CONFIG.read_text())
    raw["data"] = {**raw["data"], "path": str(train_path)}
    raw.update(train_overrides or {})
    config = TrainConfig.from_dict(raw, source=str(TRAIN_CONFIG))
    config = replace(config, tracking=replace(config.tracking, enabled=False))

    def bars() -> None:
        import pycontrol

        b = trade_bars(train_path, config.data)
        fs = pycontrol.FeatureSet(list(config.features.names or ()))
        print(
            f"      {b.height:,} {config.data.timeframe} bars; {len(fs.names())} features "
            f"{fs.names()} (FeatureSet {fs.hash})"
        )

    st.run("bars + features (Rust bar builder and feature engine)", bars)

    def fit() -> Any:
        result = train(config, out / "runs", progress=_progress(), tracking=False)
        m = result.metrics["models"]
        for name, block in m.items():
            a = block["aggregate"]
            model = a["model"]
            base = a["baselines"]
            cells = "  ".join(
                f"{b} acc {_num(v['accuracy'], '.4f')} log-loss {_num(v['log_loss'], '.4f')}"
                for b, v in base.items()
            )
            print(
                f"      {name}: OOS accuracy {model['accuracy']:.4f} +- {model['accuracy_std']:.4f}"
                f", log-loss {model['log_loss']:.4f} over {len(block['folds'])} purged folds"
            )
            print(f"      baselines: {cells}")
        for name, man in result.manifests.items():
            par = man["parity"]
            print(
                f"      export {name}: ONNX parity {'passed' if par['passed'] else 'FAILED'} "
                f"({par['rows']} rows, max abs diff {par['max_abs_diff']:.1e})"
            )
        if not result.parity_passed:
            raise SystemExit("demo: an export failed its parity check")
        return result

    result = st.run("train (walk-forward OOS, ONNX export, parity, manifest)", fit)
    model_name = config.models[0].name
    export_dir = result.folder / "export" / model_name
    registry_root = out / "registry"

    def promote() -> str:
        reg = Registry(registry_root)
        entry = reg.register(export_dir, reason="pycontrol demo")
        print(f"      registered {entry['family']}/{entry['to']} (candidate)")
        for alias in ("staging", "production"):
            try:
                ev = reg.promote(FAMILY, alias, reason="pycontrol demo")
            except PromotionRefusedError as e:
                # show what failed, then end the demo (nonzero status through the CLI)
                if e.evaluation is not None and "rules" in e.evaluation:
                    print_evaluation(e.evaluation)
                raise
            if alias == "staging":
                print_evaluation(ev)
            else:
                # the same checks again (production has no earlier version to beat): one line
                n = len(ev["checks"]) + len(ev["rules"])
                print(f"gate evaluation -> production: {n} checks and rules passed")
        version = reg.aliases(FAMILY)["production"]
        assert version is not None
        return version

    production = st.run("registry: register, promote through the gates", promote)

    raw_bt = tomllib.loads(BACKTEST_CONFIG.read_text())
    raw_bt["data"] = [str(trade_path)]
    raw_bt["out"] = str(out / "backtest")
    raw_bt["signals"] = {**raw_bt["signals"], "registry": str(registry_root), "family": FAMILY}
    # Every pre-trade gate on: the documented defaults (the file names every key), with the
    # demo config's few overrides on top.
    overrides = raw_bt.get("risk", {})
    raw_bt["risk"] = {**tomllib.loads(RISK_CONFIG.read_text()), **overrides}
    bt_cfg = BacktestConfig.from_dict(raw_bt)

    def backtest() -> Path:
        print(
            f"      risk: {len(raw_bt['risk'])} limits of {RISK_CONFIG.relative_to(REPO)}, "
            f"overridden: {overrides or 'none'}; decision threshold "
            f"{bt_cfg.decision.min_confidence_ensemble}"
        )
        return run_backtest(bt_cfg, run_id="demo", progress=_progress())

    run_dir = st.run(f"backtest: engine serving {FAMILY}@production ({production})", backtest)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    tele = json.loads((run_dir / "telemetry.json").read_text())
    return DemoResult(
        out=out,
        train_path=train_path,
        trade_path=trade_path,
        export_dir=export_dir,
        registry=registry_root,
        production=production,
        run_dir=run_dir,
        metrics=metrics,
        telemetry=tele,
        seconds=time.perf_counter() - st.t0,
    )


def clear_previous(out: Path) -> None:
    """Removes the outputs of an earlier demo run in ``out`` (those its marker lists) and
    records the ones this run will create. A name the demo writes that exists without the
    marker is somebody else's: the demo stops rather than delete it."""
    from pycontrol._core import ConfigError

    out.mkdir(parents=True, exist_ok=True)
    marker = out / MARKER
    ours: set[str] = set()
    if marker.is_file():
        try:
            ours = set(json.loads(marker.read_text()).get("created", []))
        except (OSError, ValueError, AttributeError):
            ours = set()
    elif _legacy_demo(out):
        ours = set(OUTPUTS)
    foreign = [n for n in OUTPUTS if (out / n).exists() and n not in ours]
    if foreign:
        raise ConfigError(
            f"{out}: {', '.join(foreign)} exist(s) but were not created by pycontrol demo "
            f"(no {MARKER} lists them); move them or pick another --out"
        )
    for name in OUTPUTS:
        p = out / name
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()
    marker.write_text(json.dumps({"created": list(OUTPUTS)}, indent=2) + "\n")


def _progress() -> bool:
    """Progress bars (on stderr) when someone watches a terminal; none in logs and tests."""
    return sys.stderr.isatty()


def _legacy_demo(out: Path) -> bool:
    """A folder of a demo run from before the marker existed: every output present and the
    backtest's config the demo's own."""
    cfg = out / "backtest" / "demo" / "config.json"
    if not all((out / n).exists() for n in OUTPUTS) or not cfg.is_file():
        return False
    try:
        return bool(json.loads(cfg.read_text()).get("name") == "demo_model")
    except (OSError, ValueError):
        return False


def _pct(v: Any, sign: str = "+") -> str:
    return "-" if v is None else f"{100 * float(v):{sign}.2f} %"


def _num(v: Any, fmt: str = ".2f") -> str:
    return "-" if v is None else format(float(v), fmt)


def summary(r: DemoResult) -> str:
    """The summary table: strategy beside buy-and-hold, then engine counters."""
    m, t = r.metrics, r.telemetry
    bh = m.get("buy_and_hold") or {}
    from pycontrol.backtest.metrics import annualized_supported

    short = "n/a (< 30 d)"
    ann = annualized_supported(m)
    rows = [
        ("total return", _pct(m["total_return"]), _pct(bh.get("total_return"))),
        (
            "Sharpe (annualized)",
            _num(m["sharpe"]) if ann else short,
            _num(bh.get("sharpe")) if ann else short,
        ),
        ("Sharpe per sample", _num(m["sharpe_per_period"], ".4f"), "-"),
        ("deflated Sharpe", _num(m["deflated_sharpe"], ".3f"), "-"),
        ("max drawdown", _pct(m["max_drawdown"], ""), _pct(bh.get("max_drawdown"), "")),
        ("trades", str(m["n_trades"]), "1"),
        ("win rate", _pct(m["win_rate"], ""), "-"),
        ("fees", _num(m["fees"]), "-"),
    ]
    minutes = (m["end_ts"] - m["start_ts"]) / 60e9
    lines = [f"  {f'{minutes:.0f} min session':<22}{'model strategy':>16}{'buy and hold':>16}"]
    lines += [f"  {a:<22}{b:>16}{c:>16}" for a, b, c in rows]
    model = t.get("model", {})
    gated = ", ".join(f"{k} {v:,}" for k, v in model.get("gated_by_reason", {}).items())
    lines.append(
        f"  engine: {t['events']:,} events, {t['signals']:,} model signals "
        f"(gated: {gated or 'none'}), {t['decisions']:,} decisions, {t['intents']:,} intents, "
        f"{t['fills']:,} fills, {t['not_sized']:,} not sized"
    )
    holds = ", ".join(f"{k} {v:,}" for k, v in t.get("holds_by_reason", {}).items())
    lines.append(f"  holds by reason: {holds or 'none'}")
    denials = ", ".join(f"{k} {v:,}" for k, v in m.get("denials_by_reason", {}).items())
    lines.append(f"  risk denials by reason: {denials or 'none'}")
    lines.append(f"  trading: {_trading_line(r.run_dir)}")
    return "\n".join(lines)


def _trading_line(run_dir: Path) -> str:
    """When the fills happened and what was denied after the last one (the report's "what
    limited trading" panel in one line)."""
    import polars as pl

    from pycontrol.backtest.report import trading_window

    def read(name: str) -> pl.DataFrame | None:
        return pl.read_parquet(run_dir / name) if (run_dir / name).exists() else None

    eq = pl.read_parquet(run_dir / "equity.parquet")
    w = trading_window(eq, read("fills.parquet"), read("denials.parquet"))
    span = (w["end"] - w["start"]) / 60e9
    if w["last_fill"] is None:
        return f"no fill in the {span:.0f} min session"
    active = (w["last_fill"] - w["start"]) / 60e9
    out = f"every fill in the first {active:.0f} of {span:.0f} min"
    after = w["denials_after_last_fill"]
    if after:
        out += "; after the last fill the gates denied " + ", ".join(
            f"{k} {v:,}" for k, v in after.items()
        )
    return out


def _demo(args: argparse.Namespace) -> int:
    r = run_demo(
        Path(args.out),
        train_events=args.train_events,
        trade_events=args.trade_events,
        seed=args.seed,
    )
    print()
    print(f"summary (out of sample: the traded session was not trained on; {r.production})")
    print(summary(r))
    print(f"report: {r.run_dir / 'report.html'}")
    print(f"registry: {r.registry} (pycontrol models list --root {_rel(r.registry)})")
    print(f"runs: pycontrol runs list --root {_rel(r.out)}")
    print(f"total: {r.seconds:.1f} s")
    return 0


def _rel(p: Path) -> str:
    """``p`` relative to the current folder when it is inside it (shorter to copy)."""
    try:
        return str(p.relative_to(Path.cwd()))
    except ValueError:
        return str(p)
