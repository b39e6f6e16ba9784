"""ScriptedEngine: signals fire once at their event, limits deny with reason codes, the
trading state gates orders, flatten closes, restore skips what already happened. Also the
engine behind the ZeroMQ channel answers exactly as in process."""

from __future__ import annotations

from typing import Any

import pytest
import zmq

from pycontrol.session.channel import EngineChannelError, EngineClient, EngineHost
from pycontrol.session.config import RiskConfig, SignalConfig
from pycontrol.session.engine import (
    DENY_HALTED,
    DENY_MAX_POSITION,
    DENY_MAX_QTY,
    DENY_REDUCING,
    MarketData,
    ScriptedEngine,
)
from pycontrol.session.orders import ExecutionReport


def md(i: int = 0) -> MarketData:
    return MarketData("ESZ6", 1000 + i, 5000.0, 5000.25, 5, 5)


def sig(iid: int, at: int, side: str = "BUY", qty: int = 1, **kw: Any) -> SignalConfig:
    return SignalConfig(intent_id=iid, at_event=at, side=side, qty=qty, **kw)


def engine(*signals: SignalConfig, max_qty: int = 2, max_pos: int = 3) -> ScriptedEngine:
    return ScriptedEngine("ES", 0.25, RiskConfig(max_qty, max_pos), signals)


def test_signals_fire_once_with_prices_from_the_book() -> None:
    e = engine(
        sig(1, 1, order_type="LMT", offset_ticks=4),
        sig(2, 2, "SELL", stop_ticks=4, take_ticks=8, order_type="MKT"),
    )
    out1 = e.on_market_data(md(1))
    assert [i.intent_id for i in out1.intents] == [1]
    assert out1.intents[0].price == 5000.0 - 4 * 0.25
    out2 = e.on_market_data(md(2))
    b = out2.intents[0].bracket
    assert b is not None and b.stop_loss == 5000.0 + 1.0 and b.take_profit == 5000.0 - 2.0
    assert e.on_market_data(md(3)).intents == []


def test_limits_deny_with_reason_codes() -> None:
    e = engine(sig(1, 1, qty=3), sig(2, 1, qty=2), sig(3, 1, qty=2), max_qty=2, max_pos=3)
    out = e.on_market_data(md())
    assert [d.reason for d in out.denials] == [DENY_MAX_QTY, DENY_MAX_POSITION]
    assert [i.intent_id for i in out.intents] == [2]
    assert e.status()["denied"] == 2


def test_states() -> None:
    e = engine(sig(1, 1), sig(2, 2, "SELL"))
    e.halt("test")
    assert e.on_market_data(md()).denials[0].reason == DENY_HALTED
    e.resume()
    e.positions["ESZ6"] = 0
    e.set_reducing()
    out = e.on_market_data(md(2))
    assert out.denials[0].reason == DENY_REDUCING


def test_fills_move_positions_and_flatten_closes() -> None:
    e = engine(sig(1, 1, order_type="LMT", offset_ticks=4))
    intent = e.on_market_data(md()).intents[0]
    cid = intent.client_order_id()
    e.on_execution_report(ExecutionReport("fill", cid, "ESZ6", "BUY", 1, 4999.0, "x1"))
    assert e.positions["ESZ6"] == 1
    assert cid not in e.working
    e.working.clear()
    out = e.flatten()
    assert len(out.intents) == 1
    close = out.intents[0]
    assert (close.side, close.qty, close.order_type, close.reduce_only) == ("SELL", 1, "MKT", True)
    assert close.intent_id > 1
    assert e.state == "REDUCING"


def test_restore_skips_done_signals_and_continues_ids() -> None:
    # signal 5 fired before the restart, signal 1 (a later event) had not: only 1 fires now
    e = engine(sig(1, 2), sig(5, 1))
    e.restore({"ESZ6": 2}, [], done_intent_ids=[5])
    assert e.on_market_data(md()).intents == []
    out = e.on_market_data(md(1))
    assert [i.intent_id for i in out.intents] == [1]
    assert e.flatten().intents[0].intent_id == 6


def test_channel_round_trip_and_errors() -> None:
    ctx: zmq.Context[Any] = zmq.Context()
    host = EngineHost(engine(sig(1, 1)), ctx, "inproc://t-engine")
    host.start()
    client = EngineClient(ctx, "inproc://t-engine", timeout_s=5)
    try:
        out = client.on_market_data(md())
        assert [i.intent_id for i in out.intents] == [1]
        assert client.status()["events"] == 1
        with pytest.raises(EngineChannelError, match="max_order_qty"):
            client.set_risk_limits(0, 3)
        assert client.status()["limits"]["max_order_qty"] == 2  # unchanged after the error
    finally:
        client.close()
        host.join(5)
        ctx.term()
