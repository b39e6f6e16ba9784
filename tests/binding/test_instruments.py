"""`_core.instrument_spec` / `_core.front_month`: the core's specs table and roll rule."""

from __future__ import annotations

import pytest

from pycontrol import ConfigError, InvalidInputError, _core


def test_specs_come_from_the_core_table() -> None:
    es = _core.instrument_spec("ES")
    assert (es["tick_size"], es["multiplier"], es["currency"]) == (0.25, 50.0, "USD")
    assert es["months"] == [3, 6, 9, 12] and es["timezone"] == "America/Chicago"
    assert _core.instrument_spec("CL")["multiplier"] == 1000.0
    with pytest.raises(ConfigError, match="known: ES"):
        _core.instrument_spec("XX")


def test_the_front_month_rolls_before_expiry() -> None:
    f = _core.front_month("ES", "2026-12-01", 8)
    assert f["symbol"] == "ESZ6" and f["expiry"] == "2026-12-18"
    assert f["roll_date"] == "2026-12-08" and f["next"]["symbol"] == "ESH7"
    # UTC ns works as well as an ISO date
    ns = 1_796_688_000 * 1_000_000_000  # 2026-12-08 00:00 UTC
    assert _core.front_month("ES", ns, 8)["symbol"] == "ESH7"
    g = _core.front_month("GC", "2026-11-20", 2)
    assert g["symbol"] == "GCZ6" and g["first_notice"] == "2026-11-30"
    with pytest.raises(InvalidInputError, match="2026-13-01"):
        _core.front_month("ES", "2026-13-01", 5)
