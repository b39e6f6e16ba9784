"""Replay mode on the Rust engine: ``tradecore::engine::Engine`` on the L3 simulated exchange
(queue position, latency, every pre-trade risk gate), stepped in chunks from the session's
event loop through :class:`pycontrol._core.EngineSession` (the GIL is released while it runs).

Between chunks the session applies commands (halt, resume, reducing, limits, flatten) and
drains what the engine did: each order, fill and denial is journaled first and published as
telemetry after, in the session's message schemas. Commands take effect at a chunk boundary,
in event time, so a replay given the same commands at the same points is deterministic.

The engine's strategy (signals, decision thresholds, sizing, latency, seed, full risk limits)
comes from a backtest config (``[engine] strategy``, ``docs/backtest.md``); the session's
``[risk]`` overrides ``max_order_qty`` and ``max_position``, and ``[replay] data`` replaces the
backtest's data. Signals are the backtest's: an external file or the placebo stream; a model
predictor plugs in where :func:`engine_kwargs` chooses the signals.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from pycontrol import _core
from pycontrol.backtest.config import SEC, BacktestConfig, expand
from pycontrol.backtest.run import load_signals
from pycontrol.session.config import SessionConfig
from pycontrol.session.engine import EngineUnsupported
from pycontrol.session.journal import Journal

Publish = Callable[[str, dict[str, Any]], None]

STATE_NAMES = {"ACTIVE", "REDUCING", "HALTED"}


def strategy_config(cfg: SessionConfig) -> BacktestConfig:
    """The backtest config behind the engine, with the session's data and risk limits."""
    data = (cfg.replay.data,)
    if cfg.engine.strategy:
        bt = BacktestConfig.load(cfg.engine.strategy)
        bt = dataclasses.replace(bt, data=data, synth=None)
    else:
        bt = BacktestConfig.from_dict({"name": cfg.name, "data": list(data)})
    risk = dict(bt.risk)
    risk["max_order_qty"] = float(cfg.risk.max_order_qty)
    risk["max_position"] = float(cfg.risk.max_position)
    return dataclasses.replace(bt, risk=tuple(risk.items()))


def engine_kwargs(bt: BacktestConfig, paths: list[Path]) -> dict[str, Any]:
    """Keyword arguments of ``EngineSession`` (the same as ``BacktestRun``'s)."""
    defs = str(expand(bt.definitions)) if bt.definitions else None
    specs = _core.instrument_specs([str(p) for p in paths], defs, 0.0)
    symbols = {int(s["instrument_id"]): str(s["symbol"]) for s in specs}
    classes, ts, inst, probs = load_signals(bt, paths, symbols)
    return {
        "definitions": defs,
        "fee_per_contract": float(bt.fee_per_contract),
        "seed": bt.seed,
        "order_latency": bt.order_latency.to_core(),
        "feed_latency": bt.feed_latency.to_core(),
        "initial_equity": float(bt.initial_equity),
        "min_confidence_ensemble": float(bt.decision.min_confidence_ensemble),
        "min_confidence_external": float(bt.decision.min_confidence_external),
        "max_risk_score": bt.decision.max_risk_score,
        "horizon_ns": int(bt.decision.horizon_s * SEC),
        "kelly_fraction": float(bt.sizing.kelly_fraction),
        "vol_target": float(bt.sizing.vol_target),
        "stop_k": float(bt.sizing.stop_k),
        "reward_risk": float(bt.sizing.reward_risk),
        "max_qty": bt.sizing.max_qty,
        "risk_limits": [(k, float(v)) for k, v in bt.risk],
        "equity_interval_ns": max(1, int(bt.equity_interval_s * SEC)),
        "flatten_at_end": bt.flatten_at_end,
        "vol_halflife_s": float(bt.vol_halflife_s),
        "vol_min_samples": bt.vol_min_samples,
        "signal_classes": classes,
        "signal_ts": ts.astype(np.uint64).tolist(),
        "signal_instrument_id": inst.astype(np.uint32).tolist(),
        "signal_probs": probs.astype(np.float32).ravel().tolist(),
        "signal_max_age_ns": int(bt.signals.max_age_s * SEC),
    }


