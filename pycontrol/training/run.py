"""One training run of a family, end to end: dataset, baselines, members over seeds on the
purged walk-forward, the stacking meta-learner, exports with parity, report, tracking.

The run folder ``<runs>/<family>/<run_id>/`` holds ``config.toml`` (as given),
``resolved.json`` (every default filled in, plus the splitter), ``metrics.json``,
``oof.parquet`` (out-of-fold probabilities, long format), ``report.html``,
``tracking.json`` and ``export/<member>/`` per exported model (``export/stacking/`` for
the meta-learner).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from tqdm import tqdm

from pycontrol.registry import trials as ledger
from pycontrol.training import calibration, drift_reference
from pycontrol.training.baselines import BaselineReport, evaluate_baselines
from pycontrol.training.config import TrainConfig
from pycontrol.training.dataset import Dataset, build_dataset, input_sha256, load_model_bars
from pycontrol.training.evaluate import (
    ModelEval,
    metrics_block,
    stack_walk_forward,
    walk_forward,
)
from pycontrol.training.export import (
    code_commit,
    input_bounds,
    model_id,
    run_parity,
    write_manifest,
)
from pycontrol.training.families import FAMILIES, Family
from pycontrol.training.models import make_member, member_lookback
from pycontrol.training.pnl import horizon_pnl, rank_ic, signals, trading_block
from pycontrol.training.report import render, report_header, signal_quality
from pycontrol.training.stacking import Stacker
from pycontrol.training.tracking import log_run, tracking_uri

Arr = np.ndarray[Any, Any]
Fold = tuple[Arr, Arr]


@dataclass(frozen=True)
class RunResult:
    folder: Path
    metrics: dict[str, Any]
    manifests: dict[str, dict[str, Any]]
    mlflow_run_id: str | None
    seconds: float

    @property
    def parity_passed(self) -> bool:
        return all(m["parity"]["passed"] for m in self.manifests.values())


def _resolved(config: TrainConfig, ds: Dataset, splitter: dict[str, Any]) -> dict[str, Any]:
    def plain(v: Any) -> Any:
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, tuple | list):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v

    out = {k: v for k, v in plain(config).items() if k not in ("raw",)}
    out["splitter"] = splitter
    out["dataset"] = {
        "bars": ds.bars.height,
        "usable_rows": len(ds.rows),
        "first_row_ts": str(ds.bars["ts"][int(ds.rows[0])]),
        "last_row_ts": str(ds.bars["ts"][int(ds.rows[-1])]),
        "timeframe": ds.timeframe,
        "lookback": ds.lookback,
        "n_features": len(ds.names),
        "feature_set_hash": ds.feature_set.hash,
        "classes": ds.classes.tolist(),
        "data_sha256": ds.data_sha256,
    }
    return out


def _renumber(report: BaselineReport, folds: tuple[int, ...]) -> BaselineReport:
    """Baselines run on a subset of folds, numbered like the full walk-forward."""
    k = np.asarray(folds)[report.per_fold["fold"].to_numpy()]
    return dataclasses.replace(report, per_fold=report.per_fold.with_columns(pl.Series("fold", k)))


def _oof_frame(ds: Dataset, folds: list[Fold], evals: dict[str, ModelEval]) -> pl.DataFrame:
    fold_of = np.full(len(ds.rows), -1)
    for k, (_, test) in enumerate(folds):
        fold_of[test] = k
    parts = []
    for name, ev in evals.items():
        for seed, p in ev.oof.items():
            ok = np.flatnonzero(np.isfinite(p).all(axis=1))
            cols: dict[str, Any] = {
                "ts": ds.bars["ts"].gather(ds.rows[ok]),
                "bar": ds.rows[ok],
                "fold": fold_of[ok],
                "y": ds.y[ok],
                "model": [name] * len(ok),
                "seed": np.full(len(ok), seed),
            }
            cols |= {f"p_{c}": p[ok, j] for j, c in enumerate(ds.classes)}
            parts.append(pl.DataFrame(cols))
    return pl.concat(parts)


def _calibration(
    ev: ModelEval, y: Arr, classes: Arr, folds: list[Fold], method: str
) -> dict[str, Any]:
    """ECE and Brier of the out-of-fold probabilities, raw and walk-forward calibrated
    (members; the meta-learner is a logistic model already and ships uncalibrated), mean
    over seeds, beside the Brier of the scored rows' base rates (climatology)."""
    rows = np.concatenate([folds[k][1] for k in ev.folds])
    base = np.array([np.mean(y[rows] == c) for c in classes])
    out: dict[str, Any] = {
        "method": method,
        "ece_raw": float(
            np.mean([calibration.ece(p[rows], y[rows], classes) for p in ev.oof.values()])
        ),
        "brier_raw": float(
            np.mean([calibration.brier(p[rows], y[rows], classes) for p in ev.oof.values()])
        ),
        "brier_climatology": calibration.brier(np.tile(base, (len(rows), 1)), y[rows], classes),
    }
    if method == "none":
        out |= {"ece": out["ece_raw"], "brier": out["brier_raw"], "folds": list(ev.folds)}
        return out
    eces: list[float] = []
    briers: list[float] = []
    done: list[int] = []
    for p in ev.oof.values():
        cal, done = calibration.walk_forward(p, y, classes, folds, ev.folds)
        r = np.concatenate([folds[k][1] for k in done])
        eces.append(calibration.ece(cal[r], y[r], classes))
        briers.append(calibration.brier(cal[r], y[r], classes))
    # the calibrated figures cover the folds with earlier rows to fit on (not fold 0)
    out |= {"ece": float(np.mean(eces)), "brier": float(np.mean(briers)), "folds": done}
    return out


