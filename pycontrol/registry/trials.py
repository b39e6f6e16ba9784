"""The trial ledger of a model family, and the selection-bias statistics computed from it: the
deflated Sharpe ratio and the probability of backtest overfitting.

Ledger: ``<runs>/<family>/trials.jsonl``, append-only JSON lines, one per model configuration
evaluated (every member, the meta-learner, every trial of a hyperparameter search), each
with its daily net P&L (USD, mean over seeds, CME trading days). Lines are hash-chained
(``prev`` = sha256 of the previous line, ``seq`` counts from 0), so a deleted, edited or
reordered trial is found on read (:class:`TrialLedgerError`). The ledger is the only source
of a family's trial count.

Deflated Sharpe (Bailey and Lopez de Prado, 2014): ``PSR(SR*)`` of the candidate's daily
net P&L, with ``SR*`` the expected maximum Sharpe of ``N`` skill-less trials,
``N`` = the ledger's trial count and ``V`` = the variance of the trials' daily Sharpe
ratios, at least ``1 / (T - 1)`` (the sampling variance of a Sharpe estimate under no
skill: near-duplicate trials cannot shrink the bar below chance).

PBO by combinatorially symmetric cross-validation (Bailey, Borwein, Lopez de Prado, Zhu,
2017): the trials' daily P&L on their common days, ``T x N``, is cut into ``S`` (even)
contiguous blocks; for each of the ``C(S, S/2)`` ways to take half the blocks as in-sample
(the rest out of sample), the trial with the best in-sample Sharpe is ranked out of sample
among all ``N``: relative rank ``w = rank / (N + 1)`` (average ranks for ties), logit
``l = ln(w / (1 - w))``. PBO = the share of splits with ``l <= 0``: the in-sample winner
ends at or below the median out of sample.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import rankdata

from pycontrol.backtest.metrics import deflated_sharpe
from pycontrol.registry.errors import RegistryError, make

LEDGER_FILE = "trials.jsonl"
PBO_SPLITS = 16


class TrialLedgerError(RegistryError):
    """A trial ledger is unreadable or its hash chain is broken (a trial was removed,
    edited or reordered); ``violations`` names each line."""


def ledger_path(runs_root: Path, family: str) -> Path:
    return Path(runs_root) / family / LEDGER_FILE


def _sha(line: str) -> str:
    return hashlib.sha256(line.encode()).hexdigest()


def read_trials(path: Path) -> list[dict[str, Any]]:
    """Every trial of the ledger at ``path`` (empty when there is none yet), chain checked."""
    if not path.exists():
        return []
    try:
        lines = path.read_text().splitlines()
    except OSError as e:
        raise make(TrialLedgerError, str(path), [f"cannot read: {e.strerror}"]) from e
    out: list[dict[str, Any]] = []
    bad: list[str] = []
    prev = ""
    for i, line in enumerate(lines):
        try:
            rec = json.loads(line)
        except ValueError as e:
            bad.append(f"line {i + 1}: not JSON ({e})")
            break
        if not isinstance(rec, dict) or rec.get("seq") != i or rec.get("prev") != prev:
            bad.append(
                f"line {i + 1}: seq/prev do not continue the chain (a trial was removed, "
                "edited or reordered)"
            )
            break
        out.append(rec)
        prev = _sha(line)
    if bad:
        raise make(TrialLedgerError, str(path), bad)
    return out


def append_trials(path: Path, trials: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Appends ``trials`` (chained after the ledger's last line, fsynced) and returns the
    whole ledger."""
    have = read_trials(path)
    prev = _sha(path.read_text().splitlines()[-1]) if have else ""
    path.parent.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    with path.open("a") as fh:
        for t in trials:
            rec = {"seq": len(have), "prev": prev, "recorded_at": stamp, **t}
            line = json.dumps(rec, sort_keys=True, separators=(",", ":"), default=str)
            fh.write(line + "\n")
            prev = _sha(line)
            have.append(rec)
        fh.flush()
        os.fsync(fh.fileno())
    return have


def daily_sharpe(r: Any) -> float | None:
    """Mean over sample std (ddof 1) of daily P&L; None with < 3 days or no variance."""
    x = np.asarray(r, dtype=np.float64)
    if x.size < 3:
        return None
    sd = float(np.std(x, ddof=1))
    return float(np.mean(x)) / sd if sd > 0 else None