class RustReplay:
    """The Rust engine of a replay session: the engine interface the session's commands use
    (``status``, ``halt``, ``resume``, ``set_reducing``, ``set_risk_limits``, ``flatten``,
    ``swap_model``) and the venue's ``status``; :meth:`step` runs one chunk and journals and
    publishes what it did."""

    def __init__(self, cfg: SessionConfig, journal: Journal, publish: Publish) -> None:
        self.cfg = cfg
        self.journal = journal
        self.publish = publish
        self.strategy = strategy_config(cfg)
        paths = [expand(cfg.replay.data)]
        if not paths[0].is_file():
            raise FileNotFoundError(f"replay data not found: {paths[0]}")
        self.core = _core.EngineSession(
            [str(p) for p in paths], **engine_kwargs(self.strategy, paths)
        )
        self.records = 0
        self.fills = 0
        self.halt_reason = ""

    # -- the data path ---------------------------------------------------------------------

    def step(self, n: int) -> int:
        """One chunk of records through the engine (GIL released), then its records to the
        journal and telemetry. Returns the records fed (0 at the end of the data)."""
        k = int(self.core.step(n))
        self.records += k
        self.drain()
        return k

    def drain(self) -> None:
        d = self.core.drain()
        j = self.journal
        for o in d["new_orders"]:
            iid = int(o["intent_id"])
            if o["leg"] == 0 and not j.has_intent(iid):
                intent = {
                    "intent_id": iid,
                    "ts": o["ts"],
                    "symbol": o["symbol"],
                    "side": o["side"],
                    "qty": o["qty"],
                    "order_type": o["order_type"],
                    "price": o["price"],
                    "stop_price": o["stop_price"],
                    "engine": "rust",
                }
                j.record_intent(iid, intent)
                self.publish("signal", intent)
            if j.record_order(
                int(o["client_order_id"]),
                intent_id=iid,
                leg=int(o["leg"]),
                symbol=o["symbol"],
                side=o["side"],
                qty=int(o["qty"]),
                order_type=o["order_type"],
                price=o["price"],
                stop_price=o["stop_price"],
                parent_client_order_id=o["parent_client_order_id"],
                venue_order_id=None,
                status="submitted",
            ):
                self.publish("order", {**self._report("ack", o), "source": "sim"})
        closed = [o for o in d["new_orders"] if o["status"] in ("CANCELLED", "REJECTED")]
        for f in d["fills"]:
            self.fills += 1
            # The fill's position in the engine's fill log: deterministic, so a replay rerun
            # into the same journal is suppressed fill for fill instead of counted twice.
            exec_id = f"sim-{self.fills}"
            if j.record_fill(
                exec_id,
                client_order_id=int(f["client_order_id"]),
                symbol=f["symbol"],
                side=f["side"],
                qty=int(f["qty"]),
                price=float(f["price"]),
                ts_ns=int(f["ts"]),
                commission=float(f["fee"]),
                source="sim",
            ):
                self.publish(
                    "fill",
                    {
                        "kind": "fill",
                        "client_order_id": f["client_order_id"],
                        "symbol": f["symbol"],
                        "side": f["side"],
                        "qty": f["qty"],
                        "price": f["price"],
                        "exec_id": exec_id,
                        "ts": f["ts"],
                        "liquidity": f["liquidity"],
                        "source": "sim",
                    },
                )
        # after the fills: an order can fill in part and then be cancelled
        for o in closed + d["updated_orders"]:
            status = str(o["status"])
            if status in ("CANCELLED", "REJECTED"):
                kind = "cancelled" if status == "CANCELLED" else "reject"
                j.update_order(
                    int(o["client_order_id"]),
                    kind,
                    status=status.lower(),
                    payload={"reason": o["reject_reason"]} if o["reject_reason"] else None,
                )
                self.publish("order", {**self._report(kind, o), "source": "sim"})
        for n in d["denials"]:
            body = {
                "intent": {"intent_id": n["intent_id"], "ts": n["ts"]},
                "reason": n["reason"],
                "detail": n["detail"],
                "engine": "rust",
            }
            j.append("denial", body, intent_id=int(n["intent_id"]))
            self.publish("denial", body)
        if d["fills"]:
            snap = self.core.snapshot()
            for p in snap["positions"]:
                self.publish(
                    "position",
                    {"symbol": p["symbol"], "qty": p["qty"], "avg_price": p["avg_price"]},
                )
                self.publish(
                    "pnl",
                    {
                        "symbol": p["symbol"],
                        "position": p["qty"],
                        "unrealized": p["unrealized"],
                        "realized": p["realized"],
                        "fees": p["fees"],
                    },
                )

    @staticmethod
    def _report(kind: str, o: dict[str, Any]) -> dict[str, Any]:
        return {
            "kind": kind,
            "client_order_id": o["client_order_id"],
            "symbol": o["symbol"],
            "side": o["side"],
            "qty": o["qty"],
            "order_type": o["order_type"],
            "price": o["price"],
            "stop_price": o["stop_price"],
            "status": o["status"],
            "ts": o["ts"],
        }

    # -- the engine interface (commands) ---------------------------------------------------

    def status(self) -> dict[str, Any]:
        snap: dict[str, Any] = self.core.snapshot()
        snap["engine"] = "rust"
        snap["model"] = f"external:{self.strategy.signals.kind}"
        snap["halt_reason"] = self.halt_reason
        snap["records_fed"] = self.records
        return snap

    def venue_status(self) -> dict[str, Any]:
        snap = self.core.snapshot()
        return {
            "venue": "sim-l3",
            "working": snap["working"],
            "symbols": sorted(self.core.symbols().values()),
        }

    def set_risk_limits(self, max_order_qty: int, max_position: int) -> None:
        """Raises ``ConfigError`` naming every bad field; the engine keeps its limits then."""
        self.core.set_risk_limits(
            [("max_order_qty", float(max_order_qty)), ("max_position", float(max_position))]
        )

    def halt(self, reason: str) -> None:
        self.core.set_state("HALTED")
        self.halt_reason = reason

    def resume(self) -> None:
        self.core.set_state("ACTIVE")
        self.halt_reason = ""

    def set_reducing(self) -> None:
        self.core.set_state("REDUCING")

    def flatten(self) -> dict[str, int]:
        sent, denied = self.core.flatten()
        self.halt_reason = ""  # a flatten leaves the engine REDUCING, halted or not before
        self.drain()
        return {"sent": int(sent), "denied": int(denied)}

    def swap_model(self, name: str) -> None:
        raise EngineUnsupported(
            f"swap-model {name!r}: this engine trades external signals "
            f"({self.strategy.signals.kind}); a model predictor is not wired into sessions yet"
        )
