"""The self-contained interactive HTML report of a training run: a header naming the data
(sha256), feature set, code commit and splitter; out-of-sample metrics per fold beside the
baselines; signal quality (Spearman rank IC of P(up) - P(down) against the forward return,
by horizon, per fold: how fast the edge decays); calibration; feature importance; the
threshold strategy's equity net of costs. One file, charts and data inlined
(:mod:`pycontrol.reports.html`), no network.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from pycontrol.reports.html import chart, finite, kv_table, ms, page

Arr = np.ndarray[Any, Any]

# Forward horizons (bars) of the signal-quality table; those longer than the data are skipped.
HORIZONS = (1, 2, 5, 10, 20, 50)
# Fewest scored rows for an IC (fewer: n/a).
MIN_IC_ROWS = 20
COLORS = ["#2471a3", "#c0392b", "#1e8449", "#8e44ad", "#d35400", "#2c3e50", "#7f8c8d"]


def signal_quality(
    proba: Arr,
    classes: Arr,
    up: Sequence[int],
    down: Sequence[int],
    close: Arr,
    bar: Arr,
    fold_of: Arr,
    horizons: Sequence[int] = HORIZONS,
) -> dict[str, Any]:
    """Rank IC of the signal ``P(up classes) - P(down classes)`` against the forward return
    ``close[bar + h] / close[bar] - 1``, for each horizon ``h`` (bars), per test fold and
    pooled over the folds. ``proba`` rows align with ``bar`` (bar index of each row) and
    ``fold_of`` (the row's test fold, -1 when in none); rows without probabilities (NaN) or
    without a bar ``h`` ahead are left out. Overlapping horizons make neighbouring rows
    dependent: read the IC, not a t-statistic. Returns ``{"horizons", "pooled", "folds":
    {fold: [ic per horizon]}, "n": [rows per horizon]}`` (ICs None where under
    ``MIN_IC_ROWS`` rows)."""
    from scipy.stats import spearmanr

    sig = proba[:, np.isin(classes, up)].sum(axis=1) - proba[:, np.isin(classes, down)].sum(axis=1)
    close = np.asarray(close, dtype=np.float64)
    bar = np.asarray(bar, dtype=np.int64)
    hs = [h for h in horizons if h < close.size]
    folds = sorted(int(f) for f in np.unique(fold_of) if f >= 0)

    def ic(mask: Arr, fwd: Arr) -> float | None:
        if int(mask.sum()) < MIN_IC_ROWS:
            return None
        a, b = sig[mask], fwd[mask]
        if np.ptp(a) == 0 or np.ptp(b) == 0:
            return None
        r = float(spearmanr(a, b).statistic)
        return r if math.isfinite(r) else None

    out: dict[str, Any] = {"horizons": hs, "pooled": [], "n": [], "folds": {f: [] for f in folds}}
    for h in hs:
        ahead = bar + h
        ok = ahead < close.size
        fwd = np.full(bar.size, np.nan)
        fwd[ok] = close[ahead[ok]] / close[bar[ok]] - 1.0
        base = np.isfinite(sig) & np.isfinite(fwd) & (fold_of >= 0)
        out["pooled"].append(ic(base, fwd))
        out["n"].append(int(base.sum()))
        for f in folds:
            out["folds"][f].append(ic(base & (fold_of == f), fwd))
    return out


def report_header(config: Any, ds: Any) -> dict[str, str]:
    """What produced a run, for the header: data files with sha256, rows and their time
    range, feature set, code commit, config file (``config``: a TrainConfig, ``ds``: its
    Dataset)."""
    from pycontrol.runs.provenance import code_commit, now_utc

    ts = ds.bars["ts"]
    first, last = ts.gather(ds.rows[:1]).item(), ts.gather(ds.rows[-1:]).item()
    return {
        "Family": str(config.family),
        "Data": f"{config.data.path} (sha256 "
        + ", ".join(h[:16] + "..." for h in ds.data_sha256)
        + ")",
        "Rows": f"{len(ds.rows):,} usable {ds.timeframe} bars, {first} .. {last}",
        "Feature set": f"{ds.feature_set.hash} ({len(ds.names)} features)",
        "Config": str(config.source or "(in memory)"),
        "Code commit": code_commit() or "n/a",
        "Created": now_utc(),
    }


def _fmt(v: Any) -> str:
    return "-" if v is None else f"{v:.4f}" if isinstance(v, float) else html.escape(str(v))


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _fold_figure(models: Mapping[str, Mapping[str, Any]]) -> str:
    first = next(iter(models.values()))
    series: dict[str, dict[int, float]] = {}
    for name, m in models.items():
        for f in m["folds"]:
            series.setdefault(name, {})[f["fold"]] = f["model"]["accuracy"]
    for f in first["folds"]:
        for b, v in f["baselines"].items():
            series.setdefault(f"baseline: {b}", {})[f["fold"]] = v["accuracy"]
    spec = [
        {
            "name": name,
            "x": sorted(pts),
            "y": finite(pts[k] for k in sorted(pts)),
            "color": COLORS[i % len(COLORS)],
            "dots": True,
            "dash": "baseline" in name,
        }
        for i, (name, pts) in enumerate(series.items())
    ]
    return chart(
        "folds",
        "time",
        {"series": spec, "xnum": True, "xint": True, "xlabel": "fold", "yfmt": "pct"},
    )


def _calibration_figure(oof: Mapping[str, Arr], y: Arr, classes: Arr) -> str:
    """Reliability of the top-class probability: mean confidence vs hit rate per bin."""
    edges = np.linspace(0, 1, 11)
    spec: list[dict[str, Any]] = [
        {"name": "perfect", "x": [0.0, 1.0], "y": [0.0, 1.0], "color": "#aaa", "dash": True}
    ]
    for i, (name, p) in enumerate(oof.items()):
        ok = np.isfinite(p).all(axis=1)
        conf = p[ok].max(axis=1)
        hit = classes[p[ok].argmax(axis=1)] == y[ok]
        b = np.clip(np.digitize(conf, edges) - 1, 0, 9)
        keep = [k for k in range(10) if (b == k).sum() >= 5]
        spec.append(
            {
                "name": name,
                "x": finite(conf[b == k].mean() for k in keep),
                "y": finite(hit[b == k].mean() for k in keep),
                "color": COLORS[i % len(COLORS)],
                "dots": True,
            }
        )
    return chart(
        "calibration",
        "time",
        {"series": spec, "xnum": True, "xlabel": "predicted probability", "yfmt": "pct"},
    )


def _importance_figure(chart_id: str, importance: Mapping[str, float], top: int = 20) -> str:
    items = sorted(importance.items(), key=lambda kv: kv[1], reverse=True)[:top]
    return chart(
        chart_id,
        "bars",
        {"labels": [k for k, _ in items], "values": finite(v for _, v in items), "fmt": "money"},
    )


def _equity_figure(equity: Mapping[str, tuple[Arr, Arr]]) -> str:
    spec = []
    for i, (name, (ts, pnl)) in enumerate(equity.items()):
        ns = np.asarray(ts).astype("datetime64[ns]").astype(np.int64)
        order = np.argsort(ns, kind="stable")
        spec.append(
            {
                "name": name,
                "x": ms(ns[order]),
                "y": finite(np.cumsum(np.asarray(pnl)[order])),
                "color": COLORS[i % len(COLORS)],
            }
        )
    return chart("equity", "time", {"series": spec, "yfmt": "money", "zero": True})


def _signal_section(signal: Mapping[str, Mapping[str, Any]]) -> str:
    parts = [
        "<h2>Signal quality: rank IC by horizon (test folds)</h2>",
        "<p>Spearman rank correlation between P(up) - P(down) and the return over the next h "
        "bars; per fold and pooled. An edge that is real decays with h; an IC near 0 at h = 1 "
        "means the probabilities do not order the next bar's returns.</p>",
    ]
    series = []
    for i, (name, sq) in enumerate(signal.items()):
        hs = sq["horizons"]
        rows = [[f"{name} pooled", *sq["pooled"]], [f"{name} rows", *sq["n"]]]
        rows += [[f"{name} fold {f}", *v] for f, v in sq["folds"].items()]
        parts.append(_table(["model", *(f"h={h}" for h in hs)], rows))
        series.append(
            {
                "name": f"{name} pooled",
                "x": hs,
                "y": finite(np.nan if v is None else v for v in sq["pooled"]),
                "color": COLORS[i % len(COLORS)],
                "dots": True,
            }
        )
    parts.append(
        chart(
            "ic",
            "time",
            {
                "series": series,
                "xnum": True,
                "xint": True,
                "xlabel": "horizon (bars)",
                "zero": True,
            },
        )
    )
    return "".join(parts)


def _trading_table(models: Mapping[str, Mapping[str, Any]]) -> str:
    """Net USD, PSR, DSR (trials from the ledger), PBO, rank IC, ECE and Brier per model."""
    keys = ("net_usd", "net_usd_std", "psr", "dsr", "n_trials", "pbo", "rank_ic")
    cal_keys = ("method", "ece_raw", "ece", "brier", "brier_climatology")
    rows = [
        [
            name,
            *(m["aggregate"]["trading"].get(k) for k in keys),
            *(m["aggregate"].get("calibration", {}).get(k) for k in cal_keys),
        ]
        for name, m in models.items()
        if "trading" in m["aggregate"]
    ]
    head = ["model", "net USD", "std (seeds)", "PSR", "DSR", "trials (ledger)", "PBO", "rank IC"]
    head += ["calibration", "ECE raw", "ECE", "Brier", "Brier base rates"]
    return _table(head, rows)


def render(
    *,
    title: str,
    config_text: str,
    splitter: Mapping[str, Any],
    models: Mapping[str, Mapping[str, Any]],
    oof: Mapping[str, Arr],
    y: Arr,
    classes: Arr,
    importance: Mapping[str, Mapping[str, float]],
    equity: Mapping[str, tuple[Arr, Arr]],
    strategy: Mapping[str, Mapping[str, Any]],
    exports: Mapping[str, Mapping[str, Any]],
    notes: Sequence[str],
    header: Mapping[str, str] | None = None,
    signal: Mapping[str, Mapping[str, Any]] | None = None,
) -> str:
    """The report page. ``models``: name -> manifest ``metrics`` block; ``header``: what
    produced the run (data sha256, feature set, commit); ``signal``: name ->
    :func:`signal_quality`."""
    parts = [f"<h1>{html.escape(title)}</h1>"]
    if header:
        parts.append(kv_table(header.items()))
    parts += [f"<p>{html.escape(n)}</p>" for n in notes]
    agg_rows = []
    first = next(iter(models.values()))
    for b, v in first["aggregate"]["baselines"].items():
        agg_rows.append(
            [f"baseline: {b}", v["accuracy"], None, v["balanced_accuracy"], v["log_loss"], "all"]
        )
    for name, m in models.items():
        a = m["aggregate"]["model"]
        agg_rows.append(
            [
                name,
                a["accuracy"],
                a["accuracy_std"],
                a["balanced_accuracy"],
                a["log_loss"],
                ",".join(str(f["fold"]) for f in m["folds"]),
            ]
        )
    parts.append("<h2>Out-of-sample aggregate (pooled test folds; models: mean over seeds)</h2>")
    parts.append(
        _table(
            ["model", "accuracy", "accuracy std (seeds)", "balanced accuracy", "log-loss", "folds"],
            agg_rows,
        )
    )
    for name, m in models.items():
        a = m["aggregate"]
        parts.append(
            f"<p>{html.escape(name)}: best baseline {html.escape(a['best_baseline'])} "
            f"{a['best_baseline_accuracy']:.4f} (on the folds scored), accuracy over it "
            f"{a['accuracy_over_best_baseline']:+.4f}</p>"
        )
    parts.append("<h2>Per fold</h2>")
    fold_rows = []
    for name, m in models.items():
        for f in m["folds"]:
            fold_rows.append(
                [
                    f["fold"],
                    name,
                    f["n_train"],
                    f["n_test"],
                    f["model"]["accuracy"],
                    f["model"]["balanced_accuracy"],
                    f["model"]["log_loss"],
                ]
            )
    for f in first["folds"]:
        for b, v in f["baselines"].items():
            fold_rows.append(
                [
                    f["fold"],
                    f"baseline: {b}",
                    f["n_train"],
                    f["n_test"],
                    v["accuracy"],
                    v["balanced_accuracy"],
                    v["log_loss"],
                ]
            )
    fold_rows.sort(key=lambda r: (r[0], str(r[1])))
    parts.append(
        _table(
            ["fold", "model", "n_train", "n_test", "accuracy", "balanced accuracy", "log-loss"],
            fold_rows,
        )
    )
    parts.append(_fold_figure(models))
    if signal:
        parts.append(_signal_section(signal))
    parts.append("<h2>Calibration (seed of the export, test folds)</h2>")
    parts.append(_calibration_figure(oof, y, classes))
    for i, (name, imp) in enumerate(importance.items()):
        parts.append(f"<h2>Feature importance: {html.escape(name)}</h2>")
        parts.append(_importance_figure(f"importance-{i}", imp))
    parts.append(
        "<h2>Threshold strategy, held for the label horizon, net of costs (test folds, "
        "every seed)</h2>"
    )
    parts.append(_trading_table(models))
    parts.append(
        _table(
            [
                "model",
                "net USD (mean over seeds)",
                "contracts traded",
                "bars in market",
                "threshold",
                "USD per contract traded",
            ],
            [
                [
                    k,
                    v["net_pnl"],
                    v["changes"],
                    v["bars_in_market"],
                    v["threshold"],
                    v["cost_per_change"],
                ]
                for k, v in strategy.items()
            ],
        )
    )
    parts.append(_equity_figure(equity))
    parts.append("<h2>Exports and parity</h2>")
    parts.append(
        _table(
            [
                "model",
                "model_id",
                "parity rows",
                "max abs diff",
                "class agreement",
                "passed",
                "source",
            ],
            [
                [
                    k,
                    e["model_id"],
                    e["parity"]["rows"],
                    e["parity"]["max_abs_diff"],
                    e["parity"]["class_agreement"],
                    e["parity"]["passed"],
                    e["parity"]["source"],
                ]
                for k, e in exports.items()
            ],
        )
    )
    parts.append("<h2>Splitter</h2>")
    parts.append(_table(list(splitter), [list(splitter.values())]))
    parts.append(f"<h2>Config</h2><pre>{html.escape(config_text)}</pre>")
    return page(title, "".join(parts))
