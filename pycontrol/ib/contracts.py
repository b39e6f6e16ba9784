"""CME futures contracts from a root symbol: the front month, rolled a configurable number of
days before expiry, resolved through reqContractDetails."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from ib_async import IB, Contract, Future


class ContractError(Exception):
    """No tradable contract for a root; the message names the root and what was found."""


def expiry_of(details: Any) -> dt.date:
    """The last trade date of one ContractDetails (YYYYMMDD in the contract)."""
    s = details.contract.lastTradeDateOrContractMonth[:8]
    return dt.date(int(s[:4]), int(s[4:6]), int(s[6:8]))


def choose_front(details: Sequence[Any], today: dt.date, roll_days: int) -> Any:
    """The contract with the earliest expiry still more than ``roll_days`` days away: within
    ``roll_days`` of its expiry a contract is rolled out of (liquidity moves to the next)."""
    live = [d for d in details if (expiry_of(d) - today).days > roll_days]
    if not live:
        raise ContractError(
            f"no contract expires more than {roll_days} days after {today} (found {len(details)})"
        )
    return min(live, key=expiry_of)


async def resolve_front(
    ib: IB, root: str, exchange: str, roll_days: int, today: dt.date | None = None
) -> Contract:
    details = await ib.reqContractDetailsAsync(Future(symbol=root, exchange=exchange))
    if not details:
        raise ContractError(f"{root} on {exchange}: no contract details")
    chosen = choose_front(details, today or dt.datetime.now(dt.UTC).date(), roll_days)
    contract: Contract = chosen.contract
    return contract
