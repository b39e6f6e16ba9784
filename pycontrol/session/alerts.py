"""Webhook alerts in a running session: the path from a TradingView POST to an order.

:class:`AlertDesk` is what the webhook app (:mod:`pycontrol.webhook.app`) calls with the raw
body. In order: size, HMAC signature (when configured), JSON, shared secret, fields,
strategy allowed, rate limit per strategy, duplicate (the alert id within the TTL), age,
instrument, trading state. Every refusal has its HTTP status and machine code, is counted
per code and journaled (``alert_refused``; unauthenticated refusals are journaled at a
bounded rate, all are counted) and never reaches the engine.

A valid alert is journaled (``alert``, its correlation id is the alert id), pushed into the
engine's signal inbox asking the model to confirm it (the model's probability for the
alert's side on the current features must be >= ``min_confidence``), and evaluated at once;
the engine's verdict is journaled (``alert_decision``: model probability, threshold,
accepted or the reason, the resulting intent id, in the event's intent_id column too), and
the intent goes the way of every engine intent (journaled, gated, sent, its orders and
fills linked by the intent id). ``pycontrol journal trace ALERT_ID`` follows the chain.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import re
import time
from collections import Counter, OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pycontrol.session.config import WebhookConfig
from pycontrol.webhook.auth import check_secret, check_signature
from pycontrol.webhook.limits import IdempotencyStore, RateLimits, TokenBucket
from pycontrol.webhook.schema import (
    AlertRefused,
    authenticated_secret,
    parse_alert,
    parse_json,
)

if TYPE_CHECKING:
    from pycontrol.session.journal import Journal
    from pycontrol.session.runtime import Session
    from pycontrol.webhook.app import WebhookServer

log = logging.getLogger("pycontrol.session.alerts")

_MONTH = re.compile(r"[FGHJKMNQUVXZ]\d{1,2}")
# Unauthenticated refusals (a flood from anyone who finds the port) are journaled at this
# rate at most; every one is counted.
_UNAUTH_JOURNAL_PER_S = 5.0
_UNAUTH_JOURNAL_BURST = 50
_UNAUTHENTICATED = ("BODY_TOO_LARGE", "BAD_SIGNATURE", "MALFORMED_JSON", "BAD_SECRET")


class AlertDesk:
    """The session side of the webhook (one per session, on the session's loop)."""

    def __init__(self, session: Session, cfg: WebhookConfig) -> None:
        self.session = session
        self.cfg = cfg
        self.max_body_bytes = cfg.max_body_bytes
        self.secret = os.environ.get(cfg.secret_env, "")
        if not self.secret:
            from pycontrol.session.config import _fail

            raise _fail("webhook", [f"secret_env {cfg.secret_env}: the variable is not set"])
        self.hmac_key = os.environ.get(cfg.hmac_secret_env, "") if cfg.hmac_secret_env else ""
        if cfg.hmac_secret_env and not self.hmac_key:
            from pycontrol.session.config import _fail

            raise _fail(
                "webhook", [f"hmac_secret_env {cfg.hmac_secret_env}: the variable is not set"]
            )
        self.seen = IdempotencyStore()
        self.rates = RateLimits(cfg.rate_per_min, cfg.burst)
        self._unauth_journal = TokenBucket(_UNAUTH_JOURNAL_PER_S, _UNAUTH_JOURNAL_BURST)
        self.refused: Counter[str] = Counter()
        self.verdicts: Counter[str] = Counter()
        self.accepted = 0
        self.unjournaled = 0
        self._tags = itertools.count(1)
        # tag -> alert id of alerts whose verdict is not in yet (bounded)
        self._open: OrderedDict[int, str] = OrderedDict()
        self.server: WebhookServer | None = None
        self._drainer: asyncio.Task[None] | None = None
        self._t0 = 0
        now = time.time_ns()
        for e in session.journal.events("alert"):  # duplicates across a restart too
            p = e["payload"]
            self.seen.add(_key(p["strategy"], p["alert_id"]), min(now, int(e["ts_ns"])))

    # -- the path ------------------------------------------------------------------------------

    def on_alert(
        self, body: bytes, signature: str | None, *, oversize: bool = False
    ) -> tuple[int, dict[str, Any]]:
        """One POST: (HTTP status, JSON body)."""
        now = time.time_ns()
        self._t0 = time.monotonic_ns()
        alert_id = None
        try:
            if oversize:
                raise AlertRefused(
                    "BODY_TOO_LARGE", f"the body exceeds {self.max_body_bytes} bytes"
                )
            check_signature(body, signature, self.hmac_key)
            data = parse_json(body)
            check_secret(authenticated_secret(data), self.secret)
            raw_id = data.get("alert_id")
            alert_id = str(raw_id) if isinstance(raw_id, str | int) else None
            alert = parse_alert(data)
            return self._accept(alert, now)
        except AlertRefused as r:
            self._refuse(r, alert_id, now)
            return r.status, r.body(alert_id)

    def _accept(self, alert: Any, now: int) -> tuple[int, dict[str, Any]]:
        cfg, s = self.cfg, self.session
        if cfg.strategies and alert.strategy not in cfg.strategies:
            raise AlertRefused(
                "UNKNOWN_STRATEGY", f"strategy {alert.strategy!r} is not accepted by this session"
            )
        if not self.rates.allow(alert.strategy, now):
            raise AlertRefused(
                "RATE_LIMITED",
                f"strategy {alert.strategy!r} is over {cfg.rate_per_min:g} alerts/min "
                f"(burst {cfg.burst})",
            )
        key = _key(alert.strategy, alert.alert_id)
        if self.seen.seen(key, now):
            raise AlertRefused("DUPLICATE_ALERT", f"alert {alert.alert_id!r} was already taken")
        age_s = (now - alert.time_ns) / 1e9
        if cfg.max_alert_age_s > 0 and age_s > cfg.max_alert_age_s:
            raise AlertRefused(
                "STALE_ALERT", f"the alert is {age_s:.1f} s old (max {cfg.max_alert_age_s:g} s)"
            )
        if cfg.max_alert_age_s > 0 and -age_s > cfg.max_alert_age_s:
            raise AlertRefused(
                "INVALID_FIELD", f"time: {-age_s:.1f} s in the future (clock skew?)", "time"
            )
        root = self._root_of(alert.instrument)
        engine = s.engine
        if engine is None:
            raise AlertRefused("SESSION_NOT_TRADING", "the session's engine is not running")
        state = str(engine.core.state)
        if state == "HALTED":
            raise AlertRefused("SESSION_NOT_TRADING", "the session is HALTED")
        iid = engine.instrument_of(root)
        t1 = time.monotonic_ns()
        tag = next(self._tags)
        self.seen.add(key, now)
        self.accepted += 1
        min_conf = cfg.min_confidence
        s.journal.append(
            "alert",
            {
                **alert.journal_body(),
                "correlation_id": alert.alert_id,
                "tag": tag,
                "root": root,
                "min_confidence": min_conf,
                "received_ns": now,
            },
        )
        t2 = time.monotonic_ns()
        evaluated = False
        try:
            engine.push_alert(iid, alert.side, min_conf, tag, now if s.rust is None else None)
            self._open[tag] = alert.alert_id
            while len(self._open) > 10_000:
                self._open.popitem(last=False)
            if s.rust is None:  # a broker session: answer now, not at the next quote
                evaluated, out = s._flow().evaluate(iid, now)
                t3 = time.monotonic_ns()
                s._handle(out)  # the intent journaled, its submission to the venue scheduled
            else:
                t3 = time.monotonic_ns()
        except Exception as e:  # the engine failed: a 500 with the reason, the session lives
            log.exception("alert %s: the engine failed", alert.alert_id)
            self.refused["ENGINE_ERROR"] += 1
            self.seen.discard(key)  # not taken: the sender may retry it
            err = {"code": "ENGINE_ERROR", "detail": f"{type(e).__name__}: {e}"}
            s.journal.append("alert_error", {"correlation_id": alert.alert_id, **err})
            return 500, {"status": "error", "correlation_id": alert.alert_id, **err}
        verdict = self.drain().get(tag)
        t4 = time.monotonic_ns()
        # where the time went (CLOCK_MONOTONIC, comparable across processes of this host):
        # checks, journaling the alert, the engine, journaling the intent and the decision
        body: dict[str, Any] = {
            "correlation_id": alert.alert_id,
            "timing_us": {
                "checks": (t1 - self._t0) / 1e3,
                "journal_alert": (t2 - t1) / 1e3,
                "engine": (t3 - t2) / 1e3,
                "journal_decision": (t4 - t3) / 1e3,
            },
            "handled_mono_ns": t4,
            "received_mono_ns": self._t0,
        }
        if verdict is None:
            body.update(
                status="pending",
                detail="answered at the instrument's next market event"
                if not evaluated
                else "no verdict yet",
            )
        else:
            body.update(_response(verdict))
        return 202, body

    def _root_of(self, symbol: str) -> str:
        for inst in self.session.cfg.instruments:
            r = inst.root.upper()
            if symbol == r or (symbol.startswith(r) and _MONTH.fullmatch(symbol[len(r) :])):
                return inst.root
        roots = ", ".join(i.root for i in self.session.cfg.instruments)
        raise AlertRefused(
            "UNKNOWN_INSTRUMENT", f"instrument {symbol!r} is not traded by this session ({roots})"
        )

    def _refuse(self, r: AlertRefused, alert_id: str | None, now: int) -> None:
        self.refused[r.code] += 1
        if r.code in _UNAUTHENTICATED and not self._unauth_journal.take(now):
            self.unjournaled += 1
            return
        body = {"code": r.code, "status": r.status, "detail": r.detail, "field": r.field}
        if alert_id and r.code not in _UNAUTHENTICATED:
            body["correlation_id"] = alert_id
        self.session.journal.append("alert_refused", body)
        self.session.publish("signal", {"event": "alert_refused", **body})

    # -- verdicts ----------------------------------------------------------------------------

    def drain(self) -> dict[int, dict[str, Any]]:
        """Journals every verdict the engine has (``alert_decision``); returns them by tag."""
        engine = self.session.engine
        if engine is None:
            return {}
        out = {}
        for v in engine.drain_signal_verdicts():
            tag = int(v["tag"])
            alert_id = self._open.pop(tag, None)
            reason = str(v["reason"])
            self.verdicts[reason if reason != "ACCEPTED" else str(v["outcome"])] += 1
            body = {"correlation_id": alert_id, **v}
            iid = v["intent_id"]
            self.session.journal.append("alert_decision", body, intent_id=iid)
            self.session.publish("signal", {"event": "alert_decision", **body})
            out[tag] = body
        return out

    async def _drain_loop(self, every_s: float = 0.1) -> None:
        """Verdicts that came after the POST was answered (a replay's next record, an alert
        that waited for its instrument's first quote)."""
        while True:
            await asyncio.sleep(every_s)
            if self._open:
                self.drain()

    def status(self) -> dict[str, Any]:
        return {
            "url": self.server.url if self.server else None,
            "accepted": self.accepted,
            "refused": dict(self.refused),
            "refused_total": sum(self.refused.values()),
            "refusals_not_journaled": self.unjournaled,
            "verdicts": dict(self.verdicts),
            "awaiting_verdict": len(self._open),
            "min_confidence": self.cfg.min_confidence,
        }

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        from pycontrol.webhook.app import WebhookServer

        self.server = WebhookServer(self, self.cfg.port)
        await self.server.start()
        self._drainer = asyncio.ensure_future(self._drain_loop())
        _add_endpoint(self.session.run_dir, self.server.url)
        self.session.journal.append("webhook_start", {"url": self.server.url})
        print(f"webhook: {self.server.url}", flush=True)

    async def stop(self) -> None:
        if self._drainer is not None:
            self._drainer.cancel()
        if self.server is not None:
            await self.server.stop()


def _key(strategy: str, alert_id: str) -> str:
    return f"{strategy}\x00{alert_id}"


def _response(v: dict[str, Any]) -> dict[str, Any]:
    accepted = bool(v["accepted"])
    sent = v["outcome"] == "SENT"
    return {
        "status": "accepted" if accepted and sent else "refused",
        "verdict": v["reason"],
        "outcome": v["outcome"],
        "model_prob": v["model_prob"],
        "threshold": v["threshold"],
        "intent_id": v["intent_id"],
    }


def _add_endpoint(run_dir: Path, url: str) -> None:
    """``webhook`` in ``endpoints.json`` (written by the session before)."""
    p = run_dir / "endpoints.json"
    eps = json.loads(p.read_text()) if p.exists() else {}
    eps["webhook"] = url
    tmp = run_dir / "endpoints.json.tmp"
    tmp.write_text(json.dumps(eps))
    tmp.replace(p)


async def start(session: Session) -> AlertDesk | None:
    """The session's webhook when its config has a ``[webhook]`` section (else None)."""
    if session.cfg.webhook is None:
        return None
    desk = AlertDesk(session, session.cfg.webhook)
    await desk.start()
    return desk


def trace(journal: Journal, alert_id: str) -> list[dict[str, Any]]:
    """Everything the journal holds of one alert, in order: the alert (or its refusal),
    the engine's decision, the intent, its denial if one, its orders, their fills. Each row:
    ``{"step": alert|refused|decision|intent|denial|order|fill, ...}``."""
    rows: list[dict[str, Any]] = []
    # the intent is journaled as the engine emits it, its decision right after: ids first
    intents = {
        int(e["payload"]["intent_id"])
        for e in journal.events("alert_decision")
        if e["payload"].get("correlation_id") == alert_id
        and e["payload"].get("intent_id") is not None
    }
    for e in journal.events():
        p = e["payload"]
        k = e["kind"]
        if k == "alert" and p.get("alert_id") == alert_id:
            rows.append({"step": "alert", "ts_ns": e["ts_ns"], **p})
        elif k == "alert_refused" and p.get("correlation_id") == alert_id:
            rows.append({"step": "refused", "ts_ns": e["ts_ns"], **p})
        elif k == "alert_decision" and p.get("correlation_id") == alert_id:
            rows.append({"step": "decision", "ts_ns": e["ts_ns"], **p})
        elif k in ("intent", "denial") and e["intent_id"] in intents:
            rows.append({"step": k, "ts_ns": e["ts_ns"], "intent_id": e["intent_id"], **p})
    orders = [o for o in journal.orders() if o.intent_id in intents]
    rows += [{"step": "order", **o.__dict__} for o in orders]
    coids = {o.client_order_id for o in orders}
    rows += [{"step": "fill", **f} for f in journal.fills() if f["client_order_id"] in coids]
    return rows
