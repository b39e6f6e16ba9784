"""pycontrol.features: the FeatureSet contract, stream/batch parity, no look-ahead, bad
input, gaps, microstructure rows against the replayed book, cross features against a
numpy reference, and the generated reference (CLI and docs/features.md)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from pycontrol import (
    BadLineError,
    ConfigError,
    FeatureEngine,
    FeatureSet,
    FeatureSetMismatchError,
    compute_features,
    load_bars,
    replay_book,
)
from pycontrol.cli import main
from pycontrol.commands.features_cmd import CROSS, reference_markdown

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def es(shared_data: Path) -> pl.DataFrame:
    return load_bars(shared_data / "bars" / "lean-es-minute" / "20131007_trade.zip")


def _nan(df: pl.DataFrame) -> np.ndarray:
    """Feature columns as a float matrix with null -> NaN (rows x features)."""
    return df.drop("ts").fill_null(np.nan).to_numpy().astype(np.float64)


def test_default_set_is_a_stable_hashed_contract() -> None:
    fs = FeatureSet.default()
    names = fs.names()
    assert len(fs) == len(names) >= 200
    assert {n.split("_")[0] for n in names} == {"tf1m", "tf5m", "tf30m", "tf1h"}
    assert fs.hash == FeatureSet(names).hash and len(fs.hash) == 16
    assert FeatureSet(names[:-1]).hash != fs.hash
    back = FeatureSet.from_json(fs.to_json())
    assert back.names() == names and back.hash == fs.hash
    fs.check_model_hash(fs.hash)
    with pytest.raises(FeatureSetMismatchError):
        fs.check_model_hash(FeatureSet.default_micro().hash)
    doc = json.loads(fs.to_json())
    doc["hash"] = "0" * 16
    with pytest.raises(FeatureSetMismatchError):
        FeatureSet.from_json(json.dumps(doc))
    spec = {s["name"]: s for s in fs.specs()}["tf5m_rsi_14"]
    # seed (15) + the bars until the start weighs < 1e-8: 13/14 ** 249 < 1e-8 < 13/14 ** 248
    assert (spec["timeframe"], spec["window"], spec["warmup"]) == ("5m", 264, 264)
    assert "Wilder" in spec["formula"] and "1e-8" in spec["formula"]


@pytest.mark.parametrize("bad", ["rsi_14", "tf1m_rsi", "tf1m_rsi_0", "tf2m_nope_1", "micro_x"])
def test_bad_feature_names_are_config_errors(bad: str) -> None:
    with pytest.raises(ConfigError):
        FeatureSet([bad])


def test_batch_equals_streaming_bit_for_bit(es: pl.DataFrame) -> None:
    fs = FeatureSet.default()
    batch = _nan(compute_features(es, fs))
    eng = FeatureEngine(fs, "1m")
    ts = es["ts"].dt.epoch("ns").to_list()
    rows = [
        eng.push(t, *r)
        for t, r in zip(ts, es.select("open", "high", "low", "close", "volume").rows(), strict=True)
    ]
    stream = np.array(rows)
    assert stream.shape == batch.shape
    assert np.array_equal(np.isnan(stream), np.isnan(batch))
    ok = ~np.isnan(batch)
    assert np.array_equal(stream[ok].view(np.uint64), batch[ok].view(np.uint64))
    assert ok.sum() > batch.size // 4


def test_features_up_to_t_never_change_when_the_series_is_cut_at_t(es: pl.DataFrame) -> None:
    fs = FeatureSet.default()
    full = _nan(compute_features(es, fs))
    rng = np.random.default_rng(7)
    for t in sorted(rng.integers(1, es.height, size=25)):
        part = _nan(compute_features(es.head(int(t)), fs))
        assert np.array_equal(part, full[:t], equal_nan=True), f"cut at {t}"


def _bars(n: int) -> pl.DataFrame:
    t0 = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)
    px = 100.0 + np.arange(n) * 0.25
    return pl.DataFrame(
        {
            "ts": [t0 + timedelta(minutes=i) for i in range(n)],
            "open": px,
            "high": px + 0.5,
            "low": px - 0.5,
            "close": px,
            "volume": np.full(n, 10.0),
        }
    ).with_columns(pl.col("ts").cast(pl.Datetime("ns", "UTC")))


@pytest.mark.parametrize(
    ("col", "value", "row", "why"),
    [
        ("close", float("nan"), 7, "close"),
        ("high", float("inf"), 3, "high"),
        ("low", float("-inf"), 0, "low"),
        ("volume", -1.0, 5, "volume"),
    ],
)
def test_bad_values_name_their_row(col: str, value: float, row: int, why: str) -> None:
    df = _bars(10)
    df = df.with_columns(
        pl.when(pl.int_range(pl.len()) == row).then(value).otherwise(pl.col(col)).alias(col)
    )
    with pytest.raises(BadLineError) as ei:
        compute_features(df, FeatureSet(["tf1m_sma_2"]))
    assert ei.value.record == row
    assert why in str(ei.value)


def test_non_increasing_time_is_refused_with_its_row() -> None:
    df = _bars(6)
    ts = df["ts"].to_list()
    ts[4] = ts[3]
    with pytest.raises(BadLineError) as ei:
        compute_features(df.with_columns(pl.Series("ts", ts)), FeatureSet(["tf1m_sma_2"]))
    assert ei.value.record == 4
    assert "does not increase" in str(ei.value)


def test_gaps_add_no_bars_and_returns_span_them() -> None:
    df = _bars(4)
    ts = df["ts"].to_list()
    ts[2:] = [t + timedelta(hours=3) for t in ts[2:]]
    out = compute_features(
        df.with_columns(pl.Series("ts", ts)), FeatureSet(["tf1m_ret_1", "tf1h_sma_1"])
    )
    closes = df["close"].to_list()
    assert out["tf1m_ret_1"].to_list()[2] == closes[2] / closes[1] - 1
    # The history starts at 14:30, inside the 14:00 hour: that partial hour is dropped
    # (counting it would make hourly windows depend on where the history started).
    assert out["tf1h_sma_1"].to_list() == [None, None, None, None]
    # From 14:00 on, the 1h bar holding rows 0-1 completes when row 2 arrives three
    # hours later.
    on_hour = [t - timedelta(minutes=30) for t in ts]
    out = compute_features(
        df.with_columns(pl.Series("ts", on_hour)), FeatureSet(["tf1m_ret_1", "tf1h_sma_1"])
    )
    assert out["tf1h_sma_1"].to_list() == [None, None, closes[1], closes[1]]


def test_cross_features_match_a_numpy_reference(shared_data: Path) -> None:
    both = load_bars(
        shared_data / "dbn/nautilus/futures_ohlcv-1m_2024-07-01T23-40_2024-07-02T00-10.dbn.zst"
    )
    es_ = both.filter(pl.col("instrument_id") == 118)
    nq = both.filter(pl.col("instrument_id") == 4358)
    with pytest.raises(ConfigError):
        compute_features(both, FeatureSet(["tf1m_sma_5"]))
    fs = FeatureSet(["tf1m_corr_ref_10", "tf1m_beta_ref_10"])
    with pytest.raises(ConfigError):
        compute_features(nq, fs)
    got = compute_features(nq, fs, reference=es_)
    j = nq.join(es_, on="ts", suffix="_ref")
    x = j["close"].pct_change().to_numpy()[1:]
    y = j["close_ref"].pct_change().to_numpy()[1:]
    want_c, want_b = [np.nan] * 10, [np.nan] * 10
    for i in range(10, len(x) + 1):
        wx, wy = x[i - 10 : i], y[i - 10 : i]
        cov = np.cov(wx, wy, ddof=1)
        want_c.append(cov[0, 1] / np.sqrt(cov[0, 0] * cov[1, 1]))
        want_b.append(cov[0, 1] / cov[1, 1])
    assert j.height == nq.height == 30  # every minute aligned
    got_c = got["tf1m_corr_ref_10"].fill_null(np.nan).to_numpy()
    got_b = got["tf1m_beta_ref_10"].fill_null(np.nan).to_numpy()
    np.testing.assert_allclose(got_c, want_c, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(got_b, want_b, rtol=1e-9, atol=1e-12)
    assert 0.0 < np.nanmean(got_c) <= 1.0  # NQ and ES move together
    # Streaming the same bars with their reference bars gives the same bits.
    eng = FeatureEngine(fs, "1m")
    ohlcv = ["open", "high", "low", "close", "volume"]
    stream = np.array(
        [
            eng.push(int(t), *row, reference=tuple(ref))
            for t, row, ref in zip(
                j["ts"].dt.epoch("ns"),
                j.select(ohlcv).rows(),
                j.select([f"{c}_ref" for c in ohlcv]).rows(),
                strict=True,
            )
        ]
    )
    batch = np.column_stack([got_c, got_b])
    assert np.array_equal(np.isnan(stream), np.isnan(batch))
    assert np.array_equal(stream[~np.isnan(batch)], batch[~np.isnan(batch)])


def test_micro_rows_agree_with_the_replayed_book(esh4_mbo: Path) -> None:
    fs = FeatureSet.default_micro()
    got = compute_features(esh4_mbo, fs)
    book = replay_book(esh4_mbo, levels=10)
    assert got.height == book.height > 40_000
    assert got.columns == ["ts", "instrument_id", *fs.names()]
    assert got["ts"].to_list() == book["ts_recv"].to_list()
    mid = (book["bid_px_00"] + book["ask_px_00"]) / 2
    np.testing.assert_array_equal(got["micro_mid"].to_numpy(), mid.to_numpy())
    b5 = sum(book[f"bid_sz_{i:02d}"].cast(pl.Float64) for i in range(5))
    a5 = sum(book[f"ask_sz_{i:02d}"].cast(pl.Float64) for i in range(5))
    np.testing.assert_allclose(
        got["micro_imb_5"].to_numpy(), ((b5 - a5) / (b5 + a5)).to_numpy(), rtol=1e-12
    )
    # Windowed features are null until their window is full, then set.
    assert got["micro_ofi_sum_100"].head(100).null_count() == 100
    assert got["micro_ofi_sum_100"][100] is not None
    with pytest.raises(ConfigError):
        compute_features(book, fs)  # type: ignore[arg-type]


def test_bars_are_built_from_a_dbn_trades_file(shared_data: Path) -> None:
    p = shared_data / "dbn/nautilus/futures_trades_2024-07-01T23-58_2024-07-02T00-02.dbn.zst"
    out = compute_features(p, FeatureSet(["tf1m_sma_1", "tf1m_range_pct"]))
    assert out.height == 4  # 23:58 .. 00:01
    assert out["tf1m_sma_1"].min() >= 5528.5 and out["tf1m_sma_1"].max() <= 5529.5


def test_cli_lists_every_feature_and_the_doc_is_generated(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["features", "list"]) == 0
    text = capsys.readouterr().out
    for name in [*FeatureSet.default().names(), *FeatureSet.default_micro().names(), *CROSS]:
        assert f"\n{name} " in text
    assert main(["features", "list", "--markdown"]) == 0
    md = capsys.readouterr().out
    assert md == reference_markdown()
    assert (REPO / "docs" / "features.md").read_text() == md, (
        "docs/features.md is stale: run `pycontrol features list --markdown > docs/features.md`"
    )


def test_recycled_columns_never_change_a_live_frame(es: pl.DataFrame) -> None:
    fs = FeatureSet.default()
    kept = compute_features(es, fs)
    snapshot = _nan(kept)
    for _ in range(3):
        # Frames dropped here give their buffers back for the next computation.
        other = compute_features(es.head(500), fs)
        assert other.height == 500
        del other
    again = compute_features(es, fs)
    assert np.array_equal(_nan(kept), snapshot, equal_nan=True)
    assert np.array_equal(_nan(again), snapshot, equal_nan=True)


def test_each_feature_turns_non_null_exactly_at_its_documented_warm_up(
    es: pl.DataFrame,
) -> None:
    specs = {s["name"]: s for s in FeatureSet.default().specs()}
    names = [n for n in specs if n.startswith("tf1m_")]
    out = compute_features(es, FeatureSet(names))
    for n in names:
        w = specs[n]["warmup"]
        col = out[n]
        if n == "tf1m_obv":  # null until the first trading-day open, at most w - 1 rows
            first = col.is_not_null().arg_true()[0]
            assert 0 < first <= w - 1 and col.slice(first).null_count() == 0, n
            continue
        assert col.head(w - 1).null_count() == w - 1, n
        assert col.slice(w - 1).null_count() == 0, n
