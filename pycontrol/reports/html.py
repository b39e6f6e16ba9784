"""Building blocks of the offline HTML reports (backtest, training, run comparison): one file
per report with the chart code (``charts.js``, vanilla JS drawing SVG) and the data inlined, so
a report opens anywhere without a network; one set of number formats for every figure.

Why hand-written charts and not plotly: plotly.min.js adds ~3.6 MB to every report and a
pinned dependency; these reports need time series with zoom and hover, markers and bars, which
~250 lines of JS cover.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

CSS = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:1.5em auto;color:#222;
  padding:0 1em}
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.15em;margin-top:1.6em;
  border-bottom:1px solid #ccc}
table{border-collapse:collapse;font-size:.9em;margin:.4em 0}
td,th{padding:2px 10px;border-bottom:1px solid #e4e4e4;text-align:right;white-space:nowrap}
th{text-align:left;font-weight:600}td.l{text-align:left}
.hdr td{text-align:left;white-space:normal}.muted{color:#777}.warn{color:#a04000}
.note{background:#fff6e0;border-left:4px solid #e6a700;padding:.5em .8em;margin:.6em 0}
.chart-host{position:relative;margin:.3em 0}.chart text{font-size:11px;fill:#444}
.chart .grid{stroke:#eee}.chart .cross{stroke:#888;stroke-dasharray:3,3}
.chart .sel{fill:#3498db;opacity:.15}
.tip{position:absolute;top:10px;visibility:hidden;background:#fff;border:1px solid #aaa;
  padding:3px 6px;font-size:11px;white-space:pre;pointer-events:none}
.diff{background:#fff0c0}.scroll{max-height:360px;overflow:auto}
.hint{font-size:.8em;color:#777}
"""


@cache
def charts_js() -> str:
    return (Path(__file__).with_name("charts.js")).read_text()


def esc(v: Any) -> str:
    return html.escape(str(v))


def fmt_num(v: Any, digits: int = 2) -> str:
    """Every plain number of a report: thousands separators, ``digits`` decimals, n/a."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    return f"{float(v):,.{digits}f}"


def fmt_pct(v: Any, digits: int = 2, sign: bool = False) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    return f"{100 * float(v):{'+' if sign else ''},.{digits}f} %"


def fmt_us(ns: Any) -> str:
    """A latency given in ns, shown in microseconds (one unit for every latency figure)."""
    if ns is None:
        return "n/a"
    return f"{float(ns) / 1e3:,.2f} us"


def fmt_ts(ns: int | None) -> str:
    if ns is None:
        return "n/a"
    return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def fmt_span(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 3 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def table(header: Sequence[str], rows: Iterable[Sequence[Any]], cls: str = "") -> str:
    """Cells are pre-formatted strings (escaped here); the first column is left-aligned."""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="l">{esc(c)}</td>' if i == 0 else f"<td>{esc(c)}</td>"
            for i, c in enumerate(r)
        )
        + "</tr>"
        for r in rows
    )
    return f'<table class="{cls}"><tr>{head}</tr>{body}</table>'


def kv_table(rows: Iterable[tuple[str, str]]) -> str:
    """Header block: label, value (values may be long: wrapped)."""
    body = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows)
    return f'<table class="hdr">{body}</table>'


def ms(ts_ns: Sequence[int] | Any) -> list[int]:
    """ns timestamps as JS milliseconds."""
    return [int(t) // 1_000_000 for t in ts_ns]


def finite(values: Iterable[Any], digits: int = 6) -> list[float | None]:
    """Floats for JSON (NaN/inf as null), rounded to keep the file small."""
    out: list[float | None] = []
    for v in values:
        f = float(v)
        out.append(round(f, digits) if math.isfinite(f) else None)
    return out


def chart(chart_id: str, kind: str, spec: dict[str, Any]) -> str:
    """A chart placeholder plus its data; ``kind`` is ``time`` or ``bars``."""
    payload = json.dumps({"id": chart_id, "kind": kind, "spec": spec}, allow_nan=False)
    payload = payload.replace("</", "<\\/")
    return (
        f'<div class="chart-host" id="{esc(chart_id)}" data-kind="{kind}"></div>'
        f'<script type="application/json" class="chart-data">{payload}</script>'
    )


_BOOT = """
document.querySelectorAll("script.chart-data").forEach(function (s) {
  var c = JSON.parse(s.textContent), host = document.getElementById(c.id), sp = c.spec;
  var fmts = {pct: function (v) { return (100 * v).toFixed(2) + " %"; },
    money: function (v) { return v.toLocaleString("en-US", {maximumFractionDigits: 2}); },
    int: function (v) { return Math.round(v).toLocaleString("en-US"); },
    us: function (v) { return v.toFixed(2) + " us"; }};
  if (sp.yfmt) sp.yfmt = fmts[sp.yfmt];
  if (sp.fmt) sp.fmt = fmts[sp.fmt];
  if (c.kind === "time") new PcCharts.TimeChart(host, sp); else PcCharts.bars(host, sp);
});
"""


def page(title: str, body: str) -> str:
    """The whole document: styles, the body, the chart code and its start-up."""
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>{body}"
        '<p class="hint">Charts: drag to zoom, double-click to reset, hover for values. '
        "Times in UTC.</p>"
        f"<script>{charts_js()}</script><script>{_BOOT}</script></body></html>\n"
    )
