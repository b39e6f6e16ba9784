"""Helpers for tests that drive the real ib_async client against the test gateway: run a
coroutine with a deadline, wait for a condition inside the loop, connect a client."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from ib_async import IB

from pycontrol.testing.ib_gateway import TestGateway

T = TypeVar("T")


def run(coro_fn: Callable[[], Awaitable[T]], timeout: float = 30) -> T:
    async def main() -> T:
        return await asyncio.wait_for(coro_fn(), timeout)  # type: ignore[arg-type]

    return asyncio.run(main())


async def until(cond: Callable[[], bool], timeout: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        if loop.time() > end:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def connected(gw: TestGateway, client_id: int = 1) -> IB:
    ib = IB()
    await ib.connectAsync("127.0.0.1", gw.port, clientId=client_id, timeout=5)
    return ib