def _trading(
    config: TrainConfig, family: Family, ds: Dataset, folds: list[Fold], evals: dict[str, ModelEval]
) -> tuple[dict[str, dict[str, Any]], dict[str, tuple[Arr, Arr]], dict[str, dict[str, Any]]]:
    """Per model: the horizon-held USD P&L over every seed (:mod:`pycontrol.training.pnl`),
    and the report's equity curves (seed mean) and strategy rows, with always-long beside."""
    c = config.costs
    h = int(config.labels.horizon)
    close = ds.bars["close"].cast(pl.Float64).to_numpy()
    ts = ds.bars["ts"]
    ahead = np.minimum(ds.rows + h, len(close) - 1)
    fwd = np.where(ds.rows + h < len(close), close[ahead] - close[ds.rows], np.nan)
    trading: dict[str, dict[str, Any]] = {}
    equity: dict[str, tuple[Arr, Arr]] = {}
    strategy: dict[str, dict[str, Any]] = {}

    def book(sig: Arr, rows: Arr) -> Any:
        return horizon_pnl(sig, ds.rows[rows], close, ts, h, c.point_value, c.half_spread, c.fees)

    for name, ev in evals.items():
        rows = np.concatenate([folds[k][1] for k in ev.folds])
        per_seed = {}
        for seed, oof in ev.oof.items():
            p = oof[rows]
            sig = signals(p, ds.classes, family.up, family.down, c.threshold)
            per_seed[seed] = (
                book(sig, rows),
                rank_ic(p, ds.classes, family.up, family.down, fwd[rows]),
            )
        trading[name] = trading_block(per_seed, h, c.point_value)
        first = next(iter(per_seed.values()))[0]
        equity[name] = (
            ts.gather(first.bars).to_numpy(),
            np.mean([hp.net for hp, _ in per_seed.values()], axis=0),
        )
        strategy[name] = {
            "net_pnl": trading[name]["net_usd"],
            "net_pnl_std": trading[name]["net_usd_std"],
            "changes": float(
                np.mean(
                    [np.abs(np.diff(hp.position, prepend=0.0)).sum() for hp, _ in per_seed.values()]
                )
            ),
            "bars_in_market": float(
                np.mean([(hp.position != 0).sum() for hp, _ in per_seed.values()])
            ),
            "threshold": c.threshold,
            "cost_per_change": (c.half_spread + c.fees / 2) * c.point_value,
            "seeds": list(per_seed),
            "folds": list(ev.folds),
        }
    rows = np.concatenate([te for _, te in folds])
    long = book(np.ones(len(rows)), rows)
    equity["baseline: always long"] = (ts.gather(long.bars).to_numpy(), long.net)
    strategy["baseline: always long"] = {
        "net_pnl": long.net_usd,
        "net_pnl_std": 0.0,
        "changes": float(np.abs(np.diff(long.position, prepend=0.0)).sum()),
        "bars_in_market": int((long.position != 0).sum()),
        "threshold": None,
        "cost_per_change": (c.half_spread + c.fees / 2) * c.point_value,
        "seeds": None,
        "folds": list(range(len(folds))),
    }
    return trading, equity, strategy


