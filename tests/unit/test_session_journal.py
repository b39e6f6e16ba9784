"""The journal: WAL + synchronous=FULL, state and events in one transaction, fills once."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pycontrol.session.journal import Journal, JournalError, apply_fill


def _order(j: Journal, cid: int, qty: int = 2, side: str = "BUY", venue: int | None = None) -> bool:
    return j.record_order(
        cid, intent_id=cid // 4, leg=cid % 4, symbol="ESZ6", side=side, qty=qty,
        order_type="LMT", price=5000.0, stop_price=None, parent_client_order_id=None,
        venue_order_id=venue,
    )  # fmt: skip


def test_pragmas(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.sqlite")
    assert j._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert j._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_order_recorded_once_and_survives_reopen(tmp_path: Path) -> None:
    p = tmp_path / "j.sqlite"
    j = Journal(p)
    assert j.record_intent(5, {"x": 1})
    assert not j.record_intent(5, {"x": 1})
    assert _order(j, 20, venue=101)
    assert not _order(j, 20, venue=102)  # same client order id: refused, never resent
    j.close()
    j2 = Journal(p)
    assert j2.max_intent_id() == 5
    assert [o.client_order_id for o in j2.orders(working_only=True)] == [20]
    assert j2.order_by_venue_id(101) is not None
    assert j2.max_venue_order_id() == 101


def test_fill_is_idempotent_and_moves_position(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.sqlite")
    _order(j, 8, qty=3)
    kw = dict(client_order_id=8, symbol="ESZ6", side="BUY", qty=2, price=5000.0, ts_ns=1)
    assert j.record_fill("e1", **kw)  # type: ignore[arg-type]
    assert not j.record_fill("e1", **kw)  # type: ignore[arg-type]
    assert j.positions() == {"ESZ6": (2, 5000.0)}
    assert j.order(8).status == "pending_submit"  # type: ignore[union-attr]
    assert j.record_fill("e2", **{**kw, "qty": 1, "price": 5001.0})  # type: ignore[arg-type]
    o = j.order(8)
    assert o is not None and o.status == "filled" and o.filled == 3
    assert j.positions()["ESZ6"][0] == 3
    assert j.count("fill") == 2


def test_set_position_is_journaled(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.sqlite")
    j.set_position("ESZ6", 3, 4990.0, "reconcile")
    ev = list(j.events("position"))
    assert ev[-1]["payload"]["reason"] == "reconcile" and ev[-1]["payload"]["old_qty"] == 0


def test_not_a_journal(tmp_path: Path) -> None:
    p = tmp_path / "x.sqlite"
    p.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(JournalError, match=r"x\.sqlite"):
        Journal(p)


def test_newer_schema_refused(tmp_path: Path) -> None:
    p = tmp_path / "j.sqlite"
    Journal(p).close()
    db = sqlite3.connect(p)
    db.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    db.commit()
    db.close()
    with pytest.raises(JournalError, match="newer"):
        Journal(p)


@pytest.mark.parametrize(
    ("qty", "avg", "delta", "price", "want"),
    [
        (0, 0.0, 2, 10.0, (2, 10.0)),
        (2, 10.0, 2, 20.0, (4, 15.0)),
        (4, 15.0, -1, 30.0, (3, 15.0)),
        (3, 15.0, -3, 30.0, (0, 0.0)),
        (1, 10.0, -3, 12.0, (-2, 12.0)),
    ],
)
def test_apply_fill(
    qty: int, avg: float, delta: int, price: float, want: tuple[int, float]
) -> None:
    assert apply_fill(qty, avg, delta, price) == want


@settings(max_examples=60)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 15),
            st.sampled_from(["BUY", "SELL"]),
            st.integers(1, 5),
            st.integers(4000, 4010),
        ),
        max_size=30,
    )
)
def test_position_is_the_sum_of_distinct_fills(tmp_path_factory: Any, fills: list[Any]) -> None:
    """Fills arrive live, again from a backfill, in any order: each execution id counts
    once and the position is the signed sum of the distinct ones."""
    j = Journal(tmp_path_factory.mktemp("j") / "j.sqlite")
    seen: dict[int, tuple[str, int]] = {}
    for eid, side, qty, px in fills:
        new = j.record_fill(f"e{eid}", client_order_id=None, symbol="ESZ6", side=side, qty=qty,
                            price=float(px), ts_ns=eid)  # fmt: skip
        assert new == (eid not in seen)
        seen.setdefault(eid, (side, qty))
    want = sum(q if s == "BUY" else -q for s, q in seen.values())
    assert j.positions().get("ESZ6", (0, 0.0))[0] == want
    assert j.count("fill") == len(seen)
    j.close()
