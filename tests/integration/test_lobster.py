"""LOBSTER replay on the real NASDAQ samples: the book rebuilt from the messages matches
the ground-truth orderbook file after every message; corrupt and malformed copies fail."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

import pycontrol
from pycontrol import BadLineError, replay_lobster, verify_lobster

AMZN = "AMZN_2012-06-21_34200000_57600000"
AAPL = "AAPL_2012-06-21_34200000_57600000"

# (stem, levels, suffix, rows): every LOBSTER pair in ../shared/data/lobster.
PAIRS = [
    (AMZN, 1, ".csv.gz", 57_515),
    (AMZN, 5, ".csv.gz", 155_935),
    (AAPL, 10, ".first999.csv", 999),
]


def pair(shared_data: Path, stem: str, levels: int, suffix: str) -> tuple[Path, Path]:
    d = shared_data / "lobster"
    return (
        d / f"{stem}_message_{levels}{suffix}",
        d / f"{stem}_orderbook_{levels}{suffix}",
    )


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pycontrol.cli", "book", "verify-lobster", *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize(("stem", "levels", "suffix", "rows"), PAIRS)
def test_real_pairs_rebuild_without_mismatch(
    shared_data: Path, stem: str, levels: int, suffix: str, rows: int
) -> None:
    m, o = pair(shared_data, stem, levels, suffix)
    df, s = replay_lobster(m, o, levels)
    assert s["mismatches"] == 0, s["first_mismatches"]
    assert s["rows"] == rows == df.height
    # Row 0 seeds at least one side's book; afterwards only levels entering the window
    # from outside are seeded, which most messages do not cause.
    assert levels <= s["seeded"] < rows // 2
    assert df["seeded"].sum() == s["seeded"]
    assert df["mismatches"].sum() == 0
    assert sum(s["type_counts"].values()) == rows
    assert verify_lobster(m, o, levels)["seeded"] == s["seeded"]


def test_frame_equals_the_orderbook_file(shared_data: Path) -> None:
    m, o = pair(shared_data, AAPL, 10, ".first999.csv")
    df, _ = replay_lobster(m, o, 10)
    truth = pl.read_csv(o, has_header=False)
    assert df.columns[:6] == ["ts", "type", "order_id", "size", "price", "direction"]
    for i in range(10):
        ask_px, ask_sz, bid_px, bid_sz = (truth[:, 4 * i + k] for k in range(4))
        for side, px, sz, empty in (
            ("ask", ask_px, ask_sz, 9_999_999_999),
            ("bid", bid_px, bid_sz, -9_999_999_999),
        ):
            want_px = pl.Series([None if p == empty else p / 10_000 for p in px])
            assert df[f"{side}_px_{i:02}"].to_list() == want_px.to_list()
            assert df[f"{side}_sz_{i:02}"].to_list() == sz.to_list()
    msgs = pl.read_csv(m, has_header=False)
    assert df["ts"][0] == pytest.approx(34200.004241176, abs=1e-9)
    assert df["order_id"].to_list() == msgs[:, 2].to_list()
    assert df["price"].to_list() == [p / 10_000 for p in msgs[:, 4]]


def test_cli_prints_summary_last_and_exits_zero(shared_data: Path) -> None:
    m, o = pair(shared_data, AMZN, 1, ".csv.gz")
    r = cli("--message", m, "--orderbook", o, "--levels", "1")
    assert r.returncode == 0, r.stderr
    seeded = replay_lobster(m, o, 1)[1]["seeded"]
    assert r.stdout.splitlines()[-1] == f"rows=57515 seeded={seeded} mismatches=0"


def test_corrupted_orderbook_gives_mismatches_and_exit_1(shared_data: Path, tmp_path: Path) -> None:
    m, o = pair(shared_data, AAPL, 10, ".first999.csv")
    lines = o.read_text().splitlines()
    cols = lines[500].split(",")
    cols[3] = str(int(cols[3]) + 1)  # best bid size of row 500
    lines[500] = ",".join(cols)
    bad = tmp_path / "orderbook_10.csv"
    bad.write_text("\n".join(lines))

    s = verify_lobster(m, bad, 10)
    assert s["mismatches"] > 0
    first = s["first_mismatches"][0]
    assert (first["row"], first["side"], first["level"], first["kind"]) == (500, "bid", 1, "size")
    assert first["expected"] == first["predicted"] + 1

    r = cli("--message", m, "--orderbook", bad, "--levels", "10")
    assert r.returncode == 1
    out = r.stdout.splitlines()
    assert out[-1] == f"rows=999 seeded={s['seeded']} mismatches={s['mismatches']}"
    assert out[0].startswith("mismatch: row 500 (line 501) bid level 1")


def test_malformed_message_line_raises_bad_line_error(shared_data: Path, tmp_path: Path) -> None:
    m, o = pair(shared_data, AAPL, 10, ".first999.csv")
    lines = m.read_text().splitlines()
    cols = lines[41].split(",")
    cols[3] = "12x"
    lines[41] = ",".join(cols)
    bad = tmp_path / "message_10.csv"
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(BadLineError) as e:
        replay_lobster(bad, o, 10)
    assert e.value.path == str(bad)
    assert e.value.record == 42
    assert "line 42" in str(e.value)
    assert isinstance(e.value, pycontrol.DecodeError)

    r = cli("--message", bad, "--orderbook", o, "--levels", "10")
    assert r.returncode == 2
    assert "BadLineError" in r.stderr and "line 42" in r.stderr


def test_wrong_levels_and_unequal_lengths_are_typed_errors(
    shared_data: Path, tmp_path: Path
) -> None:
    m, o = pair(shared_data, AAPL, 10, ".first999.csv")
    with pytest.raises(BadLineError, match=r"\(10 levels\), but 5 levels were requested") as e:
        verify_lobster(m, o, 5)
    assert (e.value.path, e.value.record) == (str(o), 1)

    short = tmp_path / "orderbook_short.csv"
    short.write_text("\n".join(o.read_text().splitlines()[:998]) + "\n")
    with pytest.raises(BadLineError, match="ends after 998 rows") as e:
        verify_lobster(m, short, 10)
    assert (e.value.path, e.value.record) == (str(short), 999)
    with pytest.raises(pycontrol.ConfigError):
        verify_lobster(m, o, 0)
