"""The append-only session journal: an embedded sqlite database in WAL mode with
``synchronous=FULL``, so every commit is fsynced before the caller acts on it.

What is written, always BEFORE the action it records is sent or acknowledged: intents, orders
(with the IB order id mapping and orderRef), acks, rejects, cancels, fills, position changes,
risk denials, halts/resumes, flattens, model swaps, reconciliations and adoptions. ``events`` is
the complete, ordered log; ``orders``, ``fills`` and ``positions`` are the current state kept in
the same transaction, so a crash between two statements can never leave them disagreeing.

Fills are keyed by the venue's execution id: a fill seen twice (live, then again through the
backfill after a reconnect) is recorded once, and :meth:`Journal.record_fill` says whether it
was new, so positions never count a fill twice.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pycontrol.session.orders import intent_of, sign

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    ts_ns INTEGER NOT NULL,
    kind TEXT NOT NULL,
    intent_id INTEGER,
    client_order_id INTEGER,
    payload TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_kind ON events(kind);
CREATE TABLE IF NOT EXISTS intents (
    intent_id INTEGER PRIMARY KEY,
    ts_ns INTEGER NOT NULL,
    payload TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS orders (
    client_order_id INTEGER PRIMARY KEY,
    intent_id INTEGER,
    leg INTEGER,
    symbol TEXT NOT NULL,
    side TEXT NOT NULL,
    qty INTEGER NOT NULL,
    order_type TEXT NOT NULL,
    price REAL,
    stop_price REAL,
    parent_client_order_id INTEGER,
    venue_order_id INTEGER,
    status TEXT NOT NULL,
    filled INTEGER NOT NULL DEFAULT 0,
    adopted INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX IF NOT EXISTS orders_venue ON orders(venue_order_id);
CREATE TABLE IF NOT EXISTS fills (
    exec_id TEXT PRIMARY KEY,
    client_order_id INTEGER,
    symbol TEXT NOT NULL,
    side TEXT NOT NULL,
    qty INTEGER NOT NULL,
    price REAL NOT NULL,
    ts_ns INTEGER NOT NULL,
    commission REAL NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS positions (
    symbol TEXT PRIMARY KEY,
    qty INTEGER NOT NULL,
    avg_price REAL NOT NULL,
    ts_ns INTEGER NOT NULL
);
"""

# Orders in these states can still trade; everything else is final.
WORKING = ("pending_submit", "held", "submitted")


class JournalError(Exception):
    """The journal file is not a session journal, or has a newer schema."""


@dataclass(frozen=True)
class OrderRow:
    client_order_id: int
    intent_id: int | None
    leg: int | None
    symbol: str
    side: str
    qty: int
    order_type: str
    price: float | None
    stop_price: float | None
    parent_client_order_id: int | None
    venue_order_id: int | None
    status: str
    filled: int
    adopted: bool


def now_ns() -> int:
    return time.time_ns()


