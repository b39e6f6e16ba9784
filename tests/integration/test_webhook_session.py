"""TradingView alerts end to end: a paper session (a real subprocess) against the IB test
gateway, trading a real model whose probability is known (a LightGBM that answers its prior:
BUY 0.92575, SELL 0.029), alerts POSTed over real HTTP.

A buy alert is confirmed by the model (0.926 >= 0.87) and becomes a bracket at the gateway,
which fills: positions and journal carry one correlation id from the alert to the fills
(`pycontrol journal trace`). A sell alert (the model gives it 0.029) is refused by the
engine, and every refusal path over HTTP (bad secret, bad signature, oversized, malformed,
unknown instrument, stale, duplicate, rate limit) leaves the gateway without a new order."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sessionkit import REPO, SessionProc, wait_for, warm, write_config

from pycontrol.session.journal import Journal
from pycontrol.testing.ib_gateway import BboVenue, TestGateway
from pycontrol.testing.models import make_prior_lightgbm
from pycontrol.webhook.auth import sign

ACCOUNT = "DU7654321"
SECRET = "tv-shared-secret"
HMAC_KEY = "hmac-key-for-senders-that-can"
BUY_P, SELL_P = 0.92575, 0.029

STRATEGY = """
name = "webhook-model"
data = ["<broker feed>"]
seed = 1
fee_per_contract = 2.0
initial_equity = 100000.0
flatten_at_end = false
vol_halflife_s = 2.0
vol_min_samples = 2
[order_latency]
kind = "constant"
ns = 0
[feed_latency]
kind = "constant"
ns = 0
[signals]
kind = "model"
path = "{model}"
max_age_s = 30.0
[decision]
# the model never trades by itself (0.926 < 0.99): only alerts it confirms do
min_confidence_ensemble = 0.99
[sizing]
max_qty = 2
"""

WEBHOOK = """
[webhook]
secret_env = "TV_SECRET"
min_confidence = 0.87
max_alert_age_s = 30.0
rate_per_min = 600.0
burst = 20
strategies = ["breakout"]
"""


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("model") / "prior"
    make_prior_lightgbm(
        out,
        prior=[0.03, 0.04, 0.93],
        names=["micro_spread", "micro_mid", "micro_imb_1"],
        low=[0.0, 0.0, -1.0],
        high=[10.0, 20000.0, 1.0],
    )
    return out


@pytest.fixture
def gw() -> Iterator[TestGateway]:
    g = TestGateway(account=ACCOUNT, venue=BboVenue(enabled=True)).start()
    g.set_quote(g.front("ES").con_id, 5000.0, 5000.25)
    yield g
    g.stop()


@pytest.fixture
def sessions() -> Iterator[list[SessionProc]]:
    procs: list[SessionProc] = []
    yield procs
    for p in procs:
        p.stop()


def _session(
    tmp_path: Path, gw: TestGateway, model: Path, sessions: list[SessionProc], webhook: str
) -> tuple[SessionProc, Path, str]:
    run = tmp_path / "run"
    run.mkdir()
    strat = tmp_path / "strategy.toml"
    strat.write_text(STRATEGY.format(model=model))
    cfg = write_config(tmp_path / "s.toml", run, gw.port, [], extra=webhook, strategy=strat)
    s = SessionProc(cfg, run, env={"IB_ACCOUNT": ACCOUNT, "TV_SECRET": SECRET, "TV_HMAC": HMAC_KEY})
    sessions.append(s)
    eps = s.wait_ready()
    return s, run, eps["webhook"]


def alert(alert_id: str, side: str = "buy", **over: object) -> dict[str, object]:
    """A TradingView alert message as a Pine strategy's alert would send it."""
    return {
        "secret": SECRET,
        "alert_id": alert_id,
        "strategy": "breakout",
        "instrument": "ES",
        "side": side,
        "price": 5000.25,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **over,
    }


