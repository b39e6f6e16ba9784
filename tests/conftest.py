"""Shared fixtures: where the real market data lives (../shared/data, never copied here)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

# Property tests draw the same examples on every run, so a CI failure always reproduces.
settings.register_profile("repro", derandomize=True, deadline=None)
settings.load_profile("repro")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SHARED_DATA", REPO.parent / "shared" / "data")).resolve()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"real market data not found at {SHARED_DATA} (set SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def esh4_mbo(shared_data: Path) -> Path:
    return shared_data / "dbn" / "nautilus" / "esh4-glbx-mdp3-20231225.mbo.dbn.zst"
