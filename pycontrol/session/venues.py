"""The broker venue of a paper or live session, picked by ``[venue] broker``: Interactive
Brokers (:class:`pycontrol.ib.broker.IBVenue`) or Tradovate
(:class:`pycontrol.tradovate.venue.TradovateVenue`). Each is imported only when chosen, so a
session never loads a broker library it does not trade at."""

from __future__ import annotations

from typing import Any

from pycontrol.session.config import SessionConfig
from pycontrol.session.journal import Journal
from pycontrol.session.venue import Venue, VenueSinks


def make_venue(cfg: SessionConfig, mode: str, journal: Journal, sinks: VenueSinks) -> Venue:
    """The venue of ``cfg.venue.broker`` for a ``mode`` (paper or live) session."""
    if cfg.venue.broker == "tradovate":
        from pycontrol.tradovate.venue import TradovateVenue

        return TradovateVenue(cfg, mode, journal, sinks)
    from pycontrol.ib.broker import IBVenue

    ib_venue: Any = IBVenue
    return ib_venue(cfg, mode, journal, sinks)  # type: ignore[no-any-return]
