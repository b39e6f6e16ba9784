"""`_core.LiveEngine`: the Rust engine on a broker venue. Quotes in, bracketed intents out,
the broker's fills and cancels into positions; a restart restores the position and the
intent ids; bad input is a typed error naming what."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pycontrol import ConfigError, InvalidInputError, _core
from pycontrol.backtest.config import BacktestConfig
from pycontrol.backtest.run import engine_kwargs

REPO = Path(__file__).resolve().parents[2]
SEC = 1_000_000_000
T0 = 1_700_000_000 * SEC
ES = 1


def kwargs(**over: Any) -> dict[str, Any]:
    """The backtest defaults with placebo signals every second that always pass the
    threshold, and a volatility forecast after a few seconds."""
    bt = BacktestConfig.from_dict(
        {
            "name": "live",
            "data": ["<broker feed>"],
            "signals": {"kind": "placebo", "interval_s": 1.0, "seed": 5},
            "decision": {"min_confidence_external": 0.4},
            "sizing": {"max_qty": 1},
            "vol_min_samples": 3,
        }
    )
    return {**engine_kwargs(bt, {ES: "ES"}, None), **over}


def engine(**over: Any) -> Any:
    return _core.LiveEngine([(ES, "ES", 0.25, 50.0)], **kwargs(**over))


def quotes(e: Any, seconds: range, per_second: int = 4) -> list[dict[str, Any]]:
    """A one-tick market whose mid wanders; returns every intent the engine sent."""
    out: list[dict[str, Any]] = []
    wiggle = [0, 1, 0, -1, -2, -1, 1, 2]
    for s in seconds:
        for k in range(per_second):
            bid = 5000.0 + 0.25 * wiggle[(s * per_second + k) % len(wiggle)]
            r = e.on_quote(ES, T0 + s * SEC + k * SEC // per_second, (bid, 10), (bid + 0.25, 8))
            out += r["intents"]
    return out


def test_quotes_become_bracketed_intents_and_fills_become_positions() -> None:
    e = engine()
    sent = quotes(e, range(12))
    assert sent, e.snapshot()
    first = sent[0]
    assert first["action"] == "NEW" and first["order_type"] == "MARKET"
    assert first["symbol"] == "ES" and first["source"] == "external"
    b = first["bracket"]
    assert b is not None and b["stop_loss"] != b["take_profit"]
    # while the entry works nothing else opens
    assert all(i["intent_id"] == first["intent_id"] for i in sent)
    entry = first["intent_id"] * 4
    assert e.order(entry)["status"] == "WORKING"
    e.on_fill(entry, first["qty"], 5000.25, T0 + 12 * SEC, 1.5)
    snap = e.snapshot()
    sign = 1 if first["side"] == "BUY" else -1
    (p,) = snap["positions"]
    assert p["qty"] == sign * first["qty"] and p["avg_price"] == 5000.25 and p["fees"] == 1.5
    assert snap["fills"] == 1
    e.on_commission(entry, 2.0)  # IB's commissionReport, after the fill
    assert e.snapshot()["positions"][0]["fees"] == 3.5
    with pytest.raises(InvalidInputError, match="no fill of that order"):
        e.on_commission(entry + 1, 2.0)
    # both exits are working; the take-profit fills, the broker cancels the stop (OCA)
    working = {o["client_order_id"]: o for o in snap["working"]}
    assert set(working) == {entry + 1, entry + 2}
    e.on_fill(entry + 2, first["qty"], b["take_profit"], T0 + 13 * SEC, 1.5)
    e.on_closed(entry + 1, "CANCELLED", "OCA")
    snap = e.snapshot()
    assert snap["positions"][0]["qty"] == 0 and snap["working"] == []
    gain = (b["take_profit"] - 5000.25) * sign * 50.0 * first["qty"]
    assert snap["positions"][0]["realized"] == pytest.approx(gain)
    assert snap["positions"][0]["fees"] == 5.0


def test_halt_denies_with_the_intent_and_flatten_exits_reduce_only() -> None:
    e = engine()
    e.set_state("HALTED")
    r = e.on_quote(ES, T0, (5000.0, 1), (5000.25, 1))
    assert r == {"intents": [], "denials": []}
    denials: list[dict[str, Any]] = []
    for s in range(1, 12):
        got = e.on_quote(ES, T0 + s * SEC, (5000.0 + 0.25 * (s % 3), 1), (5000.5, 1))
        assert got["intents"] == []
        denials += got["denials"]
    assert denials and {d["reason"] for d in denials} == {"TRADING_HALTED"}
    assert denials[0]["intent"]["intent_id"] == denials[0]["intent_id"]
    e.set_state("ACTIVE")
    sent = quotes(e, range(12, 20))
    entry = sent[0]["intent_id"] * 4
    e.on_fill(entry, sent[0]["qty"], 5000.0, T0 + 20 * SEC, 0.0)
    out = e.flatten()
    assert e.state == "REDUCING"
    kinds = [(i["action"], i["reduce_only"]) for i in out["intents"]]
    assert kinds.count(("CANCEL", True)) == 2 and kinds[-1] == ("NEW", True)
    assert out["intents"][-1]["side"] != sent[0]["side"]


def test_a_restart_restores_the_position_and_reserves_intent_ids() -> None:
    e = engine()
    e.restore_position(ES, -2, 5001.0, T0)
    e.reserve_intent_ids(41)
    e.adopt(40 * 4 + 1, ES, "BUY", 2, 0, "STP", None, 5010.0, T0)
    assert e.next_intent_id == 41
    snap = e.snapshot()
    assert snap["positions"][0]["qty"] == -2 and len(snap["working"]) == 1
    with pytest.raises(InvalidInputError, match="already holds -2"):
        e.restore_position(ES, 1, 5000.0, T0)
    with pytest.raises(InvalidInputError, match="already working"):
        e.adopt(40 * 4 + 1, ES, "BUY", 2, 0, "STP", None, 5010.0, T0)
    sent = quotes(e, range(30))
    assert sent and min(i["intent_id"] for i in sent) >= 41


def test_bad_input_is_a_typed_error_naming_what() -> None:
    with pytest.raises(ConfigError, match="unknown keys"):
        engine(max_postion=3)
    with pytest.raises(ConfigError, match="tick size"):
        _core.LiveEngine([(ES, "ES", 0.0, 50.0)], **kwargs())
    e = engine()
    with pytest.raises(InvalidInputError, match="no such order"):
        e.on_fill(99, 1, 5000.0, T0, 0.0)
    with pytest.raises(ValueError, match="CANCELLED or REJECTED"):
        e.on_closed(99, "FILLED", "")
    with pytest.raises(InvalidInputError, match="not finite"):
        e.on_quote(ES, T0, (float("nan"), 1), None)
    with pytest.raises(ConfigError, match="instrument 7"):
        e.on_quote(7, T0, (5000.0, 1), None)
    e.on_quote(ES, T0 + SEC, (5000.0, 1), (5000.25, 1))
    with pytest.raises(InvalidInputError, match="before the previous"):
        e.on_quote(ES, T0, (5000.0, 1), (5000.5, 1))
    with pytest.raises(ValueError, match="not a model"):
        e.request_model_swap()


def test_trade_prints_are_events_of_the_engine() -> None:
    e = engine()
    e.on_quote(ES, T0, (5000.0, 1), (5000.25, 1))
    for k in range(1, 4):
        out = e.on_trade(ES, T0 + k * SEC, 5000.25, 2, "N")
        assert out == {"intents": [], "denials": []}
    snap = e.snapshot()
    assert (snap["records"], snap["events"]) == (2 + 3, 1 + 3)
    with pytest.raises(ValueError, match="aggressor must be B, A or N"):
        e.on_trade(ES, T0 + 5 * SEC, 5000.25, 2, "X")
    with pytest.raises(InvalidInputError, match="size 0"):
        e.on_trade(ES, T0 + 5 * SEC, 5000.25, 0, "B")


def test_the_session_side_holds_arrival_time_and_infers_the_trade_side(tmp_path: Path) -> None:
    """RustLive (the session's wrapper): a wall-clock step back is held at the last time, not
    refused; a print at the ask is a buy, at the bid a sell, inside the spread unknown."""
    from pycontrol.session.config import SessionConfig
    from pycontrol.session.engine import MarketData, TradePrint, aggressor_of
    from pycontrol.session.journal import Journal
    from pycontrol.session.rust_engine import RustLive

    assert aggressor_of(5000.25, 5000.0, 5000.25) == "B"
    assert aggressor_of(5000.0, 5000.0, 5000.25) == "A"
    assert aggressor_of(5000.1, 5000.0, 5000.25) == "N"
    assert aggressor_of(5000.1, None, None) == "N"
    cfg = SessionConfig.load(REPO / "configs/session/es-paper.toml")
    j = Journal(tmp_path / "journal.sqlite")
    try:
        eng = RustLive(cfg, j, lambda topic, data: None)
        eng.on_market_data(MarketData("ESZ6", T0 + 10 * SEC, 5000.0, 5000.25, 3, 4))
        eng.on_trade(TradePrint("ESZ6", T0 + 9 * SEC, 5000.25, 2, "B"))  # the clock stepped back
        eng.on_market_data(MarketData("ESZ6", T0 + 8 * SEC, 5000.25, 5000.5, 3, 4))
        st = eng.status()
        assert (st["events"], st["records"]) == (3, 2 + 1 + 2)
        assert st["now_ns"] == T0 + 10 * SEC
    finally:
        j.close()


def test_a_held_intent_is_regated_on_release_and_withdrawn_when_refused() -> None:
    e = engine()
    sent = quotes(e, range(12))
    held = sent[0]  # the session holds it (a disconnect)
    entry = held["intent_id"] * 4
    assert e.recheck(entry) is None  # unchanged: it may go
    e.set_state("HALTED")
    verdict = e.recheck(entry)
    assert verdict is not None
    assert verdict["reason"] == "TRADING_HALTED" and verdict["intent_id"] == held["intent_id"]
    o = e.order(entry)
    assert o["status"] == "REJECTED" and o["reason"].startswith("RISK_DENIED TRADING_HALTED")
    assert not e.snapshot()["working"]
    # the denial is also listed once in the next output, for the journal
    out = e.on_quote(ES, T0 + 12 * SEC, (5000.0, 10), (5000.25, 9))
    assert [d["reason"] for d in out["denials"]] == ["TRADING_HALTED"]
    with pytest.raises(InvalidInputError, match="held intent"):
        e.recheck(999 * 4)


def test_operator_state_is_restored_before_trading_and_read_back() -> None:
    e = engine()
    e.restore_operator_state(
        "HALTED", {"max_order_qty": 1, "daily_loss_limit": 500.0}, -420.0, 12.5
    )
    snap = e.snapshot()
    assert snap["state"] == "HALTED"
    assert snap["limits"]["max_order_qty"] == 1.0 and snap["limits"]["daily_loss_limit"] == 500.0
    assert snap["limits"]["max_position"] == _core.default_risk_limits()["max_position"]
    assert snap["realized_pnl"] == -420.0 and snap["fees"] == 12.5
    assert not quotes(e, range(12)), "a restored HALT holds"
    with pytest.raises(ValueError, match="trading state"):
        e.restore_operator_state("PAUSED", {}, 0.0, 0.0)
    with pytest.raises(ConfigError, match="max_ordr_qty"):
        e.restore_operator_state("ACTIVE", {"max_ordr_qty": 1}, 0.0, 0.0)
    # after an order went out, a restore is refused
    e2 = engine()
    assert quotes(e2, range(12))
    with pytest.raises(InvalidInputError, match="restore before trading"):
        e2.restore_operator_state("ACTIVE", {}, 0.0, 0.0)


def test_risk_limits_are_set_from_any_subset_and_validated_by_the_core() -> None:
    e = engine()
    e.set_risk_limits({"max_position": 3, "max_gross_exposure": float("inf")})
    lim = dict(e.risk_limits())
    assert lim["max_position"] == 3.0 and lim["max_gross_exposure"] == float("inf")
    e.set_risk_limits([("max_order_qty", 2.0)])  # the (key, value) pairs still work
    assert dict(e.risk_limits())["max_order_qty"] == 2.0
    with pytest.raises(ConfigError) as err:
        e.set_risk_limits(
            {"max_position": 0, "max_drawdown": "x", "typo": 1, "max_order_qty": True}
        )
    for part in ("max_position", "max_drawdown", "typo", "max_order_qty"):
        assert part in str(err.value)
    assert dict(e.risk_limits())["max_position"] == 3.0, "limits unchanged after a refusal"


def test_the_core_owns_the_default_limits_and_validates_risk_tables() -> None:
    d = _core.default_risk_limits()
    assert d == dict(_core.risk_limit_defaults())
    assert d["max_order_qty"] == 10.0 and d["max_position"] == 20.0
    full = _core.risk_limits_from_table({"max_order_qty": 3, "max_daily_exposure": "inf"})
    assert full["max_order_qty"] == 3.0 and full["max_daily_exposure"] == float("inf")
    assert full["max_position"] == d["max_position"]
    with pytest.raises(ConfigError) as err:
        _core.risk_limits_from_table({"max_order_qty": -1, "price_band_bps": 1.5, "nope": 2})
    for part in ("max_order_qty", "price_band_bps", "nope"):
        assert part in str(err.value)


def test_the_client_order_id_rule_is_the_cores() -> None:
    assert _core.client_order_id(7, "ENTRY") == 28
    assert _core.client_order_id(7, "TAKE_PROFIT") == 30
    assert _core.intent_of_order(29) == (7, "STOP_LOSS")
    assert _core.intent_of_order(31) == (7, None)
    with pytest.raises(ValueError, match="leg must be"):
        _core.client_order_id(7, "EXIT")


def test_a_portfolio_engine_serves_a_model_per_instrument() -> None:
    from pycontrol.inference import ensure_onnxruntime

    ensure_onnxruntime()
    golden = str(REPO / "core-rs/core/tests/data/lgbm_small")
    kw = {**kwargs(), "placebo_interval_ns": None, "models": [(ES, None, None, golden)]}
    e = _core.LiveEngine([(ES, "ES", 0.25, 50.0), (2, "NQ", 0.25, 20.0)], **kw)
    assert e.snapshot()["model"]["version"] == "golden-lightgbm-11"
    e.set_position_limit(2, 3)
    quotes(e, range(3))
    e.on_quote(2, T0 + 3 * SEC, (18000.0, 5), (18000.25, 5))
    assert e.snapshot()["max_position_by_instrument"] == {ES: 20, 2: 3}
    # A default predictor of another source than the models' is refused, naming it.
    with pytest.raises(ConfigError, match="default predictor"):
        _core.LiveEngine(
            [(ES, "ES", 0.25, 50.0)], **{**kwargs(), "models": [(ES, None, None, golden)]}
        )


def test_engine_settings_are_validated_by_the_core() -> None:
    d = _core.engine_settings_defaults()
    assert d["initial_equity"] == 100_000.0 and d["order_latency"] == ["constant", [50_000.0]]
    full = _core.engine_settings_from_table({"max_qty": 3, "flatten_at_end": False})
    assert full["max_qty"] == 3 and full["flatten_at_end"] is False
    assert full["vol_halflife_s"] == d["vol_halflife_s"]
    with pytest.raises(ConfigError) as err:
        _core.engine_settings_from_table({"max_qty": "3", "kelly_fraction": 0.9, "typo": 1})
    for part in ("max_qty", "kelly_fraction", "typo"):
        assert part in str(err.value)
