"""Human-readable rendering of a session's ``status`` reply for ``pycontrol ctl status`` (the
raw reply stays available with ``--json``). The layout follows the reply's own shape, so a
field the session adds shows up without a change here: the headline (session, mode, engine
state, model), then each section's scalars as aligned key/value lines and each list of records
(positions, working orders) as a table."""

from __future__ import annotations

import json
from typing import Any

# Headline fields, looked up at the top level and in the engine section.
_HEADLINE = ("name", "mode", "state", "model_source", "model", "halt_reason")


def fmt_value(v: Any) -> str:
    """One cell: thousands separators, 2 decimals for money-like floats, '-' for nothing."""
    if v is None or v == "" or v == {} or v == []:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if v != v:  # NaN
            return "NaN"
        return f"{v:,.2f}" if abs(v) >= 0.01 or v == 0 else f"{v:.3g}"
    if isinstance(v, list) and all(not isinstance(x, dict | list) for x in v):
        return ", ".join(fmt_value(x) for x in v)
    if isinstance(v, dict) and all(not isinstance(x, dict | list) for x in v.values()):
        return ", ".join(f"{k} {fmt_value(x)}" for k, x in v.items())
    if isinstance(v, dict | list):
        return json.dumps(v, separators=(",", ":"))
    return str(v)


def _table(rows: list[dict[str, Any]], indent: str) -> list[str]:
    cols: list[str] = []
    for r in rows:
        cols += [k for k in r if k not in cols]
    cells = [[fmt_value(r.get(c)) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    out = [indent + "  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)).rstrip()]
    for row in cells:
        cells_txt = (
            cell.rjust(w) if _numeric(cell) else cell.ljust(w)
            for cell, w in zip(row, widths, strict=True)
        )
        out.append(indent + "  ".join(cells_txt).rstrip())
    return out


def _numeric(cell: str) -> bool:
    return cell.replace(",", "").replace(".", "", 1).lstrip("-").isdigit()


def _is_records(v: Any) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(x, dict) for x in v)


def _section(title: str, d: dict[str, Any], indent: str = "  ") -> list[str]:
    lines = [title]
    scalars = {k: v for k, v in d.items() if not _is_records(v) and not _nested(v)}
    if scalars:
        w = max(len(k) for k in scalars)
        lines += [f"{indent}{k.ljust(w)}  {fmt_value(v)}" for k, v in scalars.items()]
    for k, v in d.items():
        if _is_records(v):
            lines.append(f"{indent}{k} ({len(v)})")
            lines += _table(v, indent + "  ")
        elif _nested(v):
            lines += _section(f"{indent}{k}", v, indent + "  ")
    return lines


def _nested(v: Any) -> bool:
    """A dict with a dict or a list of records inside (shown as a sub-section)."""
    return isinstance(v, dict) and any(isinstance(x, dict) or _is_records(x) for x in v.values())


def _position_realized(engine: dict[str, Any]) -> float | None:
    pos = engine.get("positions")
    if not isinstance(pos, list) or not _is_records(pos):
        return None
    if not all("realized" in p for p in pos):
        return None
    total = 0.0
    for p in pos:
        total += float(p["realized"])
    return total


def format_status(result: dict[str, Any]) -> str:
    """The ``result`` of a status reply as text (see the module docstring)."""
    engine = result.get("engine") if isinstance(result.get("engine"), dict) else {}
    assert isinstance(engine, dict)
    head: list[str] = []
    for k in _HEADLINE:
        v = result.get(k, engine.get(k))
        if v not in (None, ""):
            head.append(f"{k.replace('_source', '')} {fmt_value(v)}")
    lines = ["session " + "  ".join(head)]
    top = {k: v for k, v in result.items() if not isinstance(v, dict) and not _is_records(v)}
    top = {k: v for k, v in top.items() if k not in _HEADLINE}
    if top:
        w = max(len(k) for k in top)
        lines += [f"  {k.ljust(w)}  {fmt_value(v)}" for k, v in top.items()]
    for k, v in result.items():
        if isinstance(v, dict):
            if not v and k == "realized_pnl" and _position_realized(engine) is not None:
                # the Rust engine books realized P&L on its positions, not in this map
                total = fmt_value(_position_realized(engine))
                lines.append(f"{k}: {total} (sum of the engine positions' realized)")
                continue
            if not v:
                lines.append(f"{k}: none")
                continue
            lines += _section(k, v)
        elif _is_records(v):
            lines.append(f"{k} ({len(v)})")
            lines += _table(v, "  ")
    return "\n".join(lines)
