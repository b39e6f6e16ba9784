"""Peer comparison of MBO book replay, all in one process on the same DBN file.

Times `pycontrol.replay_book(path, levels=1)` (our Rust core, from the .dbn.zst file to a
polars DataFrame) against databento's `DBNStore.to_df`, nautilus_trader's Databento loader
plus its L3 `OrderBook` (every delta applied), and hftbacktest's Databento conversion plus
its L3 market-depth replay (the two steps timed separately). Every figure is in records of
the input file per second, so stages that drop records (nautilus drops trades) stay
comparable. Each case is warmed up once, then repeated; best and median are reported.

Beside speed it checks correctness: at every F_LAST record our BBO (price and level size,
both sides) must equal the nautilus_trader L3 book's BBO. It prints a table and a summary
line, and writes everything as JSON under bench/results/ (git-ignored).

Run with `make bench`, or `.venv-bench/bin/python bench/peers/book_peers.py --help`.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = Path(os.environ.get("SHARED_DATA", REPO.parent / "shared" / "data"))
DEFAULT_FILE = SHARED_DATA / "dbn" / "nautilus" / "esh4-glbx-mdp3-20231225.mbo.dbn.zst"
F_LAST = 128

# The peers live in their own virtualenv (.venv-bench, see bench/requirements-peers.txt);
# pycontrol is imported from the repo, where `make setup` built its extension in place.
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def timed(fn: Callable[[], Any], repeat: int, warmup: int = 1) -> dict[str, Any]:
    """Wall and CPU seconds of `fn` over `repeat` runs after `warmup` runs."""
    for _ in range(warmup):
        fn()
    wall, cpu = [], []
    for _ in range(repeat):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return {
        "best_s": min(wall),
        "median_s": statistics.median(wall),
        "cpu_median_s": statistics.median(cpu),
        "runs": wall,
    }


def machine() -> dict[str, Any]:
    model = platform.processor()
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        model = next(
            (ln.split(":", 1)[1].strip() for ln in out.splitlines() if ln.startswith("Model name")),
            model,
        )
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "loadavg": os.getloadavg(),
    }


# --- the cases -------------------------------------------------------------------------


def case_ours(path: Path) -> Callable[[], Any]:
    import pycontrol.book as book

    return lambda: book.replay_book(path, levels=1)


def case_ours_columns(path: Path) -> Callable[[], Any]:
    from pycontrol import _core

    return lambda: _core.replay_book(str(path), 1)


def case_zstd(path: Path) -> Callable[[], Any]:
    import zstandard

    raw = path.read_bytes()

    def run() -> int:
        with zstandard.ZstdDecompressor().stream_reader(raw) as r:
            return len(r.read())

    return run


def case_databento(path: Path) -> Callable[[], Any]:
    import databento as db

    return lambda: db.DBNStore.from_file(path).to_df()


def nautilus_load(path: Path, legacy: bool) -> list[Any]:
    from nautilus_trader.adapters.databento.loaders import DatabentoDataLoader

    return DatabentoDataLoader().from_dbn_file(path, as_legacy_cython=legacy)


def nautilus_apply(deltas: list[Any], legacy: bool) -> Any:
    if legacy:
        from nautilus_trader.model.book import OrderBook
        from nautilus_trader.model.enums import BookType

        book = OrderBook(deltas[0].instrument_id, BookType.L3_MBO)
    else:
        from nautilus_trader.core import nautilus_pyo3 as n

        book = n.OrderBook(deltas[0].instrument_id, n.BookType.L3_MBO)
    apply = book.apply_delta
    for d in deltas:
        apply(d)
    return book


def hbt_convert(path: Path) -> np.ndarray:
    from hftbacktest.data.utils import databento as hdb

    with contextlib.redirect_stdout(io.StringIO()):  # it prints its progress
        return hdb.convert(str(path), None)


def hbt_replay(events: np.ndarray) -> tuple[float, float, float, float]:
    """hftbacktest's L3 replay: a backtest with the L3 FIFO queue model run to the end."""
    from hftbacktest import BacktestAsset, HashMapMarketDepthBacktest

    asset = (
        BacktestAsset()
        .data(events)
        .linear_asset(1.0)
        .constant_order_latency(0, 0)
        .l3_fifo_queue_model()
        .no_partial_fill_exchange()
        .trading_qty_fee_model(0.0, 0.0)
        .tick_size(0.25)
        .lot_size(1.0)
    )
    hbt = HashMapMarketDepthBacktest([asset])
    hbt._goto_end()
    d = hbt.depth(0)
    bbo = (d.best_bid, d.best_bid_qty, d.best_ask, d.best_ask_qty)
    hbt.close()
    return bbo


# --- correctness -----------------------------------------------------------------------