def train(
    config: TrainConfig,
    runs_root: Path = Path("runs"),
    *,
    data_root: Path | None = None,
    progress: bool = True,
    tracking: bool | None = None,
) -> RunResult:
    """Runs ``config`` end to end and writes its run folder under ``runs_root``."""
    t0 = time.monotonic()
    family: Family = FAMILIES[config.family]
    bars, path = load_model_bars(config.data, data_root)
    lookback = max(member_lookback(m.kind, m.params) for m in config.models)
    ds = build_dataset(bars, config, lookback=lookback, data_sha256=input_sha256(path))
    splitter = ds.splitter(config)
    n, n_classes = len(ds.rows), len(ds.classes)
    folds: list[Fold] = list(splitter.split(n))
    X = ds.features[ds.rows]
    stacking = config.stacking.enabled and len(config.models) >= 2
    total = len(config.models) * (len(config.seeds) * len(folds) + 1) + int(stacking)
    bar = tqdm(total=total, desc=config.family, unit="fit", disable=not progress)

    base_all = evaluate_baselines(X, ds.y, folds, last_return=ds.last_return, seed=config.seeds[0])
    evals: dict[str, ModelEval] = {}
    for m in config.models:

        def fit_predict(seed: int, train: Arr, test: Arr, m: Any = m) -> Arr:
            member = make_member(m.kind, m.params, ds.classes, seed)
            member.fit(ds.features, ds.rows[train], ds.y[train])
            return member.predict_proba(ds.features, ds.rows[test])

        bar.set_postfix_str(m.name)
        oof = walk_forward(fit_predict, n, n_classes, folds, config.seeds, lambda: bar.update())
        evals[m.name] = ModelEval(m.name, m.kind, oof, tuple(range(len(folds))))
    metrics = {
        name: metrics_block(ev, ds.y, ds.classes, folds, base_all) for name, ev in evals.items()
    }
    notes = [
        f"{ds.bars.height} {ds.timeframe} bars, {n} usable rows (warm-up and unlabelled rows "
        f"dropped), {len(ds.names)} features, classes {ds.classes.tolist()}, "
        f"{len(folds)} purged walk-forward folds, seeds {list(config.seeds)}."
    ]
    if stacking:
        stack_oof: dict[int, Arr] = {}
        scored: tuple[int, ...] = ()
        for seed in config.seeds:
            stack_oof[seed], scored = stack_walk_forward(
                [evals[m.name].oof[seed] for m in config.models],
                ds.y,
                ds.classes,
                folds,
                config.stacking.recent,
                config.stacking.C,
            )
        if scored:
            evals["stacking"] = ModelEval("stacking", "stacking", stack_oof, scored)
            base_stack = _renumber(
                evaluate_baselines(
                    X,
                    ds.y,
                    [folds[k] for k in scored],
                    last_return=ds.last_return,
                    seed=config.seeds[0],
                ),
                scored,
            )
            metrics["stacking"] = metrics_block(
                evals["stacking"], ds.y, ds.classes, folds, base_stack
            )
            notes.append(
                f"stacking is scored on folds {list(scored)} (fold 0 has no earlier out-of-fold "
                "rows to fit it on); its baselines are rerun on those folds."
            )
        else:
            stacking = False
            notes.append("stacking skipped: no fold has earlier out-of-fold rows")

    created = datetime.now(UTC).replace(microsecond=0)
    # a config built in memory has no file: hash its canonical JSON instead
    cfg_hash = (
        config.source_sha256
        or hashlib.sha256(json.dumps(config.raw, sort_keys=True, default=str).encode()).hexdigest()
    )
    run_id = f"{created.strftime('%Y%m%dT%H%M%SZ')}-{cfg_hash[:8]}"
    folder = runs_root / config.family / run_id
    (folder / "export").mkdir(parents=True, exist_ok=False)
    export_seed = config.seeds[0]
    trading, equity, strategy = _trading(config, family, ds, folds, evals)
    # Every model compared in this run is a trial of the family; the ledger (all runs so
    # far, this one included) is the only source of the trial count, the DSR and the PBO.
    params = {m.name: (m.kind, dict(m.params)) for m in config.models}
    params["stacking"] = ("stacking", {"recent": config.stacking.recent, "C": config.stacking.C})
    trials = ledger.append_trials(
        ledger.ledger_path(runs_root, config.family),
        [
            ledger.trial_record(
                family=config.family,
                run_id=run_id,
                model=name,
                kind=params[name][0],
                params=params[name][1],
                config_sha256=cfg_hash,
                data_sha256=ds.data_sha256,
                feature_set_hash=ds.feature_set.hash,
                seeds=config.seeds,
                days=trading[name]["daily"]["day"],
                daily_net_usd=trading[name]["daily"]["net_usd"],
            )
            for name in evals
        ],
    )
    pbo = ledger.pbo_from_trials(trials)
    for name in evals:
        block = {k: v for k, v in trading[name].items() if k != "daily"}
        block |= ledger.deflated(trading[name]["daily"]["net_usd"], trials)
        block["pbo"] = pbo
        metrics[name]["aggregate"]["trading"] = block
    lineage = {
        "data": ds.data_sha256,
        "code_commit": code_commit(),
        "config": {"path": config.source, "sha256": cfg_hash},
        "splitter": splitter.params(),
        "trial_count": len(trials),
    }
    fs_block = {"hash": ds.feature_set.hash, "names": ds.names, "timeframe": ds.timeframe}
    class_names = [family.class_names[int(c)] for c in ds.classes]
    manifests: dict[str, dict[str, Any]] = {}
    importance: dict[str, dict[str, float]] = {}

    def finish(
        name: str,
        kind: str,
        info: dict[str, Any],
        bounds: dict[str, Any],
        par: dict[str, Any],
        sequence: Any,
        members: Any,
        feature_set: dict[str, Any] = fs_block,
    ) -> None:
        manifests[name] = write_manifest(
            folder / "export" / name,
            family=config.family,
            model_id=model_id(config.family, kind, created, f"{run_id}/{name}"),
            created=created,
            kind=kind,
            classes=class_names,
            class_values=ds.classes.tolist(),
            feature_set=feature_set,
            onnx_info=info,
            sequence=sequence,
            members=members,
            bounds=bounds,
            max_age_days=config.export.max_age_days,
            metrics=metrics[name],
            seeds=config.seeds,
            lineage=lineage,
            parity_result=par,
        )

    # The exports are fit on the last fold's training rows (purged and embargoed from its
    # test rows) and their parity runs on that fold's test rows: rows the export never saw.
    fit_rows, held_rows = folds[-1]
    ts_rows = ds.bars["ts"].gather(ds.rows)
    export_rows = {
        "fit": {"n": len(fit_rows), "last_ts": str(ts_rows[int(fit_rows[-1])])},
        "parity": {"n": len(held_rows), "first_ts": str(ts_rows[int(held_rows[0])])},
    }
    # Calibrators of the exported members: method chosen on inner folds of the export
    # seed's out-of-fold rows before the last fold's training end, fitted on those rows.
    calibrators: dict[str, calibration.Calibrator] = {}
    for m in config.models:
        p = evals[m.name].oof[export_seed]
        cal_rows = np.flatnonzero(np.isfinite(p).all(axis=1))
        cal_rows = cal_rows[cal_rows <= int(fit_rows[-1])]
        allowed = getattr(make_member(m.kind, m.params, ds.classes, 0), "calibrations", None)
        method = calibration.choose(
            p[cal_rows], ds.y[cal_rows], ds.classes, methods=allowed or ("platt", "isotonic")
        )
        calibrators[m.name] = calibration.Calibrator.fit(
            method, p[cal_rows], ds.y[cal_rows], ds.classes
        )
    for name, ev in evals.items():
        shipped = calibrators[name].method if name in calibrators else "none"
        metrics[name]["aggregate"]["calibration"] = _calibration(
            ev, ds.y, ds.classes, folds, shipped
        )
    if config.export.enabled:
        for m in config.models:
            bar.set_postfix_str(f"export {m.name}")
            member = make_member(m.kind, m.params, ds.classes, export_seed)
            member.fit(ds.features, ds.rows[fit_rows], ds.y[fit_rows])
            out = folder / "export" / m.name
            out.mkdir()
            info = member.export(out)
            cal = calibrators[m.name]
            calibration.append_to_onnx(out / "model.onnx", cal, ds.classes.tolist())
            (out / "calibration.json").write_text(json.dumps(cal.describe()) + "\n")
            # the native tree dump would serve uncalibrated probabilities: ONNX only
            if info.get("native"):
                (out / str(info["native"])).unlink()
            info["native"] = None

            def calibrated(x: Arr, member: Any = member, cal: Any = cal) -> Arr:
                return np.asarray(cal.apply(member.proba_from_inputs(x)))

            # over every bar some training input reads (a window reads lookback - 1 back),
            # without materialising the windows
            lb = int(member.sequence["lookback"]) if member.sequence else 1
            fit_bars = ds.rows[fit_rows]
            covered = np.unique((fit_bars[:, None] - np.arange(lb)[None, :]).ravel())
            bounds = input_bounds(ds.features[covered])
            par = run_parity(
                out,
                "input",
                calibrated,
                member.inputs(ds.features, ds.rows[held_rows]),
                bounds,
                m.kind,
            )
            # the held rows' calibrated out-of-fold probabilities come from this very fit
            # (the last fold's training rows, the export seed): the export's OOS calibration
            held_p = np.asarray(cal.apply(evals[m.name].oof[export_seed][held_rows]))
            drift_reference.write(
                out,
                drift_reference.build(
                    ds.features[fit_bars],
                    ds.names,
                    drift_reference.calibration_summary(held_p, ds.y[held_rows], ds.classes),
                ),
            )
            finish(m.name, member.kind, info, bounds, par, member.sequence, None)
            imp = member.importance(ds.names)
            if imp is not None:
                importance[m.name] = imp
            bar.update()
        if stacking:
            bar.set_postfix_str("export stacking")
            p = np.stack([evals[m.name].oof[export_seed] for m in config.models])
            have = np.flatnonzero(np.isfinite(p).all(axis=(0, 2)))
            # as for the members: out-of-fold rows before the last fold's training end
            fit = have[have <= int(fit_rows[-1])]
            held = have[np.isin(have, held_rows)]
            meta = Stacker(ds.classes, config.stacking.recent, config.stacking.C)
            meta.fit(p[:, fit], ds.y[fit])
            out = folder / "export" / "stacking"
            out.mkdir()
            info = meta.export_onnx(out / "model.onnx")
            info["native"] = None
            bounds = input_bounds(p[:, fit].transpose(1, 0, 2).reshape(len(fit), -1))
            flat = p[:, held].transpose(1, 0, 2).reshape(len(held), -1)
            par = run_parity(
                out,
                "member_probabilities",
                meta.proba_from_inputs,
                flat,
                bounds,
                "numpy-stacker",
                renormalise=n_classes,
            )
            drift_reference.write(
                out,
                drift_reference.build(
                    ds.features[ds.rows[fit_rows]],
                    ds.names,
                    drift_reference.calibration_summary(
                        meta.proba_from_inputs(flat), ds.y[held], ds.classes
                    ),
                ),
            )
            members = [
                {"model_id": manifests[m.name]["model_id"], "kind": m.kind} for m in config.models
            ]
            # The meta-learner's input is the members' probabilities: its names say which
            # column is which; the hash stays the engine FeatureSet the members read.
            columns = [f"{m.name}:{c}" for m in config.models for c in class_names]
            stack_fs = {**fs_block, "names": columns}
            finish("stacking", "stacking", info, bounds, par, None, members, stack_fs)
            # beside the manifest, not in it: the manifest keeps exactly the v1 fields
            weights = {
                "members": [m.name for m in config.models],
                "weights": meta.weights.tolist(),
                "recent": config.stacking.recent,
                "C": config.stacking.C,
            }
            (out / "stacking.json").write_text(json.dumps(weights, indent=2) + "\n")
            bar.update()
    bar.close()

    # signal quality (report.signal_quality): rank IC by horizon per test fold
    fold_of = np.full(len(ds.rows), -1, dtype=np.int64)
    for fold_k, (_, te) in enumerate(folds):
        fold_of[te] = fold_k
    close = ds.bars["close"].to_numpy()
    signal = {
        name: signal_quality(
            ev.oof[export_seed], ds.classes, family.up, family.down, close, ds.rows, fold_of
        )
        for name, ev in evals.items()
    }
    resolved = _resolved(config, ds, splitter.params())
    (folder / "resolved.json").write_text(json.dumps(resolved, indent=2, default=str) + "\n")
    config_text = Path(config.source).read_text() if config.source else json.dumps(config.raw)
    (folder / "config.toml").write_text(config_text)
    summary = {
        "family": config.family,
        "run_id": run_id,
        "seeds": list(config.seeds),
        "classes": ds.classes.tolist(),
        "splitter": splitter.params(),
        "folds": splitter.describe(n).to_dicts(),
        "models": metrics,
        "strategy": strategy,
        "exports": {
            k: {"model_id": v["model_id"], "parity": v["parity"], "rows": export_rows}
            for k, v in manifests.items()
        },
        "signal_quality": signal,
        "notes": notes,
    }
    (folder / "metrics.json").write_text(json.dumps(summary, indent=2) + "\n")
    _oof_frame(ds, folds, evals).write_parquet(folder / "oof.parquet")
    _equity_frame(equity).write_parquet(folder / "oos_equity.parquet")
    (folder / "report.html").write_text(
        render(
            title=f"{config.family} run {run_id}",
            config_text=config_text,
            splitter=splitter.params(),
            models=metrics,
            oof={k: ev.oof[export_seed] for k, ev in evals.items()},
            y=ds.y,
            classes=ds.classes,
            importance=importance,
            equity=equity,
            strategy=strategy,
            exports={k: summary["exports"][k] for k in manifests},
            notes=notes,
            header=report_header(config, ds),
            signal=signal,
        )
    )
    mlflow_id = None
    if config.tracking.enabled if tracking is None else tracking:
        uri = tracking_uri(config.tracking.uri, runs_root)
        flat_metrics: dict[str, float] = {}
        for name, mb in metrics.items():
            a = mb["aggregate"]
            flat_metrics[f"{name}.accuracy"] = a["model"]["accuracy"]
            flat_metrics[f"{name}.accuracy_std"] = a["model"]["accuracy_std"]
            flat_metrics[f"{name}.over_best_baseline"] = a["accuracy_over_best_baseline"]
            if a["model"]["log_loss"] is not None:
                flat_metrics[f"{name}.log_loss"] = a["model"]["log_loss"]
        for r in base_all.aggregate.iter_rows(named=True):
            flat_metrics[f"baseline.{r['model']}.accuracy"] = r["accuracy"]
        for k, man in manifests.items():
            flat_metrics[f"{k}.parity_max_abs_diff"] = man["parity"]["max_abs_diff"]
        mlflow_id = log_run(
            uri,
            config.tracking.experiment or config.family,
            run_id,
            resolved,
            flat_metrics,
            folder,
        )
        (folder / "tracking.json").write_text(
            json.dumps({"uri": uri, "run_id": mlflow_id}, indent=2) + "\n"
        )
    result = RunResult(folder, summary, manifests, mlflow_id, time.monotonic() - t0)
    _notify(config.family, result)
    return result


