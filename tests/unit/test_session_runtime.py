"""The Session object enforces live mode itself: whichever entry point builds it (the CLI,
a script, a notebook), live needs ``mode = "live"`` in the config AND ``confirm_live=True``,
and a refusal opens nothing (no journal, no lock, no socket)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pycontrol import ConfigError
from pycontrol.session.config import SessionConfig
from pycontrol.session.runtime import LiveModeRefused, Session

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("config", "confirm", "missing"),
    [
        ("es-paper.toml", True, 'live needs mode = "live"'),
        ("es-paper.toml", False, "no explicit confirmation"),
        ("es-live.toml", False, "no explicit confirmation"),
    ],
)
def test_the_python_api_refuses_live_without_both(
    tmp_path: Path, config: str, confirm: bool, missing: str
) -> None:
    cfg = SessionConfig.load(REPO / "configs/session" / config)
    run = tmp_path / "run"
    with pytest.raises(LiveModeRefused) as e:
        Session(cfg, "live", run, confirm_live=confirm)
    assert missing in str(e.value)
    assert isinstance(e.value, ConfigError)  # one typed error tree, a one-line CLI message
    assert not run.exists(), "a refused live session must not create its run directory"


def test_an_unknown_mode_is_refused(tmp_path: Path) -> None:
    cfg = SessionConfig.load(REPO / "configs/session/es-paper.toml")
    with pytest.raises(LiveModeRefused, match="mode must be one of"):
        Session(cfg, "yolo", tmp_path / "run")
