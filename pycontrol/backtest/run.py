"""Runs a backtest: resolves data and contract specs, loads signals, steps the Rust engine in
chunks (progress bar), and writes the run folder of ``docs/backtest-outputs.md``.

The engine does all per-event work in the core with the GIL released; this module only
converts inputs and writes the columns it returns.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from tqdm import tqdm

from pycontrol import _core
from pycontrol.backtest.config import (
    SEC,
    BacktestConfig,
    BacktestConfigError,
    SignalsConfig,
    expand,
)
from pycontrol.dbn import dbn_info
from pycontrol.registry.contract import DRIFT_REFERENCE_FILE

CLASS_COLUMNS = {"p_sell": -1, "p_hold": 0, "p_buy": 1}


def parse_when(text: str, what: str) -> int:
    """A ``--start``/``--end`` value as UTC ns: ``YYYY-MM-DD`` or an ISO time (naive: UTC)."""
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise BacktestConfigError(
            f"{what}: expected YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS], got {text!r}"
        ) from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return int(t.timestamp()) * 1_000_000_000 + t.microsecond * 1000


def manifest_files(root: str | Path | None) -> list[Path]:
    """The MBO DBN files recorded in the data manifest under ``root`` (the default root when
    None), oldest first."""
    from pycontrol.data.manifest import Manifest

    entries = Manifest(root).entries()
    rows = [
        e
        for e in entries.sort("ts_start").iter_rows(named=True)
        if e["format"] == "dbn" and e["schema"] == "mbo"
    ]
    return [Path(e.get("stored_path") or e["source_path"]) for e in rows]


def select_window(paths: list[Path], start_ns: int | None, end_ns: int | None) -> list[Path]:
    """The files with events inside ``[start_ns, end_ns)``. A file that overlaps the window
    only in part is kept: the engine replays it from its snapshot (its book must be whole)
    and trades only inside the window (``trade_start_ns``/``trade_end_ns``)."""
    lo = start_ns if start_ns is not None else -(2**63)
    hi = end_ns if end_ns is not None else 2**63
    if lo >= hi:
        raise BacktestConfigError("--start must be before --end")
    keep: list[Path] = []
    for p in paths:
        info = dbn_info(p)
        a, b = info["ts_event_min"], info["ts_event_max"]
        if a is None or b is None or b < lo or a >= hi:
            continue
        keep.append(p)
    if not keep:
        raise BacktestConfigError(
            f"no data file has events in {_iso(start_ns)} .. {_iso(end_ns)} (of {len(paths)} files)"
        )
    return keep


def _iso(ns: int | None) -> str:
    if ns is None:
        return "open"
    return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def data_paths(cfg: BacktestConfig) -> list[Path]:
    """The MBO files of the run; synthetic data is generated once into its cache."""
    if cfg.synth is None:
        paths = [expand(p) for p in cfg.data]
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            raise BacktestConfigError(f"data files not found: {', '.join(missing)}")
        return paths
    from pycontrol.data.synth import synth_mbo

    s = cfg.synth
    name = f"synth-{'-'.join(s.instruments)}-{s.events}-{s.seed}.mbo.dbn.zst"
    path = expand(s.cache_dir) / name
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        synth_mbo(tmp, s.events, s.seed, list(s.instruments))
        tmp.replace(path)
    return [path]


def _from_file(
    sig: SignalsConfig, symbols: dict[int, str]
) -> tuple[list[int], np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    path = expand(sig.path)
    if not path.is_file():
        raise BacktestConfigError(f"signals file not found: {path}")
    df = pl.read_parquet(path) if path.suffix == ".parquet" else pl.read_csv(path)
    bad: list[str] = []
    if "ts" not in df.columns:
        bad.append("missing column 'ts'")
    if "instrument_id" not in df.columns and "symbol" not in df.columns:
        bad.append("need an 'instrument_id' or a 'symbol' column")
    cols = [c for c in CLASS_COLUMNS if c in df.columns]
    if len(cols) < 2:
        bad.append(f"need at least two of {', '.join(CLASS_COLUMNS)}; have {df.columns}")
    if bad:
        raise BacktestConfigError(f"signals file {path}: " + "; ".join(bad))
    if df.schema["ts"] in (pl.Datetime, pl.Datetime("ns"), pl.Datetime("us"), pl.Datetime("ms")):
        df = df.with_columns(pl.col("ts").dt.epoch("ns"))
    if "instrument_id" not in df.columns:
        by_symbol = {v: k for k, v in symbols.items()}
        unknown = sorted(set(df["symbol"].to_list()) - set(by_symbol))
        if unknown:
            raise BacktestConfigError(
                f"signals file {path}: symbols not in the data: {', '.join(map(str, unknown))}"
            )
        df = df.with_columns(pl.col("symbol").replace_strict(by_symbol).alias("instrument_id"))
    # Stable sort: rows of equal ts keep the file's order.
    df = df.sort("ts", maintain_order=True)
    classes = [CLASS_COLUMNS[c] for c in cols]
    probs = df.select(cols).to_numpy().astype(np.float32)
    return (
        classes,
        df["ts"].cast(pl.UInt64).to_numpy(),
        df["instrument_id"].cast(pl.UInt32).to_numpy(),
        probs,
    )


def engine_kwargs(
    cfg: BacktestConfig, symbols: dict[int, str], definitions: Path | None
) -> dict[str, Any]:
    """The engine settings (``EngineArgs`` of the core) of a backtest config: the one set of
    keyword arguments of ``BacktestRun``, ``EngineSession`` and ``LiveEngine``. ``symbols``
    (instrument id -> symbol) resolve a signals file's symbols and the risk model's
    instruments."""
    sig = cfg.signals
    signals: dict[str, Any] = {}
    if sig.kind == "model":
        from pycontrol.inference.runtime import ensure_onnxruntime

        ensure_onnxruntime()
        if sig.path:
            signals["model_path"] = str(expand(sig.path))
        else:
            signals["model_registry"] = str(expand(sig.registry))
            signals["model_family"] = sig.family
        signals["model_prefer_native"] = sig.backend == "native"
    elif sig.kind == "placebo":
        # drawn in the engine, in event time: the same stream in a backtest and a session
        signals["placebo_interval_ns"] = int(sig.interval_s * SEC)
        signals["placebo_seed"] = sig.seed
    elif sig.kind == "pushed":
        # no signals of its own: only those pushed into the engine's inbox while it runs
        signals["signal_inbox"] = True
        signals["signal_max_age_ns"] = int(sig.max_age_s * SEC)
    else:
        classes, ts, inst, probs = _from_file(sig, symbols)
        signals.update(
            signal_classes=classes,
            signal_ts=ts.astype(np.uint64).tolist(),
            signal_instrument_id=inst.astype(np.uint32).tolist(),
            signal_probs=probs.astype(np.float32).ravel().tolist(),
            signal_max_age_ns=int(sig.max_age_s * SEC),
        )
    return {
        "definitions": str(definitions) if definitions else None,
        "fee_per_contract": float(cfg.fee_per_contract),
        "seed": cfg.seed,
        "order_latency": cfg.order_latency.to_core(),
        "feed_latency": cfg.feed_latency.to_core(),
        "initial_equity": float(cfg.initial_equity),
        "min_confidence_ensemble": float(cfg.decision.min_confidence_ensemble),
        "min_confidence_external": float(cfg.decision.min_confidence_external),
        "max_risk_score": cfg.decision.max_risk_score,
        "horizon_ns": int(cfg.decision.horizon_s * SEC),
        "kelly_fraction": float(cfg.sizing.kelly_fraction),
        "vol_target": float(cfg.sizing.vol_target),
        "stop_k": float(cfg.sizing.stop_k),
        "reward_risk": float(cfg.sizing.reward_risk),
        "max_qty": cfg.sizing.max_qty,
        "risk_limits": [(k, float(v)) for k, v in cfg.risk],
        "equity_interval_ns": max(1, int(cfg.equity_interval_s * SEC)),
        "flatten_at_end": cfg.flatten_at_end,
        "vol_halflife_s": float(cfg.vol_halflife_s),
        "vol_min_samples": cfg.vol_min_samples,
        "risk_model_json": cfg.risk_model.core_json(symbols),
        "drift_json": drift_json(cfg),
        **signals,
    }


def drift_reference_path(cfg: BacktestConfig) -> Path | None:
    """The reference the drift watch compares against: ``[drift] reference`` when given
    (it must exist), else the served model's ``drift_reference.json`` (a model folder, or
    the registry family's production version), None when that model has none."""
    if cfg.drift.reference:
        path = expand(cfg.drift.reference)
        if not path.is_file():
            raise BacktestConfigError(f"drift.reference: file not found: {path}")
        return path
    sig = cfg.signals
    if sig.kind != "model":
        return None
    if sig.path:
        folder = expand(sig.path)
    else:
        from pycontrol.registry.store import Registry

        reg = Registry(expand(sig.registry))
        folder = reg.folder(sig.family, reg.resolve(sig.family, "production"))
    path = folder / DRIFT_REFERENCE_FILE
    return path if path.is_file() else None