def trial_record(
    *,
    family: str,
    run_id: str,
    model: str,
    kind: str,
    params: Mapping[str, Any],
    config_sha256: str,
    data_sha256: Sequence[str],
    feature_set_hash: str,
    seeds: Sequence[int],
    days: Sequence[str],
    daily_net_usd: Sequence[float],
) -> dict[str, Any]:
    """One ledger entry (``seq``/``prev``/``recorded_at`` are added on append)."""
    return {
        "family": family,
        "run_id": run_id,
        "model": model,
        "kind": kind,
        "params": dict(params),
        "config_sha256": config_sha256,
        "data_sha256": list(data_sha256),
        "feature_set_hash": feature_set_hash,
        "seeds": list(seeds),
        "days": list(days),
        "daily_net_usd": [float(v) for v in daily_net_usd],
        "sharpe_daily": daily_sharpe(daily_net_usd),
        "net_usd": float(np.sum(daily_net_usd)),
    }


def trials_sharpe_var(trials: Sequence[Mapping[str, Any]], t: int) -> float:
    """``V`` of the module docstring for a candidate with ``t`` days."""
    floor = 1.0 / max(t - 1, 1)
    sr = [x["sharpe_daily"] for x in trials if x.get("sharpe_daily") is not None]
    return max(float(np.var(sr, ddof=1)), floor) if len(sr) >= 2 else floor


def deflated(daily_net_usd: Any, trials: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """DSR of a candidate's daily P&L against the ledger's trials (module docstring)."""
    r = np.asarray(daily_net_usd, dtype=np.float64)
    n = max(len(trials), 1)
    v = trials_sharpe_var(trials, r.size)
    dsr, sr_star = deflated_sharpe(r, n, v)
    return {"dsr": dsr, "sr_star": sr_star, "n_trials": n, "sharpe_var": v}


def pbo_cscv(matrix: Any, n_splits: int = PBO_SPLITS) -> float | None:
    """PBO of the ``T x N`` performance matrix (rows: periods in time order, columns:
    trials) by CSCV with ``n_splits`` blocks (even; reduced to the largest even number <=
    T when T is smaller). None with fewer than 2 trials or 4 periods."""
    m = np.asarray(matrix, dtype=np.float64)
    if m.ndim != 2 or m.shape[1] < 2 or m.shape[0] < 4:
        return None
    t, n = m.shape
    s = min(n_splits, t - t % 2)
    if s < 2 or s % 2:
        raise ValueError(f"n_splits must be even and >= 2, got {n_splits}")
    blocks = np.array_split(np.arange(t), s)
    cnt = np.array([len(b) for b in blocks], dtype=np.float64)
    s1 = np.stack([m[b].sum(axis=0) for b in blocks])  # (S, N)
    s2 = np.stack([(m[b] ** 2).sum(axis=0) for b in blocks])

    def sharpe(idx: list[int]) -> Any:
        k = cnt[idx].sum()
        mean = s1[idx].sum(axis=0) / k
        var = (s2[idx].sum(axis=0) - k * mean**2) / max(k - 1, 1)
        sd = np.sqrt(np.maximum(var, 0.0))
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.where(sd > 0, mean / np.where(sd > 0, sd, 1.0), np.sign(mean) * np.inf)
        return np.nan_to_num(out, nan=0.0)

    logits = []
    for is_blocks in combinations(range(s), s // 2):
        oos_blocks = [b for b in range(s) if b not in is_blocks]
        best = int(np.argmax(sharpe(list(is_blocks))))
        rank = rankdata(sharpe(oos_blocks))[best]
        w = rank / (n + 1)
        logits.append(math.log(w / (1 - w)))
    return float(np.mean(np.asarray(logits) <= 0))


def pbo_from_trials(
    trials: Sequence[Mapping[str, Any]], n_splits: int = PBO_SPLITS
) -> float | None:
    """PBO over the ledger's trials on the days they all share."""
    if len(trials) < 2:
        return None
    common = set(trials[0]["days"])
    for x in trials[1:]:
        common &= set(x["days"])
    days = sorted(common)
    if len(days) < 4:
        return None
    cols = []
    for x in trials:
        by_day = dict(zip(x["days"], x["daily_net_usd"], strict=True))
        cols.append([by_day[d] for d in days])
    return pbo_cscv(np.array(cols).T, n_splits)


def summary(trials: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per trial for display: seq, time, run, model, kind, days, net USD, Sharpe."""
    return [
        {
            "seq": x["seq"],
            "recorded_at": x["recorded_at"],
            "run_id": x["run_id"],
            "model": x["model"],
            "kind": x["kind"],
            "days": len(x["days"]),
            "net_usd": x["net_usd"],
            "sharpe_daily": x["sharpe_daily"],
        }
        for x in trials
    ]
