"""Operator state read back from the journal: the last trading-state decision (a command or
an engine breaker), the operator's limits, and the CME trading day's realized P&L and fees
(average cost through the day's fills, from the position each symbol carried in)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from pycontrol.session.journal import Journal
from pycontrol.session.operator_state import read, trading_day_start

CHI = ZoneInfo("America/Chicago")


def ns(y: int, mo: int, d: int, h: int, mi: int = 0) -> int:
    return int(dt.datetime(y, mo, d, h, mi, tzinfo=CHI).timestamp()) * 1_000_000_000


def test_the_trading_day_starts_at_17_chicago_with_dst() -> None:
    # winter (CST) and summer (CDT): 17:00 local either way
    assert trading_day_start(ns(2026, 1, 6, 16, 59)) == ns(2026, 1, 5, 17)
    assert trading_day_start(ns(2026, 1, 6, 17, 0)) == ns(2026, 1, 6, 17)
    assert trading_day_start(ns(2026, 7, 6, 9)) == ns(2026, 7, 5, 17)
    # the Sunday evening open belongs to Monday's session
    assert trading_day_start(ns(2026, 3, 9, 2)) == ns(2026, 3, 8, 17)


def _fill(j: Journal, eid: str, side: str, qty: int, px: float, fee: float = 0.0) -> None:
    j.record_fill(eid, client_order_id=None, symbol="ESZ6", side=side, qty=qty, price=px,
                  ts_ns=0, commission=fee)  # fmt: skip


def test_state_limits_and_the_days_pnl_survive(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.sqlite")
    try:
        _fill(j, "a", "BUY", 2, 5000.0, 4.0)
        j.append("risk_limits", {"limits": {"max_position": 2.0}})
        _fill(j, "b", "SELL", 1, 4990.0, 2.0)  # -10 points x 1 x 50 = -500
        j.append("commission", {"exec_id": "b", "commission": 1.5})  # IB's late report
        j.append("commission", {"exec_id": "b", "commission": 1.5})  # ...repeated
        j.append("halt", {"reason": "news"})
        j.append("risk_limits", {"limits": {"max_order_qty": 1.0}})
        now = 2**62  # far in the future: none of the fills is today
        st = read(j, {"ES": 50.0}, now)
        assert (st.state, st.reason) == ("HALTED", "news")
        assert st.limits == {"max_position": 2.0, "max_order_qty": 1.0}
        assert st.realized_pnl == 0.0 and st.fills_today == 0
        # the same journal read "today" (events carry the wall clock of their writing)
        import time

        st = read(j, {"ES": 50.0}, time.time_ns())
        assert st.fills_today == 2
        assert st.realized_pnl == pytest.approx(-500.0)
        assert st.fees == pytest.approx(4.0 + 2.0 + 1.5)
        j.append("resume", {})
        j.append("state", {"state": "HALTED", "reason": "breaker"})  # the engine's own move
        assert read(j, {"ES": 50.0}, time.time_ns()).reason == "breaker"
        j.append("flatten", {})
        assert read(j, {"ES": 50.0}, time.time_ns()).state == "REDUCING"
    finally:
        j.close()


def test_a_reconciled_position_is_the_base_of_the_next_close(tmp_path: Path) -> None:
    import time

    j = Journal(tmp_path / "j.sqlite")
    try:
        j.set_position("ESZ6", 3, 4000.0, "reconcile")  # the broker's truth, no fill behind it
        _fill(j, "x", "SELL", 3, 4001.0)
        st = read(j, {"ES": 50.0}, time.time_ns())
        assert st.realized_pnl == pytest.approx(3 * 1.0 * 50)
    finally:
        j.close()


def test_a_second_read_continues_where_the_first_stopped(tmp_path: Path) -> None:
    """After a reconciliation the session reads again from the first read on: the same
    result as folding the whole journal, without refolding it."""
    import time

    j = Journal(tmp_path / "j.sqlite")
    try:
        _fill(j, "a", "BUY", 2, 5000.0, 4.0)
        j.append("halt", {"reason": "news"})
        first = read(j, {"ES": 50.0}, time.time_ns())
        _fill(j, "b", "SELL", 2, 5002.0, 4.0)  # backfilled by the reconciliation
        j.append("risk_limits", {"limits": {"max_position": 1.0}})
        again = read(j, {"ES": 50.0}, time.time_ns(), prev=first)
        whole = read(j, {"ES": 50.0}, time.time_ns())
        assert again.to_dict() == whole.to_dict()
        assert again.realized_pnl == pytest.approx(2 * 2.0 * 50) and again.state == "HALTED"
        assert first.realized_pnl == 0.0, "the first read is left as it was"
    finally:
        j.close()