def bbo_check(path: Path) -> dict[str, Any]:
    """Our BBO against the nautilus_trader L3 book's at every F_LAST record of the file."""
    import databento as db

    import pycontrol.book as book

    recs = db.DBNStore.from_file(path).to_ndarray()
    actions = recs["action"].astype("U1")
    flags = recs["flags"]
    ours_df = book.replay_book(path, levels=1)
    ours = ours_df.select("bid_px_00", "bid_sz_00", "ask_px_00", "ask_sz_00").to_numpy()
    ours = ours.astype(float)

    from nautilus_trader.core import nautilus_pyo3 as n

    deltas = nautilus_load(path, legacy=False)
    # The loader turns every record but trades into one delta, in file order.
    if len(deltas) != int((actions != "T").sum()):
        raise RuntimeError("nautilus deltas do not map one-to-one onto non-trade records")
    nbook = n.OrderBook(deltas[0].instrument_id, n.BookType.L3_MBO)
    theirs, at = [], []
    j = 0
    for i in range(len(recs)):
        if actions[i] != "T":
            nbook.apply_delta(deltas[j])
            j += 1
        if flags[i] & F_LAST:
            # Level totals: nautilus' best_bid_size() is the first order's size, not the level's.
            b, a = nbook.bids(1), nbook.asks(1)
            theirs.append(
                (
                    float(b[0].price) if b else np.nan,
                    float(b[0].size()) if b else 0.0,
                    float(a[0].price) if a else np.nan,
                    float(a[0].size()) if a else 0.0,
                )
            )
            at.append(i)
    nat = np.array(theirs)
    if len(nat) != len(ours):
        raise RuntimeError(f"{len(ours)} boundaries from us, {len(nat)} F_LAST records in file")
    same = (ours == nat) | (np.isnan(ours) & np.isnan(nat))
    bad = np.nonzero(~same.all(axis=1))[0]
    crossed = ours_df["crossed"].to_numpy()
    nat_crossed = nat[:, 0] >= nat[:, 2]
    return {
        "boundaries": len(ours),
        "differ": len(bad),
        "differ_price": int((~(same[:, 0] & same[:, 2])).sum()),
        "differ_size": int((~(same[:, 1] & same[:, 3])).sum()),
        "first_differences": [
            {"record": int(at[k]), "ours": ours[k].tolist(), "nautilus": nat[k].tolist()}
            for k in bad[:10]
        ],
        "crossed_boundaries_ours": int(crossed.sum()),
        "crossed_boundaries_nautilus": int(nat_crossed.sum()),
        "fills": fill_analysis(recs, actions, flags),
    }


def fill_analysis(recs: np.ndarray, actions: np.ndarray, flags: np.ndarray) -> dict[str, int]:
    """What follows each Fill record inside its event: nautilus maps F to an UPDATE with the
    fill quantity as the order's new size, which is only harmless if a C or M for the same
    order closes the event."""
    oid = recs["order_id"]
    ends = np.nonzero(flags & F_LAST)[0]
    end_of = np.searchsorted(ends, np.arange(len(recs)))
    out: collections.Counter[str] = collections.Counter()
    for i in np.nonzero(actions == "F")[0]:
        out["fills"] += 1
        if end_of[i] >= len(ends):
            out["fill_after_last_boundary"] += 1
            continue
        e = ends[end_of[i]]
        nxt = [actions[k] for k in range(i + 1, e + 1) if oid[k] == oid[i] and actions[k] in "CM"]
        out["fill_then_C_or_M_same_order_same_event" if nxt else "fill_not_closed_in_event"] += 1
    return dict(out)


