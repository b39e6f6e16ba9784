"""Backoff with jitter, account checks and orderRef parsing (no sockets)."""

from __future__ import annotations

import itertools
import random

import pytest

from pycontrol.ib.connect import (
    IBConnectError,
    NotPaperAccountError,
    backoff_delays,
    check_accounts,
)
from pycontrol.ib.orders import order_ref, parse_order_ref


def test_backoff_grows_caps_and_jitters() -> None:
    d = list(itertools.islice(backoff_delays(0.5, 8.0, rng=random.Random(1)), 10))
    steps = [0.5, 1, 2, 4, 8, 8, 8, 8, 8, 8]
    assert all(s / 2 <= x <= s for x, s in zip(d, steps, strict=True))
    assert len({round(x, 6) for x in d[5:]}) > 1  # jittered, not lockstep


def test_accounts() -> None:
    check_accounts("paper", ["DU111"])
    check_accounts("live", ["U222"])
    with pytest.raises(NotPaperAccountError):
        check_accounts("paper", ["DU111", "U222"])
    with pytest.raises(IBConnectError):
        check_accounts("paper", [])


def test_order_ref() -> None:
    assert parse_order_ref(order_ref(308)) == 308
    assert parse_order_ref("manual") is None
    assert parse_order_ref("tc:abc") is None
    assert parse_order_ref("") is None
