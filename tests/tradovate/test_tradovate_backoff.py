"""The shared reconnect backoff: exponential, capped, jittered in [0.5, 1] of each step; the
Tradovate venue loads no IB library."""

from __future__ import annotations

import random
import subprocess
import sys
from itertools import islice

from pycontrol.session.backoff import backoff_delays


def test_backoff_is_capped_and_jittered() -> None:
    d = list(islice(backoff_delays(0.5, 4.0, rng=random.Random(1)), 8))
    steps = [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0, 4.0]
    assert all(0.5 * s <= x <= s for x, s in zip(d, steps, strict=True))
    assert len(set(d)) == len(d)  # jittered: no two alike


def test_tradovate_venue_does_not_import_ib_async() -> None:
    code = "import sys, pycontrol.tradovate.venue; print('ib_async' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
