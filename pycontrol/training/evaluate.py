"""Out-of-sample evaluation on the walk-forward folds: members over several seeds, the
stacking meta-learner on folds that have earlier out-of-fold rows, and the per-fold/aggregate
metric blocks of the manifest (the trading figures: :mod:`pycontrol.training.pnl`).

Every figure comes from test folds only; metrics use the baselines' definitions
(:func:`pycontrol.training.baselines.classification_metrics`), so a model and its
baselines are scored by one implementation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from pycontrol.training.baselines import BaselineReport, classification_metrics
from pycontrol.training.stacking import Stacker

Arr = np.ndarray[Any, Any]
Fold = tuple[Arr, Arr]


@dataclass(frozen=True)
class ModelEval:
    """Out-of-fold probabilities per seed (rows x classes, NaN outside test folds) and
    the per-fold metrics per seed; ``folds``: the fold numbers it was scored on."""

    name: str
    kind: str
    oof: Mapping[int, Arr]
    folds: tuple[int, ...]


def walk_forward(
    fit_predict: Callable[[int, Arr, Arr], Arr],
    n_rows: int,
    n_classes: int,
    folds: Sequence[Fold],
    seeds: Iterable[int],
    tick: Callable[[], None] = lambda: None,
) -> dict[int, Arr]:
    """``fit_predict(seed, train_idx, test_idx)`` -> test probabilities, per seed/fold."""
    out = {}
    for seed in seeds:
        oof = np.full((n_rows, n_classes), np.nan)
        for train, test in folds:
            oof[test] = fit_predict(seed, train, test)
            tick()
        out[seed] = oof
    return out


def stack_walk_forward(
    member_oof: Sequence[Arr],
    y: Arr,
    classes: Arr,
    folds: Sequence[Fold],
    recent: int,
    C: float,
) -> tuple[Arr, tuple[int, ...]]:
    """Stacking out of sample: for fold k, the meta-learner is fitted on the members'
    out-of-fold rows that lie before fold k's training end (so ``purge + embargo`` rows
    before its first test row); folds with no such rows are not scored."""
    p = np.stack(member_oof)  # (members, rows, classes)
    out = np.full(p.shape[1:], np.nan)
    scored = []
    have = np.isfinite(p).all(axis=(0, 2))
    for k, (train, test) in enumerate(folds):
        end = int(train[-1]) + 1 if len(train) else 0
        fit_rows = np.flatnonzero(have[:end])
        if len(fit_rows) == 0:
            continue
        meta = Stacker(classes, recent, C).fit(p[:, fit_rows], y[fit_rows])
        out[test] = meta.predict_proba(p[:, test])
        scored.append(k)
    return out, tuple(scored)


def fold_metrics(
    oof: Arr, y: Arr, classes: Arr, folds: Sequence[Fold], only: Iterable[int] | None = None
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Per-fold metrics and the pooled metrics over the scored folds."""
    keep = set(range(len(folds)) if only is None else only)
    per, ys, ps = [], [], []
    for k, (_, test) in enumerate(folds):
        if k not in keep:
            continue
        p = oof[test]
        pred = classes[p.argmax(axis=1)]
        per.append({"fold": k, **classification_metrics(y[test], pred, p, classes)})
        ys.append(y[test])
        ps.append(p)
    yy, pp = np.concatenate(ys), np.concatenate(ps)
    return per, classification_metrics(yy, classes[pp.argmax(axis=1)], pp, classes)


def _mean(vals: list[Any]) -> float | None:
    v = [x for x in vals if x is not None]
    return float(np.mean(v)) if v else None


def metrics_block(
    ev: ModelEval,
    y: Arr,
    classes: Arr,
    folds: Sequence[Fold],
    baselines: BaselineReport,
) -> dict[str, Any]:
    """The manifest's ``metrics``: per fold (model = mean over seeds) beside the baselines
    on the same folds, and the aggregate (mean and std over seeds of the pooled figures)."""
    per_seed = {s: fold_metrics(oof, y, classes, folds, ev.folds) for s, oof in ev.oof.items()}
    keys = ("accuracy", "balanced_accuracy", "log_loss")
    bf = baselines.per_fold
    rows = []
    for i, k in enumerate(ev.folds):
        train, test = folds[k]
        model = {m: _mean([per_seed[s][0][i][m] for s in per_seed]) for m in keys}
        base = {
            r["model"]: {m: r[m] for m in keys}
            for r in bf.filter(pl.col("fold") == k).iter_rows(named=True)
        }
        rows.append(
            {
                "fold": k,
                "n_train": len(train),
                "n_test": len(test),
                "model": model,
                "baselines": base,
            }
        )
    acc = [float(per_seed[s][1]["accuracy"] or 0.0) for s in per_seed]
    mean_acc = float(np.mean(acc))
    agg_model = {
        "accuracy": mean_acc,
        # sample std over seeds (ddof 1): the seeds are a sample of the possible ones
        "accuracy_std": float(np.std(acc, ddof=1)) if len(acc) > 1 else 0.0,
        "balanced_accuracy": _mean([per_seed[s][1]["balanced_accuracy"] for s in per_seed]),
        "log_loss": _mean([per_seed[s][1]["log_loss"] for s in per_seed]),
    }
    agg_base = {
        r["model"]: {m: r[m] for m in keys} for r in baselines.aggregate.iter_rows(named=True)
    }
    best = max(agg_base, key=lambda b: agg_base[b]["accuracy"])
    best_acc = float(agg_base[best]["accuracy"])
    return {
        "primary": "accuracy",
        "folds": rows,
        "aggregate": {
            "model": agg_model,
            "baselines": agg_base,
            "best_baseline": best,
            "best_baseline_accuracy": best_acc,
            "accuracy_over_best_baseline": mean_acc - best_acc,
        },
    }
