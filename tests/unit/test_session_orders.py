"""Client order ids mirror core-rs/core/src/orders.rs exactly."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pycontrol.session.orders import Leg, client_order_id, intent_of


def test_values_match_the_rust_definition() -> None:
    # orders.rs: intent_id * 4 + leg, Entry=0, StopLoss=1, TakeProfit=2
    assert client_order_id(0, Leg.ENTRY) == 0
    assert client_order_id(77, Leg.ENTRY) == 308
    assert client_order_id(77, Leg.STOP_LOSS) == 309
    assert client_order_id(77, Leg.TAKE_PROFIT) == 310
    assert intent_of(311) == (77, None)


@given(st.integers(min_value=0, max_value=2**60), st.sampled_from(list(Leg)))
def test_round_trip(intent_id: int, leg: Leg) -> None:
    assert intent_of(client_order_id(intent_id, leg)) == (intent_id, leg)


@given(st.lists(st.integers(min_value=0, max_value=10**9), unique=True, max_size=50))
def test_never_collide(intents: list[int]) -> None:
    ids = [client_order_id(i, leg) for i in intents for leg in Leg]
    assert len(ids) == len(set(ids))


def test_negative_intent_refused() -> None:
    with pytest.raises(ValueError, match="intent_id"):
        client_order_id(-1, Leg.ENTRY)
