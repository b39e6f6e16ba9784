"""The momentum scanner in a portfolio session (``[scanner]``): at start, the universe is
scored (:mod:`pycontrol.scan.score`) and only the selected roots may open new positions in
the engine (``LiveEngine.set_entries_allowed``); the others still close what they hold. The
selection is journaled (``scanner``) and shown in ``status``."""

from __future__ import annotations

import dataclasses
from typing import Any

from pycontrol.session.config import SessionConfig
from pycontrol.session.config import _fail as session_config_error


def apply(cfg: SessionConfig, engine: Any, journal: Any) -> dict[str, Any]:
    """Scores the universe, applies the selection to ``engine`` (a ``RustLive``), journals
    it; returns the status block. A root missing from the universe is a config error."""
    from pycontrol.scan.score import Universe, scan

    assert cfg.scanner is not None
    u = Universe.load(cfg.scanner.universe)
    if cfg.scanner.threshold is not None:
        u = dataclasses.replace(u, threshold=float(cfg.scanner.threshold))
    names = {m.name for m in u.members}
    missing = [i.root for i in cfg.instruments if i.root not in names]
    if missing:
        raise session_config_error(
            "scanner", [f"roots {missing} are not members of universe {u.name!r}"]
        )
    ranked = {r["name"]: r for r in scan(u)}
    selected = [i.root for i in cfg.instruments if ranked[i.root]["selected"]]
    for i in cfg.instruments:
        engine.core.set_entries_allowed(engine.iid(i.root), i.root in selected)
    block = {
        "universe": u.name,
        "threshold": u.threshold,
        "selected": selected,
        "scores": {i.root: ranked[i.root]["score"] for i in cfg.instruments},
    }
    journal.append("scanner", block)
    return block