def test_an_alert_becomes_a_bracket_with_one_correlation_id_and_refusals_send_nothing(
    gw: TestGateway, model: Path, sessions: list[SessionProc], tmp_path: Path
) -> None:
    s, run, url = _session(tmp_path, gw, model, sessions, WEBHOOK)
    front = gw.front("ES")
    warm(gw, front.con_id)
    with httpx.Client(timeout=10.0) as http:
        # the buy: confirmed by the model, a bracket at the gateway, filled
        r = http.post(url, json=alert("tv-buy-1"))
        assert r.status_code == 202, r.text
        got = r.json()
        assert got["correlation_id"] == "tv-buy-1"
        assert (got["status"], got["verdict"], got["outcome"]) == ("accepted", "ACCEPTED", "SENT")
        assert got["model_prob"] == pytest.approx(BUY_P, abs=1e-5)
        assert got["threshold"] == pytest.approx(0.87)
        intent_id = got["intent_id"]
        wait_for(lambda: len(gw.order_list()) == 3, what="the bracket at the gateway")
        entry, *exits = sorted(gw.order_list(), key=lambda o: o.order_id)
        assert all(x.parent_id == entry.order_id for x in exits)  # a bracket
        assert entry.action == "BUY" and sorted(x.order_type for x in exits) == ["LMT", "STP"]
        wait_for(lambda: gw.position_map().get(front.local_symbol, 0) > 0, what="the entry fill")
        qty = gw.position_map()[front.local_symbol]

        # the sell: the model gives it 0.029, the engine refuses it; nothing is sent
        r = http.post(url, json=alert("tv-sell-1", side="sell"))
        assert r.status_code == 202, r.text
        got = r.json()
        assert (got["status"], got["verdict"]) == ("refused", "BELOW_THRESHOLD")
        assert got["model_prob"] == pytest.approx(SELL_P, abs=1e-5) and got["intent_id"] is None

        # every refusal path: its status and code, and no order
        cases = [
            (401, "BAD_SECRET", http.post(url, json=alert("tv-s", secret="guess"))),
            (400, "MALFORMED_JSON", http.post(url, content=b"{not json")),
            (413, "BODY_TOO_LARGE", http.post(url, content=b"x" * 70_000)),
            (422, "INVALID_FIELD", http.post(url, json=alert("tv-f", side="hold"))),
            (403, "UNKNOWN_STRATEGY", http.post(url, json=alert("tv-u", strategy="other"))),
            (404, "UNKNOWN_INSTRUMENT", http.post(url, json=alert("tv-i", instrument="NQ"))),
            (408, "STALE_ALERT", http.post(url, json=alert("tv-t", time=int(time.time()) - 600))),
            (409, "DUPLICATE_ALERT", http.post(url, json=alert("tv-buy-1"))),
        ]
        for status, code, resp in cases:
            assert (resp.status_code, resp.json()["code"]) == (status, code), resp.text
    time.sleep(0.3)
    assert len(gw.order_list()) == 3, "a refused alert reached the gateway"
    assert gw.position_map() == {front.local_symbol: qty}

    # one correlation id from the alert to the fills, in the journal and in `journal trace`
    j = Journal(run / "journal.sqlite")
    try:
        wait_for(lambda: j.fills(), what="the fill in the journal")
        from pycontrol.session.alerts import trace

        rows = trace(j, "tv-buy-1")
        steps = [r["step"] for r in rows]
        # the alert, the intent with its decision, the duplicate's refusal, 3 orders, fills
        assert steps[:4] == ["alert", "intent", "decision", "refused"], steps
        assert steps[4:7] == ["order"] * 3 and set(steps[7:]) == {"fill"}, steps
        assert all(r["intent_id"] == intent_id for r in rows if r["step"] in ("intent", "order"))
        decision = next(r for r in rows if r["step"] == "decision")
        assert decision["accepted"] and decision["model_prob"] == pytest.approx(BUY_P, abs=1e-5)
        fills = [r for r in rows if r["step"] == "fill"]
        assert sum(f["qty"] for f in fills) == qty
        refused = [e["payload"]["code"] for e in j.events("alert_refused")]
        assert sorted(refused) == sorted(c for _, c, _ in cases)
        sell = trace(j, "tv-sell-1")
        assert [r["step"] for r in sell] == ["alert", "decision"]
        assert sell[1]["reason"] == "BELOW_THRESHOLD"
    finally:
        j.close()
    out = subprocess.run(
        [sys.executable, "-m", "pycontrol.cli", "journal", "trace", "tv-buy-1", "--run-dir",
         str(run)], capture_output=True, text=True, cwd=REPO, timeout=60, check=True,
    ).stdout  # fmt: skip
    assert out.startswith("alert") and "decision" in out and "fill" in out

    st = s.cmd("status")["result"]["webhook"]
    assert st["accepted"] == 2 and st["refused_total"] == len(cases)
    assert st["refused"]["DUPLICATE_ALERT"] == 1
    assert st["verdicts"] == {"SENT": 1, "BELOW_THRESHOLD": 1}


