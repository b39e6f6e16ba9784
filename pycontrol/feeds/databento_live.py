"""Databento Live into the engine: the official ``databento`` client in the session's
process, its records handed to the Rust engine in batches (``LiveEngine.on_records``).

Threads: the client decodes on its own event-loop thread and calls :meth:`LiveFeed._on_record`
there; that callback only de-duplicates, notes gaps and mappings, and appends the record's
bytes to a buffer under a lock. The session's thread takes the buffer with :meth:`LiveFeed.take`
and feeds the engine (the engine is not thread-safe and never leaves the session's thread).

Recovery:
- A disconnect, or a stall (no record and no heartbeat for ``stall_timeout_s``), closes the
  client and reconnects with exponential backoff and full jitter, then replays intraday from
  ``replay_overlap_s`` before the last ``ts_event`` seen. What the replay repeats is dropped
  (by ``ts_recv`` and a per-record key at the last ``ts_recv``). A replay that does not reach
  back to the last record seen cannot prove nothing was lost: that is a gap.
- A gap (a record flagged F_MAYBE_BAD_BOOK by the gateway, or a replay without overlap)
  marks the instrument's book untrusted through the engine's F_MAYBE_BAD_BOOK path: the gates
  refuse new entries there (BOOK_UNTRUSTED) while other instruments trade on. The feed then
  resubscribes with an MBO snapshot, which rebuilds the book and clears the mark.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import databento as db

from pycontrol._core import CoreError
from pycontrol.session.config import FeedConfig

log = logging.getLogger("pycontrol.feeds.databento_live")

F_MAYBE_BAD_BOOK = 1 << 2
F_SNAPSHOT = 1 << 5
_MARKET = (db.MBOMsg, db.MBP1Msg, db.MBP10Msg, db.TradeMsg)


class FeedError(CoreError):
    """The live feed cannot run (bad key, refused subscription); names what and where."""


@dataclass
class FeedStats:
    """Counters of the feed (published in the session's status)."""

    records: int = 0
    duplicates: int = 0
    reconnects: int = 0
    stalls: int = 0
    gaps: int = 0
    snapshots: int = 0
    heartbeats: int = 0
    last_error: str = ""
    connected: bool = False

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def backoff(attempt: int, initial: float, cap: float, rng: random.Random) -> float:
    """Exponential backoff with full jitter: uniform in (0, min(cap, initial * 2**attempt)]."""
    top = min(cap, initial * 2.0 ** min(attempt, 30))
    return float(max(top * rng.random(), initial / 10))


def _key(r: Any) -> tuple[Any, ...]:
    """What makes a market record itself, without its ts_out (a replay repeats it)."""
    return (
        r.rtype,
        r.instrument_id,
        r.ts_event,
        getattr(r, "order_id", 0),
        getattr(r, "sequence", 0),
        str(getattr(r, "action", "")),
        getattr(r, "price", 0),
        getattr(r, "size", 0),
    )


@dataclass
class _Pending:
    data: bytearray = field(default_factory=bytearray)
    count: int = 0
    mappings: dict[int, str] = field(default_factory=dict)
    gaps: set[int] = field(default_factory=set)
    # the gaps need the book rebuilt by a snapshot (not yet asked for)
    resubscribe: bool = False


class LiveFeed:
    """One Databento live subscription (``symbols`` raw symbols, ``cfg.schemas``) that
    survives disconnects, stalls and gaps. Drive it with :meth:`run` (an asyncio task on
    the session's loop) and take what arrived with :meth:`take`."""

    def __init__(
        self,
        cfg: FeedConfig,
        symbols: list[str],
        key: str,
        *,
        seed: int | None = None,
        client_factory: Callable[..., Any] = db.Live,
    ) -> None:
        if not key:
            raise FeedError(f"feed: no API key (environment variable {cfg.key_env} is empty)")
        self.cfg = cfg
        self.symbols = list(symbols)
        self._key = key
        self._factory = client_factory
        self._rng = random.Random(seed)
        self.stats = FeedStats()
        self._lock = threading.Lock()
        self._pending = _Pending()
        self._client: Any = None
        self._last_msg = time.monotonic()
        # de-duplication state (client thread)
        self._last_ts_recv = -1
        self._last_ts_event: int | None = None
        self._at_last: set[tuple[Any, ...]] = set()
        self._replaying = False  # after a reconnect: until the first new record
        self._overlapped = False
        self._want_snapshot = False
        self._last_start: int | None = None  # the replay start of the current connection
        self._since_connect = 0  # market records received on the current connection
        self._replay_failures = 0  # replays in a row that ended before their first record
        self.mappings: dict[int, str] = {}  # feed instrument id -> raw symbol
        self.callback_errors = 0

    # -- the client's thread -------------------------------------------------------------

    def _on_record(self, r: Any) -> None:
        self._last_msg = time.monotonic()
        if isinstance(r, db.SystemMsg):
            if r.is_heartbeat():
                self.stats.heartbeats += 1
            return
        if isinstance(r, db.ErrorMsg):
            self.stats.last_error = str(r.err)
            log.error("gateway error: %s", r.err)
            return
        if isinstance(r, db.SymbolMappingMsg):
            with self._lock:
                self._pending.mappings[int(r.instrument_id)] = str(r.stype_in_symbol)
            return
        if isinstance(r, db.InstrumentDefMsg):
            with self._lock:
                self._pending.mappings[int(r.instrument_id)] = str(r.raw_symbol)
            return
        if not isinstance(r, _MARKET):
            return  # status and statistics: not for the engine (yet)
        ts = int(r.ts_recv)
        snapshot = bool(int(r.flags) & F_SNAPSHOT)
        self._since_connect += 1
        # a replay repeats what was taken, snapshot-flagged records of the data included
        if self._replaying:
            k = _key(r)
            if ts < self._last_ts_recv or (ts == self._last_ts_recv and k in self._at_last):
                self._overlapped = True
                self.stats.duplicates += 1
                return
            self._replaying = False
            if not self._overlapped:
                # the replay starts after the last record seen: what lay between is unknown
                log.warning("replay did not overlap the last record seen: gap assumed")
                with self._lock:
                    self._pending.gaps.update(self.mappings or {int(r.instrument_id): ""})
                    self._pending.resubscribe = True
        k = _key(r)
        if ts != self._last_ts_recv:
            self._last_ts_recv = ts
            self._at_last = set()
        self._at_last.add(k)
        self._last_ts_event = int(r.ts_event)
        with self._lock:
            p = self._pending
            if int(r.flags) & F_MAYBE_BAD_BOOK and not snapshot:
                p.gaps.add(int(r.instrument_id))
                p.resubscribe = True
            p.data += bytes(r)
            p.count += 1

    def _on_callback_error(self, e: Exception) -> None:
        # a bug in the callback must not pass silently: counted and kept for the status
        self.stats.last_error = f"feed callback: {e!r}"
        self.callback_errors += 1
        log.error("feed callback failed: %r", e)

    # -- the session's thread ------------------------------------------------------------

    def take(self) -> tuple[bytes, int, dict[int, str], set[int]]:
        """What arrived since the last call: (records, their count, new symbol mappings
        feed id -> raw symbol, feed ids with a gap)."""
        with self._lock:
            p, self._pending = self._pending, _Pending()
        self.stats.gaps += len(p.gaps)
        if p.resubscribe:
            self._want_snapshot = True
        self.mappings.update(p.mappings)
        self.stats.records += p.count
        return bytes(p.data), p.count, p.mappings, p.gaps

    # -- connection management -----------------------------------------------------------

    def _connect(self, *, start: int | None, snapshot: bool) -> Any:
        c = self._factory(
            key=self._key,
            gateway=self.cfg.gateway,
            port=self.cfg.port,
            heartbeat_interval_s=self.cfg.heartbeat_interval_s,
            ts_out=self.cfg.ts_out,
        )
        c.add_callback(self._on_record, self._on_callback_error)
        for schema in self.cfg.schemas:
            c.subscribe(
                dataset=self.cfg.dataset,
                schema=schema,
                symbols=self.symbols,
                stype_in="raw_symbol",
                start=start,
                snapshot=snapshot and schema == "mbo",
            )
        self._last_msg = time.monotonic()
        c.start()
        return c

    def _close_client(self) -> None:
        c, self._client = self._client, None
        if c is not None:
            try:
                c.terminate()
            except (ValueError, db.BentoError) as e:  # already closed
                log.debug("terminate: %s", e)

    def connect(self) -> None:
        """The first connection: a refused key or subscription is a :class:`FeedError` now."""
        try:
            self._client = self._connect(start=None, snapshot=False)
        except db.BentoError as e:
            raise FeedError(f"feed {self.cfg.gateway}:{self.cfg.port}: {e}") from None
        self.stats.connected = True

    async def _reconnect(self, stop: asyncio.Event, *, snapshot: bool) -> None:
        self._close_client()
        self.stats.connected = False
        attempt = 0
        while not stop.is_set():
            delay = backoff(attempt, self.cfg.reconnect_initial, self.cfg.reconnect_max, self._rng)
            await asyncio.sleep(delay)
            start = None
            if not snapshot and self._replay_failures >= 2:
                # the gateway will not replay (outside its window, refused): what was missed
                # is lost, so the books are untrusted until the snapshot rebuilds them
                log.warning("intraday replay refused twice; recovering with a snapshot")
                snapshot = True
                self._replay_failures = 0
                with self._lock:
                    self._pending.gaps.update(self.mappings)
            if not snapshot and self._last_ts_event is not None:
                start = max(0, self._last_ts_event - int(self.cfg.replay_overlap_s * 1e9))
            self._replaying = start is not None
            self._last_start = start
            self._since_connect = 0
            self._overlapped = False
            try:
                self._client = await asyncio.to_thread(
                    self._connect, start=start, snapshot=snapshot
                )
            except db.BentoError as e:
                self.stats.last_error = str(e)
                log.warning("reconnect attempt %d failed: %s", attempt + 1, e)
                attempt += 1
                continue
            self.stats.reconnects += 1
            self.stats.connected = True
            if snapshot:
                self.stats.snapshots += 1
            return

    async def run(self, stop: asyncio.Event, poll_s: float = 0.005) -> None:
        """Watches the connection until ``stop``: reconnects after a disconnect or a stall,
        resubscribes with a snapshot after a gap."""
        if self._client is None:
            self.connect()
        try:
            while not stop.is_set():
                await asyncio.sleep(poll_s)
                c = self._client
                if self._want_snapshot:
                    self._want_snapshot = False
                    await self._reconnect(stop, snapshot=True)
                elif c is not None and not c.is_connected():
                    try:  # why it closed (and the client's future is collected, not leaked)
                        await asyncio.to_thread(c.block_for_close, 1.0)
                    except (db.BentoError, ValueError) as e:
                        self.stats.last_error = str(e)
                    log.warning("feed disconnected (%s); reconnecting", self.stats.last_error)
                    if self._last_start is not None and self._since_connect == 0:
                        self._replay_failures += 1  # the replay ended before any record
                    elif self._since_connect:
                        self._replay_failures = 0
                    await self._reconnect(stop, snapshot=False)
                elif time.monotonic() - self._last_msg > self.cfg.stall_timeout_s:
                    log.warning(
                        "feed stalled (%.1fs silent); reconnecting", self.cfg.stall_timeout_s
                    )
                    self.stats.stalls += 1
                    await self._reconnect(stop, snapshot=False)
        finally:
            self._close_client()
            self.stats.connected = False


async def run_session_feed(session: Any) -> None:
    """The feed of a session with ``[feed] kind = "databento"``: the session's roots'
    front-month contracts subscribed, each batch of records through its Rust engine
    (``RustLive.on_feed_records``) and the engine's intents and denials through the session's
    own handler (journal first, then the broker venue)."""
    import os

    cfg: FeedConfig = session.cfg.feed
    rust = session._flow()
    symbols = [rust.symbol_of[k] for k in sorted(rust.symbol_of)]
    feed = LiveFeed(cfg, symbols, os.environ.get(cfg.key_env, ""))
    session.feed = feed
    stop = asyncio.Event()
    watcher = asyncio.ensure_future(feed.run(stop))
    seen = (0, 0, 0)
    try:
        while not watcher.done():
            await asyncio.sleep(0.002)
            feed_into(rust, feed, session._handle)
            roller = getattr(session, "roller", None)
            if roller is not None and roller.rolls:
                roller.step()
            st = feed.stats
            now = (st.reconnects, st.gaps, st.snapshots)
            if now != seen:  # the operator (journal, telemetry) hears of every recovery step
                seen = now
                body = {"event": "feed", **st.to_dict()}
                session.journal.append("feed", body)
                session.publish("state", body)
        watcher.result()  # a feed that stopped by itself: its error ends the session
    except Exception as e:
        log.error("market-data feed stopped: %s", e)
        session.journal.append("feed", {"event": "feed_stopped", "error": str(e)})
        session.publish("state", {"event": "feed_stopped", "error": str(e)})
        raise
    finally:
        stop.set()
        await asyncio.gather(watcher, return_exceptions=True)


def feed_into(rust: Any, feed: LiveFeed, handle: Callable[[Any], None]) -> int:
    """One batch from ``feed`` into the engine of ``rust`` (a ``RustLive``): new symbol
    mappings first, then the records, then the gaps (their books untrusted). Returns the
    records taken."""
    data, n, mappings, gaps = feed.take()
    for fid, sym in mappings.items():
        try:
            rust.core.map_feed_instrument(fid, rust.iid(sym))
        except CoreError:
            log.info("feed instrument %s (%s) is not traded by this session", fid, sym)
    if data:
        handle(rust.on_feed_records(data))
    for fid in gaps:
        mapped = feed.mappings.get(fid)
        if mapped is None:
            continue
        try:
            rust.core.mark_untrusted(rust.iid(mapped))
        except CoreError:
            continue
    return n
