"""Helpers for ops-service tests: `pycontrol serve` as a subprocess on an ephemeral port."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sessionkit import REPO, wait_for


class Serve:
    """`pycontrol serve` as a subprocess on an ephemeral loopback port."""

    def __init__(self, run_dir: Path, env: dict[str, str]) -> None:
        self.log = open(run_dir.parent / "serve.txt", "w+")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pycontrol.cli", "serve", "--run-dir", str(run_dir),
             "--port", "0", "--poll", "0.5"],
            stdout=self.log, stderr=subprocess.STDOUT, cwd=REPO, env={**os.environ, **env},
        )  # fmt: skip
        self.url = wait_for(self._url, 90, "the ops service to listen")

    def _url(self) -> str | None:
        if self.proc.poll() is not None:
            raise AssertionError(f"serve exited: {Path(self.log.name).read_text()}")
        for line in Path(self.log.name).read_text().splitlines():
            if line.startswith("ops service on "):
                return line.split()[3].rstrip("/")
        return None

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self.log.close()
