"""Roll planning from the journal (pycontrol.session.roll.plan): what a (re)started session
owes, and where a roll interrupted by a crash resumes, never sending its entry twice."""

from __future__ import annotations

from pathlib import Path

from pycontrol.session.journal import Journal
from pycontrol.session.roll import plan

FRONTS = {"ES": "ESH7", "NQ": "NQH7"}


def _journal(tmp_path: Path) -> Journal:
    j = Journal(tmp_path / "j.sqlite")
    j.set_position("ESZ6", 2, 5000.0, reason="fill")
    j.set_position("NQH7", -1, 18000.0, reason="fill")  # already in the front month
    for cid, kind, px, stp in ((5, "STP", None, 4990.0), (6, "LMT", 5020.0, None)):
        j.record_order(cid, intent_id=1, leg=1, symbol="ESZ6", side="SELL", qty=2,
                       order_type=kind, price=px, stop_price=stp, parent_client_order_id=4,
                       venue_order_id=None, status="submitted")  # fmt: skip
    return j


def test_a_position_in_an_old_month_owes_a_roll_with_its_bracket(tmp_path: Path) -> None:
    j = _journal(tmp_path)
    rolls = plan(j, FRONTS)
    assert [(r.root, r.old, r.new, r.qty, r.stage) for r in rolls] == [
        ("ES", "ESZ6", "ESH7", 2, "exit")
    ]
    assert rolls[0].distances == (10.0, 20.0)


def test_a_crash_after_the_exit_resumes_at_the_entry(tmp_path: Path) -> None:
    j = _journal(tmp_path)
    j.append("roll_start", {"root": "ES", "from": "ESZ6", "to": "ESH7", "qty": 2,
                            "distances": [10.0, 20.0]})  # fmt: skip
    assert [r.stage for r in plan(j, FRONTS)] == ["exit"]  # the old month still held
    j.set_position("ESZ6", 0, 0.0, reason="fill")
    (r,) = plan(j, FRONTS)
    assert (r.stage, r.qty, r.distances) == ("entry", 2, (10.0, 20.0))


def test_a_journaled_entry_is_never_sent_again(tmp_path: Path) -> None:
    j = _journal(tmp_path)
    j.append("roll_start", {"root": "ES", "from": "ESZ6", "to": "ESH7", "qty": 2,
                            "distances": None})  # fmt: skip
    j.set_position("ESZ6", 0, 0.0, reason="fill")
    j.append("roll_entry", {"root": "ES", "to": "ESH7", "qty": 2})
    assert [r.stage for r in plan(j, FRONTS)] == ["done"]
    j.append("roll_done", {"root": "ES", "from": "ESZ6", "to": "ESH7", "qty": 2})
    assert plan(j, FRONTS) == []


def test_nothing_to_roll_in_the_front_month(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.sqlite")
    j.set_position("ESH7", 1, 5000.0, reason="fill")
    assert plan(j, FRONTS) == []
