"""Connecting to TWS / IB Gateway with ib_async: port probing by mode, client-id conflicts
(error 326: retry with the next id), and the paper-account check (paper accounts start with
"DU"; a paper session on anything else is refused)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from ib_async import IB

log = logging.getLogger("pycontrol.ib.connect")

# IB's defaults: Gateway 4002 paper / 4001 live, TWS 7497 paper / 7496 live.
PORTS = {"paper": (4002, 7497), "live": (4001, 7496)}
CLIENT_ID_IN_USE = 326


class IBConnectError(Exception):
    """No API session could be established; the message says where it was tried."""


class NotPaperAccountError(IBConnectError):
    """A paper session reached an account that is not a paper account."""


def candidate_ports(mode: str, port: int | None = None) -> tuple[int, ...]:
    """The ports to try, in order: the one given, else Gateway then TWS for the mode."""
    if port is not None:
        return (port,)
    if mode not in PORTS:
        raise ValueError(f"mode must be one of {sorted(PORTS)}, got {mode!r}")
    return PORTS[mode]


def check_accounts(mode: str, accounts: list[str]) -> None:
    """Paper sessions only on paper accounts. Account ids are secrets: never in messages."""
    if not accounts:
        raise IBConnectError("the gateway reported no managed accounts")
    if mode == "paper":
        bad = [a for a in accounts if not a.startswith("DU")]
        if bad:
            raise NotPaperAccountError(
                f"paper mode refused: {len(bad)} of {len(accounts)} managed accounts are not "
                'paper accounts (paper account ids start with "DU")'
            )


@dataclass(frozen=True)
class Connected:
    port: int
    client_id: int
    accounts: tuple[str, ...]


async def connect(
    ib: IB,
    mode: str,
    host: str = "127.0.0.1",
    port: int | None = None,
    client_id: int = 1,
    max_client_ids: int = 5,
    timeout: float = 4.0,
    ports: tuple[int, ...] | None = None,
) -> Connected:
    """Connects ``ib``: tries each candidate port (``ports`` overrides the probe list); on
    326 retries with the next client id. Raises :class:`IBConnectError` naming every attempt
    when none worked."""
    attempts: list[str] = []
    for p in ports or candidate_ports(mode, port):
        cid = client_id
        while cid < client_id + max_client_ids:
            in_use = asyncio.get_running_loop().create_future()

            def on_error(
                req_id: int, code: int, msg: str, contract: Any, fut: Any = in_use
            ) -> None:
                if code == CLIENT_ID_IN_USE and not fut.done():
                    fut.set_result(True)

            ib.errorEvent += on_error
            task = asyncio.ensure_future(ib.connectAsync(host, p, clientId=cid, timeout=timeout))
            try:
                done, _ = await asyncio.wait(
                    {task, in_use}, timeout=timeout + 1, return_when=asyncio.FIRST_COMPLETED
                )
                if in_use in done:
                    task.cancel()
                    await asyncio.gather(task, return_exceptions=True)
                    _drop(ib)
                    attempts.append(f"{host}:{p} client id {cid}: in use (326)")
                    log.warning("client id %d in use at %s:%d, trying %d", cid, host, p, cid + 1)
                    cid += 1
                    continue
                if task not in done:
                    task.cancel()
                    await asyncio.gather(task, return_exceptions=True)
                    _drop(ib)
                    attempts.append(f"{host}:{p} client id {cid}: timed out")
                    break
                exc = task.exception()
                if exc is not None:
                    _drop(ib)
                    attempts.append(f"{host}:{p} client id {cid}: {type(exc).__name__}: {exc}")
                    break
            finally:
                ib.errorEvent -= on_error
            accounts = list(ib.client.getAccounts())
            try:
                check_accounts(mode, accounts)
            except IBConnectError:
                _drop(ib)
                raise
            log.info("connected to %s:%d as client id %d", host, p, cid)
            return Connected(p, cid, tuple(accounts))
    raise IBConnectError("could not connect: " + "; ".join(attempts))


def _drop(ib: IB) -> None:
    """Closes a half-open connection: IB.disconnect() raises when the API is connected but
    not ready (it asks for connection stats), so fall back to the client's own disconnect."""
    try:
        ib.disconnect()
    except ConnectionError:
        ib.client.disconnect()  # type: ignore[no-untyped-call]
