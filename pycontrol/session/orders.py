"""The order vocabulary of `core-rs/core/src/orders.rs` for the control plane.

One scheme for client order ids everywhere, the core's (``tradecore::orders::client_order_id``,
called here, not copied): a restarted session recomputes the ids of what it already sent and
finds them in the journal, so it can never submit the same order twice. Prices here are
floats in price units (the wire to IB uses them); the core's fixed-point scale is
`pycontrol.PRICE_SCALE`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import IntEnum
from typing import Any

# Plain strings on purpose: they come from JSON and TOML and are checked against these
# tuples where they enter (config validation, message schemas).
Side = str
OrderType = str
Action = str
Tif = str

SIDES: tuple[str, ...] = ("BUY", "SELL")
ORDER_TYPES: tuple[str, ...] = ("MKT", "LMT", "STP")
ACTIONS: tuple[str, ...] = ("NEW", "MODIFY", "CANCEL")
TIFS: tuple[str, ...] = ("DAY", "GTC", "IOC")


class Leg(IntEnum):
    """Which order of a bracket a client order id names (values as in orders.rs)."""

    ENTRY = 0
    STOP_LOSS = 1
    TAKE_PROFIT = 2


def client_order_id(intent_id: int, leg: Leg) -> int:
    """Client order id of one leg of an intent: a pure function of the intent id (the core's
    rule). ``ValueError`` for a negative intent id."""
    from pycontrol import _core

    if intent_id < 0:
        raise ValueError(f"intent_id must be >= 0, got {intent_id}")
    return int(_core.client_order_id(intent_id, leg.name))


def intent_of(client_order_id: int) -> tuple[int, Leg | None]:
    """The inverse of :func:`client_order_id`; the leg is None for an id no leg has."""
    from pycontrol import _core

    intent_id, leg = _core.intent_of_order(client_order_id)
    return int(intent_id), (Leg[leg] if leg is not None else None)


def sign(side: str) -> int:
    """+1 for buys, -1 for sells: the sign of the position change."""
    return 1 if side == "BUY" else -1


def opposite(side: str) -> Side:
    return "SELL" if side == "BUY" else "BUY"


@dataclass(frozen=True)
class Bracket:
    """Exits attached to an entry: one-cancels-other children active once the entry fills."""

    stop_loss: float
    take_profit: float


@dataclass(frozen=True)
class OrderIntent:
    """What the decision step wants done (orders.rs `OrderIntent`, prices in price units).

    ``target_client_order_id`` names the working order a MODIFY or CANCEL acts on.
    """

    intent_id: int
    ts: int
    symbol: str
    side: Side
    qty: int
    order_type: OrderType = "MKT"
    action: Action = "NEW"
    price: float | None = None
    stop_price: float | None = None
    tif: Tif = "DAY"
    reduce_only: bool = False
    bracket: Bracket | None = None
    source: str = "external"
    target_client_order_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict[str, Any]) -> OrderIntent:
        b = d.get("bracket")
        return OrderIntent(**{**d, "bracket": Bracket(**b) if b else None})

    def client_order_id(self, leg: Leg = Leg.ENTRY) -> int:
        return client_order_id(self.intent_id, leg)


@dataclass(frozen=True)
class ExecutionReport:
    """One event about one of our orders from a venue: an ack, a reject, a cancel or a fill.

    ``kind`` is one of ``ack``, ``reject``, ``cancelled``, ``fill``; a fill carries
    ``exec_id`` (unique per venue), ``qty`` and ``price``.
    """

    kind: str
    client_order_id: int
    symbol: str
    side: Side
    qty: int = 0
    price: float = 0.0
    exec_id: str = ""
    ts: int = 0
    reason: str = ""
    commission: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict[str, Any]) -> ExecutionReport:
        return ExecutionReport(**d)
