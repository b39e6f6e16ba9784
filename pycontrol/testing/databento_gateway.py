"""A test gateway that speaks Databento's Live (raw TCP) protocol on loopback.

The official ``databento`` client (``databento.Live(key=..., gateway="127.0.0.1",
port=...)``) connects to it exactly as to a Databento live subscription gateway, following
the client's ``databento/live/protocol.py`` / ``gateway.py`` / ``common/cram.py`` (0.87.0):

1. text lines: the greeting ``lsg_version=...``, then the CRAM challenge ``cram=...``;
2. the client's ``auth=<sha256(cram|key) hex>-<last 5 chars of key>|dataset=...|
   encoding=dbn|ts_out=0/1|compression=none|heartbeat_interval_s=...|client=...``, checked
   here against the keys the gateway knows; answered ``success=1|session_id=...`` or
   ``success=0|error=...`` (then the connection is closed);
3. subscription lines ``schema=mbo|stype_in=raw_symbol|symbols=...|start=...|snapshot=0|
   id=...|is_last=1`` and ``start_session=0``;
4. then binary DBN (version 3): the metadata, a ``SymbolMappingMsg`` per subscribed symbol,
   the records (each followed by an 8-byte ``ts_out`` when asked; its length grows by 8), and
   ``SystemMsg`` heartbeats whenever nothing was sent for ``heartbeat_interval_s`` (default
   30 s, as the real gateway).

Data: a real DBN file (any version; upgraded to v3 as the live gateway sends) or the
project's synthetic MBO (:func:`pycontrol.data.synth.synth_mbo`, written to a file first).
The gateway keeps a live position in the data ("now"): a plain subscription starts there;
``start=<ns>`` replays from the first record whose ``ts_event >= start`` (intraday replay);
``snapshot=1`` sends the MBO book at "now" (a clear and one add per resting order, flagged
F_SNAPSHOT, the last one F_LAST) and continues live.

Fault injection (:class:`Faults`, applied to the first ``faulty_sessions`` sessions): close
the connection after N records (and let the market move on M records meanwhile), stall
after N records (no data, no heartbeats, connection kept open), drop records (a gap: the
next record of that instrument carries F_MAYBE_BAD_BOOK, as Databento flags a gap), refuse
authentication.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import socket
import socketserver
import struct
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import databento_dbn

log = logging.getLogger("pycontrol.testing.databento_gateway")
# untyped: the package's stubs give its enums as plain str / int
dbn: Any = databento_dbn

LSG_VERSION = "0.7.2"
DEFAULT_HEARTBEAT_S = 30
F_LAST = 1 << 7
F_SNAPSHOT = 1 << 5
F_MAYBE_BAD_BOOK = 1 << 2
# MBO record layout (DBN v3): header 16 bytes, then order_id, price, size, flags at 36.
_MBO_FLAGS = 36
_HDR = struct.Struct("<BBHIQ")  # length/4, rtype, publisher_id, instrument_id, ts_event
_CHUNK = 1 << 16


class GatewayDataError(ValueError):
    """The gateway was given data it cannot serve (names the file and why)."""


@dataclass(frozen=True)
class Faults:
    """What goes wrong, in the first ``faulty_sessions`` sessions (record counts are per
    session, counted from its first data record)."""

    disconnect_after: int | None = None
    # records the market moves on while the client is away after that disconnect
    missed_on_disconnect: int = 0
    stall_after: int | None = None
    # (index in the data, count): from that record on, `count` records (of instrument
    # `drop_instrument` only, when given) are never sent; the next one of the same
    # instrument carries F_MAYBE_BAD_BOOK
    drop: tuple[int, int] | None = None
    drop_instrument: int | None = None
    bad_auth: bool = False
    # an intraday replay (a subscription with `start`) is refused with an error record
    refuse_replay: bool = False
    faulty_sessions: int = 1


@dataclass
class _Data:
    metadata: Any  # databento_dbn.Metadata
    records: list[bytes]
    ts_event: list[int]
    ts_recv: list[int]
    instrument: list[int]
    symbols: dict[str, int]  # raw symbol -> instrument id


def load_records(path: Path) -> _Data:
    """A DBN file (``.dbn`` or ``.dbn.zst``, versions 1-3) as the gateway serves it: v3."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise GatewayDataError(f"{path}: {e}") from None
    if raw[:4] == b"\x28\xb5\x2f\xfd":
        import zstandard

        raw = zstandard.ZstdDecompressor().stream_reader(raw).read()
    dec = dbn.DBNDecoder(upgrade_policy=dbn.VersionUpgradePolicy.UPGRADE_TO_V3)
    try:
        dec.write(raw)
        out = dec.decode()
    except Exception as e:  # databento_dbn raises plain ValueError/Exception variants
        raise GatewayDataError(f"{path}: not a DBN file ({e})") from None
    if not out or not isinstance(out[0], dbn.Metadata):
        raise GatewayDataError(f"{path}: not a DBN file (no DBN metadata)")
    meta, recs = out[0], out[1:]
    symbols: dict[str, int] = {}
    for sym, intervals in (meta.mappings or {}).items():
        for iv in intervals:
            if str(iv["symbol"]).isdigit():
                symbols[sym] = int(iv["symbol"])
    return _Data(
        metadata=meta,
        records=[bytes(r) for r in recs],
        ts_event=[int(r.ts_event) for r in recs],
        ts_recv=[int(getattr(r, "ts_recv", r.ts_event)) for r in recs],
        instrument=[int(r.instrument_id) for r in recs],
        symbols=symbols,
    )


