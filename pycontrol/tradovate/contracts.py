"""Front-month contracts at Tradovate: the core's roll rule (``_core.front_month``) names the
contract (ESZ6), ``contract/find`` resolves it to Tradovate's contract id."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pycontrol import _core
from pycontrol.tradovate.errors import TradovateContractError, TradovateRequestError
from pycontrol.tradovate.rest import RestClient


@dataclass(frozen=True)
class TvContract:
    id: int
    name: str  # Tradovate's symbol, e.g. ESZ6 (also the session's local symbol)
    root: str


async def resolve_front(rest: RestClient, root: str, roll_days: int, today: dt.date) -> TvContract:
    """The front month of ``root`` on ``today`` at Tradovate; TradovateContractError naming
    the root and symbol when Tradovate does not know it."""
    try:
        name = str(_core.front_month(root, today.isoformat(), roll_days)["symbol"])
    except _core.CoreError as e:
        raise TradovateContractError(f"{root}: no front month on {today}: {e}") from None
    try:
        d = await rest.get("contract/find", name=name)
    except TradovateRequestError as e:
        raise TradovateContractError(f"{root}: contract/find {name}: {e.text}") from None
    if not isinstance(d, dict) or not isinstance(d.get("id"), int):
        raise TradovateContractError(f"{root}: contract/find {name}: not found ({d!r})")
    return TvContract(int(d["id"]), str(d.get("name", name)), root)
