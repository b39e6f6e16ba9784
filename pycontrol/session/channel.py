"""The engine channel: market data and execution reports go to the engine, order intents and
denials come back, over a ZeroMQ PAIR socket with versioned messages.

:class:`EngineHost` runs any :class:`~pycontrol.session.engine.Engine` in its own thread,
serving the channel; :class:`EngineClient` is the control plane's end and itself implements
the Engine interface, so the session code is the same whether the engine is this thread or,
later, the Rust engine process bound to ``tcp://127.0.0.1:<port>`` speaking these messages.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

import zmq

from pycontrol.session import messages as m
from pycontrol.session.engine import Engine, EngineOutput, MarketData, TradePrint, WorkingOrder
from pycontrol.session.orders import ExecutionReport


class EngineChannelError(Exception):
    """The engine did not answer in time, or answered with an error."""


class EngineHost:
    def __init__(self, engine: Engine, ctx: zmq.Context[Any], address: str) -> None:
        self.engine = engine
        self.address = address
        self._sock = ctx.socket(zmq.PAIR)
        if address.startswith("tcp://") and address.endswith(":0"):
            # an ephemeral port; ``self.address`` is where clients connect
            host = address[len("tcp://") : -len(":0")]
            port = self._sock.bind_to_random_port(f"tcp://{host}")
            self.address = f"tcp://{host}:{port}"
        else:
            self._sock.bind(address)
        self._thread = threading.Thread(target=self._run, name="engine", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        sock = self._sock
        try:
            while True:
                raw = sock.recv()
                try:
                    op, body = m.parse_channel(raw)
                    if op == "stop":
                        sock.send(m.channel("stopped", {}))
                        return
                    result = self._call(op, body)
                    sock.send(m.channel("ok", result))
                except Exception as e:  # an engine error is a reply, not a dead thread
                    sock.send(m.channel("error", {"type": type(e).__name__, "message": str(e)}))
        finally:
            sock.close(linger=0)

    def _call(self, op: str, b: dict[str, Any]) -> dict[str, Any]:
        e = self.engine
        if op == "md":
            return e.on_market_data(MarketData(**b)).to_dict()
        if op == "trade":
            return e.on_trade(TradePrint(**b)).to_dict()
        if op == "commission":
            e.on_commission(b["client_order_id"], b["commission"])
            return {}
        if op == "exec":
            return e.on_execution_report(ExecutionReport.from_dict(b)).to_dict()
        if op == "restore":
            working = [WorkingOrder(**w) for w in b["working"]]
            e.restore(b["positions"], working, b["done_intent_ids"])
            return {}
        if op == "status":
            return e.status()
        if op == "set_risk_limits":
            e.set_risk_limits(b["max_order_qty"], b["max_position"])
            return {}
        if op == "halt":
            e.halt(b.get("reason", ""))
            return {}
        if op == "resume":
            e.resume()
            return {}
        if op == "reducing":
            e.set_reducing()
            return {}
        if op == "flatten":
            return e.flatten().to_dict()
        if op == "swap_model":
            e.swap_model(b["model"])
            return {}
        raise m.MessageError("unknown_op", f"engine channel: unknown op {op!r}")


class EngineClient:
    """The control plane's end of the channel; implements the Engine interface."""

    def __init__(
        self, ctx: zmq.Context[Any], address: str, timeout_s: float = 5.0, owns_engine: bool = True
    ) -> None:
        self._sock = ctx.socket(zmq.PAIR)
        self._sock.connect(address)
        self._timeout_ms = int(timeout_s * 1000)
        self._owns = owns_engine

    def _rpc(self, op: str, body: dict[str, Any]) -> dict[str, Any]:
        self._sock.send(m.channel(op, body))
        if not self._sock.poll(self._timeout_ms):
            raise EngineChannelError(f"engine did not answer {op!r} in {self._timeout_ms} ms")
        kind, result = m.parse_channel(self._sock.recv())
        if kind == "error":
            raise EngineChannelError(f"engine {op}: {result['type']}: {result['message']}")
        return result

    def close(self) -> None:
        if self._owns:
            with contextlib.suppress(EngineChannelError):
                self._rpc("stop", {})
        self._sock.close(linger=0)

    def restore(
        self, positions: dict[str, int], working: list[WorkingOrder], done_intent_ids: list[int]
    ) -> None:
        self._rpc(
            "restore",
            {
                "positions": positions,
                "working": [w.__dict__ for w in working],
                "done_intent_ids": done_intent_ids,
            },
        )

    def on_market_data(self, md: MarketData) -> EngineOutput:
        return EngineOutput.from_dict(self._rpc("md", md.__dict__))

    def on_trade(self, tp: TradePrint) -> EngineOutput:
        return EngineOutput.from_dict(self._rpc("trade", tp.__dict__))

    def on_commission(self, client_order_id: int, commission: float) -> None:
        self._rpc("commission", {"client_order_id": client_order_id, "commission": commission})

    def on_execution_report(self, report: ExecutionReport) -> EngineOutput:
        return EngineOutput.from_dict(self._rpc("exec", report.to_dict()))

    def status(self) -> dict[str, Any]:
        return self._rpc("status", {})

    def set_risk_limits(self, max_order_qty: int, max_position: int) -> None:
        self._rpc("set_risk_limits", {"max_order_qty": max_order_qty, "max_position": max_position})

    def halt(self, reason: str) -> None:
        self._rpc("halt", {"reason": reason})

    def resume(self) -> None:
        self._rpc("resume", {})

    def set_reducing(self) -> None:
        self._rpc("reducing", {})

    def flatten(self) -> EngineOutput:
        return EngineOutput.from_dict(self._rpc("flatten", {}))

    def swap_model(self, name: str) -> None:
        self._rpc("swap_model", {"model": name})