def drift_json(cfg: BacktestConfig) -> str | None:
    """The core's drift settings (``drift_json``), None when drift is off or the served
    model has no reference (the engine then reports "no reference")."""
    if not cfg.drift.enabled:
        return None
    path = drift_reference_path(cfg)
    if path is None:
        return None
    d = cfg.drift
    return json.dumps(
        {
            "reference_path": str(path),
            "psi_alert": float(d.psi_alert),
            "ks_alert": float(d.ks_alert),
            "window_rows": d.window_rows,
            "check_every": d.check_every,
            "reduce_on_drift": d.reduce_on_drift,
        }
    )


def config_hash(cfg: BacktestConfig) -> str:
    return hashlib.sha256(json.dumps(cfg.to_dict(), sort_keys=True).encode()).hexdigest()[:12]


def make_run(
    cfg: BacktestConfig,
    paths: list[Path] | None = None,
    window: tuple[int | None, int | None] = (None, None),
) -> tuple[Any, dict[int, str]]:
    """Builds the core backtest object (validated again by the core) over ``paths`` (the
    config's data by default), trading only inside ``window`` (UTC ns, either end open)."""
    paths = data_paths(cfg) if paths is None else paths
    defs = expand(cfg.definitions) if cfg.definitions else None
    if defs is not None and not defs.is_file():
        raise BacktestConfigError(f"definitions file not found: {defs}")
    specs = _core.instrument_specs([str(p) for p in paths], str(defs) if defs else None, 0.0)
    symbols = {int(s["instrument_id"]): str(s["symbol"]) for s in specs}
    kwargs = engine_kwargs(cfg, symbols, defs)
    if window[0] is not None:
        kwargs["trade_start_ns"] = max(0, window[0])
    if window[1] is not None:
        kwargs["trade_end_ns"] = max(0, window[1])
    run = _core.BacktestRun([str(p) for p in paths], **kwargs)
    return run, symbols


