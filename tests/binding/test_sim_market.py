"""The SimMarket binding: the L3 simulated exchange over the real ES MBO file, stepped from
Python (the test gateway's L3 venue). Record 12,000 is in the reopen (2023-12-25 23:00:16
UTC): bid 4802.00 x 6, ask 4802.50 x 15."""

from __future__ import annotations

from pathlib import Path

import pytest

from pycontrol._core import ConfigError, CoreError, SimMarket

ES = 17077


@pytest.fixture
def market(esh4_mbo: Path) -> SimMarket:
    m = SimMarket(esh4_mbo, fee_per_contract=2.25)
    assert m.instruments() == [ES]
    assert m.step(12_000) >= 12_000
    assert m.bbo(ES) == ((4802.0, 6), (4802.5, 15))
    return m


def test_market_and_marketable_limit_walk_the_book(market: SimMarket) -> None:
    market.submit(1, ES, "BUY", 2, "MKT")
    (f,) = market.drain_fills()
    assert (f["order_ref"], f["qty"], f["price"], f["fee"]) == (1, 2, 4802.5, 4.5)
    assert f["liquidity"] == "TAKER" and f["ts"] == market.now
    market.submit(2, ES, "SELL", 8, "LMT", limit=4801.0)
    assert [(f["qty"], f["price"]) for f in market.drain_fills()] == [(6, 4802.0), (2, 4801.75)]
    assert market.drain_fills() == []
    assert market.order_status(2)["status"] == "FILLED"  # type: ignore[index]


def test_passive_limit_queues_then_fills_as_maker(market: SimMarket) -> None:
    market.submit(1, ES, "BUY", 1, "LMT", limit=4802.0)
    st = market.order_status(1)
    assert st is not None and st["status"] == "WORKING" and st["queue_ahead"] == (5, 6)
    assert market.drain_fills() == []
    fills: list[dict[str, object]] = []
    for _ in range(2000):
        if market.step(1) == 0:
            break
        fills = market.drain_fills()
        if fills:
            break
    assert [(f["price"], f["liquidity"]) for f in fills] == [(4802.0, "MAKER")]


def test_cancel_and_stop(market: SimMarket) -> None:
    market.submit(1, ES, "BUY", 1, "LMT", limit=4802.0)
    assert market.cancel(1) is True
    assert market.order_status(1)["status"] == "CANCELLED"  # type: ignore[index]
    assert market.cancel(1) is False
    market.submit(2, ES, "BUY", 1, "STP", stop=4803.5)
    market.step(3000)
    fills = market.drain_fills()
    assert [(f["order_ref"], f["price"]) for f in fills] == [(2, 4803.75)]


def test_bad_input_names_the_problem(market: SimMarket, esh4_mbo: Path) -> None:
    with pytest.raises(ValueError, match="side must be"):
        market.submit(1, ES, "HOLD", 1, "MKT")
    with pytest.raises(ValueError, match="order_type must be"):
        market.submit(1, ES, "BUY", 1, "MOC")
    with pytest.raises(ConfigError, match="limit price"):
        market.submit(1, ES, "BUY", 1, "LMT")
    with pytest.raises(ConfigError, match="unknown instrument 5"):
        market.submit(1, 5, "BUY", 1, "MKT")
    with pytest.raises(ValueError, match="finite"):
        market.submit(1, ES, "BUY", 1, "LMT", limit=float("nan"))
    with pytest.raises(ConfigError, match="unknown order 77"):
        market.cancel(77)
    market.submit(1, ES, "BUY", 1, "LMT", limit=4790.0)
    with pytest.raises(ConfigError, match="already used"):
        market.submit(1, ES, "BUY", 1, "MKT")
    assert market.order_status(999) is None
    with pytest.raises(ConfigError, match="order_latency"):
        SimMarket(esh4_mbo, order_latency=("constant", [-1.0]))
    with pytest.raises(CoreError):
        SimMarket(esh4_mbo.with_name("missing.mbo.dbn.zst"))
