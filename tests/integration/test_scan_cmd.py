"""`pycontrol scan` on a universe built from the real minute bars in ../shared/data: every
member scored from the Rust features of its latest bar, ranked, the threshold applied, the
JSON form equal to the table, and `--asof` scoring the bars up to that moment only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pycontrol.cli import main

REPO = Path(__file__).resolve().parents[2]
UNIVERSE = str(REPO / "configs" / "universe" / "real-bars.toml")


def test_scan_ranks_the_real_universe(
    shared_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["scan", "--universe", UNIVERSE, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    ranked = doc["ranked"]
    assert {r["name"] for r in ranked} == {"ES", "6E", "BTC-PERP"}
    scores = [r["score"] for r in ranked]
    assert all(s is not None and 0 <= s <= 100 for s in scores)
    assert scores == sorted(scores, reverse=True)
    assert all(r["selected"] == (r["score"] >= doc["threshold"]) for r in ranked)
    es = next(r for r in ranked if r["name"] == "ES")
    # 6,708 minute bars (about 112 hours): the 1h ADX has not warmed up, and says so
    assert es["bars"] == 6708 and es["not_warmed_up"] == ["1h"]
    # a threshold everyone passes selects everyone; the table marks them
    assert main(["scan", "--universe", UNIVERSE, "--threshold", "0"]) == 0
    out = capsys.readouterr().out
    assert "selected (score >= 0): " + ", ".join(r["name"] for r in ranked) in out
    assert out.count("\n* ") == 3


def test_asof_scores_the_past(shared_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", "--universe", UNIVERSE, "--json", "--asof", "2024-01-15T15:00"]) == 0
    ranked = json.loads(capsys.readouterr().out)["ranked"]
    six = next(r for r in ranked if r["name"] == "6E")
    assert six["last_bar"] <= 1705330800 * 10**9 and six["bars"] < 29996
    # ES and BTC end before that date: all their bars are in
    assert next(r for r in ranked if r["name"] == "ES")["bars"] == 6708
    assert main(["scan", "--universe", UNIVERSE, "--threshold", "101"]) == 2
    assert "must be in 0..100" in capsys.readouterr().err
    assert main(["scan", "--universe", "nope.toml"]) == 2
    assert "file not found" in capsys.readouterr().err
