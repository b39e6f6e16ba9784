"""Sessions on the Rust engine (``[engine] kind = "rust"``): ``tradecore::engine::Engine``,
the backtest's loop, in every mode.

- Replay (:class:`RustReplay`): the engine on the L3 simulated exchange (queue position,
  latency, every pre-trade risk gate), stepped in chunks from the session's event loop through
  :class:`pycontrol._core.EngineSession` (the GIL is released while it runs). Between chunks
  the session applies commands and drains what the engine did: each order, fill and denial is
  journaled first and published as telemetry after. Commands take effect at a chunk boundary,
  in event time, so a replay given the same commands at the same points is deterministic.
- Paper and live (:class:`RustLive`): the engine on a broker venue
  (:class:`pycontrol._core.LiveEngine`). The broker's quotes go in as a one-level book, the
  intents it returns go to IB through the session (journaled first, as every intent), and
  IB's fills and cancels come back into the engine's positions. Same decision, sizing, risk
  gates and accounting as the backtest.

The strategy (signals, decision thresholds, sizing, latency, seed, full risk limits) comes
from a backtest config (``[engine] strategy``, ``docs/backtest.md``); the session's ``[risk]``
overrides ``max_order_qty`` and ``max_position``, and in replay ``[replay] data`` replaces the
backtest's data. Signals: an external file (replay only), the placebo stream, or a model
(``kind = "model"``); a registry model is hot-swapped by ``swap-model``.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from typing import Any

from pycontrol import _core
from pycontrol.backtest.config import BacktestConfig, expand
from pycontrol.backtest.run import engine_kwargs
from pycontrol.session.config import SessionConfig
from pycontrol.session.config import _fail as session_config_error
from pycontrol.session.engine import Denial, EngineOutput, EngineUnsupported
from pycontrol.session.journal import Journal, OrderRow
from pycontrol.session.operator_state import OperatorState, symbol_root
from pycontrol.session.orders import Bracket, ExecutionReport, Leg, OrderIntent, client_order_id

Publish = Callable[[str, dict[str, Any]], None]

STATE_NAMES = {"ACTIVE", "REDUCING", "HALTED"}
# The core's order type names -> the session's (and IB's).
ORDER_TYPES = {"MARKET": "MKT", "LIMIT": "LMT", "STOP": "STP"}


def strategy_config(cfg: SessionConfig) -> BacktestConfig:
    """The backtest config behind the engine, with the session's data and risk limits. A
    broker session reads no file: its data entry is only a label."""
    data = (cfg.replay.data or "<broker feed>",)
    if cfg.engine.strategy:
        bt = BacktestConfig.load(cfg.engine.strategy)
        bt = dataclasses.replace(bt, data=data, synth=None)
    else:
        bt = BacktestConfig.from_dict({"name": cfg.name, "data": list(data)})
    risk = dict(bt.risk)
    risk.update(cfg.risk.limits)
    return dataclasses.replace(bt, risk=tuple(sorted(risk.items())))


def effective_limits(cfg: SessionConfig) -> dict[str, float]:
    """Every pre-trade limit the session's engine applies: the core's defaults (those of
    ``configs/risk/default.toml``), then the strategy's ``[risk]``, then the session's,
    validated by the core."""
    return dict(_core.RiskEngine(dict(strategy_config(cfg).risk)).limits())


def publish_positions(publish: Publish, positions: list[dict[str, Any]]) -> None:
    """Positions and P&L on telemetry as the engine books them (one accounting: the core's)."""
    for p in positions:
        publish("position", {"symbol": p["symbol"], "qty": p["qty"], "avg_price": p["avg_price"]})
        publish(
            "pnl",
            {
                "symbol": p["symbol"],
                "position": p["qty"],
                "unrealized": p["unrealized"],
                "realized": p["realized"],
                "fees": p["fees"],
            },
        )


def _book_state(b: dict[str, Any] | None) -> str:
    """One word for an instrument's book in the status table (details stay in ``books``)."""
    if b is None:
        return "no data"
    return "crossed" if b["crossed"] else "untrusted" if b["untrusted"] else "ok"


def model_label(bt: BacktestConfig) -> str:
    s = bt.signals
    if s.kind == "model":
        return f"model:{s.family or s.path}"
    return f"external:{s.kind}"


def request_swap(core: Any, bt: BacktestConfig, name: str) -> str:
    """``swap-model <name>``: the engine reloads the registry's production version of its
    family (promotion through the registry's gates is the only way a version reaches an
    engine). ``name`` must be that version, the family or ``production``; anything else is
    refused with what to do instead. Returns the version requested."""
    s = bt.signals
    if s.kind != "model" or not s.registry:
        raise EngineUnsupported(
            f"swap-model {name!r}: this engine trades {model_label(bt)}; only a model from a "
            "registry family ([signals] kind = 'model' with registry + family) can be swapped"
        )
    aliases = expand(s.registry) / s.family / "aliases.json"
    try:
        prod = json.loads(aliases.read_text()).get("production")
    except (OSError, ValueError) as e:
        raise EngineUnsupported(f"swap-model: cannot read {aliases}: {e}") from None
    if not prod:
        raise EngineUnsupported(f"swap-model: family {s.family!r} has no production version")
    if name not in (prod, s.family, "production"):
        raise EngineUnsupported(
            f"swap-model {name!r}: the production version of {s.family!r} is {prod!r}; "
            f"promote {name!r} first (pycontrol models promote), then swap"
        )
    core.request_model_swap()
    return str(prod)


class _RustControls:
    """The operator's commands on a Rust engine binding (`EngineSession` or `LiveEngine`),
    shared by the replay and the broker session, and the journaling of the engine's own
    state moves (a breaker trip halts it without a command: the journal must know, or a
    restart would resume trading)."""

    core: Any
    cfg: SessionConfig
    strategy: BacktestConfig
    halt_reason: str
    journal: Journal
    publish: Publish
    _state: str = "ACTIVE"

    def set_risk_limits(self, limits: dict[str, float]) -> dict[str, float]:
        """Any subset of the core's limits, over the current ones. Raises ``ConfigError``
        naming every bad key or value; the engine keeps its limits then."""
        self.core.set_risk_limits(sorted(limits.items()))
        return dict(self.core.risk_limits())

    def halt(self, reason: str) -> None:
        self.core.set_state("HALTED")
        self.halt_reason = reason
        self._state = "HALTED"

    def resume(self) -> None:
        self.core.set_state("ACTIVE")
        self.halt_reason = ""
        self._state = "ACTIVE"

    def set_reducing(self) -> None:
        self.core.set_state("REDUCING")
        self._state = "REDUCING"

    def swap_model(self, name: str) -> None:
        request_swap(self.core, self.strategy, name)

    def restore_operator_state(self, st: OperatorState) -> None:
        """The journal's operator state into the core, before anything may be sent: the
        operator's limits over the ones the session starts with (never over the core's
        bare defaults, which may be looser than the config)."""
        limits = {**dict(self.core.risk_limits()), **st.limits}
        self.core.restore_operator_state(st.state, limits, st.realized_pnl, st.fees)
        self._state = st.state
        self.halt_reason = st.reason if st.state == "HALTED" else ""

    def push_signal(self, root: str, side: str, confidence: float) -> None:
        """A scripted external signal for instrument ``root`` (its next event answers it)."""
        self.core.push_signal(self.instrument_of(root), side, confidence)

    def push_alert(
        self, instrument_id: int, side: str, min_confidence: float, tag: int, ts: int | None
    ) -> None:
        """A webhook alert received at ``ts`` (None: the engine's clock, a replay's event
        time): traded only if the model's probability for
        ``side`` on the current features is >= ``min_confidence``; its verdict carries
        ``tag``."""
        self.core.push_signal(instrument_id, side, min_confidence, tag=tag, confirm=True, ts=ts)

    def drain_signal_verdicts(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = self.core.drain_signal_verdicts()
        return out

    def instrument_of(self, root: str) -> int:
        for iid, sym in self.core.symbols().items():
            if sym == root or sym.startswith(root):
                return int(iid)
        raise session_config_error("signals", [f"no instrument {root!r} in this session"])

    def _drift(self, events: list[dict[str, Any]]) -> None:
        """Journals each feature drift breach the engine recorded (``drift``), then publishes
        it (``state`` with ``event = "drift"``; the notifier's ``drift`` event). A move to
        REDUCING (``reduce_on_drift``) is journaled by :meth:`_watch_state`."""
        for ev in events:
            self.journal.append("drift", ev)
            self.publish("state", {"event": "drift", **ev})

    def _watch_state(self) -> None:
        """Journals a state the engine moved to by itself (a daily-loss or drawdown breaker
        halts it), then publishes it."""
        now = str(self.core.state)
        if now != self._state:
            body = {"state": now, "reason": "breaker" if now == "HALTED" else "engine"}
            self.journal.append("state", body)
            self.publish("state", {"event": "engine_state", **body})
            self._state = now
            if now == "HALTED":
                self.halt_reason = "breaker"


class RustReplay(_RustControls):
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
            raise session_config_error("replay", [f"data file not found: {paths[0]}"])
        defs = expand(self.strategy.definitions) if self.strategy.definitions else None
        specs = _core.instrument_specs([str(p) for p in paths], str(defs) if defs else None, 0.0)
        symbols = {int(x["instrument_id"]): str(x["symbol"]) for x in specs}
        kwargs = engine_kwargs(self.strategy, symbols, defs)
        if cfg.signals or cfg.webhook is not None:  # webhook alerts enter through the inbox
            kwargs["signal_inbox"] = True
        self.core = _core.EngineSession([str(p) for p in paths], **kwargs)
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
        self._watch_state()
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
        for us in d["latency_us"]:
            self.publish("latency", {"stage": "event_to_intent_us", "value": us})
        self._drift(d.get("drift_events", []))
        if d["fills"]:
            publish_positions(self.publish, self.core.snapshot()["positions"])

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
        snap["model_source"] = model_label(self.strategy)
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

    def restore_operator_state(self, st: OperatorState) -> None:
        """A replay reruns its data from the first record (its P&L is recomputed, not
        restored): the operator's state and limits only."""
        if st.limits:
            self.core.set_risk_limits(sorted(st.limits.items()))
        self.core.set_state(st.state)
        self._state = st.state
        self.halt_reason = st.reason if st.state == "HALTED" else ""

    def flatten(self) -> dict[str, int]:
        sent, denied = self.core.flatten()
        self.halt_reason = ""  # a flatten leaves the engine REDUCING, halted or not before
        self._state = "REDUCING"
        self.drain()
        return {"sent": int(sent), "denied": int(denied)}


class RustLive(_RustControls):
    """The Rust engine of a paper or live session, behind the session's engine interface:
    quotes and execution reports in, intents and denials out. The session journals every
    intent before the broker sees it, as for any engine.

    Every instrument of the session (``[[instruments]]``) has its own slot in the one engine:
    instrument id ``k + 1`` for the k-th root, with its own book, features, model slot and
    position, under the portfolio gates. A slot trades the contract month the venue resolves
    for its root; intents carry that contract's local symbol. A restart rebuilds the core
    from the journal (positions with their average price, working orders, intent ids), so a
    restarted session never reuses a client order id and its exits know the position they
    close."""

    def __init__(self, cfg: SessionConfig, journal: Journal, publish: Publish) -> None:
        self.cfg = cfg
        self.journal = journal
        self.publish = publish
        self.strategy = strategy_config(cfg)
        if self.strategy.signals.kind == "file":
            raise session_config_error(
                "engine",
                [
                    f"strategy {cfg.engine.strategy}: a signals file is a replay of the past; a "
                    "paper or live session trades the placebo stream or a model ([signals] kind)"
                ],
            )
        self.roots = [i.root for i in cfg.instruments]
        self.iid_of_root = {r: k + 1 for k, r in enumerate(self.roots)}
        # instrument id -> the local symbol its intents carry (the root until the venue's
        # first quote or the journal names the contract month)
        self.symbol_of: dict[int, str] = {k + 1: r for k, r in enumerate(self.roots)}
        self.kwargs = engine_kwargs(self.strategy, dict(self.symbol_of), None)
        if cfg.signals or cfg.webhook is not None:  # webhook alerts enter through the inbox
            self.kwargs["signal_inbox"] = True
        self.core = self._new_core()
        self.halt_reason = ""
        self._last_ts = 0
        self._denied_at_release: set[int] = set()
        self.mids: dict[str, float] = {}  # last quoted mid per contract

    def set_contracts(self, fronts: dict[str, str]) -> None:
        """The venue's front month per root: the contract a flat slot trades. A slot that
        holds a position in another month keeps trading that month until a roll moves it."""
        held = {self.iid(s) for s, (q, _) in self.journal.positions().items() if q}
        for root, sym in fronts.items():
            k = self.iid(root)
            if k not in held:
                self.symbol_of[k] = sym

    def roll_exit(self, root: str) -> EngineOutput:
        """The roll's exit of ``root``'s old month (cancels of its bracket, a reduce-only
        market exit), gated; nothing is sent when the gate refuses the exit."""
        return self._output(self.core.roll_exit(self.iid(root)))

    def roll_entry(
        self, root: str, symbol: str, side: str, qty: int, bracket: tuple[float, float] | None
    ) -> EngineOutput:
        """The roll's entry in ``symbol`` (the new month; the slot trades it from now on),
        gated like any entry."""
        k = self.iid(root)
        self.symbol_of[k] = symbol
        return self._output(self.core.roll_entry(k, side, qty, bracket))

    def iid(self, symbol: str) -> int:
        """The instrument id of a root or of one of its contract months (ESZ6 -> ES's)."""
        k = self.iid_of_root.get(symbol) or self.iid_of_root.get(symbol_root(symbol))
        if k is None:
            raise session_config_error(
                "instruments", [f"{symbol!r} is not an instrument of this session ({self.roots})"]
            )
        return k

    def instrument_of(self, root: str) -> int:
        return self.iid(root)

    def _ts(self, ts: int) -> int:
        """Event time is arrival time, in arrival order: a wall-clock step back (NTP) is held
        at the last time instead of refused by the engine's time-order check."""
        self._last_ts = max(self._last_ts, ts)
        return self._last_ts

    def _new_core(self) -> Any:
        return _core.LiveEngine(
            [(k + 1, i.root, i.tick, i.point_value) for k, i in enumerate(self.cfg.instruments)],
            **self.kwargs,
        )

    # -- lifecycle -----------------------------------------------------------------------------

    def restore(
        self, positions: dict[str, int], working: list[OrderRow], done_intent_ids: list[int]
    ) -> None:
        """A fresh core with the journal's state (the session calls this at start and again
        after the broker reconciliation; the journal then holds the broker's truth)."""
        now = time.time_ns()
        core = self._new_core()
        held = {s: qa for s, qa in self.journal.positions().items() if qa[0] != 0}
        by_iid: dict[int, list[str]] = {}
        for sym in held:
            by_iid.setdefault(self.iid(sym), []).append(sym)
        two = {self.roots[k - 1]: sorted(v) for k, v in by_iid.items() if len(v) > 1}
        if two:
            raise session_config_error(
                "journal",
                [
                    f"{root}: positions in {syms}, two months of one instrument; close the "
                    "old month first (pycontrol ctl flatten, or at the broker)"
                    for root, syms in sorted(two.items())
                ],
            )
        for sym, (qty, avg) in held.items():
            k = self.iid(sym)
            core.restore_position(k, qty, avg, now)
            self.symbol_of[k] = sym
        for o in working:
            core.adopt(
                o.client_order_id,
                self.iid(o.symbol),
                o.side,
                o.qty,
                o.filled,
                o.order_type,
                o.price,
                o.stop_price,
                now,
            )
        core.reserve_intent_ids(max(done_intent_ids, default=0) + 1)
        core.set_state(self.core.state)  # a halt survives a reconciliation
        core.set_risk_limits(sorted(self.core.risk_limits()))  # so do operator limits
        for k in self.core.entries_blocked():  # and the scanner's selection
            core.set_entries_allowed(k, False)
        self.core = core

    # -- events ----------------------------------------------------------------------------

    def on_market_data(self, md: Any) -> EngineOutput:
        # The slot's book follows the front month's quotes; its intents name the contract
        # it trades (an old month until a roll has moved its position).
        k = self.iid(md.symbol)
        if md.bid == md.bid and md.ask == md.ask:
            self.mids[md.symbol] = (md.bid + md.ask) / 2
        bid = (md.bid, md.bid_size) if md.bid == md.bid else None
        ask = (md.ask, md.ask_size) if md.ask == md.ask else None
        return self._output(self.core.on_quote(k, self._ts(md.ts), bid, ask))

    def on_feed_records(self, data: bytes) -> EngineOutput:
        """Raw DBN records of a live feed (``[feed] kind = "databento"``, see
        ``pycontrol.feeds.databento_live``): MBO through the engine's L3 book and queue model."""
        return self._output(self.core.on_records(data))

    def on_trade(self, tp: Any) -> EngineOutput:
        """A trade print; bars and trade features read it (its side as the feed inferred)."""
        k = self.iid(tp.symbol)
        ts = self._ts(tp.ts)
        return self._output(self.core.on_trade(k, ts, tp.price, tp.size, tp.aggressor))

    def evaluate(self, instrument_id: int, ts: int) -> tuple[bool, EngineOutput]:
        """The decision path for one instrument now (a pushed alert is answered without
        waiting for the next quote): whether it could be asked, and its output."""
        out = self.core.evaluate(instrument_id, self._ts(ts))
        return bool(out["evaluated"]), self._output(out)

    def on_execution_report(self, r: ExecutionReport) -> EngineOutput:
        known = self.core.order(r.client_order_id) is not None
        ts = r.ts or time.time_ns()
        if r.kind in ("fill", "ack") and not known:
            # an order this core never saw (adopted at the broker after the last restore):
            # track it, and book its fill; never drop a fill
            self.core.adopt(
                r.client_order_id, self.iid(r.symbol), r.side, r.qty, 0, "MKT", None, None, ts
            )
        if r.kind == "fill":
            self.core.on_fill(r.client_order_id, r.qty, r.price, ts, r.commission)
        elif r.kind in ("cancelled", "reject") and known:
            status = "CANCELLED" if r.kind == "cancelled" else "REJECTED"
            self.core.on_closed(r.client_order_id, status, r.reason)
        return EngineOutput()

    def on_commission(self, client_order_id: int, commission: float) -> None:
        """IB's commission of a fill this engine booked: into its fees and round trip."""
        self.core.on_commission(client_order_id, commission)

    def recheck(self, intent: OrderIntent) -> tuple[str, str] | None:
        """The gate at send time for a held intent: (reason, detail) when the engine now
        refuses it (its orders are then withdrawn in the core); None to send it. Cancels
        always pass (they only reduce risk)."""
        if intent.action == "CANCEL":
            return None
        coid = (
            intent.target_client_order_id
            if intent.action == "MODIFY" and intent.target_client_order_id is not None
            else client_order_id(intent.intent_id, Leg.ENTRY)
        )
        verdict = self.core.recheck(coid)
        self._watch_state()
        if verdict is None:
            return None
        # the core lists this denial again with its next output: the venue journals it now
        self._denied_at_release.add(int(verdict["intent_id"]))
        return str(verdict["reason"]), str(verdict["message"])

    def on_venue_denial(self, intent: OrderIntent, reason: str) -> None:
        """The venue refused to send an intent (restart window with policy "deny"): its
        orders never existed, so they must not count as working."""
        if intent.action != "NEW":
            return
        legs = [Leg.ENTRY] + ([Leg.TAKE_PROFIT, Leg.STOP_LOSS] if intent.bracket else [])
        for leg in legs:
            cid = client_order_id(intent.intent_id, leg)
            o = self.core.order(cid)
            # (a recheck that refused it has already withdrawn it in the core)
            if o is not None and o["status"] not in ("FILLED", "CANCELLED", "REJECTED"):
                self.core.on_closed(cid, "REJECTED", reason)

    def _intent(self, d: dict[str, Any]) -> OrderIntent:
        b = d["bracket"]
        return OrderIntent(
            intent_id=int(d["intent_id"]),
            ts=int(d["ts"]),
            symbol=self.symbol_of[int(d["instrument_id"])],
            side=str(d["side"]),
            qty=int(d["qty"]),
            order_type=ORDER_TYPES[str(d["order_type"])],
            action=str(d["action"]),
            price=d["price"],
            stop_price=d["stop_price"],
            tif=str(d["tif"]),
            reduce_only=bool(d["reduce_only"]),
            bracket=Bracket(stop_loss=b["stop_loss"], take_profit=b["take_profit"]) if b else None,
            source=str(d["source"]),
            target_client_order_id=d["target_client_order_id"],
        )

    def _output(self, out: dict[str, Any]) -> EngineOutput:
        self._drift(out.get("drift_events", []))
        self._watch_state()
        denials = []
        for n in out["denials"]:
            iid = int(n["intent"]["intent_id"])
            if iid in self._denied_at_release:
                self._denied_at_release.discard(iid)  # journaled by the venue already
                continue
            denials.append(Denial(self._intent(n["intent"]), str(n["reason"]), str(n["detail"])))
        return EngineOutput([self._intent(i) for i in out["intents"]], denials)

    # -- commands --------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        snap: dict[str, Any] = self.core.snapshot()
        snap["engine"] = "rust"
        snap["model_source"] = model_label(self.strategy)
        snap["halt_reason"] = self.halt_reason
        held = {}
        for p in snap["positions"]:
            p["root"] = self.roots[int(p["instrument_id"]) - 1]
            p["symbol"] = self.symbol_of[int(p["instrument_id"])]
            held[int(p["instrument_id"])] = p
        caps = {int(k): v for k, v in snap.get("max_position_by_instrument", {}).items()}
        books = snap.get("books", {})
        # one row per instrument of the session, traded or not: the operator's portfolio view
        snap["instruments"] = [
            {
                "instrument_id": k,
                "root": root,
                "symbol": self.symbol_of[k],
                "qty": int(held.get(k, {}).get("qty", 0)),
                "avg_price": held.get(k, {}).get("avg_price", 0.0),
                "unrealized": held.get(k, {}).get("unrealized", 0.0),
                "realized": held.get(k, {}).get("realized", 0.0),
                "fees": held.get(k, {}).get("fees", 0.0),
                "max_position": caps.get(k, snap["limits"]["max_position"]),
                "book": _book_state(books.get(root)),
            }
            for k, root in enumerate(self.roots, 1)
        ]
        if self.cfg.feed.kind == "databento":  # the feed's counters and the L3 books it built
            snap["feed"] = {
                **self.core.feed_stats(),
                "books": {
                    root: {"bids": self.core.book_levels(k, "B", 10),
                           "asks": self.core.book_levels(k, "A", 10)}
                    for k, root in enumerate(self.roots, 1)
                },
            }  # fmt: skip
        return snap

    def flatten(self) -> EngineOutput:
        self.halt_reason = ""
        self._state = "REDUCING"
        return self._output(self.core.flatten())