def drive(run: Any, chunk: int, total: int | None = None, progress: bool = True) -> None:
    """Steps the core to the end, `chunk` records at a time, feeding a progress bar."""
    with tqdm(total=total, unit="rec", unit_scale=True, disable=not progress) as bar:
        while True:
            n = run.step(chunk)
            if n == 0:
                break
            bar.update(n)


def _with_symbol(cols: dict[str, Any], symbols: dict[int, str]) -> pl.DataFrame:
    df = pl.DataFrame(cols)
    if "instrument_id" in df.columns:
        sym = [symbols.get(int(i), str(i)) for i in df["instrument_id"].to_list()]
        df = df.with_columns(pl.Series("symbol", sym, dtype=pl.String))
    return df


def frames(run: Any, symbols: dict[int, str]) -> dict[str, pl.DataFrame]:
    """The run's tables with the dtypes of docs/backtest-outputs.md."""
    o = run.orders()
    orders = _with_symbol(o, symbols).select(
        pl.col("ts").cast(pl.Int64),
        pl.col("client_order_id").cast(pl.UInt64),
        pl.col("intent_id").cast(pl.UInt64),
        pl.col("instrument_id").cast(pl.UInt32),
        "symbol",
        pl.col("side").cast(pl.String),
        pl.col("order_type").cast(pl.String),
        pl.col("qty").cast(pl.UInt32),
        pl.col("price").cast(pl.Float64),
        pl.col("stop_price").cast(pl.Float64),
        pl.col("leg").cast(pl.String),
        pl.col("status").cast(pl.String),
        pl.col("filled_qty").cast(pl.UInt32),
        pl.col("reject_reason").cast(pl.String),
    )
    fills = _with_symbol(run.fills(), symbols).select(
        pl.col("ts").cast(pl.Int64),
        pl.col("client_order_id").cast(pl.UInt64),
        pl.col("instrument_id").cast(pl.UInt32),
        "symbol",
        pl.col("side").cast(pl.String),
        pl.col("price").cast(pl.Float64),
        pl.col("qty").cast(pl.UInt32),
        pl.col("fee").cast(pl.Float64),
        pl.col("liquidity").cast(pl.String),
    )
    trades = _with_symbol(run.trades(), symbols).select(
        pl.col("instrument_id").cast(pl.UInt32),
        "symbol",
        pl.col("side").cast(pl.String),
        pl.col("qty").cast(pl.UInt32),
        pl.col("entry_ts").cast(pl.Int64),
        pl.col("exit_ts").cast(pl.Int64),
        pl.col("entry_price").cast(pl.Float64),
        pl.col("exit_price").cast(pl.Float64),
        pl.col("pnl").cast(pl.Float64),
        pl.col("fees").cast(pl.Float64),
        pl.col("exit_reason").cast(pl.String),
    )
    e = run.equity()
    equity = pl.DataFrame(
        {
            "ts": e["ts"].astype(np.int64),
            "equity": e["equity"],
            "position": e["position"].astype(np.int64),
            "price": e["price"],
        }
    )
    d = run.denials()
    denials = pl.DataFrame(
        {
            "ts": pl.Series(d["ts"], dtype=pl.Int64),
            "intent_id": pl.Series(d["intent_id"], dtype=pl.UInt64),
            "reason": pl.Series(d["reason"], dtype=pl.String),
            "detail": pl.Series(d["detail"], dtype=pl.String),
        }
    )
    h = run.holds()
    holds = pl.DataFrame(
        {
            "minute": pl.Series(h["minute"], dtype=pl.Int64),
            "reason": pl.Series(h["reason"], dtype=pl.String),
            "count": pl.Series(h["count"], dtype=pl.UInt64),
        }
    )
    return {
        "orders": orders,
        "fills": fills,
        "trades": trades,
        "equity": equity,
        "denials": denials,
        "holds": holds,
    }