def cram_response(challenge: str, key: str) -> str:
    """What the client must answer (``databento/common/cram.py``)."""
    return f"{hashlib.sha256(f'{challenge}|{key}'.encode()).hexdigest()}-{key[-5:]}"


def _parse_line(line: str) -> dict[str, str]:
    return {k: v for k, _, v in (t.partition("=") for t in line.strip().split("|"))}


@dataclass
class SessionLog:
    """What one client session asked for and got (for tests)."""

    session_id: str
    auth: dict[str, str] = field(default_factory=dict)
    subscriptions: list[dict[str, str]] = field(default_factory=list)
    sent: int = 0
    heartbeats: int = 0
    authenticated: bool = False
    snapshot_records: int = 0
    # every record of the data sent: the session only heartbeats from now on
    caught_up: bool = False


class DatabentoGateway:
    """The gateway: ``start()`` binds 127.0.0.1 on a free port (or ``port``), ``stop()``
    closes it and every session. Thread-safe; one thread per client session."""

    def __init__(
        self,
        data: Path,
        *,
        keys: tuple[str, ...] = ("db-TESTKEY0000000000000000000000",),
        dataset: str = "GLBX.MDP3",
        faults: Faults | None = None,
        port: int = 0,
        pace_s: float = 0.0,
        rename: dict[str, str] | None = None,
        chunk_bytes: int = _CHUNK,
    ) -> None:
        self.data = load_records(Path(data))
        # serve a file's contract under another raw symbol (the data is from its own day;
        # a session subscribes the contract month the broker trades today)
        for old, new in (rename or {}).items():
            if old not in self.data.symbols:
                raise GatewayDataError(f"{data}: no symbol {old!r} to rename")
            self.data.symbols[new] = self.data.symbols.pop(old)
        if str(self.data.metadata.dataset) != dataset:
            log.info("serving %s data as dataset %s", self.data.metadata.dataset, dataset)
        self.keys = keys
        self.dataset = dataset
        self.faults = faults or Faults()
        self.pace_s = pace_s  # sleep between chunks (a slower market); 0: as fast as possible
        self.chunk_bytes = chunk_bytes  # bytes gathered per send
        self.now = 0  # the live position: index of the next record the market publishes
        self.sessions: list[SessionLog] = []
        self._lock = threading.Lock()
        self._closing = threading.Event()
        gw = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                gw._serve(self.request)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server(("127.0.0.1", port), Handler, bind_and_activate=True)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> DatabentoGateway:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> DatabentoGateway:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- one session -------------------------------------------------------------------

    def _serve(self, sock: socket.socket) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._lock:
            n = len(self.sessions)
            s = SessionLog(session_id=f"test-{n + 1}-{secrets.token_hex(4)}")
            self.sessions.append(s)
        faulty = n < self.faults.faulty_sessions
        f = sock.makefile("rb")
        try:
            challenge = secrets.token_hex(16)
            sock.sendall(f"lsg_version={LSG_VERSION}\ncram={challenge}\n".encode())
            s.auth = _parse_line(f.readline().decode())
            err = self._check_auth(s.auth, challenge, faulty)
            if err:
                sock.sendall(f"success=0|error={err}\n".encode())
                return
            sock.sendall(f"success=1|session_id={s.session_id}\n".encode())
            s.authenticated = True
            while True:
                line = f.readline().decode()
                if not line:
                    return
                msg = _parse_line(line)
                if "start_session" in msg:
                    break
                if "schema" in msg:
                    s.subscriptions.append(msg)
            self._stream(sock, s, faulty)
        except (OSError, ValueError) as e:
            log.info("session %s ended: %s", s.session_id, e)
        finally:
            f.close()
            sock.close()

    def _check_auth(self, auth: dict[str, str], challenge: str, faulty: bool) -> str:
        if faulty and self.faults.bad_auth:
            return "Authentication failed."
        if not any(auth.get("auth") == cram_response(challenge, k) for k in self.keys):
            return "Authentication failed."
        if auth.get("dataset") != self.dataset:
            return f"Unknown dataset {auth.get('dataset')!r}; this gateway serves {self.dataset}"
        if auth.get("encoding", "dbn") != "dbn":
            return f"Unsupported encoding {auth.get('encoding')!r}"
        if auth.get("compression", "none") != "none":
            return f"Unsupported compression {auth.get('compression')!r} (test gateway)"
        return ""

    def _resolve(self, subs: list[dict[str, str]]) -> tuple[set[int] | None, str]:
        """Instrument ids subscribed (None: all) and an error, if any."""
        schema = str(self.data.metadata.schema).lower().replace("schema.", "")
        ids: set[int] = set()
        for sub in subs:
            if sub.get("schema") != schema:
                return set(), f"schema {sub.get('schema')!r} is not served (this data: {schema})"
            syms = sub.get("symbols", "ALL_SYMBOLS")
            if syms == "ALL_SYMBOLS":
                return None, ""
            for sym in syms.split(","):
                if sub.get("stype_in") == "instrument_id" and sym.isdigit():
                    ids.add(int(sym))
                elif sym in self.data.symbols:
                    ids.add(self.data.symbols[sym])
                else:
                    return set(), f"symbol {sym!r} not found"
        return ids, ""

    def _frame(self, rec: bytes, ts_out: bool, flags: int = 0) -> bytes:
        if flags:
            b = bytearray(rec)
            b[_MBO_FLAGS] |= flags
            rec = bytes(b)
        if not ts_out:
            return rec
        return bytes([rec[0] + 2]) + rec[1:] + struct.pack("<Q", time.time_ns())

    def _stream(self, sock: socket.socket, s: SessionLog, faulty: bool) -> None:
        ts_out = s.auth.get("ts_out") == "1"
        hb_s = int(s.auth.get("heartbeat_interval_s") or DEFAULT_HEARTBEAT_S)
        ids, err = self._resolve(s.subscriptions)
        now_ns = time.time_ns()
        meta = dbn.Metadata(
            dataset=self.dataset,
            start=now_ns,
            stype_in=dbn.SType.RAW_SYMBOL,
            stype_out=dbn.SType.INSTRUMENT_ID,
            schema=self.data.metadata.schema,
            symbols=[],
            partial=[],
            not_found=[],
            mappings=[],
            ts_out=ts_out,
        )
        out = bytearray(meta.encode())
        for sym, iid in sorted(self.data.symbols.items()):
            if ids is None or iid in ids:
                m = dbn.SymbolMappingMsg(
                    0, iid, now_ns, dbn.SType.RAW_SYMBOL, sym,
                    dbn.SType.RAW_SYMBOL, sym, now_ns, 2**64 - 1,
                )  # fmt: skip
                out += self._frame(bytes(m), ts_out)
        sub = s.subscriptions[0] if s.subscriptions else {}
        if faulty and self.faults.refuse_replay and sub.get("start"):
            err = f"start {sub['start']} is outside the intraday replay window"
        if err:
            out += self._frame(bytes(dbn.ErrorMsg(now_ns, err)), ts_out)
            sock.sendall(out)
            return
        d = self.data
        with self._lock:
            pos = self.now
        if sub.get("start"):
            start = int(sub["start"])
            pos = next((i for i, t in enumerate(d.ts_event) if t >= start), len(d.records))
        elif sub.get("snapshot") == "1":
            snap = self._snapshot(pos, ids, ts_out)
            s.snapshot_records = len(snap[0])
            out += snap[1]
        f = self.faults if faulty else Faults(faulty_sessions=0)
        drop_from, to_drop = f.drop if f.drop else (0, 0)
        flag_next: set[int] = set()
        sent = 0  # records in `out`, not yet counted in the session log
        total = 0  # records of this session so far (what the faults count)
        last_send = time.monotonic()
        while not self._closing.is_set():
            if pos < len(d.records):
                k = d.instrument[pos]
                if ids is None or k in ids:
                    if to_drop and pos >= drop_from and f.drop_instrument in (None, k):
                        to_drop -= 1
                        flag_next.add(k)
                    else:
                        flags = F_MAYBE_BAD_BOOK if k in flag_next else 0
                        flag_next.discard(k)
                        out += self._frame(d.records[pos], ts_out, flags)
                        sent += 1
                        total += 1
                pos += 1
                with self._lock:
                    self.now = max(self.now, pos)
                if f.disconnect_after is not None and total >= f.disconnect_after:
                    sock.sendall(out)
                    s.sent += sent
                    with self._lock:
                        self.now = min(len(d.records), self.now + f.missed_on_disconnect)
                    sock.shutdown(socket.SHUT_RDWR)
                    return
                if f.stall_after is not None and total >= f.stall_after:
                    sock.sendall(out)
                    s.sent += sent
                    self._closing.wait()  # silent, connection open, until the gateway stops
                    return
                if len(out) < self.chunk_bytes and pos < len(d.records):
                    continue
            if out:
                sock.sendall(out)
                s.sent += sent
                sent = 0
                out = bytearray()
                last_send = time.monotonic()
                if self.pace_s:
                    time.sleep(self.pace_s)
                continue
            # idle (end of data): heartbeats at the interval, and watch for the client leaving
            s.caught_up = True
            sock.settimeout(0.05)
            try:
                if sock.recv(4096) == b"":
                    return
            except TimeoutError:
                pass
            if time.monotonic() - last_send >= hb_s:
                hb = dbn.SystemMsg(time.time_ns(), "Heartbeat", code=dbn.SystemCode.HEARTBEAT)
                sock.sendall(self._frame(bytes(hb), ts_out))
                s.heartbeats += 1
                last_send = time.monotonic()

    def _snapshot(self, pos: int, ids: set[int] | None, ts_out: bool) -> tuple[list[int], bytes]:
        """The MBO book at ``pos``: per instrument a clear then an add per resting order,
        all F_SNAPSHOT, the instrument's last record F_LAST."""
        d = self.data
        books: dict[int, dict[int, tuple[int, str, int, int]]] = {}
        dec = dbn.DBNDecoder(upgrade_policy=dbn.VersionUpgradePolicy.UPGRADE_TO_V3)
        dec.write(self.data.metadata.encode() + b"".join(d.records[:pos]))
        for r in dec.decode()[1:]:
            if not isinstance(r, dbn.MBOMsg):
                continue
            if ids is not None and r.instrument_id not in ids:
                continue
            b = books.setdefault(r.instrument_id, {})
            a = str(r.action.value) if hasattr(r.action, "value") else str(r.action)
            if a == "R":
                b.clear()
            elif a in ("A", "M"):
                old = b.get(r.order_id)
                if old is not None and old[0] != r.price:
                    del b[r.order_id]  # a price change loses queue priority: to the back
                b[r.order_id] = (r.price, str(r.side.value), r.size, r.ts_event)
            elif a == "C" and r.order_id in b:
                p, side, size, t = b[r.order_id]
                if size > r.size:
                    b[r.order_id] = (p, side, size - r.size, t)
                else:
                    del b[r.order_id]
        ts = d.ts_recv[pos - 1] if pos else time.time_ns()
        out = bytearray()
        n: list[int] = []
        for iid, b in sorted(books.items()):
            clear = dbn.MBOMsg(1, iid, ts, 0, 2**63 - 1, 0, dbn.Action.CLEAR, dbn.Side.NONE, ts)
            out += self._frame(bytes(clear), ts_out, F_SNAPSHOT | (0 if b else F_LAST))
            n.append(iid)
            items = list(b.items())  # queue order (insertion order of the book)
            for j, (oid, (p, side, size, t)) in enumerate(items):
                last = F_LAST if j == len(items) - 1 else 0
                m = dbn.MBOMsg(1, iid, t, oid, p, size, dbn.Action.ADD, dbn.Side(side), ts)
                out += self._frame(bytes(m), ts_out, F_SNAPSHOT | last)
                n.append(iid)
        return n, bytes(out)


def main(argv: list[str] | None = None) -> int:
    """``python -m pycontrol.testing.databento_gateway --data FILE [--port P] [--key K]``"""
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--data", required=True, type=Path)
    ap.add_argument("--port", type=int, default=13000)
    ap.add_argument("--key", action="append", default=None)
    ap.add_argument("--dataset", default="GLBX.MDP3")
    ap.add_argument("--rename", action="append", default=[], help="FILE_SYMBOL=SERVED_SYMBOL")
    a = ap.parse_args(argv)
    bad = [x for x in a.rename if "=" not in x]
    if bad:
        ap.error(f"--rename wants FILE_SYMBOL=SERVED_SYMBOL, got {bad}")
    rename = dict(x.split("=", 1) for x in a.rename)
    keys = tuple(a.key) if a.key else ("db-TESTKEY0000000000000000000000",)
    try:
        gw = DatabentoGateway(
            a.data, keys=keys, dataset=a.dataset, port=a.port, rename=rename
        ).start()
    except (GatewayDataError, OSError) as e:
        print(f"databento test gateway: {e}", file=sys.stderr)
        return 2
    print(f"databento test gateway on 127.0.0.1:{gw.port} ({len(gw.data.records)} records)")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        gw.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
