"""What every broker venue does the same way when it reconciles with its broker (on every
connect and reconnect): the rules, once, so IB and Tradovate cannot drift apart.

- A journaled working order the broker no longer has is either *never sent* (journaled, then
  a crash before the send: marked ``not_sent`` and never resent) or *gone at the venue*
  (filled before, as the backfill shows, or cancelled there): marked ``cancelled``. Either
  way the engine hears of it, so it does not count as working any more.
- Positions: the broker's win. Each disagreement with the journal is journaled with the
  reason and the broker's quantity and average price replace the journal's; no fill is ever
  invented to make them agree.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pycontrol.session.journal import Journal, OrderRow
from pycontrol.session.orders import ExecutionReport

ReportSink = Callable[[ExecutionReport, str], None]


def close_missing(journal: Journal, row: OrderRow, never_sent: bool, on_report: ReportSink) -> None:
    """A working order of the journal the broker does not list: ``not_sent`` when it never
    reached the broker (``never_sent``), else ``cancelled``; reported to the engine."""
    if never_sent:
        journal.update_order(
            row.client_order_id,
            "not_sent",
            status="not_sent",
            payload={"note": "journaled but not working at the venue"},
        )
    else:
        journal.update_order(
            row.client_order_id,
            "cancelled",
            status="cancelled",
            payload={"via": "reconcile", "note": "not working at the venue"},
        )
    on_report(
        ExecutionReport(
            "cancelled",
            row.client_order_id,
            row.symbol,
            row.side,
            row.qty - row.filled,
            reason="reconcile",
        ),
        "reconcile",
    )


def settle_positions(
    journal: Journal, broker: Mapping[str, tuple[int, float]], why: str
) -> list[dict[str, Any]]:
    """The broker's positions (symbol -> (qty, average price)) replace the journal's where
    they differ; returns the differences (symbol, journal, broker)."""
    mine = journal.positions()
    mismatches = []
    for sym in sorted(set(broker) | {s for s, (q, _) in mine.items() if q}):
        bq, bavg = broker.get(sym, (0, 0.0))
        jq, _ = mine.get(sym, (0, 0.0))
        if bq != jq:
            mismatches.append({"symbol": sym, "journal": jq, "broker": bq})
            journal.set_position(sym, bq, bavg, reason=f"reconcile ({why}): broker")
    return mismatches
