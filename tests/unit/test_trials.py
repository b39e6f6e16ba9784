"""The trial ledger's hash chain, and PBO (CSCV) on synthetic cases whose answer is known."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from pycontrol.registry import trials as ledger


def _trial(i: int, r: list[float]) -> dict[str, object]:
    return ledger.trial_record(
        family="f", run_id=f"run{i}", model=f"m{i}", kind="lightgbm", params={"i": i},
        config_sha256="0" * 64, data_sha256=[], feature_set_hash="h", seeds=[0],
        days=[f"2024-01-{d + 1:02d}" for d in range(len(r))], daily_net_usd=r,
    )  # fmt: skip


def test_pbo_is_one_when_the_in_sample_winner_always_loses_out_of_sample() -> None:
    # Two halves: trial 0 wins the first, trial 1 the second (each with some noise so the
    # Sharpe ratios are finite): whichever half is in sample, its winner loses the other.
    rng = np.random.default_rng(0)
    a = np.concatenate([1 + 0.1 * rng.standard_normal(10), -1 + 0.1 * rng.standard_normal(10)])
    m = np.stack([a, -a], axis=1)
    assert ledger.pbo_cscv(m, n_splits=2) == 1.0


def test_pbo_is_zero_for_a_dominant_trial_and_near_half_for_noise() -> None:
    rng = np.random.default_rng(1)
    noise = rng.standard_normal((240, 8))
    skilled = noise.copy()
    skilled[:, 3] += 1.0  # one trial with a real edge everywhere
    assert ledger.pbo_cscv(skilled, n_splits=10) == 0.0
    # Skill-less trials: the in-sample winner is a coin flip out of sample.
    pbos = [ledger.pbo_cscv(rng.standard_normal((240, 8)), n_splits=10) for _ in range(20)]
    assert 0.3 < float(np.mean(pbos)) < 0.7


def test_ledger_appends_chains_and_refuses_edits(tmp_path: Path) -> None:
    path = ledger.ledger_path(tmp_path, "f")
    rng = np.random.default_rng(2)
    all1 = ledger.append_trials(path, [_trial(0, rng.standard_normal(20).tolist())])
    all2 = ledger.append_trials(path, [_trial(i, rng.standard_normal(20).tolist()) for i in (1, 2)])
    assert [t["seq"] for t in all2] == [0, 1, 2] and all2[0] == all1[0]
    assert ledger.read_trials(path) == all2
    lines = path.read_text().splitlines()
    # edit the middle trial's P&L: the next line's chain no longer matches
    rec = json.loads(lines[1])
    rec["net_usd"] += 1000
    path.write_text("\n".join([lines[0], json.dumps(rec), lines[2]]) + "\n")
    with pytest.raises(ledger.TrialLedgerError, match="line 3"):
        ledger.read_trials(path)
    # drop a trial: the count would shrink, the chain says so
    path.write_text("\n".join([lines[0], lines[2]]) + "\n")
    with pytest.raises(ledger.TrialLedgerError, match="line 2"):
        ledger.read_trials(path)


def test_deflated_sharpe_falls_as_trials_are_added() -> None:
    rng = np.random.default_rng(3)
    r = (0.3 + rng.standard_normal(60)).tolist()
    found = [_trial(0, r)]
    dsr = [ledger.deflated(r, found)["dsr"]]
    for i in range(1, 6):
        found.append(_trial(i, rng.standard_normal(60).tolist()))
        d = ledger.deflated(r, found)
        assert d["n_trials"] == i + 1
        dsr.append(d["dsr"])
    assert all(a > b for a, b in itertools.pairwise(dsr)), dsr
