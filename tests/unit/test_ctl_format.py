"""`ctl status` as a table: the headline names session, mode, state and model; positions
become a table with one row per instrument; an empty section says "none"; numbers carry
thousands separators and money two decimals."""

from __future__ import annotations

from pycontrol.commands.ctl_format import fmt_value, format_status

REPLY = {
    "name": "es-paper-rust",
    "mode": "paper",
    "engine": {
        "engine": "rust",
        "state": "HALTED",
        "model_source": "placebo",
        "halt_reason": "news",
        "records_fed": 25412,
        "positions": [
            {
                "symbol": "ES",
                "qty": -2,
                "avg_price": 4799.25,
                "realized": 137.5,
                "unrealized": -25.0,
            },
            {"symbol": "NQ", "qty": 1, "avg_price": 16999.5, "realized": 0.0, "unrealized": 12.5},
        ],
        "working": 3,
    },
    "venue": {"venue": "sim-l3", "working": 3, "symbols": ["ESH4"]},
    "journal": {"path": "/x/journal.sqlite", "positions": {"ES": -2}, "working": 3, "fills": 14},
    "market_events": 1234567,
    "realized_pnl": {},
}


def test_headline_and_sections() -> None:
    text = format_status(REPLY)
    lines = text.splitlines()
    assert (
        lines[0]
        == "session name es-paper-rust  mode paper  state HALTED  model placebo  halt_reason news"
    )
    assert "  market_events  1,234,567" in lines
    # the top-level map is empty for the Rust engine: the positions' realized is the figure
    assert "realized_pnl: 137.50 (sum of the engine positions' realized)" in lines
    assert "realized_pnl: none" in format_status({**REPLY, "engine": {}}).splitlines()
    assert any(ln.strip().startswith("records_fed") and ln.endswith("25,412") for ln in lines)
    # positions: a header row and one row per instrument, numbers right-aligned
    i = next(i for i, ln in enumerate(lines) if ln.strip() == "positions (2)")
    header, es, nq = lines[i + 1 : i + 4]
    assert header.split() == ["symbol", "qty", "avg_price", "realized", "unrealized"]
    assert es.split() == ["ES", "-2", "4,799.25", "137.50", "-25.00"]
    assert nq.split() == ["NQ", "1", "16,999.50", "0.00", "12.50"]
    assert "  symbols  ESH4" in lines and "  positions  ES -2" in lines


def test_values() -> None:
    assert fmt_value(None) == "-" and fmt_value({}) == "-" and fmt_value(True) == "yes"
    assert fmt_value(1234567) == "1,234,567" and fmt_value(0.5) == "0.50"
    assert fmt_value(0.00042) == "0.00042" and fmt_value(["a", 1]) == "a, 1"
