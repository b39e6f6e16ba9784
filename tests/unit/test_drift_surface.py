"""The operator surface of feature drift: ``/metrics`` exports each instrument's worst
features' PSI and its breaches from the session's status, and the notifier turns a drift
event into its ``drift`` notification with a readable text."""

from __future__ import annotations

from collections import deque
from types import SimpleNamespace
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest

from pycontrol.notify.client import SESSION_EVENTS, Notifier
from pycontrol.service.metrics import SessionCollector

DRIFT = {
    "status": "drifted",
    "breaches": 3,
    "instruments": {
        "ESZ6": {
            "rows": 500,
            "breaches": 3,
            "breached": True,
            "worst": [
                {"feature": "micro_spread", "psi": 1.5, "ks": 0.6, "nan_share": 0.0},
                {"feature": "micro_imb_1", "psi": 0.1, "ks": 0.05, "nan_share": 0.0},
            ],
        }
    },
}


def _link(engine: dict[str, Any]) -> Any:
    return SimpleNamespace(
        status={"engine": engine},
        error=None,
        latency=lambda: {"buckets_us": [], "counts": [], "sum_us": 0.0},
        recent={"state": deque()},
        telemetry_received=0,
        telemetry_gaps=0,
        health=lambda: {"heartbeat_age_s": 0.0},
    )


def _scrape(engine: dict[str, Any]) -> str:
    reg = CollectorRegistry(auto_describe=False)
    reg.register(SessionCollector(_link(engine)))
    return generate_latest(reg).decode()


def test_metrics_export_drift_psi_and_breaches() -> None:
    text = _scrape({"drift": DRIFT})
    assert 'pycontrol_drift_psi{feature="micro_spread",symbol="ESZ6"} 1.5' in text
    assert 'pycontrol_drift_psi{feature="micro_imb_1",symbol="ESZ6"} 0.1' in text
    assert 'pycontrol_drift_breaches_total{symbol="ESZ6"} 3.0' in text
    # no reference: the families exist, with no samples
    bare = _scrape({"drift": {"status": "no reference"}})
    assert "# TYPE pycontrol_drift_psi gauge" in bare
    assert "pycontrol_drift_psi{" not in bare


def test_notifier_maps_a_drift_event() -> None:
    assert SESSION_EVENTS[("state", "drift")] == "drift"
    n = Notifier("http://127.0.0.1:9", "tok", "es-replay")
    sent: list[tuple[str, str, dict[str, Any]]] = []
    n.event = lambda event, text, data=None, key=None: sent.append((event, text, data or {}))  # type: ignore[method-assign]
    try:
        n.on_session_event(
            "state",
            {"event": "drift", "symbol": "ESZ6", "feature": "micro_spread", "psi": 1.5,
             "ks": 0.6, "breached_features": 4, "ts": 1, "rows": 500},
        )  # fmt: skip
        n.on_session_event("state", {"event": "heartbeat"})
    finally:
        n.close()
    assert len(sent) == 1
    event, text, data = sent[0]
    assert event == "drift"
    assert text == "drift: ESZ6 micro_spread PSI 1.50 KS 0.60 (4 features)"
    assert data["feature"] == "micro_spread" and "event" not in data
