"""Tradovate order commands from order intents: ``order/placeorder`` for a single order and
``order/placeOSO`` for a bracket (the entry with ``bracket1`` = stop-loss and ``bracket2`` =
take-profit, one-cancels-the-other once the entry fills). Every order carries our client
order id as ``clOrdId`` and ``text`` = ``tc:<client_order_id>``: the text travels with the
order's version (``orderVersion``), so after a crash the journal and Tradovate can be matched
order by order. ``isAutomated`` is always true (exchange rules for algorithmic orders)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pycontrol.session.orders import Leg, OrderIntent, client_order_id, opposite
from pycontrol.tradovate.errors import TradovateOrderError

TAG_PREFIX = "tc:"
ACTION = {"BUY": "Buy", "SELL": "Sell"}
SIDE_OF = {"Buy": "BUY", "Sell": "SELL"}
ORDER_TYPE = {"MKT": "Market", "LMT": "Limit", "STP": "Stop"}
TYPE_OF = {"Market": "MKT", "Limit": "LMT", "Stop": "STP", "StopLimit": "STP"}
TIF = {"DAY": "Day", "GTC": "GTC", "IOC": "IOC"}
WORKING_STATUS = ("Working", "PendingNew", "PendingReplace", "PendingCancel", "Suspended")
DONE_STATUS = ("Filled", "Canceled", "Rejected", "Expired", "Completed")


def tag(cid: int) -> str:
    return f"{TAG_PREFIX}{cid}"


def parse_tag(text: object) -> int | None:
    """The client order id in a text we wrote, None for anyone else's."""
    if not isinstance(text, str) or not text.startswith(TAG_PREFIX):
        return None
    tail = text[len(TAG_PREFIX) :]
    return int(tail) if tail.isdigit() else None


@dataclass(frozen=True)
class PlannedLeg:
    leg: Leg
    client_order_id: int
    parent_client_order_id: int | None
    side: str
    qty: int
    order_type: str
    price: float | None
    stop_price: float | None


def _prices(order_type: str, price: float | None, stop: float | None, where: str) -> dict[str, Any]:
    if order_type not in ORDER_TYPE:
        raise TradovateOrderError(f"{where}: order_type {order_type!r} (known: MKT, LMT, STP)")
    if order_type == "LMT":
        if price is None:
            raise TradovateOrderError(f"{where}: LMT needs price")
        return {"price": price}
    if order_type == "STP":
        if stop is None:
            raise TradovateOrderError(f"{where}: STP needs stop_price")
        return {"stopPrice": stop}
    return {}


def plan(intent: OrderIntent) -> list[PlannedLeg]:
    """The legs of a NEW intent (entry, then stop-loss and take-profit of a bracket)."""
    where = f"intent {intent.intent_id}"
    if intent.side not in ACTION:
        raise TradovateOrderError(f"{where}: side {intent.side!r}")
    if intent.qty <= 0:
        raise TradovateOrderError(f"{where}: qty must be > 0, got {intent.qty}")
    _prices(intent.order_type, intent.price, intent.stop_price, where)
    cid = client_order_id(intent.intent_id, Leg.ENTRY)
    legs = [
        PlannedLeg(
            Leg.ENTRY,
            cid,
            None,
            intent.side,
            intent.qty,
            intent.order_type,
            intent.price,
            intent.stop_price,
        )
    ]
    if intent.bracket is not None:
        ex = opposite(intent.side)
        b = intent.bracket
        legs.append(
            PlannedLeg(
                Leg.STOP_LOSS,
                client_order_id(intent.intent_id, Leg.STOP_LOSS),
                cid,
                ex,
                intent.qty,
                "STP",
                None,
                b.stop_loss,
            )
        )
        legs.append(
            PlannedLeg(
                Leg.TAKE_PROFIT,
                client_order_id(intent.intent_id, Leg.TAKE_PROFIT),
                cid,
                ex,
                intent.qty,
                "LMT",
                b.take_profit,
                None,
            )
        )
    return legs


def command(
    intent: OrderIntent, legs: list[PlannedLeg], symbol: str, account_spec: str, account_id: int
) -> tuple[str, dict[str, Any]]:
    """(endpoint, body) placing ``legs``: placeorder, or placeOSO for a bracket."""
    e = legs[0]
    body: dict[str, Any] = {
        "accountSpec": account_spec,
        "accountId": account_id,
        "clOrdId": tag(e.client_order_id),
        "action": ACTION[e.side],
        "symbol": symbol,
        "orderQty": e.qty,
        "orderType": ORDER_TYPE[e.order_type],
        "timeInForce": TIF.get(intent.tif, "Day"),
        "text": tag(e.client_order_id),
        "isAutomated": True,
        **_prices(e.order_type, e.price, e.stop_price, f"intent {intent.intent_id}"),
    }
    if len(legs) == 1:
        return "order/placeorder", body
    for key, leg in (("bracket1", legs[1]), ("bracket2", legs[2])):
        body[key] = {
            "action": ACTION[leg.side],
            "clOrdId": tag(leg.client_order_id),
            "orderType": ORDER_TYPE[leg.order_type],
            "timeInForce": "GTC",
            "text": tag(leg.client_order_id),
            **_prices(leg.order_type, leg.price, leg.stop_price, f"intent {intent.intent_id}"),
        }
    return "order/placeOSO", body


def order_ids(endpoint: str, answer: Any, n: int) -> list[int]:
    """The venue order ids of a place answer, in leg order; TradovateOrderError for a
    refusal (``failureReason`` / ``failureText``) or an answer without ids."""
    if not isinstance(answer, dict):
        raise TradovateOrderError(f"{endpoint}: unexpected answer {answer!r}")
    if answer.get("failureReason") or answer.get("failureText"):
        raise TradovateOrderError(
            f"{answer.get('failureReason', 'Rejected')}: {answer.get('failureText', '')}"
        )
    keys = ["orderId", "oso1Id", "oso2Id"][:n]
    ids = [answer.get(k) for k in keys]
    if not all(isinstance(i, int) for i in ids):
        raise TradovateOrderError(f"{endpoint}: answer without {', '.join(keys)}: {answer!r}")
    return [int(i) for i in ids if isinstance(i, int)]
