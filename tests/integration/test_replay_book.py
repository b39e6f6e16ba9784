"""replay_book on real CME data: the ESH4 MBO day (L3) and the ESU4 MBP-1 window (L2)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import databento as db
import numpy as np
import polars as pl
import pytest

import pycontrol


@pytest.fixture(scope="module")
def esh4(esh4_mbo: Path) -> tuple[pl.DataFrame, dict[str, object]]:
    return pycontrol.replay_book(esh4_mbo, levels=10, with_stats=True)  # type: ignore[no-any-return]


def test_frame_layout(esh4: tuple[pl.DataFrame, dict[str, object]]) -> None:
    df, _ = esh4
    expected = ["ts_event", "ts_recv", "instrument_id"]
    for side in ("bid", "ask"):
        for kind in ("px", "sz", "ct"):
            expected += [f"{side}_{kind}_{i:02}" for i in range(10)]
    expected += ["untrusted", "crossed"]
    assert df.columns == expected
    assert df.schema["ts_event"] == pl.Datetime("ns", "UTC")
    assert df.schema["bid_px_00"] == pl.Float64


def test_every_record_is_seen_and_no_anomalies(
    esh4: tuple[pl.DataFrame, dict[str, object]],
) -> None:
    df, stats = esh4
    assert stats["records"] == 68_792
    assert stats["boundaries"] == df.height
    anomalies = stats["anomalies"]
    assert isinstance(anomalies, dict)
    for name in ("unknown_cancel", "unknown_modify", "duplicate_add", "cancel_exceeds_size"):
        assert anomalies[name] == 0, name
    assert df["instrument_id"].unique().to_list() == [17077]


def test_starts_from_the_snapshot_book(esh4: tuple[pl.DataFrame, dict[str, object]]) -> None:
    df, _ = esh4
    first = df.row(0, named=True)
    # Data README: the start-of-day snapshot has best bid 4799.00 and best ask 4799.50.
    assert (first["bid_px_00"], first["ask_px_00"]) == (4799.0, 4799.5)


def test_crossed_only_in_the_preopen_and_always_flagged(
    esh4: tuple[pl.DataFrame, dict[str, object]],
) -> None:
    df, stats = esh4
    crossed_now = df["bid_px_00"] >= df["ask_px_00"]
    # The flag is exactly the state of the book at the boundary: never silently kept.
    assert (crossed_now.fill_null(False) == df["crossed"]).all()
    anomalies = stats["anomalies"]
    assert isinstance(anomalies, dict)
    assert anomalies["crossed_events"] == int(df["crossed"].sum())
    # CME's pre-open lets orders cross until the opening match at 23:00 UTC (17:00 CT).
    crossed = df.filter(pl.col("crossed"))
    assert crossed.height > 0
    last_crossed = crossed["ts_recv"].max()
    assert isinstance(last_crossed, datetime)
    assert last_crossed < datetime(2023, 12, 25, 23, 0, 1, tzinfo=UTC)


def test_levels_are_sorted_and_sized(esh4: tuple[pl.DataFrame, dict[str, object]]) -> None:
    df, _ = esh4
    bids = df.select([f"bid_px_{i:02}" for i in range(10)]).to_numpy()
    asks = df.select([f"ask_px_{i:02}" for i in range(10)]).to_numpy()
    with np.errstate(invalid="ignore"):
        assert not (np.diff(bids, axis=1) >= 0).any()
        assert not (np.diff(asks, axis=1) <= 0).any()
    sizes = df.select([f"bid_sz_{i:02}" for i in range(10)]).to_numpy()
    counts = df.select([f"bid_ct_{i:02}" for i in range(10)]).to_numpy()
    assert ((sizes > 0) == ~np.isnan(bids)).all()
    assert (counts <= sizes).all()


def test_snapshot_only_file_equals_the_day_files_opening_book(shared_data: Path) -> None:
    """The 12-24 file holds the same snapshot orders as the start of the 12-25 file."""
    snap = pycontrol.BookReplay(shared_data / "dbn/nautilus/esh4-glbx-mdp3-20231224.mbo.dbn.zst")
    assert snap.step() is not None
    assert snap.step() is None
    day = pycontrol.BookReplay(shared_data / "dbn/nautilus/esh4-glbx-mdp3-20231225.mbo.dbn.zst")
    # Apply the 12-25 file's 8,725 snapshot records only (it has no F_LAST at their end).
    assert day.step_records(8_725) == 8_725
    for side in ("bid", "ask"):
        assert snap.levels(side, 10_000) == day.levels(side, 10_000)
    bids = snap.levels("bid", 10_000)
    asks = snap.levels("ask", 10_000)
    # Data README: 5,192 bid orders and 3,533 ask orders in the snapshot.
    assert sum(ct for _, _, ct in bids) == 5_192
    assert sum(ct for _, _, ct in asks) == 3_533


def test_mbp1_l2_book_matches_the_records(shared_data: Path) -> None:
    path = shared_data / "dbn/nautilus/futures_mbp-1_2024-07-01T23-58_2024-07-02T00-02.dbn.zst"
    df = pycontrol.replay_book(path, levels=1)
    raw = db.DBNStore.from_file(path).to_df(price_type="float", pretty_ts=False, map_symbols=False)
    last = raw[(raw["flags"] & 128) != 0]
    assert df.height == len(last)
    assert np.array_equal(df["bid_px_00"].to_numpy(), last["bid_px_00"].to_numpy())
    assert np.array_equal(
        df["ask_sz_00"].to_numpy(), last["ask_sz_00"].to_numpy().astype(np.uint64)
    )
    assert df["bid_px_00"].min() == 5528.50
    assert df["ask_px_00"].max() == 5529.50


def test_levels_argument_is_validated(esh4_mbo: Path) -> None:
    with pytest.raises(pycontrol.ConfigError, match="levels"):
        pycontrol.replay_book(esh4_mbo, levels=0)
