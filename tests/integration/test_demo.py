"""`pycontrol demo` runs end to end on synthetic data and reports a clean replay."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_demo_runs_and_reports(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "pycontrol.cli", "demo", "--out", str(tmp_path)]
    cmd += ["--events", "20000"]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    assert (tmp_path / "synth.mbo.dbn.zst").is_file()
    for needle in ("ESZ6", "NQZ6", "anomalies: none", "spread_mean_ticks"):
        assert needle in res.stdout, res.stdout
