"""The broker venue a session config picks (``[venue] broker``): Interactive Brokers
(:class:`pycontrol.ib.broker.IBVenue`) or Tradovate
(:class:`pycontrol.tradovate.venue.TradovateVenue`), built lazily so a session imports only
the broker client it trades through."""

from __future__ import annotations

from pycontrol.session.config import SessionConfig
from pycontrol.session.journal import Journal
from pycontrol.session.venue import Venue, VenueSinks


def make_venue(cfg: SessionConfig, mode: str, journal: Journal, sinks: VenueSinks) -> Venue:
    """The venue of ``cfg.venue.broker`` for a ``mode`` (paper or live) session."""
    if cfg.venue.broker == "tradovate":
        from pycontrol.tradovate.venue import TradovateVenue

        return TradovateVenue(cfg, mode, journal, sinks)
    from pycontrol.ib.broker import IBVenue

    return IBVenue(cfg, mode, journal, sinks)