def run_info(
    cfg: BacktestConfig,
    paths: list[Path],
    tele: dict[str, Any],
    window: tuple[int | None, int | None],
) -> dict[str, Any]:
    """``run.json``: what produced the run (the report header and ``pycontrol runs`` read it):
    code commit, config hash, each data file with its sha256 and event range, instruments,
    the model version the engine served, the requested window."""
    from pycontrol.data.manifest import sha256_file
    from pycontrol.runs.provenance import code_commit, now_utc

    data = []
    for p in paths:
        info = dbn_info(p)
        data.append(
            {
                "path": str(p),
                "sha256": sha256_file(p),
                "bytes": p.stat().st_size,
                "schema": info["schema"],
                "ts_start": info["ts_event_min"],
                "ts_end": info["ts_event_max"],
            }
        )
    sig = cfg.signals
    model: dict[str, Any] = {"signals": sig.kind}
    if sig.kind == "model":
        model.update(
            family=sig.family or None,
            registry=str(expand(sig.registry)) if sig.registry else None,
            path=str(expand(sig.path)) if sig.path else None,
            version=(tele.get("model") or {}).get("version"),
            backend=sig.backend,
        )
    elif sig.kind == "placebo":
        model.update(interval_s=sig.interval_s, seed=sig.seed)
    else:
        model.update(path=str(expand(sig.path)))
    return {
        "kind": "backtest",
        "name": cfg.name,
        "created": now_utc(),
        "code_commit": code_commit(),
        "config_hash": config_hash(cfg),
        "data": data,
        "instruments": tele.get("symbols", {}),
        "model": model,
        "window": {"start": window[0], "end": window[1]},
    }


