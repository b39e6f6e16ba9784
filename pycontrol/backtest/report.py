"""Self-contained HTML report of a backtest run folder (docs/backtest-outputs.md).

One file, no external references: every plot is a matplotlib PNG embedded as base64.
Sections: metrics table (with buy-and-hold beside the strategy), equity curve, drawdown,
trades on the price chart, event-to-intent latency histogram with p50/p99/p99.9, risk
denials by reason. Also writes ``metrics.json`` (strict JSON) next to it.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display on servers; must precede pyplot
import matplotlib.pyplot as plt
import numpy as np
import polars as pl

from pycontrol.backtest.metrics import compute_metrics


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _dt(ts: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    return ts.astype("datetime64[ns]")


def _fmt(v: Any, pct: bool = False) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v * 100:.2f} %" if pct else f"{v:,.4g}"
    return html.escape(str(v))


def _equity_plot(eq: pl.DataFrame) -> str:
    ts = _dt(eq["ts"].to_numpy())
    e = eq["equity"].to_numpy().astype(float)
    p = eq["price"].to_numpy().astype(float)
    fig, ax = plt.subplots(figsize=(9, 3.2))
    ax.plot(ts, e, label="strategy", color="tab:blue")
    if p.size and p[0] > 0:
        ax.plot(ts, e[0] * p / p[0], label="buy and hold (same start)", color="tab:gray", lw=0.8)
    ax.set_title("Equity")
    ax.legend(loc="best")
    ax.grid(alpha=0.3)
    return _png(fig)


def _drawdown_plot(eq: pl.DataFrame) -> str:
    ts = _dt(eq["ts"].to_numpy())
    e = eq["equity"].to_numpy().astype(float)
    peak = np.maximum.accumulate(e)
    dd = np.where(peak > 0, (e - peak) / np.where(peak > 0, peak, 1.0), 0.0)
    fig, ax = plt.subplots(figsize=(9, 2.4))
    ax.fill_between(ts, dd * 100, 0, color="tab:red", alpha=0.4)
    ax.set_title("Drawdown (%)")
    ax.grid(alpha=0.3)
    return _png(fig)


def _trades_plot(eq: pl.DataFrame, trades: pl.DataFrame | None) -> str:
    fig, ax = plt.subplots(figsize=(9, 3.2))
    ax.plot(_dt(eq["ts"].to_numpy()), eq["price"].to_numpy(), color="black", lw=0.7)
    if trades is not None and trades.height:
        long = trades.filter(pl.col("side") == "BUY")
        short = trades.filter(pl.col("side") == "SELL")
        for df, marker, color, label in (
            (long, "^", "tab:green", "long entry"),
            (short, "v", "tab:red", "short entry"),
        ):
            if df.height:
                ax.scatter(
                    _dt(df["entry_ts"].to_numpy()),
                    df["entry_price"].to_numpy(),
                    marker=marker,
                    color=color,
                    s=30,
                    label=label,
                    zorder=3,
                )
        ax.scatter(
            _dt(trades["exit_ts"].to_numpy()),
            trades["exit_price"].to_numpy(),
            marker="x",
            color="tab:blue",
            s=25,
            label="exit",
            zorder=3,
        )
        ax.legend(loc="best")
    ax.set_title("Trades on price")
    ax.grid(alpha=0.3)
    return _png(fig)


def _latency_plot(lat: np.ndarray[Any, Any], m: dict[str, Any]) -> str:
    fig, ax = plt.subplots(figsize=(9, 2.8))
    if lat.size:
        us = lat / 1e3
        ax.hist(us, bins=min(100, max(10, lat.size // 20)), color="tab:purple", alpha=0.7)
        for key, label, style in (
            ("p50_ns", "p50", "-"),
            ("p99_ns", "p99", "--"),
            ("p999_ns", "p99.9", ":"),
        ):
            v = m["latency"][key]
            if v is not None:
                ax.axvline(v / 1e3, color="black", ls=style, label=f"{label} {v / 1e3:.2f} us")
        ax.legend(loc="best")
    else:
        ax.text(0.5, 0.5, "no latency samples", ha="center", va="center", transform=ax.transAxes)
    ax.set_title("Event-to-intent latency (us)")
    return _png(fig)


def _denials_plot(by_reason: dict[str, int]) -> str:
    fig, ax = plt.subplots(figsize=(9, 2.8))
    if by_reason:
        names = sorted(by_reason, key=lambda k: -by_reason[k])
        ax.barh(names, [by_reason[k] for k in names], color="tab:orange")
        ax.invert_yaxis()
    else:
        ax.text(0.5, 0.5, "no denials", ha="center", va="center", transform=ax.transAxes)
    ax.set_title("Risk denials by reason")
    return _png(fig)


_ROWS: list[tuple[str, str, bool]] = [
    ("Total return", "total_return", True),
    ("Annualized return", "annualized_return", True),
    ("Sharpe", "sharpe", False),
    ("Max drawdown", "max_drawdown", True),
]


def _table(m: dict[str, Any]) -> str:
    bh = m["buy_and_hold"]
    rows = [
        f"<tr><th>{name}</th><td>{_fmt(m[key], pct)}</td><td>{_fmt(bh.get(key), pct)}</td></tr>"
        for name, key, pct in _ROWS
    ]
    solo: list[tuple[str, Any, bool]] = [
        ("Annualized volatility", m["annualized_volatility"], True),
        ("Sortino", m["sortino"], False),
        ("Deflated Sharpe (P, n_trials=" + str(m["n_trials"]) + ")", m["deflated_sharpe"], False),
        ("Probabilistic Sharpe (P > 0)", m["probabilistic_sharpe"], False),
        ("Trades", m["n_trades"], False),
        ("Win rate", m["win_rate"], True),
        ("Profit factor", m["profit_factor"], False),
        ("Average trade P&L", m["avg_trade_pnl"], False),
        ("Average trade duration (s)", m["avg_trade_duration_s"], False),
        ("Contracts traded", m["contracts_traded"], False),
        ("Turnover (contracts / year)", m["turnover"], False),
        ("Fees", m["fees"], False),
        ("Risk denials", m["n_denials"], False),
        ("Latency p50 / p99 / p99.9 (ns)", None, False),
    ]
    lat = m["latency"]
    for name, v, pct in solo:
        cell = (
            " / ".join(_fmt(lat[k]) for k in ("p50_ns", "p99_ns", "p999_ns"))
            if name.startswith("Latency")
            else _fmt(v, pct)
        )
        rows.append(f"<tr><th>{html.escape(name)}</th><td>{cell}</td><td></td></tr>")
    head = "<tr><th></th><th>strategy</th><th>buy and hold</th></tr>"
    return "<table>" + head + "".join(rows) + "</table>"


_CSS = (
    "body{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}"
    "table{border-collapse:collapse}td,th{padding:3px 10px;border-bottom:1px solid #ddd;"
    "text-align:right}th{text-align:left}img{max-width:100%}"
)


def write_report(
    run_dir: str | Path, n_trials: int = 1, periods_per_year: float | None = None
) -> Path:
    """Writes ``report.html`` and ``metrics.json`` into ``run_dir``; returns the report path."""
    run = Path(run_dir)
    m = compute_metrics(run, n_trials, periods_per_year)
    (run / "metrics.json").write_text(json.dumps(m, indent=2, allow_nan=False) + "\n")
    eq = pl.read_parquet(run / "equity.parquet").sort("ts")
    trades_p = run / "trades.parquet"
    trades = pl.read_parquet(trades_p) if trades_p.exists() else None
    lat_p = run / "latency.npy"
    lat = np.load(lat_p).astype(np.int64) if lat_p.exists() else np.zeros(0, np.int64)
    figs = [
        ("Equity", _equity_plot(eq)),
        ("Drawdown", _drawdown_plot(eq)),
        ("Trades", _trades_plot(eq, trades)),
        ("Latency", _latency_plot(lat, m)),
        ("Risk denials", _denials_plot(m["denials_by_reason"])),
    ]
    body = "".join(
        f'<h2>{t}</h2><img alt="{t}" src="data:image/png;base64,{b64}">' for t, b64 in figs
    )
    doc = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>Backtest {html.escape(run.name)}</title><style>{_CSS}</style></head><body>"
        f"<h1>Backtest {html.escape(run.name)}</h1>"
        f"<h2>Metrics</h2>{_table(m)}{body}</body></html>\n"
    )
    out = run / "report.html"
    out.write_text(doc)
    return out
