"""Crash points for recovery tests: a named place in the order path where the process can be
made to die by ``SIGKILL``, exactly as a power cut or ``kill -9`` would stop it there.

Off unless the environment variable ``PYCONTROL_FAILPOINTS`` names points, e.g.
``ib.between_bracket_legs=2`` (die the 2nd time the point is reached). A session never sets
it; the crash tests do, on the session subprocess they kill. Reading it once at import keeps
the cost of a disarmed point to one dict lookup.
"""

from __future__ import annotations

import os
import signal

_ARMED: dict[str, int] = {}
for _item in filter(None, os.environ.get("PYCONTROL_FAILPOINTS", "").split(",")):
    _name, _, _n = _item.partition("=")
    _ARMED[_name.strip()] = int(_n) if _n.strip().isdigit() else 1


def hit(name: str) -> None:
    """Dies by SIGKILL when ``name`` is armed and this is its configured occurrence."""
    left = _ARMED.get(name)
    if left is None:
        return
    if left <= 1:
        os.kill(os.getpid(), signal.SIGKILL)
    _ARMED[name] = left - 1
