"""The risk-engine, decision and sizing bindings, and risk limits from TOML, seen from Python."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import pycontrol
from pycontrol.risk import DEFAULT_LIMITS_PATH, load_risk_limits, risk_engine_from_toml

NOW = 1_000_000_000_000


def intent(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "instrument_id": 1,
        "side": "BUY",
        "qty": 1,
        "order_type": "LIMIT",
        "price": 5000.0,
        "confidence": 0.8,
        "risk_score": 3,
    }
    return base | kw


def ctx(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "now_ns": NOW,
        "market": {"instrument_id": 1, "mid": 5000.0, "last_trade": 5000.0, "last_update_ns": NOW},
        "positions": [{"instrument_id": 1, "qty": 0, "mark": 5000.0, "multiplier": 50.0}],
        "account": {"equity": 1e6},
    }
    return base | kw


def test_accept_deny_and_counters() -> None:
    eng = pycontrol.RiskEngine({"max_order_qty": 2})
    assert eng.check(intent(), ctx()) is None
    reason, detail = eng.check(intent(qty=3), ctx()) or ("", "")
    assert reason == "MAX_ORDER_QTY" and "3" in detail
    # A price 2 % off mid is outside the default 100 bps band.
    assert (eng.check(intent(price=5100.0), ctx()) or ("",))[0] == "PRICE_BAND"
    d = eng.denials()
    assert set(d) == set(pycontrol.REASON_CODES)
    assert d["MAX_ORDER_QTY"] == 1 and d["PRICE_BAND"] == 1 and sum(d.values()) == 2


def test_reason_codes() -> None:
    assert len(pycontrol.REASON_CODES) == 21
    assert "MAX_TOTAL_POSITION" in pycontrol.REASON_CODES
    assert "TRADING_HALTED" in pycontrol.REASON_CODES
    assert "CORRELATED_EXPOSURE" in pycontrol.REASON_CODES


def test_kill_switch_and_cancels() -> None:
    eng = pycontrol.RiskEngine()
    eng.set_state("HALTED")
    assert eng.state == "HALTED"
    assert (eng.check(intent(), ctx()) or ("",))[0] == "TRADING_HALTED"
    assert eng.check(intent(action="CANCEL", client_order_id=4), ctx()) is None
    eng.set_state("ACTIVE")
    assert eng.check(intent(), ctx()) is None
    with pytest.raises(pycontrol.InvalidInputError, match="state"):
        eng.set_state("PAUSED")


def test_daily_loss_halts_from_python() -> None:
    eng = pycontrol.RiskEngine({"daily_loss_limit": 5000})
    c = ctx(account={"equity": 1e6, "realized_pnl_today": -5000.0})
    assert (eng.check(intent(), c) or ("",))[0] == "DAILY_LOSS_LIMIT"
    assert eng.state == "HALTED"


def test_correlation_screen_from_python() -> None:
    eng = pycontrol.RiskEngine()
    c = ctx(
        positions=[
            {"instrument_id": 1, "qty": 0, "mark": 5000.0, "multiplier": 50.0},
            {"instrument_id": 2, "qty": 1, "mark": 20000.0, "multiplier": 20.0},
        ],
        correlations={"ids": [1, 2], "values": [[1.0, 0.9], [0.9, 1.0]]},
    )
    assert (eng.check(intent(), c) or ("",))[0] == "CORRELATED_EXPOSURE"
    assert eng.check(intent(side="SELL"), c) is None


def test_bad_input_names_the_key() -> None:
    eng = pycontrol.RiskEngine()
    with pytest.raises(pycontrol.InvalidInputError, match=r"intent\.qtty"):
        eng.check(intent(qtty=1), ctx())
    with pytest.raises(pycontrol.InvalidInputError, match=r"ctx\.now_ns"):
        eng.check(intent(), {k: v for k, v in ctx().items() if k != "now_ns"})
    with pytest.raises(pycontrol.InvalidInputError, match=r"correlations\.values\[0\]\[1\]"):
        eng.check(intent(), ctx(correlations={"ids": [1, 2], "values": [[1.0, 0.5], [0.4, 1.0]]}))
    assert issubclass(pycontrol.InvalidInputError, pycontrol.CoreError)


def test_invalid_limits_are_config_errors_listing_every_field() -> None:
    with pytest.raises(pycontrol.ConfigError) as e:
        pycontrol.RiskEngine({"max_order_qty": 0, "max_drawdown": 2.0, "max_ordr_qty": 1})
    msg = str(e.value)
    for field in ("max_order_qty", "max_drawdown", "max_ordr_qty"):
        assert field in msg
    eng = pycontrol.RiskEngine()
    with pytest.raises(pycontrol.ConfigError, match="max_risk_score"):
        eng.set_limits({"max_risk_score": 11})
    assert eng.limits()["max_risk_score"] == 6.0


def test_default_toml_matches_core_defaults() -> None:
    from_file = load_risk_limits(DEFAULT_LIMITS_PATH)
    assert from_file == dict(pycontrol._core.risk_limit_defaults())
    # Every key is written out in the file, not left to the defaults.
    text = DEFAULT_LIMITS_PATH.read_text()
    for key in from_file:
        assert f"\n{key} = " in text, key
    assert risk_engine_from_toml().state == "ACTIVE"


def test_toml_overrides_and_rejects_unknown_keys(tmp_path: Path) -> None:
    p = tmp_path / "r.toml"
    p.write_text("max_order_qty = 3\nmax_drawdown = 0.05\n")
    lim = load_risk_limits(p)
    assert lim["max_order_qty"] == 3.0 and lim["max_drawdown"] == 0.05
    assert lim["max_position"] == 20.0
    p.write_text("max_order_qty = 3\nmax_daily_loss = 100\n")
    with pytest.raises(pycontrol.ConfigError, match="max_daily_loss"):
        load_risk_limits(p)
    p.write_text('max_order_qty = "3"\nreduce = true\n')
    with pytest.raises(pycontrol.ConfigError, match=r"max_order_qty.*reduce|reduce.*max_order"):
        load_risk_limits(p)
    p.write_text("max_order_qty = [\n")
    with pytest.raises(pycontrol.ConfigError, match="not valid TOML"):
        load_risk_limits(p)


RISK = {"vol_forecast": 0.0005, "var99": 0.0012, "cvar99": 0.0013}


def test_decide_and_size() -> None:
    d = pycontrol.decide([0.02, 0.03, 0.1, 0.45, 0.4], [-2, -1, 0, 1, 2], RISK)
    assert d["action"] == "BUY" and d["hold_reason"] is None
    assert d["confidence"] == pytest.approx(0.85, abs=1e-6)
    assert d["risk_score"] == 2
    ext = pycontrol.decide([0.02, 0.03, 0.1, 0.45, 0.4], [-2, -1, 0, 1, 2], RISK, "EXTERNAL")
    assert (ext["action"], ext["hold_reason"]) == ("HOLD", "LOW_CONFIDENCE")
    spec = {"tick_size": 0.25, "multiplier": 50.0, "fee_per_contract": 2.0}
    # stop = 2 x 0.001 x 5000 = 10 points; take-profit 2:1.
    d["vol_forecast"] = 0.001
    s = pycontrol.size(d, 5000.0, 1e6, spec)
    assert s is not None
    assert (s["stop_loss"], s["take_profit"], s["qty"]) == (4990.0, 5020.0, 10)
    assert pycontrol.size(ext, 5000.0, 1e6, spec) is None


def test_decide_and_size_errors() -> None:
    with pytest.raises(pycontrol.InvalidInputError, match=r"probs\[1\]"):
        pycontrol.decide([0.5, float("nan"), 0.5], [-1, 0, 1], RISK)
    with pytest.raises(pycontrol.InvalidInputError, match="sum"):
        pycontrol.decide([0.5, 0.2, 0.5], [-1, 0, 1], RISK)
    d = pycontrol.decide([0.1, 0.0, 0.9], [-1, 0, 1], RISK)
    with pytest.raises(pycontrol.InvalidInputError, match="tick_size"):
        pycontrol.size(d, 5000.0, 1e6, {"tick_size": 0.0, "multiplier": 50.0})
    with pytest.raises(pycontrol.ConfigError, match="kelly_fraction"):
        pycontrol.size(
            d, 5000.0, 1e6, {"tick_size": 0.25, "multiplier": 50.0}, {"kelly_fraction": 1.0}
        )


def test_unknown_risk_holds() -> None:
    # Warm-up: no volatility forecast yet. Unknown risk scores 10 and never passes.
    d = pycontrol.decide(
        [0.0, 0.05, 0.95], [-1, 0, 1], RISK | {"vol_forecast": float("nan")}, "ENSEMBLE"
    )
    assert (d["action"], d["risk_score"], d["hold_reason"]) == ("HOLD", 10, "RISK_TOO_HIGH")