# --- main ------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--file", type=Path, default=DEFAULT_FILE, help="MBO .dbn or .dbn.zst file")
    ap.add_argument("--repeat", type=int, default=7, help="timed runs per case (after 1 warm-up)")
    ap.add_argument("--convert-repeat", type=int, default=2, help="runs of hftbacktest convert")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    ap.add_argument("--skip-check", action="store_true", help="skip the BBO check vs nautilus")
    args = ap.parse_args()
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    path = args.file.resolve()
    if not path.is_file():
        print(f"bench data not found: {path} (set SHARED_DATA or --file)", file=sys.stderr)
        return 2

    import databento as db

    n_records = db.DBNStore.from_file(path).to_ndarray().shape[0]
    mach = machine()
    print(f"file: {path} ({n_records:,} records, {path.stat().st_size:,} B)")
    print(f"machine: {mach['cpu']}, {mach['cores']} cores, load average {mach['loadavg']}")

    r, rc = args.repeat, args.convert_repeat
    results: dict[str, dict[str, Any]] = {}

    def run(name: str, peer: str, stage: str, fn: Callable[[], Any], rep: int = r) -> None:
        res = timed(fn, rep, warmup=1 if rep > 1 else 0)
        res.update(peer=peer, stage=stage, mrec_s_best=n_records / res["best_s"] / 1e6)
        res["mrec_s_median"] = n_records / res["median_s"] / 1e6
        results[name] = res
        print(f"  {name:<24} {res['mrec_s_best']:7.2f} M rec/s (best of {rep})", flush=True)

    run("ours", "pycontrol", "replay_book(levels=1): .zst -> L3 -> DataFrame", case_ours(path))
    run(
        "ours_columns",
        "pycontrol",
        "_core.replay_book: same, numpy columns",
        case_ours_columns(path),
    )
    run("zstd_python", "zstandard", "zstd decompression alone (floor)", case_zstd(path))
    run("databento_to_df", "databento", "DBNStore.from_file().to_df()", case_databento(path))

    run(
        "nautilus_load",
        "nautilus_trader",
        "loader -> pyo3 deltas",
        lambda: nautilus_load(path, False),
    )
    run(
        "nautilus_load_cy",
        "nautilus_trader",
        "loader -> Cython deltas",
        lambda: nautilus_load(path, True),
    )
    deltas_py, deltas_cy = nautilus_load(path, False), nautilus_load(path, True)
    run(
        "nautilus_book",
        "nautilus_trader",
        "L3 OrderBook (pyo3), apply every delta",
        lambda: nautilus_apply(deltas_py, False),
    )
    run(
        "nautilus_book_cy",
        "nautilus_trader",
        "L3 OrderBook (Cython), apply every delta",
        lambda: nautilus_apply(deltas_cy, True),
    )

    run(
        "hftbacktest_convert",
        "hftbacktest",
        "databento.convert (DBN -> events)",
        lambda: hbt_convert(path),
        rc,
    )
    events = hbt_convert(path)
    run(
        "hftbacktest_replay",
        "hftbacktest",
        "L3 FIFO backtest run to end (HashMap depth)",
        lambda: hbt_replay(events),
    )

    # End to end for the peers: best load + best book stage (each measured alone above).
    best = lambda *ks: min(ks, key=lambda k: results[k]["best_s"])  # noqa: E731
    nl, nb = best("nautilus_load", "nautilus_load_cy"), best("nautilus_book", "nautilus_book_cy")
    e2e = {
        "nautilus_end_to_end": (nl, nb),
        "hftbacktest_end_to_end": ("hftbacktest_convert", "hftbacktest_replay"),
    }
    for name, (a, b) in e2e.items():
        s = results[a]["best_s"] + results[b]["best_s"]
        results[name] = {
            "peer": results[a]["peer"],
            "stage": f"{a} + {b}",
            "best_s": s,
            "mrec_s_best": n_records / s / 1e6,
        }

    ours_s = results["ours"]["best_s"]
    for res in results.values():
        res["ours_speedup"] = res["best_s"] / ours_s
    book_peers = ["nautilus_book", "nautilus_book_cy", "hftbacktest_replay"]
    fastest = min(book_peers, key=lambda k: results[k]["best_s"])

    print()
    print(f"{'case':<24} {'stage':<48} {'M rec/s':>8} {'median':>8} {'ours x':>7}")
    for name, res in results.items():
        med = res.get("mrec_s_median")
        med_s = f"{med:8.2f}" if med is not None else f"{'':>8}"
        print(
            f"{name:<24} {res['stage'][:48]:<48} {res['mrec_s_best']:8.2f} {med_s} "
            f"{res['ours_speedup']:7.2f}"
        )
    ratio = results[fastest]["best_s"] / ours_s
    print(
        f"\nours {results['ours']['mrec_s_best']:.2f} M rec/s from .dbn.zst; fastest peer book "
        f"stage {fastest} {results[fastest]['mrec_s_best']:.2f} M rec/s; ours is {ratio:.2f}x "
        f"(target >= 3x, >= 12 M rec/s)"
    )

    check: dict[str, Any] | None = None
    if not args.skip_check:
        check = bbo_check(path)
        verdict = "EQUAL" if check["differ"] == 0 else "DIFFER"
        print(
            f"BBO check vs nautilus_trader L3 at every F_LAST: {check['boundaries']:,} boundaries, "
            f"{check['differ']} differ ({check['differ_price']} in price, {check['differ_size']} "
            f"in size) -> {verdict}; crossed boundaries ours {check['crossed_boundaries_ours']}, "
            f"nautilus {check['crossed_boundaries_nautilus']}; fills {check['fills']}"
        )
        for d in check["first_differences"]:
            print(f"  record {d['record']}: ours {d['ours']} nautilus {d['nautilus']}")
    hbt_bbo = hbt_replay(events)
    final = case_ours(path)().select("bid_px_00", "bid_sz_00", "ask_px_00", "ask_sz_00").row(-1)
    print(f"final BBO: ours {tuple(float(x) for x in final)}, hftbacktest {hbt_bbo}")

    args.out.mkdir(parents=True, exist_ok=True)
    report = {
        "file": str(path),
        "records": n_records,
        "machine": mach | {"loadavg_end": os.getloadavg()},
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "results": results,
        "fastest_peer_book_stage": fastest,
        "ours_vs_fastest_peer": ratio,
        "bbo_check": check,
        "final_bbo": {"ours": list(map(float, final)), "hftbacktest": list(hbt_bbo)},
    }
    for name in (f"book_peers-{report['when'].replace(':', '')}.json", "book_peers.json"):
        (args.out / name).write_text(json.dumps(report, indent=2))
    print(f"results: {args.out / 'book_peers.json'}")
    return 0 if check is None or check["differ"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
