"""The self-contained HTML report of a run: out-of-sample metrics per fold beside the
baselines, calibration curves, feature importance and the threshold strategy's equity
curve net of costs. Figures are matplotlib PNGs embedded as base64: one file, no assets.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

Arr = np.ndarray[Any, Any]


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode()
    return f'<img alt="figure" src="data:image/png;base64,{data}"/>'


def _fmt(v: Any) -> str:
    return "-" if v is None else f"{v:.4f}" if isinstance(v, float) else html.escape(str(v))


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _fold_figure(models: Mapping[str, Mapping[str, Any]]) -> str:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.5))
    first = next(iter(models.values()))
    series: dict[str, dict[int, float]] = {}
    for name, m in models.items():
        for f in m["folds"]:
            series.setdefault(name, {})[f["fold"]] = f["model"]["accuracy"]
    for f in first["folds"]:
        for b, v in f["baselines"].items():
            series.setdefault(f"baseline: {b}", {})[f["fold"]] = v["accuracy"]
    for name, pts in series.items():
        ks = sorted(pts)
        ax.plot(
            ks, [pts[k] for k in ks], marker="o", ls="--" if "baseline" in name else "-", label=name
        )
    ax.set_xticks(sorted({k for pts in series.values() for k in pts}))
    ax.set_xlabel("fold")
    ax.set_ylabel("accuracy (test fold)")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return _png(fig)


def _calibration_figure(oof: Mapping[str, Arr], y: Arr, classes: Arr) -> str:
    """Reliability of the top-class probability: mean confidence vs hit rate per bin."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], color="grey", lw=1)
    edges = np.linspace(0, 1, 11)
    for name, p in oof.items():
        ok = np.isfinite(p).all(axis=1)
        conf = p[ok].max(axis=1)
        hit = classes[p[ok].argmax(axis=1)] == y[ok]
        b = np.clip(np.digitize(conf, edges) - 1, 0, 9)
        xs = [conf[b == i].mean() for i in range(10) if (b == i).sum() >= 5]
        ys = [hit[b == i].mean() for i in range(10) if (b == i).sum() >= 5]
        ax.plot(xs, ys, marker="o", label=name)
    ax.set_xlabel("predicted probability of the chosen class")
    ax.set_ylabel("observed accuracy")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return _png(fig)


def _importance_figure(importance: Mapping[str, float], top: int = 20) -> str:
    import matplotlib.pyplot as plt

    items = sorted(importance.items(), key=lambda kv: kv[1], reverse=True)[:top][::-1]
    fig, ax = plt.subplots(figsize=(6, 0.25 * len(items) + 1))
    ax.barh([k for k, _ in items], [v for _, v in items])
    ax.set_xlabel("total gain")
    ax.tick_params(axis="y", labelsize=7)
    return _png(fig)


def _equity_figure(equity: Mapping[str, tuple[Arr, Arr]]) -> str:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.5))
    for name, (ts, pnl) in equity.items():
        ax.plot(ts, np.cumsum(pnl), label=name)
    ax.set_ylabel("cumulative net P&L (USD, mean over seeds)")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    return _png(fig)


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
) -> str:
    """The report page. ``models``: name -> manifest ``metrics`` block."""
    import matplotlib

    matplotlib.use("Agg")
    parts = [f"<h1>{html.escape(title)}</h1>"]
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
    parts.append("<h2>Calibration (seed of the export, test folds)</h2>")
    parts.append(_calibration_figure(oof, y, classes))
    for name, imp in importance.items():
        parts.append(f"<h2>Feature importance: {html.escape(name)}</h2>")
        parts.append(_importance_figure(imp))
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
    style = (
        "body{font-family:sans-serif;max-width:1100px;margin:auto}table{border-collapse:"
        "collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:2px 6px;font-size:13px}"
    )
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
        f"</title><style>{style}</style></head><body>{''.join(parts)}</body></html>\n"
    )