class Journal:
    """One session journal file. Not thread-safe: one owner (the control plane) writes."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, one transaction per record.
        self._db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        try:
            mode = self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise JournalError(f"{self.path}: could not enable WAL (got {mode})")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as e:
            self._db.close()
            raise JournalError(f"{self.path}: not a session journal ({e})") from e
        row = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if row is None:
            self._db.execute(
                "INSERT INTO meta(key, value) VALUES('schema_version', ?)", (str(SCHEMA_VERSION),)
            )
        elif int(row[0]) > SCHEMA_VERSION:
            raise JournalError(f"{self.path}: schema {row[0]} is newer than {SCHEMA_VERSION}")

    def close(self) -> None:
        self._db.close()

    # -- writing -----------------------------------------------------------------------------

    def _event(
        self,
        kind: str,
        payload: dict[str, Any],
        intent_id: int | None = None,
        client_order_id: int | None = None,
        ts_ns: int | None = None,
    ) -> int:
        cur = self._db.execute(
            "INSERT INTO events(ts_ns, kind, intent_id, client_order_id, payload) "
            "VALUES (?, ?, ?, ?, ?)",
            (ts_ns or now_ns(), kind, intent_id, client_order_id, json.dumps(payload)),
        )
        return int(cur.lastrowid or 0)

    def append(
        self,
        kind: str,
        payload: dict[str, Any],
        intent_id: int | None = None,
        client_order_id: int | None = None,
    ) -> int:
        """Appends one event in its own fsynced transaction; returns its sequence number."""
        with self._tx():
            return self._event(kind, payload, intent_id, client_order_id)

    class _Tx:
        def __init__(self, db: sqlite3.Connection) -> None:
            self.db = db

        def __enter__(self) -> None:
            self.db.execute("BEGIN IMMEDIATE")

        def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
            self.db.execute("ROLLBACK" if exc_type else "COMMIT")

    def _tx(self) -> Journal._Tx:
        return Journal._Tx(self._db)

    def record_intent(self, intent_id: int, payload: dict[str, Any]) -> bool:
        """Records an intent; False if this intent id was already journaled (a restart
        replaying a signal must not act on it twice)."""
        with self._tx():
            cur = self._db.execute(
                "INSERT OR IGNORE INTO intents(intent_id, ts_ns, payload) VALUES (?, ?, ?)",
                (intent_id, now_ns(), json.dumps(payload)),
            )
            if cur.rowcount == 0:
                return False
            self._event("intent", payload, intent_id=intent_id)
            return True

    def has_intent(self, intent_id: int) -> bool:
        q = "SELECT 1 FROM intents WHERE intent_id=?"
        return self._db.execute(q, (intent_id,)).fetchone() is not None

    def intent_ids(self) -> list[int]:
        return [int(r[0]) for r in self._db.execute("SELECT intent_id FROM intents ORDER BY 1")]

    def max_intent_id(self) -> int:
        row = self._db.execute("SELECT MAX(intent_id) FROM intents").fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def record_order(
        self,
        client_order_id: int,
        *,
        intent_id: int | None,
        leg: int | None,
        symbol: str,
        side: str,
        qty: int,
        order_type: str,
        price: float | None,
        stop_price: float | None,
        parent_client_order_id: int | None,
        venue_order_id: int | None,
        status: str = "pending_submit",
        adopted: bool = False,
        filled: int = 0,
    ) -> bool:
        """Records an order about to be sent (or adopted); False if the client order id is
        already journaled, in which case the caller must not send it."""
        payload = {
            "symbol": symbol,
            "side": side,
            "qty": qty,
            "order_type": order_type,
            "price": price,
            "stop_price": stop_price,
            "parent_client_order_id": parent_client_order_id,
            "venue_order_id": venue_order_id,
            "status": status,
        }
        with self._tx():
            cur = self._db.execute(
                "INSERT OR IGNORE INTO orders(client_order_id, intent_id, leg, symbol, side, qty, "
                "order_type, price, stop_price, parent_client_order_id, venue_order_id, status, "
                "filled, adopted) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    client_order_id,
                    intent_id,
                    leg,
                    symbol,
                    side,
                    qty,
                    order_type,
                    price,
                    stop_price,
                    parent_client_order_id,
                    venue_order_id,
                    status,
                    filled,
                    int(adopted),
                ),
            )
            if cur.rowcount == 0:
                return False
            kind = "adopt" if adopted else "order"
            self._event(kind, payload, intent_id=intent_id, client_order_id=client_order_id)
            return True

    def update_order(
        self,
        client_order_id: int,
        kind: str,
        *,
        status: str | None = None,
        qty: int | None = None,
        price: float | None = None,
        stop_price: float | None = None,
        payload: dict[str, Any] | None = None,
    ) -> None:
        """Records an ack/reject/cancel/modify of an order and its new state in one commit."""
        sets, args = [], []
        for col, val in (("status", status), ("qty", qty), ("price", price)):
            if val is not None:
                sets.append(f"{col}=?")
                args.append(val)
        if stop_price is not None:
            sets.append("stop_price=?")
            args.append(stop_price)
        with self._tx():
            if sets:
                self._db.execute(
                    f"UPDATE orders SET {', '.join(sets)} WHERE client_order_id=?",
                    (*args, client_order_id),
                )
            body = dict(payload or {})
            if status is not None:
                body["status"] = status
            intent_id = intent_of(client_order_id)[0]
            self._event(kind, body, intent_id=intent_id, client_order_id=client_order_id)

    def record_fill(
        self,
        exec_id: str,
        *,
        client_order_id: int | None,
        symbol: str,
        side: str,
        qty: int,
        price: float,
        ts_ns: int,
        commission: float = 0.0,
        source: str = "live",
    ) -> bool:
        """Records a fill, the order's filled quantity and the position change in one
        transaction. Returns False (and changes nothing) for an execution id already seen."""
        with self._tx():
            cur = self._db.execute(
                "INSERT OR IGNORE INTO fills(exec_id, client_order_id, symbol, side, qty, price, "
                "ts_ns, commission) VALUES (?,?,?,?,?,?,?,?)",
                (exec_id, client_order_id, symbol, side, qty, price, ts_ns, commission),
            )
            if cur.rowcount == 0:
                return False
            status = None
            if client_order_id is not None:
                row = self._db.execute(
                    "SELECT qty, filled FROM orders WHERE client_order_id=?", (client_order_id,)
                ).fetchone()
                if row is not None:
                    filled = int(row["filled"]) + qty
                    status = "filled" if filled >= int(row["qty"]) else None
                    self._db.execute(
                        "UPDATE orders SET filled=?, status=COALESCE(?, status) "
                        "WHERE client_order_id=?",
                        (filled, status, client_order_id),
                    )
            payload = {
                "exec_id": exec_id,
                "symbol": symbol,
                "side": side,
                "qty": qty,
                "price": price,
                "commission": commission,
                "source": source,
            }
            iid = intent_of(client_order_id)[0] if client_order_id is not None else None
            self._event("fill", payload, intent_id=iid, client_order_id=client_order_id)
            pos_qty, avg = self._position_locked(symbol)
            new_qty, new_avg = apply_fill(pos_qty, avg, sign(side) * qty, price)
            self._set_position_locked(symbol, new_qty, new_avg, "fill")
            return True

    def set_position(self, symbol: str, qty: int, avg_price: float, reason: str) -> None:
        """Overwrites a position (reconciliation against the broker) and journals why."""
        with self._tx():
            self._set_position_locked(symbol, qty, avg_price, reason)

    def _position_locked(self, symbol: str) -> tuple[int, float]:
        row = self._db.execute(
            "SELECT qty, avg_price FROM positions WHERE symbol=?", (symbol,)
        ).fetchone()
        return (int(row["qty"]), float(row["avg_price"])) if row else (0, 0.0)

    def _set_position_locked(self, symbol: str, qty: int, avg: float, reason: str) -> None:
        old, _ = self._position_locked(symbol)
        self._db.execute(
            "INSERT INTO positions(symbol, qty, avg_price, ts_ns) VALUES (?,?,?,?) "
            "ON CONFLICT(symbol) DO UPDATE SET qty=excluded.qty, avg_price=excluded.avg_price, "
            "ts_ns=excluded.ts_ns",
            (symbol, qty, avg, now_ns()),
        )
        payload = {"symbol": symbol, "qty": qty, "avg_price": avg, "old_qty": old}
        self._event("position", {**payload, "reason": reason})

    # -- reading -----------------------------------------------------------------------------

    def positions(self) -> dict[str, tuple[int, float]]:
        rows = self._db.execute("SELECT symbol, qty, avg_price FROM positions").fetchall()
        return {r["symbol"]: (int(r["qty"]), float(r["avg_price"])) for r in rows}

    def orders(self, working_only: bool = False) -> list[OrderRow]:
        q = "SELECT * FROM orders"
        if working_only:
            q += f" WHERE status IN ({','.join('?' * len(WORKING))})"
        q += " ORDER BY client_order_id"
        rows = self._db.execute(q, WORKING if working_only else ()).fetchall()
        return [_order_row(r) for r in rows]

    def order(self, client_order_id: int) -> OrderRow | None:
        # by primary key: a venue looks orders up on every event (a scan of all orders each
        # time made a busy day's events quadratic)
        r = self._db.execute(
            "SELECT * FROM orders WHERE client_order_id=?", (client_order_id,)
        ).fetchone()
        return _order_row(r) if r is not None else None

    def order_by_venue_id(self, venue_order_id: int) -> OrderRow | None:
        row = self._db.execute(
            "SELECT client_order_id FROM orders WHERE venue_order_id=?", (venue_order_id,)
        ).fetchone()
        return self.order(int(row[0])) if row else None

    def max_venue_order_id(self) -> int:
        row = self._db.execute("SELECT MAX(venue_order_id) FROM orders").fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def fill_ids(self) -> set[str]:
        return {r[0] for r in self._db.execute("SELECT exec_id FROM fills").fetchall()}

    def fills(self) -> list[dict[str, Any]]:
        rows = self._db.execute("SELECT * FROM fills ORDER BY ts_ns, exec_id").fetchall()
        return [dict(r) for r in rows]

    def events(self, kind: str | None = None, since_seq: int = 0) -> Iterator[dict[str, Any]]:
        q = "SELECT * FROM events WHERE seq > ?"
        args: tuple[Any, ...] = (since_seq,)
        if kind is not None:
            q += " AND kind=?"
            args = (since_seq, kind)
        for r in self._db.execute(q + " ORDER BY seq", args):
            d = dict(r)
            d["payload"] = json.loads(d["payload"])
            yield d

    def count_scripted(self, scripted_id: int) -> int:
        """How often the scripted signal ``scripted_id`` was pushed into the engine."""
        return sum(
            1
            for e in self.events("scripted_signal")
            if e["payload"].get("scripted_id") == scripted_id
        )

    def count(self, kind: str) -> int:
        row = self._db.execute("SELECT COUNT(*) FROM events WHERE kind=?", (kind,)).fetchone()
        return int(row[0])


def _order_row(r: sqlite3.Row) -> OrderRow:
    return OrderRow(
        client_order_id=int(r["client_order_id"]),
        intent_id=r["intent_id"],
        leg=r["leg"],
        symbol=r["symbol"],
        side=r["side"],
        qty=int(r["qty"]),
        order_type=r["order_type"],
        price=r["price"],
        stop_price=r["stop_price"],
        parent_client_order_id=r["parent_client_order_id"],
        venue_order_id=r["venue_order_id"],
        status=r["status"],
        filled=int(r["filled"]),
        adopted=bool(r["adopted"]),
    )


def apply_fill(qty: int, avg: float, delta: int, price: float) -> tuple[int, float]:
    """New (position, average entry price) after a signed fill of ``delta`` at ``price``:
    the engine's average-cost rule (``_core.average_cost``, the one implementation)."""
    from pycontrol._core import average_cost

    new, new_avg, _ = average_cost(qty, avg, delta, price)
    return new, new_avg
