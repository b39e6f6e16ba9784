"""Session config: defaults valid, unknown fields and every violation reported at once, as
strictly as risk configs (secret_envs a list, ports, rates, windows, paths)."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

import pytest

from pycontrol import ConfigError
from pycontrol.session.config import RestartWindow, SessionConfig, SessionConfigError

REPO = Path(__file__).resolve().parents[2]


def test_shipped_configs_load() -> None:
    paths = sorted((REPO / "configs" / "session").glob("*.toml"))
    assert paths
    for p in paths:
        SessionConfig.load(p)


def test_every_violation_reported() -> None:
    with pytest.raises(SessionConfigError) as e:
        SessionConfig.from_dict(
            {
                "name": "x",
                "mode": "yolo",
                "risk": {"max_order_qty": 0, "typo": 1},
                "signals": [{"intent_id": 1, "at_event": 1, "side": "HOLD"}],
                "secret_envs": "IB_ACCOUNT",
                "replay": {"rate_hz": -1.0},
                "zmq": {"cmd_port": 70000},
            }
        )
    text = str(e.value)
    for needle in ("max_order_qty", "typo", "HOLD", "secret_envs", "rate_hz", "cmd_port"):
        assert needle in text
    assert isinstance(e.value, ConfigError)


def test_mode_checked() -> None:
    with pytest.raises(SessionConfigError, match="mode"):
        SessionConfig.from_dict({"name": "x", "mode": "yolo"})


def test_non_loopback_ib_host_refused() -> None:
    with pytest.raises(SessionConfigError, match="loopback"):
        SessionConfig.from_dict({"name": "x", "ib": {"host": "10.0.0.1"}})


def test_duplicate_signal_ids_refused() -> None:
    sig = {"intent_id": 1, "at_event": 1, "side": "BUY"}
    with pytest.raises(SessionConfigError, match="unique"):
        SessionConfig.from_dict({"name": "x", "signals": [sig, sig]})


def test_restart_window_wraps_midnight() -> None:
    w = RestartWindow(start="23:45", end="00:15", tz="UTC")
    at = lambda h, m: dt.datetime(2026, 1, 5, h, m, tzinfo=dt.UTC)  # noqa: E731
    assert w.contains(at(23, 50)) and w.contains(at(0, 10))
    assert not w.contains(at(0, 15)) and not w.contains(at(12, 0))


def test_restart_window_bad_values() -> None:
    with pytest.raises(SessionConfigError) as e:
        RestartWindow(start="25:00", tz="Mars/Base", policy="maybe")
    assert len(e.value.violations) == 3


def test_the_engine_is_rust_and_the_scripted_engine_is_gone() -> None:
    with pytest.raises(SessionConfigError) as e:
        SessionConfig.from_dict({"name": "x", "engine": {"kind": "cpp", "chunk_records": 0}})
    v = " ".join(e.value.violations)
    assert "kind must be 'rust'" in v and "chunk_records" in v
    with pytest.raises(SessionConfigError, match="'scripted' was removed"):
        SessionConfig.from_dict({"name": "x", "engine": {"kind": "scripted"}})
    with pytest.raises(SessionConfigError, match="'engine_address' was removed"):
        SessionConfig.from_dict({"name": "x", "engine_address": "tcp://127.0.0.1:5000"})
    assert SessionConfig.from_dict({"name": "x"}).engine.kind == "rust"
    for p in sorted((REPO / "configs" / "session").glob("*.toml")):
        assert SessionConfig.load(p).engine.kind == "rust", p
    cfg = SessionConfig.load(REPO / "configs/session/es-replay.toml")
    assert cfg.engine.strategy.endswith("es_replay_session.toml")


def test_secret_envs_must_be_a_list_of_names() -> None:
    """A bare string would become a tuple of characters and the secret would go unmasked."""
    with pytest.raises(SessionConfigError, match="secret_envs must be a list"):
        SessionConfig.from_dict({"name": "x", "secret_envs": "IB_ACCOUNT"})
    with pytest.raises(SessionConfigError, match=r"secret_envs\[1\]"):
        SessionConfig.from_dict({"name": "x", "secret_envs": ["IB_ACCOUNT", "not a name"]})
    cfg = SessionConfig.from_dict({"name": "x", "secret_envs": ["IB_ACCOUNT", "TOKEN"]})
    assert cfg.secret_envs == ("IB_ACCOUNT", "TOKEN")


def test_ports_windows_rates_and_paths_are_checked() -> None:
    bad = {
        "name": "bad name!",
        "run_dir": "",
        "zmq": {"cmd_port": 5555, "pub_port": 5555},
        "ib": {"reconnect_initial": 5.0, "reconnect_max": 1.0, "account_env": "1X", "port": True},
        "replay": {"rate_hz": float("nan"), "exit_at_end": "yes"},
    }
    with pytest.raises(SessionConfigError) as e:
        SessionConfig.from_dict(bad)
    v = " ".join(e.value.violations)
    for needle in ("name must be", "run_dir", "must differ", "reconnect_max", "account_env",
                   "integers", "rate_hz", "exit_at_end"):  # fmt: skip
        assert needle in v, needle


def test_risk_takes_any_core_limit_and_the_core_validates_it() -> None:
    cfg = SessionConfig.from_dict(
        {"name": "x", "risk": {"max_position": 3, "daily_loss_limit": 500.0}}
    )
    assert cfg.risk.limits == {"max_position": 3.0, "daily_loss_limit": 500.0}
    with pytest.raises(SessionConfigError) as e:
        SessionConfig.from_dict({"name": "x", "risk": {"max_drawdown": 7.0, "nope": 1}})
    assert "max_drawdown" in str(e.value) and "nope" in str(e.value)


def test_a_session_without_risk_gets_the_documented_defaults() -> None:
    """No [risk]: the core's defaults, which are configs/risk/default.toml's values (not a
    second, smaller set somewhere in a binding)."""
    from pycontrol.risk.limits import load_risk_limits
    from pycontrol.session.rust_engine import effective_limits

    cfg = SessionConfig.from_dict({"name": "x"})
    assert effective_limits(cfg) == load_risk_limits()
    assert effective_limits(cfg)["max_order_qty"] == 10.0


def test_the_shipped_rust_paper_config_builds_its_engine() -> None:
    """es-paper.toml: paper mode on the Rust engine, a strategy that a broker session can
    trade (placebo, not a file of past signals), and an engine the core accepts."""
    from pycontrol.session.journal import Journal
    from pycontrol.session.rust_engine import RustLive

    cfg = SessionConfig.load(REPO / "configs/session/es-paper.toml")
    assert (cfg.mode, cfg.engine.kind) == ("paper", "rust")
    with tempfile.TemporaryDirectory() as d:
        j = Journal(Path(d) / "journal.sqlite")
        try:
            eng = RustLive(cfg, j, lambda topic, data: None)
            st = eng.status()
            assert st["state"] == "ACTIVE" and st["limits"]["max_position"] == 4.0
            assert st["model_source"] == "external:placebo"
        finally:
            j.close()


def test_portfolio_instruments_take_specs_from_the_core() -> None:
    cfg = SessionConfig.from_dict(
        {"name": "p", "instruments": [{"root": "ES"}, {"root": "CL"}, {"root": "GC"}]}
    )
    assert [i.root for i in cfg.instruments] == ["ES", "CL", "GC"]
    assert cfg.instrument is cfg.instruments[0]
    assert cfg.point_values() == {"ES": 50.0, "CL": 1000.0, "GC": 100.0}
    assert cfg.instrument_of("CL").tick == 0.01 and cfg.instrument_of("CL").exchange == "NYMEX"
    # a single [instrument] is a portfolio of one
    one = SessionConfig.from_dict({"name": "p", "instrument": {"root": "NQ"}})
    assert [i.root for i in one.instruments] == ["NQ"]


def test_portfolio_violations_reported_at_once() -> None:
    with pytest.raises(SessionConfigError) as e:
        SessionConfig.from_dict(
            {
                "name": "p",
                "instrument": {"root": "ES"},
                "instruments": [
                    {"root": "ES"},
                    {"root": "ES", "tick_size": 0.5},
                    {"root": "ZZ"},
                    {"root": "NQ", "roll_days": 500},
                ],
                "signals": [{"intent_id": 1, "at_event": 1, "side": "BUY", "symbol": "CL"}],
            }
        )
    text = "; ".join(e.value.violations)
    for needle in (
        "either [instrument] or [[instruments]]",
        "tick_size 0.5 disagrees with the specs table (0.25)",
        'no spec for product root "ZZ"',
        "roll_days must be an int in 0..120",
    ):
        assert needle in text, (needle, text)
    with pytest.raises(SessionConfigError, match="each root once"):
        SessionConfig.from_dict({"name": "p", "instruments": [{"root": "ES"}, {"root": "ES"}]})
    with pytest.raises(SessionConfigError, match="symbol 'CL' is not an instrument"):
        SessionConfig.from_dict(
            {
                "name": "p",
                "instruments": [{"root": "ES"}],
                "signals": [{"intent_id": 1, "at_event": 1, "side": "BUY", "symbol": "CL"}],
            }
        )
    # a root the specs table does not know is accepted with its specs given
    cfg = SessionConfig.from_dict(
        {
            "name": "p",
            "instruments": [
                {"root": "ZR", "exchange": "CBOT", "tick_size": 0.005, "multiplier": 2000.0}
            ],
        }
    )
    assert cfg.point_values() == {"ZR": 2000.0}
