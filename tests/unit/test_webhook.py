"""The webhook's parts: payload schema, secret and HMAC, idempotency and rate limits, and
the session's alert desk on a real Rust engine: every refusal has its HTTP status and
code, is counted and journaled, and never reaches the engine's inbox; a confirmation the
engine cannot give (no model) is refused by the engine, never traded."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pycontrol.session.alerts import AlertDesk
from pycontrol.session.config import SessionConfig, SessionConfigError, WebhookConfig
from pycontrol.session.runtime import Session
from pycontrol.webhook.auth import check_secret, check_signature, sign
from pycontrol.webhook.limits import IdempotencyStore, RateLimits, TokenBucket
from pycontrol.webhook.schema import CODES, AlertRefused, parse_alert, parse_json, parse_time

SECRET = "s3cret-value"
NOW = 1_765_000_000


def payload(**over: Any) -> dict[str, Any]:
    p: dict[str, Any] = {
        "secret": SECRET,
        "alert_id": "a-1",
        "strategy": "breakout",
        "instrument": "ES",
        "side": "buy",
        "price": 5000.25,
        "time": "2025-12-06T05:46:40Z",
    }
    p.update(over)
    return p


# -- schema -------------------------------------------------------------------------------


def test_a_tradingview_payload_parses_with_every_spelling() -> None:
    a = parse_alert(payload(side="LONG", instrument="esz6", price="5000.25", qty="2"))
    assert (a.side, a.instrument, a.price, a.qty) == ("BUY", "ESZ6", 5000.25, 2)
    assert a.time_ns == NOW * 10**9
    assert parse_alert(payload(side="short")).side == "SELL"
    assert parse_time(NOW) == parse_time(NOW * 1000) == parse_time(str(NOW)) == NOW * 10**9
    assert parse_time("2025-12-06T06:46:40+01:00") == NOW * 10**9
    assert "secret" not in parse_alert(payload()).journal_body()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("alert_id", ""),
        ("alert_id", True),
        ("strategy", "bad strategy!"),
        ("instrument", 12),
        ("side", "hold"),
        ("price", -1),
        ("price", float("nan")),
        ("price", "abc"),
        ("time", "yesterday"),
        ("time", True),
        ("qty", 0),
        ("qty", 1.5),
    ],
)
def test_every_bad_field_is_refused_by_name(field: str, value: Any) -> None:
    with pytest.raises(AlertRefused) as e:
        parse_alert(payload(**{field: value}))
    assert (e.value.code, e.value.status, e.value.field) == ("INVALID_FIELD", 422, field)
    assert field in e.value.detail


def test_unknown_and_missing_fields_and_bad_json() -> None:
    with pytest.raises(AlertRefused) as e:
        parse_alert(payload(leverage=100))
    assert e.value.field == "leverage"
    p = payload()
    del p["side"]
    with pytest.raises(AlertRefused, match="side"):
        parse_alert(p)
    for body in (b"{not json", b"[1, 2]", b"\xff\xfe"):
        with pytest.raises(AlertRefused) as e:
            parse_json(body)
        assert (e.value.code, e.value.status) == ("MALFORMED_JSON", 400)


# -- auth ---------------------------------------------------------------------------------


def test_secret_and_signature() -> None:
    check_secret(SECRET, SECRET)
    for given, want in ((SECRET + "x", SECRET), ("", SECRET), (SECRET, "")):
        with pytest.raises(AlertRefused) as e:
            check_secret(given, want)
        assert (e.value.code, e.value.status) == ("BAD_SECRET", 401)
    body = json.dumps(payload()).encode()
    check_signature(body, None, None)  # no key configured: nothing to check
    check_signature(body, sign(body, "k"), "k")
    check_signature(body, sign(body, "k").removeprefix("sha256=").upper(), "k")
    for header in (None, "", sign(body + b" ", "k"), sign(body, "other"), "sha256=zz"):
        with pytest.raises(AlertRefused) as e:
            check_signature(body, header, "k")
        assert (e.value.code, e.value.status) == ("BAD_SIGNATURE", 401)


# -- limits -------------------------------------------------------------------------------


def test_idempotency_keys_expire_and_are_bounded() -> None:
    s = IdempotencyStore(ttl_s=10.0, max_keys=3)
    s.add("a", 0)
    assert s.seen("a", 5 * 10**9) and not s.seen("b", 0)
    assert not s.seen("a", 11 * 10**9), "expired after the TTL"
    for i, k in enumerate("bcde"):
        s.add(k, 20 * 10**9 + i)
    assert len(s) == 3 and not s.seen("b", 20 * 10**9 + 5), "the oldest went first"


def test_token_buckets_per_strategy() -> None:
    b = TokenBucket(rate_per_s=1.0, burst=2)
    assert [b.take(0), b.take(0), b.take(0)] == [True, True, False]
    assert b.take(10**9) and not b.take(10**9)
    r = RateLimits(rate_per_min=60.0, burst=1, max_strategies=2)
    assert r.allow("a", 0) and not r.allow("a", 0)
    assert r.allow("b", 0), "another strategy has its own bucket"
    assert r.allow("c", 0) and not r.allow("d", 0), "beyond the cap, new ones share one"


def test_webhook_config_reports_every_violation_at_once() -> None:
    with pytest.raises(SessionConfigError) as e:
        WebhookConfig(
            port=-1,
            secret_env="1bad",
            min_confidence=1.5,
            max_body_bytes=0,
            rate_per_min=0,
            burst=0,
            strategies=["ok", "not ok"],
        )
    text = str(e.value)
    for f in ("port", "secret_env", "min_confidence", "max_body_bytes", "rate_per_min", "burst",
              "strategies"):  # fmt: skip
        assert f in text
    assert WebhookConfig(strategies=["a", "b"]).strategies == ("a", "b")
    assert WebhookConfig().min_confidence == 0.87


# -- the desk on a real engine --------------------------------------------------------------

STRATEGY = """
name = "webhook-unit"
data = ["<broker feed>"]
seed = 1
fee_per_contract = 2.0
vol_halflife_s = 2.0
vol_min_samples = 2
[signals]
kind = "pushed"
[sizing]
max_qty = 1
"""


@pytest.fixture
def desk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AlertDesk]:
    monkeypatch.setenv("WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("WEBHOOK_HMAC", "hmac-key")
    strat = tmp_path / "strategy.toml"
    strat.write_text(STRATEGY)
    cfg = SessionConfig.from_dict(
        {
            "name": "webhook-unit",
            "mode": "paper",
            "run_dir": str(tmp_path / "run"),
            "instrument": {"root": "ES"},
            "engine": {"strategy": str(strat)},
            "webhook": {
                "secret_env": "WEBHOOK_SECRET",
                "hmac_secret_env": "WEBHOOK_HMAC",
                "max_body_bytes": 1024,
                "rate_per_min": 60.0,
                "burst": 3,
                "strategies": ["breakout", "fade"],
                "max_alert_age_s": 30.0,
            },
        }
    )
    s = Session(cfg, "paper", tmp_path / "run")
    s.engine = s._start_engine()
    s.publish = lambda topic, data: None  # type: ignore[method-assign]
    assert cfg.webhook is not None
    d = AlertDesk(s, cfg.webhook)
    yield d
    s.journal.close()
    s._lock.close()


def post(d: AlertDesk, p: dict[str, Any] | bytes, key: str = "hmac-key") -> tuple[int, Any]:
    body = p if isinstance(p, bytes) else json.dumps(p).encode()
    return d.on_alert(body, sign(body, key))


def fresh(**over: Any) -> dict[str, Any]:
    return payload(**{"time": time.time(), **over})


def test_every_refusal_has_its_code_is_counted_and_journaled_and_reaches_no_engine(
    desk: AlertDesk,
) -> None:
    core = desk.session.engine.core  # type: ignore[union-attr]
    cases: list[tuple[str, int, Any]] = [
        ("BODY_TOO_LARGE", 413, None),
        ("BAD_SIGNATURE", 401, "sig"),
        ("MALFORMED_JSON", 400, b"{oops"),
        ("BAD_SECRET", 401, fresh(secret="wrong")),
        ("BAD_SECRET", 401, {k: v for k, v in fresh().items() if k != "secret"}),
        ("INVALID_FIELD", 422, fresh(side="flat")),
        ("UNKNOWN_STRATEGY", 403, fresh(strategy="other")),
        ("STALE_ALERT", 408, fresh(alert_id="old", time=time.time() - 120)),
        ("INVALID_FIELD", 422, fresh(alert_id="future", time=time.time() + 600)),
        ("UNKNOWN_INSTRUMENT", 404, fresh(alert_id="nq", instrument="NQ")),
    ]
    for code, status, p in cases:
        if p is None:
            got = desk.on_alert(b"", None, oversize=True)
        elif p == "sig":
            body = json.dumps(fresh()).encode()
            got = desk.on_alert(body, sign(body, "not-the-key"))
        else:
            got = post(desk, p)
        assert got[0] == status == CODES[code], (code, got)
        assert got[1]["code"] == code and got[1]["status"] == "refused"
    assert core.pending_signals == 0
    j = desk.session.journal
    assert j.count("alert") == 0 and j.intent_ids() == []
    refused = [e["payload"] for e in j.events("alert_refused")]
    assert [r["code"] for r in refused] == [c for c, _, _ in cases]
    assert refused[5]["field"] == "side" and refused[5]["correlation_id"] == "a-1"
    st = desk.status()
    assert st["refused"]["BAD_SECRET"] == 2 and st["refused_total"] == len(cases)
    assert st["accepted"] == 0


def test_duplicates_rate_limits_and_a_halted_session(desk: AlertDesk) -> None:
    s = desk.session
    core = s.engine.core  # type: ignore[union-attr]
    # the first alert passes every check and is pushed; this engine has no model, so the
    # engine refuses the confirmation (never traded on the alert's word)
    code, body = post(desk, fresh(alert_id="x1"))
    assert code == 202 and body["correlation_id"] == "x1"
    assert body["status"] in ("pending", "refused")
    st, again = post(desk, fresh(alert_id="x1"))
    assert (st, again["code"]) == (409, "DUPLICATE_ALERT")
    # burst 3 per strategy: x1 and the duplicate took two tokens
    assert post(desk, fresh(alert_id="x2"))[0] == 202
    st, limited = post(desk, fresh(alert_id="x3"))
    assert (st, limited["code"]) == (429, "RATE_LIMITED")
    assert post(desk, fresh(alert_id="y1", strategy="fade"))[0] == 202, "its own bucket"
    s.engine.halt("test")  # type: ignore[union-attr]
    st, halted = post(desk, fresh(alert_id="y2", strategy="fade"))
    assert (st, halted["code"]) == (503, "SESSION_NOT_TRADING")
    j = s.journal
    assert [e["payload"]["alert_id"] for e in j.events("alert")] == ["x1", "x2", "y1"]
    # the engine saw three pushes, no quote yet: they wait for the first market event
    assert core.pending_signals == 3
    s.engine.resume()  # type: ignore[union-attr]
    # one pushed signal is answered per market event of its instrument
    for i in range(3):
        s._handle(s._flow().on_market_data(_Quote(5000.0 + 0.25 * i)))
    desk.drain()
    decisions = {e["payload"]["correlation_id"]: e["payload"] for e in j.events("alert_decision")}
    assert set(decisions) == {"x1", "x2", "y1"}
    assert {d["reason"] for d in decisions.values()} == {"NO_MODEL_FOR_CONFIRMATION"}
    assert all(d["intent_id"] is None and not d["accepted"] for d in decisions.values())
    assert j.intent_ids() == []


class _Quote:
    """A market data update as the IB venue hands it to the session."""

    symbol = "ESZ6"
    bid_size, ask_size = 3, 4

    def __init__(self, bid: float) -> None:
        self.bid, self.ask, self.ts = bid, bid + 0.25, time.time_ns()


def test_webhook_counts_reach_the_ops_metrics() -> None:
    """/metrics exposes the session's webhook counters (from its `status`)."""
    from collections import defaultdict
    from types import SimpleNamespace

    from pycontrol.service.metrics import exposition, registry
    from pycontrol.session.latency import LatencyStats

    status = {
        "engine": {},
        "webhook": {
            "accepted": 3,
            "refused": {"BAD_SECRET": 2, "DUPLICATE_ALERT": 1},
            "verdicts": {"SENT": 1, "BELOW_THRESHOLD": 2},
        },
    }
    link = SimpleNamespace(
        status=status,
        error=None,
        recent=defaultdict(list),
        telemetry_received=0,
        telemetry_gaps=0,
        latency=lambda: LatencyStats().summary(),
        health=lambda: {"heartbeat_age_s": 0.0},
    )
    text = exposition(registry(link)).decode()  # type: ignore[arg-type]
    assert "pycontrol_webhook_alerts_accepted_total 3.0" in text
    assert 'pycontrol_webhook_alerts_refused_total{code="BAD_SECRET"} 2.0' in text
    assert 'pycontrol_webhook_verdicts_total{verdict="BELOW_THRESHOLD"} 2.0' in text


