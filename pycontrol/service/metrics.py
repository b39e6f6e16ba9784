"""``/metrics``: the session in Prometheus' text exposition format (prometheus_client).

A custom collector reads the :class:`~pycontrol.service.link.SessionLink` at scrape time, so
every figure is the session's own (its last ``status`` and its telemetry), never a second
count kept beside it. Names are ``pycontrol_*``; counters end in ``_total``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from pycontrol.service.link import SessionLink

ENGINE_COUNTERS = ("records", "events", "signals", "decisions", "intents", "denials", "orders")
STATES = ("ACTIVE", "REDUCING", "HALTED")


class SessionCollector(Collector):
    def __init__(self, link: SessionLink) -> None:
        self.link = link

    def collect(self) -> Iterator[Metric]:
        link = self.link
        st: dict[str, Any] = link.status or {}
        eng: dict[str, Any] = st.get("engine", {})
        up = GaugeMetricFamily("pycontrol_session_up", "1 when the last status poll answered")
        up.add_metric([], 1.0 if link.error is None and link.status else 0.0)
        yield up

        # event-to-intent latency (us): the session's account of every sample
        lat = link.latency()
        cum, total = [], 0
        for b, n in zip(lat["buckets_us"], lat["counts"], strict=False):
            total += n
            cum.append((str(float(b)), float(total)))
        cum.append(("+Inf", float(sum(lat["counts"]))))
        h = HistogramMetricFamily(
            "pycontrol_event_to_intent_latency_us", "market data to order intent, microseconds"
        )
        h.add_metric([], cum, sum_value=float(lat.get("sum_us", 0.0)))
        yield h

        for k in ENGINE_COUNTERS:
            c = CounterMetricFamily(f"pycontrol_engine_{k}", f"engine {k} so far")
            c.add_metric([], float(eng.get(k, 0)))
            yield c
        fills = CounterMetricFamily("pycontrol_fills", "fills so far")
        fills.add_metric([], float(eng.get("fills", 0)))
        yield fills
        working = GaugeMetricFamily("pycontrol_working_orders", "orders working at the venue")
        working.add_metric([], float(eng.get("working", 0)))
        yield working
        den = CounterMetricFamily(
            "pycontrol_denials_by_reason", "pre-trade denials", labels=["reason"]
        )
        for reason, n in sorted(eng.get("denials_by_reason", {}).items()):
            den.add_metric([reason], float(n))
        yield den
        state = GaugeMetricFamily(
            "pycontrol_trading_state", "1 for the current state", labels=["state"]
        )
        for s in STATES:
            state.add_metric([s], 1.0 if eng.get("state") == s else 0.0)
        yield state
        eq = GaugeMetricFamily("pycontrol_equity", "account equity")
        eq.add_metric([], float(eng.get("equity", 0.0) or 0.0))
        yield eq
        fams = {
            "qty": GaugeMetricFamily(
                "pycontrol_position", "position, contracts", labels=["symbol"]
            ),
            "realized": GaugeMetricFamily(
                "pycontrol_realized_pnl", "realized P&L", labels=["symbol"]
            ),
            "unrealized": GaugeMetricFamily(
                "pycontrol_unrealized_pnl", "unrealized P&L at the mark", labels=["symbol"]
            ),
            "fees": GaugeMetricFamily("pycontrol_fees", "fees paid", labels=["symbol"]),
        }
        for p in eng.get("positions", []):
            for k, fam in fams.items():
                fam.add_metric([str(p.get("symbol"))], float(p.get(k, 0.0) or 0.0))
        yield from fams.values()
        lim = GaugeMetricFamily("pycontrol_risk_limit", "pre-trade limits", labels=["limit"])
        for k, v in sorted(eng.get("limits", {}).items()):
            lim.add_metric([k], float(v))
        yield lim
        model = eng.get("model")
        if isinstance(model, dict):
            mv = GaugeMetricFamily("pycontrol_model_info", "the model serving", labels=["version"])
            mv.add_metric([str(model.get("version"))], 1.0)
            yield mv
            g = CounterMetricFamily(
                "pycontrol_model_gate", "model outputs by gate", labels=["gate"]
            )
            g.add_metric(["passed"], float(model.get("passed", 0)))
            for r, n in sorted(model.get("gated_by_reason", {}).items()):
                g.add_metric([r], float(n))
            yield g
            sa = CounterMetricFamily("pycontrol_model_swap_alerts", "failed model swaps")
            sa.add_metric([], float(len(model.get("swap_alerts", []))))
            yield sa

        ctl = st.get("control", {})
        af = CounterMetricFamily(
            "pycontrol_command_auth_failures", "control handshakes refused (no or unknown key)"
        )
        af.add_metric([], float(ctl.get("auth_failures", 0)))
        yield af
        uk = CounterMetricFamily("pycontrol_command_unknown_keys", "CURVE keys not an operator's")
        uk.add_metric([], float(ctl.get("unknown_keys", 0)))
        yield uk
        rf = CounterMetricFamily(
            "pycontrol_commands_refused", "commands refused", labels=["reason"]
        )
        for r, n in sorted(ctl.get("refused", {}).items()):
            rf.add_metric([r], float(n))
        yield rf
        ov = CounterMetricFamily("pycontrol_command_overrides", "loosening commands overridden")
        ov.add_metric([], float(ctl.get("overrides", 0)))
        yield ov

        hook = st.get("webhook") or {}  # [webhook]: TradingView alerts (session/alerts.py)
        if hook:
            wa = CounterMetricFamily("pycontrol_webhook_alerts_accepted", "alerts pushed")
            wa.add_metric([], float(hook.get("accepted", 0)))
            yield wa
            wr = CounterMetricFamily(
                "pycontrol_webhook_alerts_refused", "alerts refused", labels=["code"]
            )
            for code, n in sorted(hook.get("refused", {}).items()):
                wr.add_metric([code], float(n))
            yield wr
            wv = CounterMetricFamily(
                "pycontrol_webhook_verdicts", "engine verdicts on alerts", labels=["verdict"]
            )
            for v, n in sorted(hook.get("verdicts", {}).items()):
                wv.add_metric([v], float(n))
            yield wv

        tel = st.get("telemetry", {})
        for k in ("sent", "dropped"):
            c = CounterMetricFamily(f"pycontrol_telemetry_{k}", f"telemetry messages {k}")
            c.add_metric([], float(tel.get(k, 0)))
            yield c
        rx = CounterMetricFamily(
            "pycontrol_service_telemetry_received", "telemetry the ops service received"
        )
        rx.add_metric([], float(link.telemetry_received))
        yield rx
        gaps = CounterMetricFamily(
            "pycontrol_feed_gaps", "telemetry sequence gaps seen by the ops service (messages)"
        )
        gaps.add_metric([], float(link.telemetry_gaps))
        yield gaps
        md = CounterMetricFamily("pycontrol_market_events", "market data events the engine read")
        md.add_metric([], float(st.get("market_events", 0) or 0))
        yield md
        conn = [x["data"] for x in link.recent["state"] if x["data"].get("event") == "connectivity"]
        rc = CounterMetricFamily("pycontrol_feed_reconnects", "connectivity events seen")
        rc.add_metric([], float(len(conn)))
        yield rc
        # book integrity per instrument (the engine's books): crossed / untrusted now, and the
        # anomalies each book survived, by kind
        books: dict[str, Any] = eng.get("books", {}) or {}
        cr = GaugeMetricFamily(
            "pycontrol_book_crossed", "1 when the book is crossed", labels=["symbol"]
        )
        ub = GaugeMetricFamily(
            "pycontrol_book_untrusted", "1 while the book is marked maybe-bad", labels=["symbol"]
        )
        an = CounterMetricFamily(
            "pycontrol_book_anomalies", "book anomalies by kind", labels=["symbol", "kind"]
        )
        for sym, b in sorted(books.items()):
            cr.add_metric([sym], 1.0 if b.get("crossed") else 0.0)
            ub.add_metric([sym], 1.0 if b.get("untrusted") else 0.0)
            for kind, n in sorted(b.get("anomalies", {}).items()):
                an.add_metric([sym, kind], float(n))
        yield cr
        yield ub
        yield an
        # feature drift (the engine's watch): PSI of each instrument's worst features at the
        # last check, and the breaches (checks past a threshold) so far
        drift: dict[str, Any] = eng.get("drift", {}) or {}
        psi = GaugeMetricFamily(
            "pycontrol_drift_psi",
            "PSI of the worst features at the last drift check",
            labels=["symbol", "feature"],
        )
        br = CounterMetricFamily(
            "pycontrol_drift_breaches", "drift checks past a threshold", labels=["symbol"]
        )
        for sym, i in sorted((drift.get("instruments") or {}).items()):
            for w in i.get("worst", []):
                psi.add_metric([sym, str(w.get("feature"))], float(w.get("psi", 0.0)))
            br.add_metric([sym], float(i.get("breaches", 0)))
        yield psi
        yield br
        health = link.health()
        hb = GaugeMetricFamily("pycontrol_heartbeat_age_seconds", "since the last heartbeat")
        hb.add_metric([], float(health["heartbeat_age_s"] or 0.0))
        yield hb


def registry(link: SessionLink) -> CollectorRegistry:
    reg = CollectorRegistry(auto_describe=False)
    reg.register(SessionCollector(link))
    return reg


def exposition(reg: CollectorRegistry) -> bytes:
    return generate_latest(reg)
