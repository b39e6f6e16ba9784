"""TradingView alerts end to end at the Tradovate test double (issue 14): the same paper
session as `test_webhook_session.py` with ``[venue] broker = "tradovate"``. A buy alert the
model confirms becomes one ``placeOSO`` bracket at the double, fills, and the journal traces
the alert to the fill with one correlation id; a sell the model refuses and a bad secret send
nothing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sessionkit import SessionProc, positions, wait_for, warm
from test_tradovate_session import tv_config
from test_webhook_session import BUY_P, SECRET, STRATEGY, WEBHOOK, alert

from pycontrol.session.alerts import trace
from pycontrol.session.journal import Journal
from pycontrol.testing.models import make_prior_lightgbm
from pycontrol.testing.tradovate_gateway import TradovateGateway, credential_env


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
def gw() -> Iterator[TradovateGateway]:
    g = TradovateGateway(auto_fill=True).start()
    yield g
    g.stop()


def test_an_alert_becomes_an_oso_bracket_at_tradovate(
    gw: TradovateGateway, model: Path, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    run.mkdir()
    strat = tmp_path / "strategy.toml"
    strat.write_text(STRATEGY.format(model=model))
    cfg = tv_config(tmp_path / "s.toml", run, gw, [], strat)
    cfg.write_text(cfg.read_text() + WEBHOOK)
    es = gw.front("ES").name
    gw.set_quote(es, 5000.0, 5000.25)
    s = SessionProc(cfg, run, env={**credential_env(), "TV_SECRET": SECRET})
    try:
        url = s.wait_ready()["webhook"]
        warm(gw, es)
        with httpx.Client(timeout=10.0) as http:
            r = http.post(url, json=alert("tv-tdv-1"))
            assert r.status_code == 202, r.text
            got = r.json()
            assert (got["verdict"], got["outcome"]) == ("ACCEPTED", "SENT")
            assert got["model_prob"] == pytest.approx(BUY_P, abs=1e-5)
            wait_for(lambda: len(gw.order_list()) == 3, what="the bracket at the double")
            assert gw.place_commands == 1  # one placeOSO: entry, stop and take-profit
            entry = next(o for o in gw.order_list() if o.parent_id is None)
            assert entry.action == "Buy"
            wait_for(lambda: gw.position_map().get(es, 0) > 0, what="the entry fill")
            qty = gw.position_map()[es]
            # refused by the model, and by the secret: nothing more at the double
            r = http.post(url, json=alert("tv-tdv-2", side="sell"))
            assert (r.status_code, r.json()["verdict"]) == (202, "BELOW_THRESHOLD")
            r = http.post(url, json=alert("tv-tdv-3", secret="guess"))
            assert (r.status_code, r.json()["code"]) == (401, "BAD_SECRET")
        time.sleep(0.3)
        assert gw.place_commands == 1 and len(gw.order_list()) == 3
        wait_for(lambda: positions(s.cmd("status")["result"]).get(es) == qty, what="positions")
        j = Journal(run / "journal.sqlite")
        try:
            wait_for(lambda: j.fills(), what="the fill in the journal")
            steps = [r["step"] for r in trace(j, "tv-tdv-1")]
            assert steps[:3] == ["alert", "intent", "decision"], steps
            assert steps.count("order") == 3 and "fill" in steps, steps
        finally:
            j.close()
    finally:
        s.stop()
