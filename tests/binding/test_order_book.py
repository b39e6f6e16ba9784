"""The step-by-step OrderBook binding: L3 semantics seen from Python."""

from __future__ import annotations

import pytest

import pycontrol


def test_priority_and_queue_position() -> None:
    book = pycontrol.OrderBook()
    for oid in (1, 2, 3):
        book.apply("A", "B", 4799.25, 5, oid)
    assert book.queue_position(3) == (2, 10, 5)
    book.apply("M", "B", 4799.25, 2, 1)  # size down: keeps its place
    assert book.queue_position(1) == (0, 0, 2)
    book.apply("M", "B", 4799.25, 9, 1)  # size up: to the back
    assert book.queue_position(1) == (2, 10, 9)
    assert book.levels("bid", 5) == [(4799.25, 19, 3)]
    book.check()


def test_bbo_microprice_and_crossing() -> None:
    book = pycontrol.OrderBook()
    book.apply("A", "B", 100.0, 1, 1)
    book.apply("A", "A", 101.0, 3, 2)
    (bid, ask) = book.bbo()
    assert bid == (100.0, 1, 1) and ask == (101.0, 3, 1)
    assert book.microprice() == pytest.approx(100.25)
    book.apply("A", "B", 101.0, 1, 3)
    assert book.integrity()["crossed"] is True
    assert book.anomalies()["crossed_events"] == 1


def test_unknown_cancel_is_counted_not_raised() -> None:
    book = pycontrol.OrderBook()
    book.apply("C", "A", 10.0, 1, 42)
    assert book.anomalies()["unknown_cancel"] == 1
    assert len(book) == 0


@pytest.mark.parametrize(
    ("kwargs", "msg"),
    [
        ({"action": "AA"}, "action"),
        ({"side": ""}, "side"),
        ({"price": float("nan")}, "finite"),
    ],
)
def test_bad_arguments_raise_invalid_input(kwargs: dict[str, object], msg: str) -> None:
    args: dict[str, object] = {"action": "A", "side": "B", "price": 1.0, "size": 1, "order_id": 1}
    args.update(kwargs)
    with pytest.raises(pycontrol.InvalidInputError, match=msg):
        pycontrol.OrderBook().apply(**args)  # type: ignore[arg-type]


def test_book_replay_side_names_are_checked(esh4_mbo: object) -> None:
    replay = pycontrol.BookReplay(esh4_mbo)  # type: ignore[arg-type]
    replay.step()
    with pytest.raises(pycontrol.InvalidInputError, match="side"):
        replay.levels("buy")
    with pytest.raises(pycontrol.InvalidInputError, match="no book for instrument"):
        replay.bbo(instrument_id=1)
