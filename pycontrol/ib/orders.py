"""IB orders from order intents: market, limit, stop and brackets (parent + take-profit +
stop-loss in one OCA group, with transmit flags so nothing trades until the whole bracket
has arrived). Every order carries ``orderRef = "tc:<client_order_id>"``: the deterministic
client order id travels with the order, so after a crash the journal and the gateway can be
matched order by order."""

from __future__ import annotations

from dataclasses import dataclass

from ib_async import LimitOrder, MarketOrder, Order, StopOrder

from pycontrol.session.orders import Leg, OrderIntent, client_order_id, opposite

REF_PREFIX = "tc:"


def order_ref(cid: int) -> str:
    return f"{REF_PREFIX}{cid}"


def parse_order_ref(ref: str) -> int | None:
    """The client order id in an orderRef we wrote, or None for anyone else's order."""
    if not ref.startswith(REF_PREFIX):
        return None
    tail = ref[len(REF_PREFIX) :]
    return int(tail) if tail.isdigit() else None


@dataclass(frozen=True)
class PlannedOrder:
    """One IB order of an intent, with the leg and client order id it carries."""

    leg: Leg
    client_order_id: int
    parent_client_order_id: int | None
    order: Order


class OrderBuildError(ValueError):
    """An intent that cannot become an IB order; the message names the field."""


def _base(intent: OrderIntent) -> Order:
    if intent.order_type == "MKT":
        return MarketOrder(intent.side, intent.qty)
    if intent.order_type == "LMT":
        if intent.price is None:
            raise OrderBuildError(f"intent {intent.intent_id}: LMT needs price")
        return LimitOrder(intent.side, intent.qty, intent.price)
    if intent.order_type == "STP":
        if intent.stop_price is None:
            raise OrderBuildError(f"intent {intent.intent_id}: STP needs stop_price")
        return StopOrder(intent.side, intent.qty, intent.stop_price)
    raise OrderBuildError(f"intent {intent.intent_id}: order_type {intent.order_type!r}")


def build_orders(intent: OrderIntent, next_id: int, account: str = "") -> list[PlannedOrder]:
    """The IB orders of a NEW intent, with venue order ids ``next_id, next_id+1, ...``."""
    entry = _base(intent)
    cid = client_order_id(intent.intent_id, Leg.ENTRY)
    entry.orderId = next_id
    entry.orderRef = order_ref(cid)
    entry.tif = intent.tif
    entry.account = account
    if intent.bracket is None:
        entry.transmit = True
        return [PlannedOrder(Leg.ENTRY, cid, None, entry)]
    exit_side = opposite(intent.side)
    oca = f"tc-oca-{intent.intent_id}"
    tp_cid = client_order_id(intent.intent_id, Leg.TAKE_PROFIT)
    sl_cid = client_order_id(intent.intent_id, Leg.STOP_LOSS)
    tp = LimitOrder(exit_side, intent.qty, intent.bracket.take_profit)
    sl = StopOrder(exit_side, intent.qty, intent.bracket.stop_loss)
    # Only the last order of a bracket transmits: the exits must be at the venue before the
    # entry can fill, or a fast fill would leave a position without its stop.
    entry.transmit = False
    for o, ref_cid, transmit, i in ((tp, tp_cid, False, 1), (sl, sl_cid, True, 2)):
        o.orderId = next_id + i
        o.parentId = next_id
        o.orderRef = order_ref(ref_cid)
        o.ocaGroup = oca
        o.ocaType = 1  # cancel the rest of the group with block
        o.transmit = transmit
        o.tif = "GTC"
        o.account = account
    return [
        PlannedOrder(Leg.ENTRY, cid, None, entry),
        PlannedOrder(Leg.TAKE_PROFIT, tp_cid, cid, tp),
        PlannedOrder(Leg.STOP_LOSS, sl_cid, cid, sl),
    ]
