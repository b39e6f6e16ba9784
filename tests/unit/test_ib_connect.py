"""Account checks and orderRef parsing (no sockets); the backoff IB reconnects with is the
shared one (tests/tradovate/test_tradovate_backoff.py)."""

from __future__ import annotations

import pytest

from pycontrol.ib.connect import IBConnectError, NotPaperAccountError, check_accounts
from pycontrol.ib.orders import order_ref, parse_order_ref


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
