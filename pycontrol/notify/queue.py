"""The durable alert queue: sqlite in WAL mode with ``synchronous=FULL``, so an alert the
service has acknowledged (HTTP 202) survives a crash or a restart of the service.

One row per alert (``alerts``) and one per (alert, sink) delivery (``deliveries``), written
in one transaction when the alert arrives. A delivery is ``pending`` until its sink accepts it
(``delivered``) or refuses it for good (``dead``, with the error). Sinks that are told to
wait (Telegram's 429 ``retry_after``) record the pause in ``sink_pause``, so a restarted
service still honors it. Delivery is at least once: a crash after a sink accepted a message
and before the row says so sends that one message again on restart (the Bot API has no
idempotency key); an alert is never lost.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (
    id INTEGER PRIMARY KEY,
    key TEXT UNIQUE,            -- the sender's id for the alert: a repeated post is one alert
    event TEXT NOT NULL,
    source TEXT NOT NULL,
    text TEXT NOT NULL,
    data TEXT NOT NULL,
    created_ns INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY,
    alert_id INTEGER NOT NULL REFERENCES alerts(id),
    sink TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',   -- pending | delivered | dead
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL DEFAULT 0,
    last_error TEXT,
    delivered_at REAL
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries(sink, state, id);
CREATE TABLE IF NOT EXISTS sink_pause (sink TEXT PRIMARY KEY, until REAL NOT NULL);
"""


@dataclass(frozen=True)
class Delivery:
    id: int
    alert_id: int
    sink: str
    attempts: int
    next_at: float
    event: str
    source: str
    text: str
    data: dict[str, Any]


class DurableQueue:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        self.db.close()

    def put(
        self,
        event: str,
        source: str,
        text: str,
        data: dict[str, Any],
        sinks: list[str],
        key: str | None = None,
    ) -> tuple[int, bool]:
        """(alert id, new?); a ``key`` seen before returns the first alert's id."""
        with self._lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                if key is not None:
                    row = self.db.execute("SELECT id FROM alerts WHERE key = ?", (key,)).fetchone()
                    if row is not None:
                        self.db.execute("COMMIT")
                        return int(row[0]), False
                cur = self.db.execute(
                    "INSERT INTO alerts(key, event, source, text, data, created_ns) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (key, event, source, text, json.dumps(data), time.time_ns()),
                )
                aid = int(cur.lastrowid or 0)
                self.db.executemany(
                    "INSERT INTO deliveries(alert_id, sink) VALUES (?, ?)",
                    [(aid, s) for s in sinks],
                )
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
        return aid, True

    def next_due(self, sink: str, now: float) -> Delivery | None:
        """The sink's oldest pending delivery if it is due (FIFO per sink: a delivery waiting
        out a backoff holds back the ones behind it, so messages keep their order)."""
        with self._lock:
            pause = self.db.execute(
                "SELECT until FROM sink_pause WHERE sink = ?", (sink,)
            ).fetchone()
            if pause is not None and pause[0] > now:
                return None
            row = self.db.execute(
                "SELECT d.id, d.alert_id, d.sink, d.attempts, d.next_at, a.event, a.source, "
                "a.text, a.data FROM deliveries d JOIN alerts a ON a.id = d.alert_id "
                "WHERE d.sink = ? AND d.state = 'pending' ORDER BY d.id LIMIT 1",
                (sink,),
            ).fetchone()
        if row is None or row[4] > now:
            return None
        return Delivery(
            id=row[0], alert_id=row[1], sink=row[2], attempts=row[3], next_at=row[4],
            event=row[5], source=row[6], text=row[7], data=json.loads(row[8]),
        )  # fmt: skip

    def delivered(self, d: Delivery) -> None:
        with self._lock:
            self.db.execute(
                "UPDATE deliveries SET state = 'delivered', attempts = attempts + 1, "
                "delivered_at = ? WHERE id = ?",
                (time.time(), d.id),
            )

    def retry(self, d: Delivery, at: float, error: str) -> None:
        with self._lock:
            self.db.execute(
                "UPDATE deliveries SET attempts = attempts + 1, next_at = ?, last_error = ? "
                "WHERE id = ?",
                (at, error, d.id),
            )

    def dead(self, d: Delivery, error: str) -> None:
        with self._lock:
            self.db.execute(
                "UPDATE deliveries SET state = 'dead', attempts = attempts + 1, last_error = ? "
                "WHERE id = ?",
                (error, d.id),
            )

    def pause(self, sink: str, until: float) -> None:
        with self._lock:
            self.db.execute(
                "INSERT INTO sink_pause(sink, until) VALUES (?, ?) "
                "ON CONFLICT(sink) DO UPDATE SET until = excluded.until",
                (sink, until),
            )

    def paused_until(self, sink: str) -> float:
        row = self.db.execute("SELECT until FROM sink_pause WHERE sink = ?", (sink,)).fetchone()
        return float(row[0]) if row else 0.0

    def counts(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        with self._lock:
            for sink, state, n in self.db.execute(
                "SELECT sink, state, COUNT(*) FROM deliveries GROUP BY sink, state"
            ):
                out.setdefault(sink, {})[state] = n
        return out

    def recent(self, limit: int = 50) -> list[dict[str, Any]]:
        with self._lock:
            rows = self.db.execute(
                "SELECT d.id, a.id, a.event, a.source, d.sink, d.state, d.attempts, d.last_error "
                "FROM deliveries d JOIN alerts a ON a.id = d.alert_id ORDER BY d.id DESC LIMIT ?",
                (limit,),
            ).fetchall()
        keys = ("delivery", "alert", "event", "source", "sink", "state", "attempts", "error")
        return [dict(zip(keys, r, strict=True)) for r in rows]
