"""The [tradovate] and [venue] sections: loopback or the environment's official hosts only,
environment variable names (never secrets), timings checked, every violation at once; and
make_venue picking the broker."""

from __future__ import annotations

from pathlib import Path

import pytest

from pycontrol._core import ConfigError
from pycontrol.session.config import SessionConfig, SessionConfigError
from pycontrol.session.journal import Journal
from pycontrol.session.venue import VenueSinks
from pycontrol.session.venues import make_venue


def _cfg(**tv: object) -> SessionConfig:
    return SessionConfig.from_dict({"name": "t", "tradovate": tv})


def test_defaults_are_the_demo_hosts() -> None:
    c = SessionConfig.from_dict({"name": "t"})
    assert c.venue.broker == "ib" and c.tradovate.environment == "demo"
    assert c.tradovate.urls() == (
        "https://demo.tradovateapi.com/v1",
        "wss://demo.tradovateapi.com/v1/websocket",
        "wss://md-demo.tradovateapi.com/v1/websocket",
    )
    live = _cfg(environment="live").tradovate.urls()
    assert live[0] == "https://live.tradovateapi.com/v1"
    assert live[2] == "wss://md.tradovateapi.com/v1/websocket"
    loop = _cfg(rest_url="http://127.0.0.1:9/v1", ws_url="ws://localhost:9/v1/websocket")
    assert loop.tradovate.urls()[0] == "http://127.0.0.1:9/v1"


def test_every_violation_at_once() -> None:
    with pytest.raises(SessionConfigError) as e:
        _cfg(
            rest_url="https://evil.example/v1",
            ws_url="ws://demo.tradovateapi.com/x",
            md_url="wss://md.tradovateapi.com/v1/websocket",
            password_env="my password",
            heartbeat_s=5,
            reconnect_initial=3.0,
            reconnect_max=1.0,
            connect_timeout=0,
            app_id="",
        )
    v = e.value.violations
    assert isinstance(e.value, ConfigError)
    assert len(v) == 8, v
    text = "; ".join(v)
    for what in (
        "rest_url must be loopback",
        "ws_url to demo.tradovateapi.com must use wss",
        "md_url must be loopback or md-demo",
        "password_env must be an environment",
        "heartbeat_s must be <= 2.5",
        "reconnect_max (1.0)",
        "connect_timeout",
        "app_id",
    ):
        assert what in text, what
    with pytest.raises(SessionConfigError, match="environment must be 'demo' or 'live'"):
        _cfg(environment="paper")
    with pytest.raises(SessionConfigError, match="unknown field 'password'"):
        _cfg(password="hunter2")
    with pytest.raises(SessionConfigError, match="broker must be one of ib, tradovate"):
        SessionConfig.from_dict({"name": "t", "venue": {"broker": "binance"}})


def test_make_venue_picks_the_broker(tmp_path: Path) -> None:
    from pycontrol.ib.broker import IBVenue
    from pycontrol.tradovate.venue import TradovateVenue

    j = Journal(tmp_path / "j.sqlite")
    sinks = VenueSinks(lambda r, s: None, lambda i, r, d: None, lambda m: None, lambda k, d: None)
    assert isinstance(
        make_venue(SessionConfig.from_dict({"name": "t"}), "paper", j, sinks), IBVenue
    )
    tv = SessionConfig.from_dict({"name": "t", "venue": {"broker": "tradovate"}})
    env = {
        "TRADOVATE_USERNAME": "u",
        "TRADOVATE_PASSWORD": "p",
        "TRADOVATE_CID": "1",
        "TRADOVATE_SEC": "s",
        "TRADOVATE_DEVICE_ID": "d",
    }
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        assert isinstance(make_venue(tv, "paper", j, sinks), TradovateVenue)
    j.close()