def test_hmac_and_rate_limit_refusals_send_nothing(
    gw: TestGateway, model: Path, sessions: list[SessionProc], tmp_path: Path
) -> None:
    hook = WEBHOOK.replace("burst = 20", "burst = 2") + 'hmac_secret_env = "TV_HMAC"\n'
    hook = hook.replace("rate_per_min = 600.0", "rate_per_min = 1.0")
    s, run, url = _session(tmp_path, gw, model, sessions, hook)
    warm(gw, gw.front("ES").con_id)
    with httpx.Client(timeout=10.0) as http:

        def post(a: dict[str, object], key: str = HMAC_KEY) -> httpx.Response:
            body = json.dumps(a).encode()
            headers = {"Content-Type": "application/json", "X-Signature": sign(body, key)}
            return http.post(url, content=body, headers=headers)

        r = http.post(url, json=alert("h-0"))  # no signature
        assert (r.status_code, r.json()["code"]) == (401, "BAD_SIGNATURE")
        r = post(alert("h-1"), key="wrong")
        assert (r.status_code, r.json()["code"]) == (401, "BAD_SIGNATURE")
        # two sells (the model refuses them: no order either way), then the bucket is empty
        assert post(alert("h-2", side="sell")).status_code == 202
        assert post(alert("h-3", side="sell")).status_code == 202
        r = post(alert("h-4"))
        assert (r.status_code, r.json()["code"]) == (429, "RATE_LIMITED")
    time.sleep(0.3)
    assert gw.order_list() == []
    st = s.cmd("status")["result"]["webhook"]
    assert st["refused"] == {"BAD_SIGNATURE": 2, "RATE_LIMITED": 1}
    assert st["verdicts"] == {"BELOW_THRESHOLD": 2}
    j = Journal(run / "journal.sqlite")
    try:
        assert [e["payload"]["alert_id"] for e in j.events("alert")] == ["h-2", "h-3"]
        assert j.intent_ids() == []
    finally:
        j.close()


def test_a_replay_session_answers_an_alert_at_the_instruments_next_record(
    model: Path, sessions: list[SessionProc], tmp_path: Path, esh4_mbo: Path
) -> None:
    """The replay variant: the real ES day through the L3 simulated exchange, an alert
    mid-replay; the engine answers it at the instrument's next record with the model's
    probability, and the journal ties it to its intent and orders."""
    run = tmp_path / "run"
    run.mkdir()
    strat = tmp_path / "strategy.toml"
    strat.write_text(STRATEGY.format(model=model))
    cfg = tmp_path / "replay.toml"
    cfg.write_text(
        f'name = "webhook-replay"\nmode = "replay"\nrun_dir = "{run}"\n'
        '[instrument]\nroot = "ES"\ntick_size = 0.25\nmultiplier = 50.0\n'
        f'[replay]\ndata = "{esh4_mbo}"\nrate_hz = 4000.0\nexit_at_end = false\n'
        f'[engine]\nstrategy = "{strat}"\nchunk_records = 256\n'
        "[risk]\nmax_order_qty = 2\nmax_position = 3\n" + WEBHOOK
    )
    s = SessionProc(cfg, run, env={"TV_SECRET": SECRET}, mode="replay")
    sessions.append(s)
    url = s.wait_ready()["webhook"]
    wait_for(
        lambda: s.cmd("status")["result"]["market_events"] >= 40_000,
        what="the replay into the trading hours",
    )
    r = httpx.post(url, json=alert("rp-1"), timeout=10.0)
    assert r.status_code == 202, r.text
    assert r.json()["correlation_id"] == "rp-1"
    j = Journal(run / "journal.sqlite")
    try:
        d = wait_for(
            lambda: next(iter(j.events("alert_decision")), None), what="the engine's verdict"
        )["payload"]
        assert d["correlation_id"] == "rp-1" and d["reason"] == "ACCEPTED", d
        assert d["model_prob"] == pytest.approx(BUY_P, abs=1e-5)
        from pycontrol.session.alerts import trace

        if d["outcome"] in ("SENT", "DENIED"):
            assert d["intent_id"] is not None
            wait_for(lambda: j.has_intent(d["intent_id"]), what="the intent journaled")
            steps = [x["step"] for x in trace(j, "rp-1")]
            assert steps[0] == "alert" and "decision" in steps and "intent" in steps, steps
            if d["outcome"] == "SENT":
                wait_for(
                    lambda: any(o.intent_id == d["intent_id"] for o in j.orders()),
                    what="the bracket entry in the journal",
                )
        else:  # a hold names why (no volatility forecast yet, ...), and nothing was sent
            assert d["intent_id"] is None and d["outcome"], d
    finally:
        j.close()
