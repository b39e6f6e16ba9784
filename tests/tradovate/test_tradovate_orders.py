"""Tradovate order commands from intents: placeorder bodies, placeOSO with bracket1 (stop)
and bracket2 (take-profit), our client order id in clOrdId and text, and the answers."""

from __future__ import annotations

import pytest

from pycontrol.session.orders import Bracket, Leg, OrderIntent, client_order_id
from pycontrol.tradovate.errors import TradovateOrderError
from pycontrol.tradovate.orders import command, order_ids, parse_tag, plan, tag


def test_single_limit_order() -> None:
    i = OrderIntent(3, 0, "ESZ6", "SELL", 2, "LMT", price=5001.25, tif="GTC")
    ep, body = command(i, plan(i), "ESZ6", "DEMO1", 77)
    cid = client_order_id(3, Leg.ENTRY)
    assert ep == "order/placeorder"
    assert body == {
        "accountSpec": "DEMO1",
        "accountId": 77,
        "clOrdId": f"tc:{cid}",
        "action": "Sell",
        "symbol": "ESZ6",
        "orderQty": 2,
        "orderType": "Limit",
        "timeInForce": "GTC",
        "text": f"tc:{cid}",
        "isAutomated": True,
        "price": 5001.25,
    }


def test_bracket_is_one_oso() -> None:
    i = OrderIntent(5, 0, "NQZ6", "BUY", 1, "MKT", bracket=Bracket(19900.0, 20100.0))
    legs = plan(i)
    assert [p.leg for p in legs] == [Leg.ENTRY, Leg.STOP_LOSS, Leg.TAKE_PROFIT]
    assert all(p.parent_client_order_id == legs[0].client_order_id for p in legs[1:])
    ep, body = command(i, legs, "NQZ6", "DEMO1", 77)
    assert ep == "order/placeOSO" and body["orderType"] == "Market" and "price" not in body
    b1, b2 = body["bracket1"], body["bracket2"]
    assert (b1["action"], b1["orderType"], b1["stopPrice"]) == ("Sell", "Stop", 19900.0)
    assert (b2["action"], b2["orderType"], b2["price"]) == ("Sell", "Limit", 20100.0)
    assert parse_tag(b1["text"]) == client_order_id(5, Leg.STOP_LOSS)
    assert parse_tag(b2["clOrdId"]) == client_order_id(5, Leg.TAKE_PROFIT)
    assert order_ids(ep, {"orderId": 1, "oso1Id": 2, "oso2Id": 3}, 3) == [1, 2, 3]


@pytest.mark.parametrize(
    ("intent", "why"),
    [
        (OrderIntent(1, 0, "ESZ6", "BUY", 1, "LMT"), "LMT needs price"),
        (OrderIntent(1, 0, "ESZ6", "BUY", 1, "STP"), "STP needs stop_price"),
        (OrderIntent(1, 0, "ESZ6", "BUY", 0, "MKT"), "qty must be > 0"),
        (OrderIntent(1, 0, "ESZ6", "HOLD", 1, "MKT"), "side 'HOLD'"),
        (OrderIntent(1, 0, "ESZ6", "BUY", 1, "TRAIL"), "order_type 'TRAIL'"),
    ],
)
def test_bad_intents_named(intent: OrderIntent, why: str) -> None:
    with pytest.raises(TradovateOrderError, match=why):
        plan(intent)


def test_answers_and_tags() -> None:
    with pytest.raises(TradovateOrderError, match="RiskCheck: too big"):
        order_ids("order/placeorder", {"failureReason": "RiskCheck", "failureText": "too big"}, 1)
    with pytest.raises(TradovateOrderError, match="without orderId, oso1Id"):
        order_ids("order/placeOSO", {"orderId": 1}, 2)
    with pytest.raises(TradovateOrderError, match="unexpected answer"):
        order_ids("order/placeorder", [1], 1)
    assert tag(12) == "tc:12" and parse_tag("tc:12") == 12
    assert parse_tag("manual") is None and parse_tag("tc:x") is None and parse_tag(None) is None
