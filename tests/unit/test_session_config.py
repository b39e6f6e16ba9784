"""Session config: defaults valid, unknown fields and every violation reported at once."""

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
                "signals": [{"intent_id": 1, "at_event": 1, "side": "HOLD", "qty": 1}],
            }
        )
    text = str(e.value)
    for needle in ("max_order_qty", "typo", "HOLD"):
        assert needle in text
    assert isinstance(e.value, ConfigError)


def test_mode_checked() -> None:
    with pytest.raises(SessionConfigError, match="mode"):
        SessionConfig.from_dict({"name": "x", "mode": "yolo"})


def test_non_loopback_ib_host_refused() -> None:
    with pytest.raises(SessionConfigError, match="loopback"):
        SessionConfig.from_dict({"name": "x", "ib": {"host": "10.0.0.1"}})


def test_duplicate_signal_ids_refused() -> None:
    sig = {"intent_id": 1, "at_event": 1, "side": "BUY", "qty": 1}
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


def test_engine_section_reports_every_violation_and_excludes_an_engine_address() -> None:
    with pytest.raises(SessionConfigError) as e:
        SessionConfig.from_dict({"name": "x", "engine": {"kind": "cpp", "chunk_records": 0}})
    v = " ".join(e.value.violations)
    assert "kind must be one of scripted, rust" in v and "chunk_records" in v
    with pytest.raises(SessionConfigError) as e:
        SessionConfig.from_dict(
            {"name": "x", "engine_address": "tcp://127.0.0.1:5000", "engine": {"kind": "rust"}}
        )
    assert "exclude each other" in str(e.value)
    cfg = SessionConfig.load(REPO / "configs/session/es-replay.toml")
    assert cfg.engine.kind == "rust" and cfg.engine.strategy.endswith("es_replay_session.toml")


def test_the_shipped_rust_paper_config_builds_its_engine() -> None:
    """es-paper-rust.toml: paper mode on the Rust engine, a strategy that a broker session can
    trade (placebo, not a file of past signals), and an engine the core accepts."""
    from pycontrol.session.journal import Journal
    from pycontrol.session.rust_engine import RustLive

    cfg = SessionConfig.load(REPO / "configs/session/es-paper-rust.toml")
    assert (cfg.mode, cfg.engine.kind) == ("paper", "rust")
    with tempfile.TemporaryDirectory() as d:
        j = Journal(Path(d) / "journal.sqlite")
        try:
            eng = RustLive(cfg, j)
            st = eng.status()
            assert st["state"] == "ACTIVE" and st["limits"]["max_position"] == 3.0
            assert st["model_source"] == "external:placebo"
        finally:
            j.close()
