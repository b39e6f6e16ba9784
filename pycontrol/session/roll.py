"""Contract rolls in a broker session: a position held in an old month moves to the front
month the venue resolved by the roll rule (``[[instruments]] roll_days``).

A roll is two gated orders through the engine, journaled step by step so a crash at any
point resumes it instead of repeating it:

1. ``roll_start`` {root, from, to, qty}: the old month's bracket is cancelled and a
   reduce-only market exit sent (``RustLive.roll_exit``). When the gate refuses the exit (a
   HALTED session) nothing is sent, the position keeps its protection, and ``roll_blocked``
   is journaled; the roll is tried again at the next start or ``resume``.
2. Once the old month is flat and the new month has a quote, ``roll_entry``: the same
   quantity and side at market in the new month, with the old bracket's distances from its
   average price carried over to the new month's mid, through every gate like any entry
   (a tightened limit or REDUCING refuses it: the session is then flat, never
   over-exposed). ``roll_done`` closes it, with the entry's intent id or the denial.

Rolls are planned when the session (re)starts, after the venue has reconciled; a session
runs a trading day, so a new day's start is where the calendar moves it to the next month.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pycontrol.session.engine import EngineOutput
from pycontrol.session.journal import Journal
from pycontrol.session.operator_state import symbol_root


@dataclass
class Roll:
    root: str
    old: str
    new: str
    qty: int  # signed position being rolled
    # the old bracket's (stop, take-profit) distances from the average price, if it had one
    distances: tuple[float, float] | None = None
    # exit (sent at the instrument's first quote) -> exiting (until the old month is flat)
    # -> entry (sent at the new month's next quote) -> done; "blocked" waits for a resume
    stage: str = "exit"


def _bracket_distances(journal: Journal, symbol: str, avg: float) -> tuple[float, float] | None:
    """The working stop and take-profit of ``symbol``'s position, as distances from ``avg``."""
    stop = tp = None
    for o in journal.orders(working_only=True):
        if o.symbol != symbol or o.parent_client_order_id is None:
            continue
        if o.order_type in ("STP", "STOP") and o.stop_price is not None:
            stop = abs(avg - o.stop_price)
        elif o.order_type in ("LMT", "LIMIT") and o.price is not None:
            tp = abs(o.price - avg)
    return (stop, tp) if stop and tp else None


def plan(journal: Journal, fronts: dict[str, str]) -> list[Roll]:
    """The rolls a session owes: positions held in a month other than their root's front,
    resumed where the journal says an earlier roll stopped (its start is not repeated)."""
    open_rolls: dict[str, dict[str, Any]] = {}
    entered: set[str] = set()
    for e in journal.events():
        kind, body = e["kind"], e["payload"]
        if kind == "roll_start":
            open_rolls[str(body["root"])] = body
            entered.discard(str(body["root"]))
        elif kind == "roll_entry":
            entered.add(str(body["root"]))
        elif kind == "roll_done":
            open_rolls.pop(str(body["root"]), None)
    held = journal.positions()
    out = []
    for root, new in sorted(fronts.items()):
        body = open_rolls.get(root)
        if body is not None and body["to"] == new:
            old_qty = held.get(str(body["from"]), (0, 0.0))[0]
            d = body.get("distances")
            roll = Roll(root, str(body["from"]), new, int(body["qty"]),
                        (float(d[0]), float(d[1])) if d else None,
                        "exit" if old_qty else "entry")  # fmt: skip
            if roll.stage == "entry" and root in entered:
                # the entry was journaled before it was sent: never sent twice (a crash
                # before the send leaves the session flat, the safe side)
                roll.stage = "done"
            out.append(roll)
            continue
        for sym, (qty, avg) in sorted(held.items()):
            if qty and sym != new and symbol_root(sym) == root:
                out.append(Roll(root, sym, new, qty, _bracket_distances(journal, sym, avg)))
    return out


class Roller:
    """Carries a session's rolls through their stages (see the module docstring)."""

    def __init__(
        self,
        journal: Journal,
        engine: Any,
        handle: Callable[[EngineOutput], None],
        publish: Callable[[str, dict[str, Any]], None],
    ) -> None:
        self.journal = journal
        self.engine = engine  # RustLive
        self.handle = handle
        self.publish = publish
        self.rolls: list[Roll] = []

    def start(self, fronts: dict[str, str]) -> None:
        fresh = {r.root for r in self.rolls}
        for r in plan(self.journal, fronts):
            if r.root in fresh:
                continue
            self.rolls.append(r)
            if r.stage == "done":
                body = {"root": r.root, "from": r.old, "to": r.new, "qty": r.qty,
                        "note": "entry journaled before a restart"}  # fmt: skip
                self.journal.append("roll_done", body)
            elif r.stage == "exit":
                body = {"root": r.root, "from": r.old, "to": r.new, "qty": r.qty,
                        "distances": list(r.distances) if r.distances else None}  # fmt: skip
                self.journal.append("roll_start", body)
                self.publish("state", {"event": "roll_start", **body})
        self.step()

    def retry(self) -> None:
        """After a resume: blocked rolls try their exit again."""
        for r in self.rolls:
            if r.stage == "blocked":
                r.stage = "exit"
        self.step()

    def _exit(self, r: Roll) -> None:
        out = self.engine.roll_exit(r.root)
        exits = [i for i in out.intents if i.action == "NEW"]
        self.handle(out)
        r.stage = "exiting"
        if not exits:
            reason = out.denials[0].reason if out.denials else "NOTHING_TO_EXIT"
            r.stage = "blocked"
            self.journal.append("roll_blocked", {"root": r.root, "reason": reason})
            self.publish("state", {"event": "roll_blocked", "root": r.root, "reason": reason})

    def step(self) -> None:
        """Moves every roll on (called on fills and quotes; cheap when there is nothing to
        roll). The gate needs a market for each order: the exit waits for the instrument's
        first quote, the entry for the new month's."""
        if not self.rolls:
            return
        held = self.journal.positions()
        for r in self.rolls:
            if r.stage == "exit" and r.new in self.engine.mids:
                self._exit(r)
            if r.stage == "exiting" and not held.get(r.old, (0, 0.0))[0]:
                r.stage = "entry"
            if r.stage == "entry":
                self._enter(r)
        self.rolls = [r for r in self.rolls if r.stage != "done"]

    def _enter(self, r: Roll) -> None:
        mid = self.engine.mids.get(r.new)
        if mid is None:
            return  # no quote of the new month yet: the next one moves it
        side = "BUY" if r.qty > 0 else "SELL"
        self.journal.append("roll_entry", {"root": r.root, "to": r.new, "qty": r.qty})
        bracket = None
        if r.distances is not None:
            sl, tp = r.distances
            bracket = (mid - sl, mid + tp) if r.qty > 0 else (mid + sl, mid - tp)
        out = self.engine.roll_entry(r.root, r.new, side, abs(r.qty), bracket)
        self.handle(out)
        body: dict[str, Any] = {"root": r.root, "from": r.old, "to": r.new, "qty": r.qty}
        if out.intents:
            body["intent_id"] = out.intents[0].intent_id
        else:
            d = out.denials[0] if out.denials else None
            body["denied"] = f"{d.reason}: {d.detail}" if d else "no intent"
        r.stage = "done"
        self.journal.append("roll_done", body)
        self.publish("state", {"event": "roll_done", **body})