def _equity_frame(equity: dict[str, tuple[Arr, Arr]]) -> pl.DataFrame:
    """The out-of-sample equity of each model (seed mean) and of always-long, net of costs:
    ``oos_equity.parquet`` (model, ts UTC ns, net_usd per bar, cum_net_usd), which the
    report draws and ``pycontrol runs compare`` overlays."""
    parts = []
    for name, (ts, pnl) in equity.items():
        ns = np.asarray(ts).astype("datetime64[ns]").astype(np.int64)
        order = np.argsort(ns, kind="stable")
        net = np.asarray(pnl, dtype=np.float64)[order]
        parts.append(
            pl.DataFrame(
                {"model": name, "ts": ns[order], "net_usd": net, "cum_net_usd": np.cumsum(net)},
                schema={
                    "model": pl.String,
                    "ts": pl.Int64,
                    "net_usd": pl.Float64,
                    "cum_net_usd": pl.Float64,
                },
            )
        )
    return pl.concat(parts) if parts else pl.DataFrame()


def _notify(family: str, r: RunResult) -> None:
    """The run's outcome to the notifications service, when one is configured
    (``$PYCONTROL_NOTIFY_URL``): a retrain that finished, or one whose export failed parity."""
    from pycontrol.notify.client import emit

    best = max(
        r.metrics["models"].items(),
        key=lambda kv: kv[1]["aggregate"]["model"]["accuracy"],
        default=(None, None),
    )[0]
    parity = "passed" if r.parity_passed else "FAILED"
    text = f"{family} trained in {r.seconds:.0f} s: best {best}, export parity {parity}"
    emit("training" if r.parity_passed else "error", text, "training",
         {"family": family, "folder": str(r.folder), "best": best})  # fmt: skip