def trial_count(cfg: BacktestConfig, model: dict[str, Any]) -> tuple[int, str]:
    """How many configurations the deflated Sharpe deflates for, and where that comes from.
    A model served from a registry or an export folder carries its family's trial ledger
    count at training (its manifest's ``lineage.trial_count``): every model the family
    compared is a trial of this backtest too, so the config's ``n_trials`` can only add to
    it, never replace it."""
    if model.get("signals") != "model":
        return cfg.n_trials, "config n_trials"
    from pycontrol.registry.contract import load_manifest
    from pycontrol.registry.store import Registry

    try:
        if model.get("registry") and model.get("family") and model.get("version"):
            folder = Registry(model["registry"]).folder(model["family"], model["version"])
        elif model.get("path"):
            folder = Path(model["path"])
        else:
            return cfg.n_trials, "config n_trials (no model version recorded)"
        ledger = int(load_manifest(folder).get("lineage", {}).get("trial_count") or 0)
    except (OSError, ValueError, KeyError, _core.CoreError) as e:
        return cfg.n_trials, f"config n_trials (the model's manifest: {type(e).__name__})"
    if ledger <= 0:
        return cfg.n_trials, "config n_trials (the model's manifest has no trial count)"
    n = max(ledger, cfg.n_trials)
    return n, f"the family's trial ledger at training ({ledger} trials)"


def _finish_reports(folder: Path, cfg: BacktestConfig) -> None:
    """metrics.json and report.html (pycontrol.backtest.metrics / report) from the files,
    deflated for the trials behind the model (:func:`trial_count`)."""
    from pycontrol.backtest.report import write_report

    info = json.loads((folder / "run.json").read_text())
    n, source = trial_count(cfg, info.get("model") or {})
    write_report(folder, n_trials=n, n_trials_source=source)


def run_backtest(
    cfg: BacktestConfig,
    out: str | Path | None = None,
    run_id: str | None = None,
    progress: bool = True,
    *,
    start_ns: int | None = None,
    end_ns: int | None = None,
    paths: list[Path] | None = None,
) -> Path:
    """Runs ``cfg`` and writes ``<out>/<run_id>/``; returns the folder. ``paths`` replaces the
    config's data (e.g. files of the data manifest); ``start_ns``/``end_ns`` keep the files
    with events in that window (:func:`select_window`), and the engine trades only inside it."""
    paths = data_paths(cfg) if paths is None else paths
    if start_ns is not None or end_ns is not None:
        paths = select_window(paths, start_ns, end_ns)
    run, symbols = make_run(cfg, paths, (start_ns, end_ns))
    total = sum(int(dbn_info(p)["records"]) for p in paths)
    drive(run, cfg.chunk_records, total, progress)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    rid = run_id or f"{cfg.name}_{stamp}_{config_hash(cfg)}"
    folder = expand(str(out or cfg.out)) / rid
    folder.mkdir(parents=True, exist_ok=True)
    for name, df in frames(run, symbols).items():
        df.write_parquet(folder / f"{name}.parquet")
    np.save(folder / "latency.npy", np.asarray(run.latency(), dtype=np.int64))
    (folder / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2, sort_keys=True))
    tele = run.telemetry()
    tele["symbols"] = {str(k): v for k, v in symbols.items()}
    tele["config_hash"] = config_hash(cfg)
    (folder / "telemetry.json").write_text(json.dumps(tele, indent=2, sort_keys=True))
    info = run_info(cfg, paths, tele, (start_ns, end_ns))
    info["run_id"] = rid
    (folder / "run.json").write_text(json.dumps(info, indent=2) + "\n")
    _finish_reports(folder, cfg)
    return folder
