"""Finding and reading run folders: backtests (``equity.parquet`` + ``config.json``, see
docs/backtest-outputs.md) and training runs (``metrics.json`` with ``models`` +
``resolved.json``, see docs/training.md). A :class:`Run` holds what ``pycontrol runs`` shows:
headline metrics, the flattened config, provenance and where its report is."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pycontrol._core import ConfigError

# Where runs land by default: backtests and training runs of the configs, and the demo's.
DEFAULT_ROOTS = ("runs", "build/demo/backtest", "build/demo/runs")
ROOTS_ENV = "PYCONTROL_RUNS"


class RunNotFoundError(ConfigError):
    """A run named on the command line is not a run folder (or not found under the roots)."""


@dataclass
class Run:
    kind: str  # "backtest" | "training"
    path: Path
    name: str
    created: str | None
    metrics: dict[str, Any]  # headline figures, flat, comparable across runs of one kind
    config: dict[str, Any]  # flattened: "section.key" -> value
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def report(self) -> Path:
        return self.path / "report.html"


def roots() -> list[Path]:
    env = os.environ.get(ROOTS_ENV)
    names = env.split(os.pathsep) if env else list(DEFAULT_ROOTS)
    return [Path(n) for n in names if n]


def flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts as ``a.b.c`` keys (lists stay values)."""
    out: dict[str, Any] = {}
    if isinstance(d, dict):
        for k, v in d.items():
            key = f"{prefix}.{k}" if prefix else str(k)
            if isinstance(v, dict) and v:
                out.update(flatten(v, key))
            else:
                out[key] = v
    return out


def kind_of(path: Path) -> str | None:
    if (path / "equity.parquet").is_file() and (path / "config.json").is_file():
        return "backtest"
    if (path / "metrics.json").is_file() and (path / "resolved.json").is_file():
        return "training"
    return None


def _json(p: Path) -> dict[str, Any]:
    try:
        doc = json.loads(p.read_text())
    except (OSError, ValueError) as e:
        raise RunNotFoundError(f"{p}: unreadable ({e})") from None
    return doc if isinstance(doc, dict) else {}


def _mtime(path: Path) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(path.stat().st_mtime, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def load(path: Path) -> Run:
    """The run in folder ``path``."""
    kind = kind_of(path)
    if kind == "backtest":
        return _backtest(path)
    if kind == "training":
        return _training(path)
    raise RunNotFoundError(
        f"{path}: not a run folder (a backtest has equity.parquet and config.json; a training "
        "run metrics.json and resolved.json)"
    )


def _backtest(path: Path) -> Run:
    from pycontrol.backtest.metrics import annualized_supported

    m = _json(path / "metrics.json") if (path / "metrics.json").is_file() else {}
    info = _json(path / "run.json") if (path / "run.json").is_file() else {}
    tele = _json(path / "telemetry.json") if (path / "telemetry.json").is_file() else {}
    ann = bool(m) and annualized_supported(m)
    head: dict[str, Any] = {
        "span_min": (m["end_ts"] - m["start_ts"]) / 60e9 if m else None,
        "total_return": m.get("total_return"),
        "sharpe_annualized": m.get("sharpe") if ann else None,
        "sharpe_per_sample": m.get("sharpe_per_period"),
        "deflated_sharpe": m.get("deflated_sharpe"),
        "max_drawdown": m.get("max_drawdown"),
        "n_trades": m.get("n_trades"),
        "win_rate": m.get("win_rate"),
        "fees": m.get("fees"),
        "n_denials": m.get("n_denials"),
        "model_version": ((tele.get("model") or {}).get("version")),
    }
    return Run(
        "backtest",
        path,
        path.name,
        info.get("created") or _mtime(path),
        head,
        flatten(_json(path / "config.json")),
        info,
    )


def _training(path: Path) -> Run:
    m = _json(path / "metrics.json")
    head: dict[str, Any] = {}
    for name, block in (m.get("models") or {}).items():
        agg = block.get("aggregate") or {}
        model = agg.get("model") or {}
        head[f"{name}.accuracy"] = model.get("accuracy")
        head[f"{name}.accuracy_std"] = model.get("accuracy_std")
        head[f"{name}.log_loss"] = model.get("log_loss")
        head[f"{name}.over_best_baseline"] = agg.get("accuracy_over_best_baseline")
        head[f"{name}.best_baseline"] = agg.get("best_baseline")
    for name, sq in (m.get("signal_quality") or {}).items():
        # rank IC at the shortest horizon, pooled over the test folds (report: every horizon)
        if sq.get("horizons"):
            head[f"{name}.rank_ic_h{sq['horizons'][0]}"] = sq["pooled"][0]
    for name, s in (m.get("strategy") or {}).items():
        head[f"strategy.{name}.net_pnl"] = s.get("net_pnl")
    return Run(
        "training",
        path,
        f"{m.get('family', '?')}/{m.get('run_id', path.name)}",
        _mtime(path),
        head,
        flatten(_json(path / "resolved.json")),
        {"family": m.get("family"), "run_id": m.get("run_id")},
    )


def discover(search: Iterable[Path] | None = None, depth: int = 3) -> Iterator[Run]:
    """Every run folder under the roots (up to ``depth`` levels down), newest first."""
    found: dict[Path, Run] = {}
    for root in search if search is not None else roots():
        if not root.is_dir():
            continue
        for folder in _walk(root, depth):
            if kind_of(folder) and folder.resolve() not in found:
                try:
                    found[folder.resolve()] = load(folder)
                except RunNotFoundError:
                    continue
    yield from sorted(found.values(), key=lambda r: r.created or "", reverse=True)


def _walk(root: Path, depth: int) -> Iterator[Path]:
    yield root
    if depth == 0 or kind_of(root):
        return
    try:
        subs = sorted(p for p in root.iterdir() if p.is_dir() and p.name != "export")
    except OSError:
        return
    for s in subs:
        yield from _walk(s, depth - 1)


def resolve(ref: str) -> Run:
    """A run by folder path, or by its folder name (or training ``family/run_id``) under the
    roots."""
    p = Path(ref)
    if p.is_dir():
        return load(p)
    hits = [r for r in discover() if ref in (r.path.name, r.name)]
    if len(hits) == 1:
        return hits[0]
    if not hits:
        where = ", ".join(str(r) for r in roots())
        raise RunNotFoundError(f"{ref}: no such run folder, nor a run of that name under {where}")
    raise RunNotFoundError(f"{ref}: {len(hits)} runs have that name: give a path")
