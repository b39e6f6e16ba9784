"""A running session: the control plane's event loop.

One asyncio loop owns the journal, the venue (replay or IB), the command socket (ROUTER,
``tcp://127.0.0.1``) and the telemetry socket (PUB); the engine runs in its own thread behind
the engine channel (:mod:`pycontrol.session.channel`). Market data goes to the engine; its
intents are journaled and sent to the venue; the venue's execution reports are journaled and
go back to the engine. Every command is journaled before it is acknowledged.

The endpoints of a running session are written to ``<run_dir>/endpoints.json`` for ``ctl``.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import signal
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, cast

import zmq
import zmq.asyncio

from pycontrol._core import ConfigError
from pycontrol.notify.client import notifier_from_env
from pycontrol.session import messages as m
from pycontrol.session.channel import EngineClient, EngineHost
from pycontrol.session.config import SessionConfig
from pycontrol.session.control_auth import ControlAuth, private_run_dir
from pycontrol.session.engine import (
    EngineOutput,
    EngineUnsupported,
    MarketData,
    ScriptedEngine,
    TradePrint,
    WorkingOrder,
)
from pycontrol.session.journal import Journal, apply_fill
from pycontrol.session.orders import ExecutionReport, OrderIntent
from pycontrol.session.permissions import Gate, Limits
from pycontrol.session.redact import install_redaction

if TYPE_CHECKING:
    from pycontrol.session.rust_engine import RustLive, RustReplay

log = logging.getLogger("pycontrol.session")


class LiveModeRefused(Exception):
    """Live trading was asked for without both safety conditions."""


def check_mode(cfg: SessionConfig, mode: str, confirm_live: bool) -> None:
    """Live needs ``mode = "live"`` in the config AND ``--confirm-live``; anything else that
    asks for live is refused before a socket is opened."""
    if mode != "live":
        return
    missing = []
    if cfg.mode != "live":
        missing.append(f'the config says mode = "{cfg.mode}" (live needs mode = "live")')
    if not confirm_live:
        missing.append("--confirm-live was not given on the command line")
    if missing:
        raise LiveModeRefused("live mode refused: " + "; ".join(missing))


class SessionLocked(Exception):
    """Another live process owns this run directory (and its journal)."""


def lock_run_dir(run_dir: Path) -> IO[str]:
    """One session per journal: two processes trading from one journal would each believe
    the other's orders are foreign. An flock, so the kernel releases it when the owner dies,
    even by SIGKILL, and a restart after a crash is never blocked."""
    f = (run_dir / "session.lock").open("a+")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.seek(0)
        owner = f.read().strip() or "?"
        f.close()
        raise SessionLocked(f"{run_dir} is in use by another session (pid {owner})") from None
    f.seek(0)
    f.truncate()
    f.write(str(os.getpid()))
    f.flush()
    return f


class Session:
    TELEMETRY_HWM = 100_000  # messages queued per subscriber before publish() counts drops

    def __init__(self, cfg: SessionConfig, mode: str, run_dir: Path | None = None) -> None:
        self.cfg = cfg
        self.mode = mode
        self.run_dir = Path(run_dir or cfg.run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        private_run_dir(self.run_dir)  # control plane (issue 13): 0700 / 0600
        self._lock = lock_run_dir(self.run_dir)
        self.journal = Journal(self.run_dir / "journal.sqlite")
        self.ctx: zmq.asyncio.Context = zmq.asyncio.Context()
        self._sync_ctx: zmq.Context[Any] = zmq.Context()
        self._stop = asyncio.Event()
        self._seq = 0
        self.venue: Any = None
        self.engine_host: EngineHost | None = None
        self.engine: EngineClient | RustReplay | RustLive | None = None
        self.rust: RustReplay | None = None
        self.last_md: MarketData | None = None
        self.md_count = 0
        self._pending: set[asyncio.Future[None]] = set()
        self.realized: dict[str, float] = {}
        self._pnl_pos: dict[str, tuple[int, float]] = self.journal.positions()
        # Execution ids whose fill the engine booked in this process, and whose commission it
        # has: a commission reaches the engine once, and only for a fill it holds (IB repeats
        # both when it replays executions after a reconnect).
        self._engine_fills: set[str] = set()
        self._engine_commissions: set[str] = set()
        # notifications service ($PYCONTROL_NOTIFY_URL), or None: the one hook is publish()
        self.notifier = notifier_from_env(cfg.name)

    # -- setup ---------------------------------------------------------------------------------

    def _start_engine(self) -> EngineClient | RustReplay | RustLive:
        if self.cfg.engine.kind == "rust":
            from pycontrol.session.rust_engine import RustLive, RustReplay

            if self.mode != "replay":
                # On a broker venue: IB matches, the session carries intents and reports.
                return RustLive(self.cfg, self.journal)
            # In replay the Rust engine owns the simulated exchange: engine and venue.
            self.rust = RustReplay(self.cfg, self.journal, self.publish)
            self.venue = self.rust
            return self.rust
        if self.cfg.engine_address:
            # an engine in its own process owns its lifetime: we connect, never stop it
            return EngineClient(self._sync_ctx, self.cfg.engine_address, owns_engine=False)
        symbol = self.cfg.instrument.root
        engine = ScriptedEngine(
            symbol, self.cfg.instrument.tick_size, self.cfg.risk, self.cfg.signals
        )
        engine.model = self.cfg.model
        addr = f"inproc://engine-{id(self)}"
        self.engine_host = EngineHost(engine, self._sync_ctx, addr)
        self.engine_host.start()
        return EngineClient(self._sync_ctx, addr)

    def _flow(self) -> EngineClient | RustLive:
        """The engine, when market data and reports flow through the session (every engine
        but the Rust replay, which owns its simulated venue)."""
        assert self.engine is not None and self.rust is None
        return cast("EngineClient | RustLive", self.engine)

    def _restore_engine(self) -> None:
        assert self.engine is not None
        if self.rust is not None:
            # The Rust replay restarts from the first record; a deterministic rerun into the
            # same journal is suppressed order for order and fill for fill (positional ids).
            return
        positions = {s: q for s, (q, _) in self.journal.positions().items()}
        working = [
            WorkingOrder(
                o.client_order_id, o.symbol, o.side, o.qty - o.filled, o.parent_client_order_id
            )
            for o in self.journal.orders(working_only=True)
        ]
        self._flow().restore(positions, working, self.journal.intent_ids())

    def _bind(self) -> dict[str, str]:
        self.cmd = self.ctx.socket(zmq.ROUTER)
        self.pub = self.ctx.socket(zmq.PUB)
        # control plane (issue 13): CURVE on both sockets, operator identity per message, a
        # maximum message size, and a PUB that reports its drops instead of hiding them
        self.control = ControlAuth(self.ctx)
        self.gate = Gate(
            Limits(self.cfg.risk.max_order_qty, self.cfg.risk.max_position), self.journal
        )
        self.telemetry_sent = self.telemetry_dropped = 0
        self.control.serve(self.cmd)
        self.control.serve(self.pub)
        self.pub.setsockopt(zmq.SNDHWM, self.TELEMETRY_HWM)
        self.pub.setsockopt(zmq.XPUB_NODROP, 1)  # a full subscriber: EAGAIN, counted below
        # publish() sends through a plain (synchronous) shadow of the PUB: the asyncio socket
        # would park EAGAIN in a Future instead of raising it
        self._pub_sync: zmq.Socket[Any] = zmq.Socket.shadow(self.pub.underlying)
        z = self.cfg.zmq
        eps = {}
        for name, sock, port in (("cmd", self.cmd, z.cmd_port), ("pub", self.pub, z.pub_port)):
            if port:
                sock.bind(f"tcp://127.0.0.1:{port}")
            else:
                port = sock.bind_to_random_port("tcp://127.0.0.1")
            eps[name] = f"tcp://127.0.0.1:{port}"
        eps["pid"] = str(os.getpid())
        eps["server_key"] = self.control.server.public.decode()
        tmp = self.run_dir / "endpoints.json.tmp"
        tmp.write_text(json.dumps(eps))
        tmp.replace(self.run_dir / "endpoints.json")
        return eps

    # -- telemetry ----------------------------------------------------------------------------

    def publish(self, topic: str, data: dict[str, Any]) -> None:
        self._seq += 1
        try:
            self._pub_sync.send_multipart(m.telemetry(topic, self._seq, data), flags=zmq.NOBLOCK)
            self.telemetry_sent += 1
        except zmq.Again:
            self.telemetry_dropped += 1
        if self.notifier is not None:  # issue 13: halts, fills, start/stop -> notifications
            self.notifier.on_session_event(topic, data)

    # -- the data path ----------------------------------------------------------------------

    def on_market(self, md: MarketData) -> None:
        t0 = time.perf_counter_ns()
        self.md_count += 1
        self.last_md = md
        if self.venue is not None and hasattr(self.venue, "on_quote"):
            self.venue.on_quote(md)
        out = self._flow().on_market_data(md)
        self._handle(out)
        if out.intents:
            self.publish(
                "latency",
                {"stage": "md_to_intent_us", "value": (time.perf_counter_ns() - t0) / 1000},
            )

    def on_trade(self, tp: TradePrint) -> None:
        """A trade print from the venue's feed: bars and trade features in the engine."""
        self._handle(self._flow().on_trade(tp))

    def _handle(self, out: EngineOutput) -> None:
        for d in out.denials:
            self.journal.append("denial", d.to_dict(), intent_id=d.intent.intent_id)
            self.publish("denial", d.to_dict())
        for intent in out.intents:
            if not self.journal.record_intent(intent.intent_id, intent.to_dict()):
                self.journal.append(
                    "duplicate_intent",
                    {"note": "already journaled; not sent"},
                    intent_id=intent.intent_id,
                )
                continue
            self.publish("signal", intent.to_dict())
            task = asyncio.ensure_future(self.venue.submit(intent))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    def on_deny(self, intent: OrderIntent, reason: str, detail: str) -> None:
        body = {"intent": intent.to_dict(), "reason": reason, "detail": detail}
        self.journal.append("denial", body, intent_id=intent.intent_id)
        self.publish("denial", body)
        venue_denial = getattr(self.engine, "on_venue_denial", None)
        if venue_denial is not None:
            venue_denial(intent, reason)  # its orders never reached the venue

    def on_report(self, report: ExecutionReport, source: str) -> None:
        """A report the venue has already journaled: to the engine and to telemetry."""
        self.publish(
            "fill" if report.kind == "fill" else "order", {**report.to_dict(), "source": source}
        )
        self._handle(self._flow().on_execution_report(report))
        if report.kind == "fill":
            self._engine_fills.add(report.exec_id)
            self._book_pnl(report)
            pos = self.journal.positions().get(report.symbol, (0, 0.0))
            self.publish("position", {"symbol": report.symbol, "qty": pos[0], "avg_price": pos[1]})
            self.publish("pnl", self._pnl(report.symbol, pos))

    def on_commission(self, client_order_id: int, exec_id: str, commission: float) -> None:
        """IB's commission of a fill (journaled by the venue): to the engine, once."""
        if exec_id in self._engine_fills and exec_id not in self._engine_commissions:
            self._engine_commissions.add(exec_id)
            self._flow().on_commission(client_order_id, commission)

    def _book_pnl(self, r: ExecutionReport) -> None:
        """Realized P&L of a fill against the position before it (the journal has already
        applied it, so the session keeps its own copy, refreshed at every reconcile)."""
        qty, avg = self._pnl_pos.get(r.symbol, (0, 0.0))
        delta = r.qty if r.side == "BUY" else -r.qty
        if qty and (qty > 0) != (delta > 0):
            closed = min(abs(delta), abs(qty))
            gain = (
                (r.price - avg) * closed * (1 if qty > 0 else -1) * self.cfg.instrument.multiplier
            )
            self.realized[r.symbol] = self.realized.get(r.symbol, 0.0) + gain
        self._pnl_pos[r.symbol] = apply_fill(qty, avg, delta, r.price)

    def _pnl(self, symbol: str, pos: tuple[int, float]) -> dict[str, Any]:
        mult = self.cfg.instrument.multiplier
        unreal = 0.0
        if self.last_md is not None and pos[0]:
            mark = self.last_md.bid if pos[0] > 0 else self.last_md.ask
            unreal = (mark - pos[1]) * pos[0] * mult
        return {
            "symbol": symbol,
            "position": pos[0],
            "unrealized": unreal,
            "realized": self.realized.get(symbol, 0.0),
        }

    def on_event(self, kind: str, data: dict[str, Any]) -> None:
        if kind == "reconcile":
            self._pnl_pos = self.journal.positions()
            if data.get("position_mismatches") and self.engine is not None and self.rust is None:
                # The broker's positions replaced the journal's (trades we did not make, or
                # made while the journal was elsewhere): the engine's must follow, or its
                # risk gate would count a position that is not there.
                self._restore_engine()
        topic = kind if kind in ("reconcile", "order") else "state"
        self.publish(topic, {"event": kind, **data})

    # -- commands --------------------------------------------------------------------------

    async def _command_loop(self) -> None:
        while not self._stop.is_set():
            zframes = await self.cmd.recv_multipart(copy=False)
            operator = self.control.operator_of(zframes[-1])
            frames = [f.bytes for f in zframes]
            ident, body = frames[0], frames[-1]
            if len(frames) != 3 or frames[1] != b"":
                # not a REQ envelope (a DEALER without the empty delimiter, extra parts): still
                # answered, so the sender learns why instead of waiting forever
                head = [ident] if len(frames) == 2 else [ident, b""]
                msg = f"expected one message part after the REQ envelope, got {len(frames) - 1}"
                await self.cmd.send_multipart([*head, m.error("bad_envelope", msg)])
                continue
            try:
                cmd = m.parse_command(body)
                self.gate.admit(cmd, operator)  # override check; journals who sent it
                reply = m.ok(self._execute(cmd.cmd, cmd.args), cmd.id)
            except m.MessageError as e:
                reply = m.error(e.code, e.message)
            except Exception as e:  # a failing command is an error reply, not a dead session
                log.exception("command failed")
                reply = m.error("internal", f"{type(e).__name__}: {e}")
            await self.cmd.send_multipart([ident, b"", reply])

    def _execute(self, name: str, args: dict[str, Any]) -> dict[str, Any]:
        assert self.engine is not None
        if name == "status":
            return {
                "name": self.cfg.name,
                "mode": self.mode,
                "engine": self.engine.status(),
                "venue": self.rust.venue_status() if self.rust else self.venue.status(),
                "journal": {
                    "path": str(self.journal.path),
                    "positions": {s: q for s, (q, _) in self.journal.positions().items()},
                    "working": len(self.journal.orders(working_only=True)),
                    "fills": len(self.journal.fill_ids()),
                },
                "market_events": self.md_count,
                "realized_pnl": self.realized,
                "control": {**self.control.status(), **self.gate.status()},
                "telemetry": {"sent": self.telemetry_sent, "dropped": self.telemetry_dropped},
            }
        if name == "set-risk-limits":
            try:
                from pycontrol.session.config import RiskConfig

                RiskConfig(**args)
            except Exception as e:
                raise m.MessageError("bad_args", f"set-risk-limits: {e}") from None
            try:
                # applied before it is journaled: limits the engine refuses never happened
                self.engine.set_risk_limits(args["max_order_qty"], args["max_position"])
            except ConfigError as e:
                raise m.MessageError("bad_args", f"set-risk-limits: {e}") from None
            self.journal.append("risk_limits", args)
            return {"limits": args}
        if name == "swap-model":
            if not args["model"]:
                raise m.MessageError("bad_args", "swap-model: model must not be empty")
            try:
                self.engine.swap_model(args["model"])
            except EngineUnsupported as e:
                raise m.MessageError("unsupported", str(e)) from None
            self.journal.append("model_swap", args)
            self.publish("state", {"event": "model_swap", **args})
            return {"model": args["model"]}
        if name == "halt":
            reason = args.get("reason", "operator")
            self.journal.append("halt", {"reason": reason})
            self.engine.halt(reason)
            self.publish("state", {"event": "halt", "reason": reason})
            return {"state": "HALTED"}
        if name == "resume":
            self.journal.append("resume", {})
            self.engine.resume()
            self.publish("state", {"event": "resume"})
            return {"state": "ACTIVE"}
        if name == "reducing":
            self.journal.append("reducing", {})
            self.engine.set_reducing()
            self.publish("state", {"event": "reducing"})
            return {"state": "REDUCING"}
        if name == "flatten" and self.rust is not None:
            self.journal.append("flatten", {})
            res = self.rust.flatten()  # journals and publishes its orders itself
            self.publish("state", {"event": "flatten", **res})
            return {"intents": res["sent"], "denied": res["denied"]}
        if name == "flatten":
            self.journal.append("flatten", {})
            out = self._flow().flatten()
            self._handle(out)
            self.publish("state", {"event": "flatten"})
            return {"intents": len(out.intents)}
        if name == "shutdown":
            self.journal.append("shutdown", {})
            self._stop.set()
            return {"stopping": True}
        raise m.MessageError("unknown_command", name)

    # -- run ---------------------------------------------------------------------------------

    async def run(self) -> int:
        install_redaction(self.cfg.secret_envs)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self._stop.set)
        self.engine = self._start_engine()
        self._restore_engine()
        eps = self._bind()
        self.journal.append(
            "session_start",
            {"mode": self.mode, "name": self.cfg.name, "cmd": eps["cmd"], "pub": eps["pub"]},
        )
        log.info(
            "session %s (%s): commands %s, telemetry %s",
            self.cfg.name,
            self.mode,
            eps["cmd"],
            eps["pub"],
        )
        tasks = [
            asyncio.ensure_future(self._command_loop()),
            asyncio.ensure_future(self._heartbeat()),
            *(asyncio.ensure_future(self._watch_auth(s)) for s in self.control.monitors()),
        ]
        try:
            if self.rust is not None:
                tasks.append(asyncio.ensure_future(self._replay_rust(self.rust)))
            elif self.mode == "replay":
                tasks.append(asyncio.ensure_future(self._replay()))
            else:
                from pycontrol.ib.broker import IBVenue

                self.venue = IBVenue(
                    self.cfg,
                    self.mode,
                    self.journal,
                    self.on_report,
                    self.on_deny,
                    self.on_market,
                    self.on_event,
                    on_trade=self.on_trade,
                    on_commission=self.on_commission,
                )
                await self.venue.start()
                self._restore_engine()  # after reconciliation: the broker's truth
            self.publish("state", {"event": "ready", "mode": self.mode})
            log.info("session ready")
            print(f"session ready: cmd {eps['cmd']} pub {eps['pub']}", flush=True)
            await self._stop.wait()
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if self.venue is not None and hasattr(self.venue, "stop"):
                await self.venue.stop()
            self.journal.append("session_stop", {})
            if self.notifier is not None:
                self.notifier.event("session_stop", f"{self.cfg.name} stopped", {"mode": self.mode})
                self.notifier.close()
            self._close()
        return 0

    async def _watch_auth(self, monitor: Any) -> None:
        """Counts refused handshakes (a peer without an operator key) on one socket."""
        while not self._stop.is_set():
            self.control.on_monitor_event(await monitor.recv_multipart())

    async def _heartbeat(self, every_s: float = 1.0) -> None:
        """A liveness beat on telemetry: a dashboard (or a test) knows the session is alive and
        that its subscription is joined without waiting for a trade."""
        while not self._stop.is_set():
            self.publish("state", {"event": "heartbeat", "market_events": self.md_count})
            await asyncio.sleep(every_s)

    async def _replay(self) -> None:
        from pycontrol.session.replay_venue import ReplayVenue, dbn_quotes

        self.venue = ReplayVenue(self.journal, self.on_report, self.on_deny)
        rate = self.cfg.replay.rate_hz
        for i, md in enumerate(dbn_quotes(self.cfg.replay.data)):
            self.on_market(md)
            if self._pending:
                # replay is deterministic: an intent reaches the simulated venue before the
                # next book event, not whenever the loop gets round to it
                await asyncio.gather(*self._pending)
            if rate > 0:
                await asyncio.sleep(1.0 / rate)
            elif i % 256 == 0:
                await asyncio.sleep(0)  # let commands in
        self.journal.append("replay_end", {"events": self.md_count})
        self.publish("state", {"event": "replay_end", "events": self.md_count})
        if self.cfg.replay.exit_at_end:
            self._stop.set()

    async def _replay_rust(self, rust: RustReplay) -> None:
        """The Rust engine over the replay data, a chunk at a time: commands are applied
        between chunks (in event time, at a record boundary), and every chunk's orders,
        fills and denials are journaled before they are published. ``rate_hz`` paces it in
        records per second (0: as fast as possible)."""
        chunk = self.cfg.engine.chunk_records
        rate = self.cfg.replay.rate_hz
        while True:
            n = rust.step(chunk)
            self.md_count = rust.records
            if n == 0:
                break
            await asyncio.sleep(n / rate if rate > 0 else 0)
        snap = rust.status()
        end = {"events": self.md_count, "engine": "rust", "positions": snap["positions"]}
        self.journal.append("replay_end", end)
        self.publish("state", {"event": "replay_end", **end})
        if self.cfg.replay.exit_at_end:
            self._stop.set()

    def _close(self) -> None:
        if isinstance(self.engine, EngineClient):
            self.engine.close()
        if self.engine_host is not None:
            self.engine_host.join(5)
        self.control.close()
        self.cmd.close(linger=0)
        self.pub.close(linger=0)
        self.ctx.term()
        self._sync_ctx.term()
        self.journal.close()
        self._lock.close()
