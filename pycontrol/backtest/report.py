"""Self-contained interactive HTML report of a backtest run folder (docs/backtest-outputs.md).

One file, no network: the chart code (``pycontrol/reports/charts.js``) and the data are
inlined. Sections: a header saying what produced the run (model version, data files with
sha256, instruments, date range, config, code commit); a "what limited trading" panel (when
trading happened, risk denials over time by reason, holds and gated signals by reason); the
metrics beside buy-and-hold, annualized figures only where the sample spans
``ANNUALIZE_MIN_DAYS``; equity, drawdown, positions, trades on the price chart; daily and
monthly returns; the trade list; latency. Also writes ``metrics.json`` (strict JSON).
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from pycontrol.backtest.metrics import ANNUALIZE_MIN_DAYS, annualized_supported, compute_metrics
from pycontrol.reports.html import (
    chart,
    esc,
    finite,
    fmt_num,
    fmt_pct,
    fmt_span,
    fmt_ts,
    fmt_us,
    kv_table,
    ms,
    page,
    table,
)

# Most trades listed in the report (all of them are in trades.parquet).
MAX_TRADE_ROWS = 1000
REASON_COLORS = ["#e67e22", "#c0392b", "#8e44ad", "#16a085", "#2c3e50", "#d35400", "#7f8c8d"]


def _read(run: Path, name: str) -> pl.DataFrame | None:
    p = run / name
    return pl.read_parquet(p) if p.exists() else None


def _json(run: Path, name: str) -> dict[str, Any]:
    p = run / name
    return json.loads(p.read_text()) if p.exists() else {}


def period_returns(eq: pl.DataFrame, every: str) -> pl.DataFrame:
    """Compounded return of each UTC calendar period (``1d`` or ``1mo``) from the equity
    samples: last equity of the period over the last of the period before (the first period
    over its first sample)."""
    df = (
        eq.select(pl.from_epoch(pl.col("ts"), "ns").alias("t"), pl.col("equity").cast(pl.Float64))
        .sort("t")
        .group_by_dynamic("t", every=every)
        .agg(pl.col("equity").first().alias("first"), pl.col("equity").last().alias("last"))
    )
    prev = df["last"].shift(1).fill_null(df["first"])
    return df.with_columns(
        ((pl.col("last") / prev) - 1.0).alias("return"), (pl.col("last") - prev).alias("pnl")
    ).select("t", "return", "pnl", pl.col("last").alias("equity"))


def trading_window(
    eq: pl.DataFrame, fills: pl.DataFrame | None, denials: pl.DataFrame | None
) -> dict[str, Any]:
    """When trading happened and what stopped it: first/last fill, the share of the session
    after the last fill, and the denials after it (by reason)."""
    t0, t1 = int(eq["ts"].min()), int(eq["ts"].max())  # type: ignore[arg-type]
    out: dict[str, Any] = {"start": t0, "end": t1, "first_fill": None, "last_fill": None}
    if fills is not None and fills.height:
        out["first_fill"] = int(fills["ts"].min())  # type: ignore[arg-type]
        out["last_fill"] = int(fills["ts"].max())  # type: ignore[arg-type]
    after: dict[str, int] = {}
    if denials is not None and denials.height:
        cut = out["last_fill"] if out["last_fill"] is not None else t0
        late = denials.filter(pl.col("ts") > cut)
        for reason, n in late.group_by("reason").len().sort("len", descending=True).iter_rows():
            after[str(reason)] = int(n)
    out["denials_after_last_fill"] = after
    return out


def _limits_summary(w: dict[str, Any], m: dict[str, Any], tele: dict[str, Any]) -> str:
    span = (w["end"] - w["start"]) / 1e9
    lines: list[str] = []
    if w["last_fill"] is None:
        lines.append(f"No order was filled in the {fmt_span(span)} sample.")
    else:
        active = (w["last_fill"] - w["start"]) / 1e9
        lines.append(
            f"{fmt_num(m['n_trades'])} trades ({fmt_num(m['n_fills'])} fills) between "
            f"{fmt_ts(w['first_fill'])} and {fmt_ts(w['last_fill'])}: the first "
            f"{fmt_span(active)} of the {fmt_span(span)} sample."
        )
        idle = span - active
        if idle > 0.2 * span:
            lines.append(
                f"Nothing was filled in the last {fmt_span(idle)} ({fmt_pct(idle / span, 0)} of "
                "the sample): equity is flat from there on."
            )
    after = w["denials_after_last_fill"]
    if after:
        total = sum(after.values())
        top, n = next(iter(after.items()))
        lines.append(
            f"After the last fill the risk gates denied {fmt_num(total)} orders; "
            f"{top} denied {fmt_num(n)} of them"
            + (" (all)" if n == total else "")
            + _reason_hint(top)
            + "."
        )
    holds = tele.get("holds_by_reason") or {}
    if holds:
        top_h = max(holds, key=lambda k: holds[k])
        lines.append(
            f"The decision step held {fmt_num(sum(holds.values()))} times, mostly "
            f"{top_h} ({fmt_num(holds[top_h])}){_reason_hint(top_h)}."
        )
    return "".join(f"<p>{esc(x)}</p>" for x in lines)


_HINTS = {
    "MAX_DAILY_EXPOSURE": ": the day's traded exposure reached max_daily_exposure of the risk "
    "limits, and nothing more opens until the next day",
    "LOW_CONFIDENCE": ": the model's top class was below the confidence threshold",
    "MAX_POSITION": ": the position limit was reached",
    "MAX_DAILY_LOSS": ": the day's loss limit was reached",
}


def _reason_hint(reason: str) -> str:
    return _HINTS.get(reason, "")


def _header(run: Path, info: dict[str, Any], cfg: dict[str, Any], m: dict[str, Any]) -> str:
    model = info.get("model") or {}
    if model.get("signals") == "model":
        what = (
            f"{model.get('family') or model.get('path')} version {model.get('version') or 'n/a'}"
            f" ({model.get('backend')} backend; registry {model.get('registry') or '-'})"
        )
    elif model:
        what = f"{model.get('signals')} signals " + json.dumps(
            {k: v for k, v in model.items() if k != "signals"}
        )
    else:
        what = "n/a (run folder without run.json)"
    data = info.get("data") or [{"path": p} for p in cfg.get("data", [])]
    data_txt = "; ".join(
        f"{d['path']} (sha256 {d['sha256'][:16]}..., {fmt_num(d.get('bytes'))} bytes)"
        if d.get("sha256")
        else str(d["path"])
        for d in data
    )
    insts = ", ".join(f"{v} (id {k})" for k, v in (info.get("instruments") or {}).items())
    span = (m["end_ts"] - m["start_ts"]) / 1e9
    win = info.get("window") or {}
    rows = [
        ("Model", what),
        ("Data", data_txt or "n/a"),
        ("Instruments", insts or "n/a"),
        (
            "Date range",
            f"{fmt_ts(m['start_ts'])} .. {fmt_ts(m['end_ts'])} ({fmt_span(span)})"
            + (
                f"; requested {fmt_ts(win.get('start'))} .. {fmt_ts(win.get('end'))}"
                if win.get("start") or win.get("end")
                else ""
            ),
        ),
        (
            "Config",
            f"{cfg.get('name', '?')} (hash {info.get('config_hash', 'n/a')}); full config "
            "below and in config.json",
        ),
        ("Code commit", info.get("code_commit") or "n/a"),
        ("Created", info.get("created") or "n/a"),
        ("Run folder", str(run.resolve())),
    ]
    return kv_table(rows)


def _metrics_table(m: dict[str, Any]) -> str:
    bh = m["buy_and_hold"]
    ok = annualized_supported(m)
    span = fmt_span((m["end_ts"] - m["start_ts"]) / 1e9)
    na = f"n/a ({span} sample < {ANNUALIZE_MIN_DAYS:.0f} days)"

    def ann(v: Any, pct: bool = True) -> str:
        if not ok:
            return na
        return fmt_pct(v) if pct else fmt_num(v)

    rows = [
        (
            "Total return",
            fmt_pct(m["total_return"], sign=True),
            fmt_pct(bh["total_return"], sign=True),
        ),
        ("Annualized return", ann(m["annualized_return"]), ann(bh["annualized_return"])),
        ("Sharpe (annualized)", ann(m["sharpe"], False), ann(bh["sharpe"], False)),
        ("Sharpe per sample", fmt_num(m["sharpe_per_period"], 4), ""),
        ("Max drawdown", fmt_pct(m["max_drawdown"]), fmt_pct(bh["max_drawdown"])),
        ("Annualized volatility", ann(m["annualized_volatility"]), ""),
        ("Sortino (annualized)", ann(m["sortino"], False), ""),
        (
            f"Deflated Sharpe (P, {m['n_trials']} trials: {m.get('n_trials_source', 'given')})",
            fmt_num(m["deflated_sharpe"], 3),
            "",
        ),
        ("Probabilistic Sharpe (P > 0)", fmt_num(m["probabilistic_sharpe"], 3), ""),
        ("Trades", fmt_num(m["n_trades"]), "1"),
        ("Win rate", fmt_pct(m["win_rate"]), ""),
        ("Profit factor", fmt_num(m["profit_factor"]), ""),
        ("Average trade P&L", fmt_num(m["avg_trade_pnl"]), ""),
        ("Average trade duration", fmt_num(m["avg_trade_duration_s"], 1) + " s", ""),
        ("Contracts traded", fmt_num(m["contracts_traded"]), ""),
        ("Fees", fmt_num(m["fees"]), ""),
        ("Orders / fills", f"{fmt_num(m['n_orders'])} / {fmt_num(m['n_fills'])}", ""),
        ("Risk denials", fmt_num(m["n_denials"]), ""),
        (
            "Latency p50 / p99 / p99.9 (event to intent)",
            " / ".join(fmt_us(m["latency"][k]) for k in ("p50_ns", "p99_ns", "p999_ns")),
            "",
        ),
    ]
    return table(["", "strategy", "buy and hold"], rows)


def _trades_table(trades: pl.DataFrame | None) -> str:
    if trades is None or trades.height == 0:
        return "<p>No trades.</p>"
    shown = trades.sort("entry_ts").head(MAX_TRADE_ROWS)
    rows = [
        (
            str(i + 1),
            t["symbol"],
            t["side"],
            fmt_num(int(t["qty"])),
            fmt_ts(t["entry_ts"]),
            fmt_num(t["entry_price"]),
            fmt_ts(t["exit_ts"]),
            fmt_num(t["exit_price"]),
            fmt_num((t["exit_ts"] - t["entry_ts"]) / 1e9, 1),
            fmt_num(t["pnl"]),
            fmt_num(t["fees"]),
            t["exit_reason"],
        )
        for i, t in enumerate(shown.iter_rows(named=True))
    ]
    more = (
        f"<p class='muted'>First {MAX_TRADE_ROWS} of {trades.height:,} trades (all in "
        "trades.parquet).</p>"
        if trades.height > MAX_TRADE_ROWS
        else ""
    )
    head = [
        "#",
        "symbol",
        "side",
        "qty",
        "entry",
        "entry price",
        "exit",
        "exit price",
        "seconds",
        "P&L",
        "fees",
        "exit reason",
    ]
    return f'<div class="scroll">{table(head, rows, "trades")}</div>{more}'


def _period_table(df: pl.DataFrame, fmt: str) -> str:
    rows = [
        (t.strftime(fmt), fmt_pct(r, sign=True), fmt_num(p), fmt_num(e))
        for t, r, p, e in df.iter_rows()
    ]
    return table(["period (UTC)", "return", "P&L", "equity at end"], rows)


def _holds_chart(holds: pl.DataFrame | None, t0: int, t1: int, totals: dict[str, int]) -> str:
    """Cumulative holds by reason over time (the engine counts them per event-time minute);
    a run from before the engine kept times shows its totals as bars."""
    if holds is None:
        return _reason_bars("holds", totals)
    if holds.height == 0:
        return "<p>No holds.</p>"
    series = []
    order = holds.group_by("reason").agg(pl.col("count").sum()).sort("count", descending=True)
    for i, (reason,) in enumerate(order.select("reason").iter_rows()):
        h = holds.filter(pl.col("reason") == reason).sort("minute")
        cum = h["count"].cum_sum().to_list()
        x = [t0, *h["minute"].to_list(), t1]
        y = [0, *cum, cum[-1]]
        series.append(
            {
                "name": f"{reason} (cumulative)",
                "x": ms(x),
                "y": y,
                "color": REASON_COLORS[i % len(REASON_COLORS)],
                "step": True,
            }
        )
    return chart("holds", "time", {"series": series, "yfmt": "int", "zero": True})


def _denial_chart(denials: pl.DataFrame | None, t0: int, t1: int) -> str:
    if denials is None or denials.height == 0:
        return "<p>No risk denials.</p>"
    series = []
    for i, (reason,) in enumerate(
        denials.group_by("reason").len().sort("len", descending=True).select("reason").iter_rows()
    ):
        ts = denials.filter(pl.col("reason") == reason)["ts"].sort().to_numpy()
        x = [t0, *ts.tolist(), t1]
        y = [0, *range(1, ts.size + 1), ts.size]
        series.append(
            {
                "name": f"{reason} (cumulative)",
                "x": ms(x),
                "y": y,
                "color": REASON_COLORS[i % len(REASON_COLORS)],
                "step": True,
            }
        )
    return chart("denials", "time", {"series": series, "yfmt": "int", "zero": True})


def _reason_bars(chart_id: str, counts: dict[str, int]) -> str:
    if not counts:
        return "<p>None.</p>"
    names = sorted(counts, key=lambda k: -counts[k])
    return chart(
        chart_id, "bars", {"labels": names, "values": [counts[k] for k in names], "fmt": "int"}
    )


def _latency_chart(lat: np.ndarray[Any, Any]) -> str:
    if lat.size == 0:
        return "<p>No latency samples.</p>"
    us = lat / 1e3
    hi = float(np.percentile(us, 99.9))
    edges = np.linspace(float(us.min()), max(hi, float(us.min()) + 1e-3), 21)
    counts, _ = np.histogram(np.clip(us, None, hi), bins=edges)
    labels = [f"{a:,.2f} - {b:,.2f} us" for a, b in itertools.pairwise(edges)]
    return chart(
        "latency",
        "bars",
        {"labels": labels, "values": counts.tolist(), "fmt": "int", "color": "#8e44ad"},
    )


def render(run: Path, m: dict[str, Any]) -> str:
    """The report's HTML for run folder ``run`` with metrics ``m``."""
    eq = pl.read_parquet(run / "equity.parquet").sort("ts")
    trades = _read(run, "trades.parquet")
    fills = _read(run, "fills.parquet")
    denials = _read(run, "denials.parquet")
    holds = _read(run, "holds.parquet")
    tele = _json(run, "telemetry.json")
    info = _json(run, "run.json")
    cfg = _json(run, "config.json")
    lat_p = run / "latency.npy"
    lat = np.load(lat_p).astype(np.int64) if lat_p.exists() else np.zeros(0, np.int64)

    ts = eq["ts"].to_numpy()
    x = ms(ts)
    e = eq["equity"].cast(pl.Float64).to_numpy()
    p = eq["price"].cast(pl.Float64).to_numpy()
    peak = np.maximum.accumulate(e)
    dd = np.where(peak > 0, e / np.where(peak > 0, peak, 1.0) - 1.0, 0.0)
    equity_series: list[dict[str, Any]] = [
        {"name": "strategy", "x": x, "y": finite(e, 2), "color": "#2471a3"}
    ]
    if p.size and p[0] > 0:
        bh = e[0] * p / p[0]
        equity_series.append(
            {"name": "buy and hold", "x": x, "y": finite(bh, 2), "color": "#999", "width": 1}
        )
    markers = []
    if trades is not None and trades.height:
        for side, shape, color, name in (
            ("BUY", "up", "#1e8449", "long entry"),
            ("SELL", "down", "#c0392b", "short entry"),
        ):
            sub = trades.filter(pl.col("side") == side)
            if sub.height:
                markers.append(
                    {
                        "name": name,
                        "x": ms(sub["entry_ts"].to_list()),
                        "y": finite(sub["entry_price"].to_list()),
                        "shape": shape,
                        "color": color,
                    }
                )
        markers.append(
            {
                "name": "exit",
                "x": ms(trades["exit_ts"].to_list()),
                "y": finite(trades["exit_price"].to_list()),
                "shape": "x",
                "color": "#2471a3",
            }
        )
    pos = eq["position"].to_numpy() if "position" in eq.columns else np.zeros(len(x))
    w = trading_window(eq, fills, denials)
    daily = period_returns(eq, "1d")
    monthly = period_returns(eq, "1mo")
    model = tele.get("model") or {}
    gated = {k: v for k, v in (model.get("gated_by_reason") or {}).items() if v}
    title = f"Backtest {run.resolve().name}"
    body = [
        f"<h1>{esc(title)}</h1>",
        _header(run, info, cfg, m),
        "<h2>What limited trading</h2>",
        _limits_summary(w, m, tele),
        "<h3>Risk denials over time, by reason</h3>",
        _denial_chart(denials, int(ts[0]), int(ts[-1])),
        "<h3>Holds over time, by reason (signals the decision step did not trade)</h3>",
        _holds_chart(holds, int(ts[0]), int(ts[-1]), dict(tele.get("holds_by_reason") or {})),
        "<h3>Model signals gated by reason (stale, non-finite, out of bounds)</h3>",
        _reason_bars("gated", gated),
        "<h2>Metrics</h2>",
        _metrics_table(m),
        "<h2>Equity</h2>",
        chart("equity", "time", {"series": equity_series, "yfmt": "money"}),
        "<h2>Drawdown</h2>",
        chart(
            "drawdown",
            "time",
            {
                "series": [
                    {"name": "drawdown", "x": x, "y": finite(dd), "color": "#c0392b", "fill": True}
                ],
                "yfmt": "pct",
                "zero": True,
            },
        ),
        "<h2>Position (contracts)</h2>",
        chart(
            "position",
            "time",
            {
                "series": [
                    {
                        "name": "net position",
                        "x": x,
                        "y": [int(v) for v in pos],
                        "color": "#117a65",
                        "step": True,
                        "fill": True,
                    }
                ],
                "yfmt": "int",
                "zero": True,
                "height": 160,
            },
        ),
        "<h2>Trades on price</h2>",
        chart(
            "trades",
            "time",
            {
                "series": [{"name": "price", "x": x, "y": finite(p), "color": "#333", "width": 1}],
                "markers": markers,
                "yfmt": "money",
            },
        ),
        "<h2>Daily returns</h2>",
        _period_table(daily, "%Y-%m-%d"),
        "<h2>Monthly returns</h2>",
        _period_table(monthly, "%Y-%m"),
        f"<h2>Trades ({fmt_num(0 if trades is None else trades.height)})</h2>",
        _trades_table(trades),
        "<h2>Event-to-intent latency</h2>",
        _latency_chart(lat),
        "<h2>Config</h2>",
        f"<pre>{esc(json.dumps(cfg, indent=2, sort_keys=True))}</pre>",
    ]
    return page(title, "".join(body))


def write_report(
    run_dir: str | Path,
    n_trials: int = 1,
    periods_per_year: float | None = None,
    n_trials_source: str = "given",
) -> Path:
    """Writes ``report.html`` and ``metrics.json`` into ``run_dir``; returns the report path.
    ``n_trials_source`` says where the trial count came from (shown beside the DSR)."""
    run = Path(run_dir)
    m = compute_metrics(run, n_trials, periods_per_year)
    m["n_trials_source"] = n_trials_source
    (run / "metrics.json").write_text(json.dumps(m, indent=2, allow_nan=False) + "\n")
    out = run / "report.html"
    out.write_text(render(run, m))
    return out
