"""Side-by-side comparison of runs (``pycontrol runs compare``): headline metrics in columns,
the config keys whose values differ, and an offline HTML page with the equity curves of
backtests overlaid (as return since each run's start), training runs' out-of-sample equity
net of costs overlaid, and their fold accuracies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pycontrol.reports.html import chart, esc, finite, fmt_num, fmt_pct, ms, page, table
from pycontrol.runs.store import Run

COLORS = ["#2471a3", "#c0392b", "#1e8449", "#8e44ad", "#d35400", "#2c3e50", "#7f8c8d"]
_PCT = ("total_return", "max_drawdown", "win_rate", "accuracy", "over_best_baseline")


def fmt_metric(key: str, v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, str):
        return v
    if key.endswith(_PCT):
        return fmt_pct(v, 2, sign=key.endswith(("total_return", "over_best_baseline")))
    if "rank_ic" in key or key.endswith(
        ("accuracy_std", "log_loss", "sharpe_per_sample", "deflated_sharpe")
    ):
        return fmt_num(v, 4)
    return fmt_num(v)


def metric_rows(runs: list[Run]) -> list[list[str]]:
    keys: list[str] = []
    for r in runs:
        keys += [k for k in r.metrics if k not in keys]
    return [[k, *(fmt_metric(k, r.metrics.get(k)) for r in runs)] for k in keys]


def config_diff(runs: list[Run]) -> list[list[str]]:
    """Config keys whose values are not the same in every run (a key missing in one run
    counts as different)."""
    if len({r.kind for r in runs}) > 1:
        return []  # a backtest's and a training run's configs share no keys worth listing
    keys: list[str] = []
    for r in runs:
        keys += [k for k in r.config if k not in keys]
    out = []
    missing = object()
    for k in sorted(keys):
        vals = [r.config.get(k, missing) for r in runs]
        if any(v != vals[0] for v in vals[1:]):
            out.append([k, *("(absent)" if v is missing else _short(v) for v in vals)])
    return out


def _short(v: Any, n: int = 60) -> str:
    s = str(v)
    return s if len(s) <= n else s[: n - 3] + "..."


def text(runs: list[Run]) -> str:
    """The terminal view: metrics side by side, then the config differences."""
    head = ["", *(f"[{i + 1}] {r.name}" for i, r in enumerate(runs))]
    lines = [f"[{i + 1}] {r.kind} {r.path}" for i, r in enumerate(runs)]
    lines.append("")
    lines += _columns(head, metric_rows(runs))
    diff = config_diff(runs)
    lines.append("")
    if diff:
        lines.append(f"config differences ({len(diff)} keys):")
        lines += _columns(["key", *(f"[{i + 1}]" for i in range(len(runs)))], diff)
    elif len({r.kind for r in runs}) > 1:
        lines.append("config: not compared (backtests and training runs mixed)")
    else:
        lines.append("config: identical")
    return "\n".join(lines)


def _columns(head: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(x[i])) for x in [head, *rows]) for i in range(len(head))]

    def fmt(row: list[str]) -> str:
        return "  ".join(
            (str(c).ljust(w) if i == 0 else str(c).rjust(w))
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )

    return [fmt(head), *(fmt(r) for r in rows)]


def _equity_chart(runs: list[Run]) -> str:
    import polars as pl

    curves = []
    for r in runs:
        if r.kind != "backtest":
            continue
        eq = pl.read_parquet(r.path / "equity.parquet").sort("ts")
        ts = eq["ts"].to_numpy()
        e = eq["equity"].cast(pl.Float64).to_numpy()
        curves.append((r, ts, e / e[0] - 1.0 if e.size and e[0] else e * 0))
    if not curves:
        return ""
    # Same span of time: overlay on the clock; otherwise on time since each run's start.
    starts = [int(c[1][0]) for c in curves if c[1].size]
    ends = [int(c[1][-1]) for c in curves if c[1].size]
    aligned = bool(starts) and max(starts) < min(ends)
    series = []
    for i, (r, ts, ret) in enumerate(curves):
        x = ts if aligned else ts - ts[0]
        series.append(
            {
                "name": f"[{runs.index(r) + 1}] {r.name}",
                "x": ms(x),
                "y": finite(ret),
                "color": COLORS[i % len(COLORS)],
            }
        )
    note = (
        "on the clock (the runs overlap in time)"
        if aligned
        else "against time since each run's start (the runs cover different periods)"
    )
    return (
        f"<h2>Equity (return since start), overlaid</h2><p class='muted'>{esc(note)}</p>"
        + chart("equity", "time", {"series": series, "yfmt": "pct", "zero": True})
    )


def _training_equity_chart(runs: list[Run]) -> str:
    """Training runs' out-of-sample equity net of costs (each run's best model by net P&L,
    and always-long of the first run), overlaid in USD on the clock."""
    import polars as pl

    series: list[dict[str, Any]] = []
    long_done = False
    for i, r in enumerate(runs):
        p = r.path / "oos_equity.parquet"
        if r.kind != "training" or not p.is_file():
            continue
        eq = pl.read_parquet(p)
        models = eq.filter(~pl.col("model").str.starts_with("baseline"))
        if models.height:
            best = models.group_by("model").agg(pl.col("net_usd").sum()).sort("net_usd").row(-1)[0]
            curve = models.filter(pl.col("model") == best).sort("ts")
            series.append(
                {
                    "name": f"[{i + 1}] {r.name}: {best}",
                    "x": ms(curve["ts"].to_numpy()),
                    "y": finite(curve["cum_net_usd"].to_numpy()),
                    "color": COLORS[len(series) % len(COLORS)],
                }
            )
        base = eq.filter(pl.col("model").str.starts_with("baseline")).sort("ts")
        if base.height and not long_done:
            long_done = True
            series.append(
                {
                    "name": f"[{i + 1}] always long",
                    "x": ms(base["ts"].to_numpy()),
                    "y": finite(base["cum_net_usd"].to_numpy()),
                    "color": "#888888",
                }
            )
    if not series:
        return ""
    return "<h2>Out-of-sample equity, net of costs (training runs, best model each)</h2>" + chart(
        "train_equity", "time", {"series": series, "yfmt": "money", "zero": True}
    )


def _fold_chart(runs: list[Run]) -> str:
    import json

    labels: list[str] = []
    values: list[float] = []
    for i, r in enumerate(runs):
        if r.kind != "training":
            continue
        m = json.loads((r.path / "metrics.json").read_text())
        for name, block in (m.get("models") or {}).items():
            for f in block.get("folds") or []:
                labels.append(f"[{i + 1}] {name} fold {f['fold']}")
                values.append(float(f["model"]["accuracy"]))
    if not labels:
        return ""
    return "<h2>Out-of-sample accuracy per fold</h2>" + chart(
        "folds", "bars", {"labels": labels, "values": values, "fmt": "pct", "color": "#2471a3"}
    )


def html(runs: list[Run]) -> str:
    head = ["", *(f"[{i + 1}] {r.name}" for i, r in enumerate(runs))]
    srcs = table(
        ["run", "kind", "folder", "created", "report"],
        [
            [f"[{i + 1}] {r.name}", r.kind, str(r.path), r.created or "n/a", str(r.report)]
            for i, r in enumerate(runs)
        ],
    )
    diff = config_diff(runs)
    diff_html = (
        table(["key", *(f"[{i + 1}]" for i in range(len(runs)))], diff, "diff")
        if diff
        else "<p>The configs are identical.</p>"
    )
    body = (
        f"<h1>Run comparison ({len(runs)} runs)</h1>{srcs}"
        f"<h2>Metrics</h2>{table(head, metric_rows(runs))}"
        f"<h2>Config differences</h2>{diff_html}"
        f"{_equity_chart(runs)}{_training_equity_chart(runs)}{_fold_chart(runs)}"
    )
    return page("Run comparison", body)


def write_html(runs: list[Run], out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html(runs))
    return out
