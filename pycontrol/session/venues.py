"""The broker venue a session config picks (``[venue] broker``), built lazily so a session
imports only the broker client it trades through."""

from __future__ import annotations

from pycontrol.session.config import SessionConfig
from pycontrol.session.journal import Journal
from pycontrol.session.venue import Venue, VenueSinks


def make_venue(cfg: SessionConfig, mode: str, journal: Journal, sinks: VenueSinks) -> Venue:
    from pycontrol.ib.broker import IBVenue

    return IBVenue(cfg, mode, journal, sinks)
