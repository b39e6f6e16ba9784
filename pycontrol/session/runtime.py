"""A running session: the control plane's event loop.

One asyncio loop owns the journal, the venue (the L3 simulated exchange in replay, IB in
paper and live), the command socket (ROUTER, ``tcp://127.0.0.1``) and the telemetry socket
(PUB). The engine is the Rust core's in every mode (:mod:`pycontrol.session.rust_engine`):
market data goes in, its intents are journaled and sent to the venue, the venue's execution
reports are journaled and go back to it. Every command is journaled before it is
acknowledged, and a restart puts the engine back in the journal's operator state (trading
state, operator limits, the day's realized P&L and fees) before it may send anything.

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
from pycontrol.session import operator_state
from pycontrol.session.config import MODES, SessionConfig
from pycontrol.session.control_auth import ControlAuth, private_run_dir
from pycontrol.session.engine import (
    EngineOutput,
    EngineUnsupported,
    MarketData,
    TradePrint,
)
from pycontrol.session.journal import Journal
from pycontrol.session.latency import LatencyStats
from pycontrol.session.orders import ExecutionReport, OrderIntent
from pycontrol.session.permissions import Gate
from pycontrol.session.redact import install_redaction
from pycontrol.session.roll import Roller

if TYPE_CHECKING:
    from pycontrol.session.rust_engine import RustLive, RustReplay

log = logging.getLogger("pycontrol.session")


class LiveModeRefused(ConfigError):
    """Live trading was asked for without both safety conditions."""


def _ignore(_: Any) -> None:
    """A venue's quotes or trades when the engine's market data comes from ``[feed]``."""


def check_mode(cfg: SessionConfig, mode: str, confirm_live: bool) -> None:
    """Live needs ``mode = "live"`` in the config AND an explicit confirmation (the CLI's
    ``--confirm-live``, the API's ``confirm_live=True``); anything else that asks for live is
    refused before a socket is opened or a journal written. :class:`Session` calls this
    itself, so no entry point can skip it."""
    if mode not in MODES:
        raise LiveModeRefused(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if mode != "live":
        return
    missing = []
    if cfg.mode != "live":
        missing.append(f'the config says mode = "{cfg.mode}" (live needs mode = "live")')
    if not confirm_live:
        missing.append(
            "no explicit confirmation (--confirm-live was not given on the command line; "
            "confirm_live=True from Python)"
        )
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
    """One session. ``confirm_live`` is the explicit confirmation live mode needs beside
    ``mode = "live"`` in the config; without both, constructing it raises
    :class:`LiveModeRefused` and nothing is opened."""

    TELEMETRY_HWM = 100_000  # messages queued per subscriber before publish() counts drops

    def __init__(
        self,
        cfg: SessionConfig,
        mode: str,
        run_dir: Path | None = None,
        *,
        confirm_live: bool = False,
    ) -> None:
        check_mode(cfg, mode, confirm_live)
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
        self.engine: RustReplay | RustLive | None = None
        self.rust: RustReplay | None = None
        self.last_md: MarketData | None = None
        self.md_count = 0
        self._pending: set[asyncio.Future[None]] = set()
        # Execution ids whose fill the engine booked in this process, and whose commission it
        # has: a commission reaches the engine once, and only for a fill it holds (IB repeats
        # both when it replays executions after a reconnect).
        self._engine_fills: set[str] = set()
        self._engine_commissions: set[str] = set()
        # fills booked by an engine the last restore replaced, and the fills whose commission
        # that restore's journal fold counted (see on_commission)
        self._fills_before_restore: set[str] = set()
        self._fees_folded: set[str] = set()
        self._scripted = sorted(cfg.signals, key=lambda s: (s.at_event, s.intent_id))
        self.restored: operator_state.OperatorState | None = None
        self.roller: Roller | None = None
        self.latency = LatencyStats()  # every event-to-intent sample published
        self.scan: dict[str, Any] | None = None  # the [scanner] selection, when configured
        # notifications service ($PYCONTROL_NOTIFY_URL), or None: the one hook is publish()
        self.notifier = notifier_from_env(cfg.name)
        self.alerts: Any = None  # the [webhook] alert desk (pycontrol.session.alerts)

    # -- setup ---------------------------------------------------------------------------------

    def _start_engine(self) -> RustReplay | RustLive:
        """The Rust engine: in replay it owns the L3 simulated exchange (engine and venue);
        on a broker venue IB matches and the session carries intents and reports."""
        from pycontrol.session.rust_engine import RustLive, RustReplay

        if self.mode != "replay":
            live = RustLive(self.cfg, self.journal, self.publish)
            if self.mode == "live" and live.strategy.signals.kind == "placebo":
                raise LiveModeRefused(
                    f"live mode refused: the strategy {self.cfg.engine.strategy or '(default)'} "
                    "trades placebo signals (random, no edge); live trades a model"
                )
            return live
        if self.cfg.scanner is not None:
            from pycontrol.session.config import _fail

            raise _fail("scanner", ["a replay trades its file's instruments: [scanner] is "
                                    "for paper and live portfolio sessions"])  # fmt: skip
        self.rust = RustReplay(self.cfg, self.journal, self.publish)
        self.venue = self.rust
        return self.rust

    def _flow(self) -> RustLive:
        """The engine, when market data and reports flow through the session (a broker
        session; the Rust replay owns its simulated venue)."""
        assert self.engine is not None and self.rust is None
        return cast("RustLive", self.engine)

    def _restore_engine(self) -> None:
        """Puts the engine in the journal's state before it may send anything: positions,
        working orders and intent ids (a broker session), then the operator state."""
        assert self.engine is not None
        if self.rust is None:
            # the fresh engine books none of the fills so far: their fees come from the fold
            self._fills_before_restore = set(self._engine_fills)
            self._fees_folded = {
                str(e["payload"].get("exec_id", "")) for e in self.journal.events("commission")
            }
            positions = {s: q for s, (q, _) in self.journal.positions().items()}
            working = self.journal.orders(working_only=True)
            self._flow().restore(positions, working, self.journal.intent_ids())
            if self.venue is not None:
                self._flow().set_contracts(self.venue.symbols())
        st = operator_state.read(
            self.journal, self.cfg.point_values(), time.time_ns(), prev=self.restored
        )
        if self.rust is not None:
            # A replay reruns its data from the first record into the same journal, so its
            # P&L is recomputed, not restored; the operator's decisions are.
            st.realized_pnl = st.fees = 0.0
        self.engine.restore_operator_state(st)
        self.restored = st

    def _push_scripted(self, events: int) -> None:
        """Scripted ``[[signals]]`` due by ``events`` market updates (records in replay) go
        into the engine's inbox, each once across restarts (journaled before the push)."""
        assert self.engine is not None
        while self._scripted and self._scripted[0].at_event <= events:
            sig = self._scripted.pop(0)
            if self.journal.count_scripted(sig.intent_id):
                continue
            body = {"scripted_id": sig.intent_id, "side": sig.side, "confidence": sig.confidence}
            self.journal.append("scripted_signal", body)
            self.engine.push_signal(
                sig.symbol or self.cfg.instrument.root, sig.side, sig.confidence
            )
            self.publish("signal", {"event": "scripted", **body})

    def _bind(self) -> dict[str, str]:
        self.cmd = self.ctx.socket(zmq.ROUTER)
        self.pub = self.ctx.socket(zmq.PUB)
        # control plane (issue 13): CURVE on both sockets, operator identity per message, a
        # maximum message size, and a PUB that reports its drops instead of hiding them
        self.control = ControlAuth(self.ctx)
        from pycontrol.session.rust_engine import effective_limits

        # the ceiling is what the session started with, not what an operator set since
        self.gate = Gate(effective_limits(self.cfg), self.journal)
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
        if topic == "latency":
            self.latency.add(float(data["value"]))
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
        if self._scripted:
            self._push_scripted(self.md_count)
        out = self._flow().on_market_data(md)
        self._handle(out)
        if self.roller is not None and self.roller.rolls:
            self.roller.step()  # a roll's entry waits for the new month's first quote
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
        self._flow().on_venue_denial(intent, reason)  # its orders never reached the venue

    def regate(self, intent: OrderIntent) -> tuple[str, str] | None:
        """The pre-trade gate again, at the moment a held intent would be sent (after a
        disconnect or the gateway's restart window): (reason, detail) to refuse it."""
        return self._flow().recheck(intent)

    def on_report(self, report: ExecutionReport, source: str) -> None:
        """A report the venue has already journaled: to the engine and to telemetry."""
        self.publish(
            "fill" if report.kind == "fill" else "order", {**report.to_dict(), "source": source}
        )
        self._handle(self._flow().on_execution_report(report))
        if report.kind == "fill":
            self._engine_fills.add(report.exec_id)
            self._publish_positions()
            if self.roller is not None:
                self.roller.step()

    def on_commission(self, client_order_id: int, exec_id: str, commission: float) -> None:
        """IB's commission of a fill (journaled by the venue): to the engine, once. A fill an
        earlier engine of this process booked (the engine is rebuilt from the journal after
        each reconciliation) is not in this engine's log: when the journal fold that rebuilt
        it did not count this commission yet, it goes into the day's fees before it."""
        if exec_id in self._engine_commissions:
            return
        if exec_id in self._engine_fills and exec_id not in self._fills_before_restore:
            self._engine_commissions.add(exec_id)
            self._flow().on_commission(client_order_id, commission)  # this engine's fill
        elif exec_id not in self._fees_folded and exec_id in self.journal.fill_ids():
            # a fill of an earlier engine (of this process, or of one that died before its
            # commission came), not counted by the fold this engine was rebuilt from
            self._engine_commissions.add(exec_id)
            self._flow().core.book_day_fee(commission)

    def _publish_positions(self) -> None:
        from pycontrol.session.rust_engine import publish_positions

        publish_positions(self.publish, self._flow().status()["positions"])

    def on_event(self, kind: str, data: dict[str, Any]) -> None:
        if (
            kind == "reconcile"
            and data.get("position_mismatches")
            and self.engine is not None
            and self.rust is None
        ):
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
                "rolls": [vars(r) for r in self.roller.rolls] if self.roller else [],
                "restored": self.restored.to_dict() if self.restored else None,
                "control": {**self.control.status(), **self.gate.status()},
                "telemetry": {"sent": self.telemetry_sent, "dropped": self.telemetry_dropped},
                "latency": self.latency.summary(),
                "scanner": self.scan,
                "webhook": self.alerts.status() if self.alerts else None,
            }
        if name == "set-risk-limits":
            limits = {str(k): float(v) for k, v in args.items()}
            try:
                # applied before it is journaled: limits the core refuses never happened
                applied = self.engine.set_risk_limits(limits)
            except ConfigError as e:
                raise m.MessageError("bad_args", f"set-risk-limits: {e}") from None
            self.journal.append("risk_limits", {"limits": limits})
            return {"limits": applied}
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
            if self.roller is not None:
                self.roller.retry()
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
            return {"intents": len(out.intents), "denied": len(out.denials)}
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
        limits = self.engine.status()["limits"]
        print(
            "risk limits: " + ", ".join(f"{k}={v:g}" for k, v in sorted(limits.items())),
            flush=True,
        )
        if self.restored is not None and (self.restored.state != "ACTIVE" or self.restored.limits):
            r = self.restored
            print(f"restored from the journal: state {r.state} ({r.reason}), operator limits "
                  f"{r.limits or 'none'}, today's realized {r.realized_pnl:.2f} fees {r.fees:.2f}",
                  flush=True)  # fmt: skip
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
            else:
                from pycontrol.session.venue import VenueSinks
                from pycontrol.session.venues import make_venue

                sinks = VenueSinks(
                    on_report=self.on_report,
                    on_deny=self.on_deny,
                    # [feed] databento: the engine's market data is the feed's, not the broker's
                    on_market=self.on_market if self.cfg.feed.kind == "broker" else _ignore,
                    on_event=self.on_event,
                    on_trade=self.on_trade if self.cfg.feed.kind == "broker" else _ignore,
                    on_commission=self.on_commission,
                    regate=self.regate,
                )
                self.venue = make_venue(self.cfg, self.mode, self.journal, sinks)
                await self.venue.start()
                self._restore_engine()  # after reconciliation: the broker's truth
                # positions in a month the roll rule has left move to the front month
                if self.cfg.scanner is not None:
                    # only the instruments the scanner selects may open positions
                    from pycontrol.session import scanner

                    self.scan = scanner.apply(self.cfg, self._flow(), self.journal)
                    sel, thr = self.scan["selected"] or "no instrument", self.scan["threshold"]
                    print(f"scanner: {sel} may open positions (threshold {thr:g})", flush=True)
                self.roller = Roller(self.journal, self._flow(), self._handle, self.publish)
                self.roller.start(self.venue.symbols())
                if self.cfg.feed.kind == "databento":
                    from pycontrol.feeds.databento_live import run_session_feed

                    tasks.append(asyncio.ensure_future(run_session_feed(self)))
            from pycontrol.session import alerts

            self.alerts = await alerts.start(self)  # [webhook]: TradingView alerts
            self.publish("state", {"event": "ready", "mode": self.mode})
            log.info("session ready")
            print(f"session ready: cmd {eps['cmd']} pub {eps['pub']}", flush=True)
            await self._stop.wait()
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if self.alerts is not None:
                await self.alerts.stop()
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

    async def _replay_rust(self, rust: RustReplay) -> None:
        """The Rust engine over the replay data, a chunk at a time: commands are applied
        between chunks (in event time, at a record boundary), and every chunk's orders,
        fills and denials are journaled before they are published. ``rate_hz`` paces it in
        records per second (0: as fast as possible)."""
        chunk = self.cfg.engine.chunk_records
        rate = self.cfg.replay.rate_hz
        shown = time.monotonic()
        while True:
            if self._scripted:
                self._push_scripted(rust.records + chunk)
            n = rust.step(chunk)
            self.md_count = rust.records
            if n == 0:
                break
            if time.monotonic() - shown >= 5.0:  # a running replay says how far it is
                shown = time.monotonic()
                print(f"replay: {self._progress(rust.status())}", flush=True)
            await asyncio.sleep(n / rate if rate > 0 else 0)
        snap = rust.status()
        print(f"replay end: {self._progress(snap)}", flush=True)
        end = {"events": self.md_count, "engine": "rust", "positions": snap["positions"]}
        self.journal.append("replay_end", end)
        self.publish("state", {"event": "replay_end", **end})
        if self.cfg.replay.exit_at_end:
            self._stop.set()

    @staticmethod
    def _progress(snap: dict[str, Any]) -> str:
        """One line of a replay's progress: records, orders, fills, state, P&L, positions."""
        pos = ", ".join(f"{p['symbol']} {p['qty']:+d}" for p in snap["positions"] if p["qty"])
        return (
            f"{snap['records']:,} records, {snap['orders']} orders, {snap['fills']} fills, "
            f"{snap['denials']} denials, state {snap['state']}, realized "
            f"{snap['realized_pnl']:.2f} fees {snap['fees']:.2f}, positions {pos or 'flat'}"
        )

    def _close(self) -> None:
        self.control.close()
        self.cmd.close(linger=0)
        self.pub.close(linger=0)
        self.ctx.term()
        self._sync_ctx.term()
        self.journal.close()
        self._lock.close()
