"""What the operator and the breakers decided, read back from the journal after a restart.

A session that dies (``kill -9``, power) must come back as cautious as it left: a HALT stays
a halt, limits an operator tightened stay tight, and the daily-loss breaker keeps counting the
day's realized P&L and fees from where it was. The journal already holds every command and
every engine state change (journaled before they are acknowledged or acted on); this module
folds those events into the state a fresh engine is put in before it may send anything.

The trading day is the CME Globex day: it starts at 17:00 America/Chicago (DST included), so
an evening restart does not forget the afternoon's losses and a restart after 17:00 starts a
new day.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pycontrol import _core
from pycontrol._core import average_cost
from pycontrol.session.journal import Journal

STATES = ("ACTIVE", "REDUCING", "HALTED")

# Journal event kinds that set the trading state, and the state each sets. ``state`` events
# carry the state themselves (an engine's own move: a breaker trip).
_STATE_OF = {"halt": "HALTED", "resume": "ACTIVE", "reducing": "REDUCING", "flatten": "REDUCING"}


def trading_day_start(ts_ns: int) -> int:
    """UTC ns of the start (17:00 Chicago) of the CME trading day that ``ts_ns`` falls in:
    the core's rule (``tradecore::features::session``), the one bars and features use."""
    return _core.trading_day_start(ts_ns)


@dataclass
class OperatorState:
    """The restorable state: trading state (and why), operator-set limits, and the current
    trading day's realized P&L (before fees) and fees, account currency."""

    state: str = "ACTIVE"
    reason: str = ""
    limits: dict[str, float] = field(default_factory=dict)
    realized_pnl: float = 0.0
    fees: float = 0.0
    day_start_ns: int = 0
    fills_today: int = 0
    # Where the fold stopped, so the next read (after a reconciliation) continues from there
    # instead of refolding the whole day.
    seq: int = 0
    positions: dict[str, tuple[int, float]] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)
    fill_day: dict[str, bool] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "reason": self.reason,
            "limits": dict(self.limits),
            "realized_pnl": self.realized_pnl,
            "fees": self.fees,
            "day_start_ns": self.day_start_ns,
            "fills_today": self.fills_today,
            "journal_seq": self.seq,
        }


def read(
    journal: Journal,
    multipliers: Mapping[str, float],
    now_ns: int,
    prev: OperatorState | None = None,
) -> OperatorState:
    """Folds the journal into the state to restore. ``multipliers``: point value per symbol
    root (a symbol's root is its letters before the month code, e.g. ES of ESZ6), for the
    realized P&L of the day's fills, replayed in journal order through average cost from the
    position each symbol had (reconciliations that overwrote a position included). With
    ``prev`` (an earlier read of the same journal, the same trading day) only the events
    after it are folded."""
    day = trading_day_start(now_ns)
    if prev is not None and prev.day_start_ns == day:
        out = copy.deepcopy(prev)
    else:
        out = OperatorState(day_start_ns=day)
    positions, seen_exec, fill_day = out.positions, out.seen, out.fill_day
    for ev in journal.events(since_seq=out.seq):
        out.seq = int(ev["seq"])
        kind, body, ts = ev["kind"], ev["payload"], int(ev["ts_ns"])
        if kind in _STATE_OF:
            out.state = _STATE_OF[kind]
            out.reason = str(body.get("reason", kind)) if kind == "halt" else kind
        elif kind == "state" and body.get("state") in STATES:
            out.state = str(body["state"])
            out.reason = str(body.get("reason", "engine"))
        elif kind == "risk_limits":
            lim = body.get("limits", body)
            out.limits.update({str(k): float(v) for k, v in lim.items() if _number(v)})
        elif kind == "position" and body.get("reason") != "fill":
            positions[str(body["symbol"])] = (int(body["qty"]), float(body["avg_price"]))
        elif kind == "fill":
            exec_id = str(body.get("exec_id", ""))
            if exec_id in seen_exec:
                continue
            seen_exec.add(exec_id)
            sym = str(body["symbol"])
            qty, avg = positions.get(sym, (0, 0.0))
            delta = int(body["qty"]) * (1 if body["side"] == "BUY" else -1)
            px = float(body["price"])
            today = ts >= out.day_start_ns
            fill_day[exec_id] = today
            if today:
                out.fills_today += 1
                out.fees += float(body.get("commission", 0.0) or 0.0)
            mult = multipliers.get(symbol_root(sym), 1.0)
            new, new_avg, realized = average_cost(qty, avg, delta, px, mult)
            if today:
                out.realized_pnl += realized
            positions[sym] = (new, new_avg)
        elif kind == "commission":
            # IB's commission report, after its fill (and repeated after a reconnect): once,
            # and only for a fill of today without a commission of its own.
            exec_id = str(body.get("exec_id", ""))
            key = f"commission:{exec_id}"
            if fill_day.get(exec_id) and key not in seen_exec and _number(body.get("commission")):
                seen_exec.add(key)
                out.fees += float(body["commission"])
    return out


def _number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and v == v


def symbol_root(symbol: str) -> str:
    """ES of ESZ6 / ESZ26 / ES: the letters before a month code and year digits."""
    s = symbol.rstrip("0123456789")
    if s != symbol and len(s) >= 2 and s[-1] in "FGHJKMNQUVXZ":
        return s[:-1]
    return symbol