def test_a_desk_without_its_secret_in_the_environment_refuses_to_start(
    desk: AlertDesk, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = desk.cfg
    monkeypatch.delenv("WEBHOOK_SECRET")
    with pytest.raises(SessionConfigError, match="WEBHOOK_SECRET"):
        AlertDesk(desk.session, cfg)
    monkeypatch.setenv("WEBHOOK_SECRET", SECRET)
    monkeypatch.delenv("WEBHOOK_HMAC")
    with pytest.raises(SessionConfigError, match="WEBHOOK_HMAC"):
        AlertDesk(desk.session, cfg)


def test_an_engine_failure_is_a_500_with_its_reason_and_the_desk_carries_on(
    desk: AlertDesk, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = desk.session.engine
    assert engine is not None

    def broken(*a: Any, **k: Any) -> None:
        raise ValueError("inbox gone")

    monkeypatch.setattr(engine, "push_alert", broken)
    st, body = post(desk, fresh(alert_id="e1"))
    assert (st, body["code"], body["correlation_id"]) == (500, "ENGINE_ERROR", "e1")
    assert "inbox gone" in body["detail"]
    err = [e["payload"] for e in desk.session.journal.events("alert_error")]
    assert err == [{"correlation_id": "e1", "code": "ENGINE_ERROR", "detail": body["detail"]}]
    monkeypatch.setattr(engine, "push_alert", type(engine).push_alert.__get__(engine))
    assert post(desk, fresh(alert_id="e1"))[0] == 202, "a retry of the failed alert is taken"
