"""`pycontrol.read_dbn` against databento's own reader: every file of the DBN test corpus
decodes, the v1/v2/v3 copies of a schema give equal frames, and values equal
`DBNStore.to_df(price_type="float", pretty_ts=False, map_symbols=False)` on shared columns."""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import databento as db
import polars as pl
import pytest

from pycontrol import SchemaMismatchError, read_dbn, read_dbn_frames


def corpus_files(shared_data: Path) -> list[Path]:
    files = sorted((shared_data / "dbn" / "dbn-test-corpus").iterdir())
    assert len(files) == 56
    return files


def schema_of(p: Path) -> str:
    return p.name.removeprefix("test_data.").split(".")[0]


def databento_df(p: Path) -> Any:
    store = db.DBNStore.from_file(p)
    return store.to_df(price_type="float", pretty_ts=False, map_symbols=False).reset_index()


# Records are upgraded to DBN v3 on read; databento's to_df keeps a v1/v2 file's own layout,
# where statistics quantities are i32 with their own "undefined" sentinel.
UPGRADED_SENTINELS = {"quantity": (2**63 - 1, 2**31 - 1)}


def same_value(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        fa = math.nan if a is None else float(a)
        fb = math.nan if b is None else float(b)
        return (math.isnan(fa) and math.isnan(fb)) or fa == fb
    return bool(a == b)


def assert_matches_databento(ours: pl.DataFrame, p: Path, skip: set[str] = frozenset()) -> int:
    theirs = databento_df(p)
    assert len(ours) == len(theirs), p.name
    shared = [c for c in ours.columns if c in theirs.columns and c not in skip]
    assert len(shared) >= min(len(ours.columns), len(theirs.columns)) - 12, (
        p.name,
        set(ours.columns) ^ set(theirs.columns),
    )
    for c in shared:
        mine = ours[c].to_list()
        ref = theirs[c].tolist()
        if c in UPGRADED_SENTINELS:
            v3_undef, old_undef = UPGRADED_SENTINELS[c]
            ref = [v3_undef if v == old_undef else v for v in ref]
        bad = [i for i, (a, b) in enumerate(zip(mine, ref, strict=True)) if not same_value(a, b)]
        assert not bad, (
            f"{p.name}:{c} row {bad[0]}: ours {mine[bad[0]]!r} databento {ref[bad[0]]!r}"
        )
    return len(shared)


def test_every_corpus_file_decodes_to_one_frame(shared_data: Path) -> None:
    for p in corpus_files(shared_data):
        frames = read_dbn_frames(p)
        assert list(frames) == [schema_of(p)], p.name
        df = read_dbn(p)
        if schema_of(p) == "ohlcv-1d":
            assert df.is_empty()  # metadata only, yet the columns are there
        else:
            assert len(df) in (2, 4)
        assert df.width >= 8


def test_versions_of_a_schema_give_equal_frames(shared_data: Path) -> None:
    groups: dict[str, list[Path]] = defaultdict(list)
    for p in corpus_files(shared_data):
        groups[schema_of(p)].append(p)
    assert len(groups) == 15
    for schema, files in groups.items():
        frames = [read_dbn(p) for p in files]
        assert len({len(f) for f in frames}) == 1, schema
        for p, f in zip(files[1:], frames[1:], strict=True):
            assert f.equals(frames[0]), f"{p.name} differs from {files[0].name}"
        if schema != "ohlcv-1d":
            assert len(frames[0]) >= 2


@pytest.mark.parametrize("version", ["v3", "v2", "v1", "plain"])
def test_corpus_values_equal_databento(shared_data: Path, version: str) -> None:
    checked = 0
    for p in corpus_files(shared_data):
        parts = p.name.split(".")
        tag = parts[2] if len(parts) > 3 or p.name.endswith(".zst") else "plain"
        if tag != version:
            continue
        checked += 1
        assert_matches_databento(read_dbn(p), p)
    assert checked >= 10


def test_real_mbo_day_equals_databento(esh4_mbo: Path) -> None:
    df = read_dbn(esh4_mbo)
    assert len(df) == 68_792
    assert assert_matches_databento(df, esh4_mbo) == 14
    # Undefined prices are null, not a huge number.
    assert df["price"].max() < 10_000


def test_nautilus_files_equal_databento(shared_data: Path) -> None:
    for p in sorted((shared_data / "dbn" / "nautilus").glob("*.dbn.zst")):
        if p.name.startswith("esh4-glbx-mdp3-20231225"):
            continue
        assert_matches_databento(read_dbn(p), p)


def test_trades_file_equals_trade_records_of_mbp1(shared_data: Path) -> None:
    d = shared_data / "dbn" / "nautilus"
    trades = read_dbn(d / "futures_trades_2024-07-01T23-58_2024-07-02T00-02.dbn.zst")
    mbp = read_dbn(d / "futures_mbp-1_2024-07-01T23-58_2024-07-02T00-02.dbn.zst")
    t_rows = mbp.filter(pl.col("action") == "T")
    assert len(trades) == len(t_rows) == 120
    cols = ["ts_event", "ts_recv", "instrument_id", "sequence", "price", "size", "side", "flags"]
    assert trades.select(cols).equals(t_rows.select(cols))
    assert trades["price"].min() == 5528.5
    assert trades["price"].max() == 5529.5


def test_definition_files_give_es_contract_terms(shared_data: Path) -> None:
    d = shared_data / "dbn" / "nautilus"
    defs = read_dbn(d / "futures_definition_2024-07-01.dbn.zst")
    es = defs.filter(pl.col("raw_symbol") == "ESU4").row(0, named=True)
    assert es["min_price_increment"] == 0.25
    assert es["unit_of_measure_qty"] == 50.0
    assert es["expiration"] == 1_726_839_000_000_000_000  # 2024-09-20 13:30 UTC
    assert (es["currency"], es["exchange"], es["instrument_class"]) == ("USD", "XCME", "F")
    esm3 = read_dbn(d / "definition-glbx-es-fut.dbn.zst").filter(pl.col("raw_symbol") == "ESM3")
    assert esm3["min_price_increment"].to_list()[0] == 0.25
    assert esm3["unit_of_measure_qty"].to_list()[0] == 50.0
    assert esm3["expiration"].to_list()[0] == 1_686_922_200_000_000_000  # 2023-06-16 13:30 UTC


def test_mixed_record_types_need_a_choice(tmp_path: Path, shared_data: Path) -> None:
    """A file holding definitions and MBO (as a live capture would) gives one frame per
    record type; `read_dbn` without a schema refuses to guess."""
    import databento_dbn as dbn

    d = shared_data / "dbn" / "nautilus"
    out = tmp_path / "mixed.dbn"
    defs = list(db.DBNStore.from_file(d / "futures_definition_2024-07-01.dbn.zst"))
    trades = list(
        db.DBNStore.from_file(d / "futures_trades_2024-07-01T23-58_2024-07-02T00-02.dbn.zst")
    )
    meta = dbn.Metadata(
        dataset="GLBX.MDP3",
        schema=None,
        start=0,
        stype_in=dbn.SType.RAW_SYMBOL,
        stype_out=dbn.SType.INSTRUMENT_ID,
        symbols=[],
        partial=[],
        not_found=[],
        mappings=[],
        # DBNStore hands records upgraded to DBN v3 (definitions grow from 360 to 520 bytes),
        # so the file is v3: a v1 header over them would be a lie the reader refuses.
        version=3,
    )
    with out.open("wb") as f:
        f.write(bytes(meta))
        for rec in defs + trades:
            f.write(bytes(rec))
    frames = read_dbn_frames(out)
    assert list(frames) == ["definition", "trades"]
    assert (len(frames["definition"]), len(frames["trades"])) == (2, 120)
    with pytest.raises(SchemaMismatchError, match=r"definition.*trades"):
        read_dbn(out)
    assert len(read_dbn(out, schema="trades")) == 120
