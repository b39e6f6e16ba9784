"""The notifications config: the shipped one loads; routing and muting; every violation is
reported at once, a token written into the file included."""

from __future__ import annotations

from pathlib import Path

import pytest

from pycontrol.notify.config import NotifyConfig, NotifyConfigError

REPO = Path(__file__).resolve().parents[2]


def test_shipped_config_loads_and_routes() -> None:
    cfg = NotifyConfig.load(REPO / "configs/notify/local-double.toml")
    assert cfg.telegram is not None and cfg.telegram.token_env == "TELEGRAM_BOT_TOKEN"
    assert cfg.route("halt") == ["telegram"] and cfg.sinks() == ["telegram"]


def test_routes_and_mute() -> None:
    cfg = NotifyConfig.from_mapping(
        {
            "notify": {"db": "q.sqlite", "mute": ["drift"]},
            "telegram": {"chat_id": 5},
            "webhook": [{"name": "ops", "url": "http://127.0.0.1:1/h"}],
            "routes": {"*": ["telegram"], "fill": ["webhook:ops"]},
        }
    )
    assert cfg.route("halt") == ["telegram"]
    assert cfg.route("fill") == ["webhook:ops"]
    assert cfg.route("drift") == []
    assert cfg.telegram is not None and cfg.telegram.chat_id == "5"


def test_every_violation_is_reported() -> None:
    with pytest.raises(NotifyConfigError) as e:
        NotifyConfig.from_mapping(
            {
                "notify": {"port": 70000, "mute": ["nonsense"]},
                "telegram": {"chat_id": "1", "token": "123:secret"},
                "webhook": [{"name": "w", "url": "ftp://x"}],
                "routes": {"halt": ["pager"], "nope": ["telegram"]},
                "extra": {},
            }
        )
    v = e.value.violations
    needles = ("notify.db", "notify.port", "notify.mute", "telegram.token", "webhook[0].url",
               "unknown sink 'pager'", "routes.nope", "unknown table")  # fmt: skip
    for needle in needles:
        assert any(needle in x for x in v), (needle, v)
    assert "123:secret" not in str(e.value)
