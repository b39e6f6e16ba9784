"""TradovateVenue in process against the test double: journal-before-send for single orders
and OSO brackets, modify and cancel, user-sync reports, commissions, market data for every
instrument of a portfolio, and the environment / credential refusals."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from tvkit import TODAY, Recorder, run, until, venue

from pycontrol.session.journal import Journal
from pycontrol.session.orders import Bracket, OrderIntent
from pycontrol.testing.tradovate_gateway import TradovateGateway, credential_env
from pycontrol.tradovate.errors import TradovateAuthError, TradovateConfigError


@pytest.fixture
def gw() -> Iterator[TradovateGateway]:
    g = TradovateGateway(today=TODAY, auto_fill=False).start()
    g.set_quote(g.front("ES").name, 5000.0, 5000.25)
    yield g
    g.stop()


def test_single_bracket_modify_cancel(gw: TradovateGateway, tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.sqlite")
    rec = Recorder()
    es = gw.front("ES").name

    async def go() -> None:
        v = venue(gw, j, rec)
        await v.start()
        try:
            assert v.symbols() == {"ES": es}
            await v.submit(OrderIntent(1, 0, es, "BUY", 1, "LMT", price=4990.0))
            br = Bracket(stop_loss=4980.0, take_profit=5010.0)
            await v.submit(OrderIntent(2, 0, es, "BUY", 2, "LMT", price=4995.0, bracket=br))
            await until(lambda: len(gw.order_list()) == 4)
            by_text = {o.text: o for o in gw.order_list()}
            entry, sl, tp = by_text["tc:8"], by_text["tc:9"], by_text["tc:10"]
            assert sl.parent_id == entry.id == tp.parent_id and sl.linked_id == tp.id
            assert (sl.order_type, sl.stop_price, sl.action) == ("Stop", 4980.0, "Sell")
            assert (tp.order_type, tp.price, tp.status) == ("Limit", 5010.0, "Suspended")
            assert gw.place_commands == 2  # one placeorder, one placeOSO
            for text, o in by_text.items():
                row = j.order(int(text[3:]))
                assert row is not None and v.vid_of[row.client_order_id] == o.id
            await until(lambda: j.order(4).status == "submitted")  # type: ignore[union-attr]
            await v.submit(
                OrderIntent(
                    3, 0, es, "BUY", 2, "LMT", "MODIFY", price=4991.0, target_client_order_id=4
                )
            )
            await until(
                lambda: (
                    by_text["tc:4"].id
                    in {o.id for o in gw.order_list() if o.qty == 2 and o.price == 4991.0}
                )
            )
            await v.submit(
                OrderIntent(4, 0, es, "BUY", 0, "MKT", "CANCEL", target_client_order_id=4)
            )
            await until(lambda: j.order(4).status == "cancelled")  # type: ignore[union-attr]
            kinds = [e["kind"] for e in j.events() if e["client_order_id"] == 4]
            assert kinds == ["order", "venue_order", "ack", "modify", "cancel_request", "cancelled"]
            assert rec.kinds(4) == ["ack", "cancelled"]
            # the bracket entry fills: both exits start working, the take-profit fills, the
            # stop is cancelled by one-cancels-other
            gw.fill(entry.id, price=4995.0)
            await until(lambda: j.order(8).status == "filled")  # type: ignore[union-attr]
            gw.fill(tp.id, price=5010.0)
            await until(lambda: j.order(9).status == "cancelled")  # type: ignore[union-attr]
            assert j.order(10).status == "filled"  # type: ignore[union-attr]
            assert j.positions()[es][0] == 0
            await until(lambda: len(rec.commissions) == 2)
            assert {c for c, _, _ in rec.commissions} == {8, 10}
            assert all(a == pytest.approx(2 * 1.29) for _, _, a in rec.commissions)
            assert rec.quotes and rec.quotes[0].bid == 5000.0 and rec.quotes[0].symbol == es
            st = v.status()
            assert st["venue"] == "tradovate" and st["ready"] and st["connected"]
        finally:
            await v.stop()

    run(go)
    j.close()


def test_portfolio_quotes_and_trades_for_every_instrument(tmp_path: Path) -> None:
    gw = TradovateGateway(today=TODAY).start()
    try:
        roots = ("ES", "NQ", "RTY", "CL", "GC")
        names = {r: gw.front(r).name for r in roots}
        j = Journal(tmp_path / "j.sqlite")
        rec = Recorder()

        async def go() -> None:
            v = venue(gw, j, rec, roots)
            await v.start()
            try:
                assert v.symbols() == names
                for i, r in enumerate(roots):
                    gw.set_quote(names[r], 100.0 + i, 100.5 + i)
                    gw.trade(names[r], 100.5 + i, 3)
                await until(lambda: {q.symbol for q in rec.quotes} == set(names.values()))
                await until(lambda: len(rec.trades) == 5)
                t = next(t for t in rec.trades if t.symbol == names["CL"])
                assert (t.price, t.size, t.aggressor) == (103.5, 3, "B")
            finally:
                await v.stop()

        run(go)
        j.close()
    finally:
        gw.stop()


def test_journaled_but_unsent_order_is_never_resent(gw: TradovateGateway, tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.sqlite")
    es = gw.front("ES").name
    # the state a crash right after the journal commit, before placeorder, leaves behind
    j.record_intent(7, {"note": "crashed before send"})
    j.record_order(
        28,
        intent_id=7,
        leg=0,
        symbol=es,
        side="BUY",
        qty=1,
        order_type="LMT",
        price=4990.0,
        stop_price=None,
        parent_client_order_id=None,
        venue_order_id=None,
    )

    async def go() -> None:
        v = venue(gw, j, Recorder())
        await v.start()
        try:
            assert j.order(28).status == "not_sent"  # type: ignore[union-attr]
            await v.submit(OrderIntent(7, 0, es, "BUY", 1, "LMT", price=4990.0))
            await asyncio.sleep(0.3)
            assert gw.order_list() == [] and gw.place_commands == 0
            assert j.count("duplicate_suppressed") == 1
        finally:
            await v.stop()

    run(go)
    j.close()


def test_reject_sync_and_async_and_partial_fill(tmp_path: Path) -> None:
    gw = TradovateGateway(today=TODAY, max_fill=1).start()
    try:
        es = gw.front("ES").name
        gw.set_quote(es, 5000.0, 5000.25)
        j = Journal(tmp_path / "j.sqlite")
        rec = Recorder()

        async def go() -> None:
            v = venue(gw, j, rec)
            await v.start()
            try:
                gw.reject_next_orders = 1
                await v.submit(OrderIntent(1, 0, es, "BUY", 1, "MKT"))
                assert j.order(4).status == "rejected"  # type: ignore[union-attr]
                assert rec.kinds(4) == ["reject"] and gw.place_commands == 0
                gw.reject_next_orders, gw.reject_async = 1, True
                await v.submit(OrderIntent(2, 0, es, "BUY", 1, "LMT", price=4000.0))
                await until(lambda: j.order(8).status == "rejected")  # type: ignore[union-attr]
                assert "Rejected by the test double" in rec.reports[-1][0].reason
                # partial fills: a market order for 3 fills one contract per quote
                await v.submit(OrderIntent(3, 0, es, "BUY", 3, "MKT"))
                await until(lambda: j.order(12).filled == 1)  # type: ignore[union-attr]
                assert j.order(12).status == "submitted"  # type: ignore[union-attr]
                gw.set_quote(es, 5000.25, 5000.5)
                gw.set_quote(es, 5000.5, 5000.75)
                await until(lambda: j.order(12).status == "filled")  # type: ignore[union-attr]
                assert [r.qty for r, _ in rec.reports if r.kind == "fill"] == [1, 1, 1]
                assert j.positions()[es] == (3, pytest.approx(5000.5))
            finally:
                await v.stop()

        run(go)
        j.close()
    finally:
        gw.stop()


def test_environment_and_credentials_refused(gw: TradovateGateway, tmp_path: Path) -> None:
    from tvkit import cfg

    from pycontrol.tradovate.venue import TradovateVenue

    j = Journal(tmp_path / "j.sqlite")
    rec = Recorder()
    with pytest.raises(TradovateConfigError, match="environment 'demo' refused in a live"):
        TradovateVenue(cfg(gw), "live", j, rec.sinks(), env=credential_env())
    live = cfg(gw, environment="live", rest_url="", ws_url="", md_url="")
    with pytest.raises(TradovateConfigError, match="environment 'live' refused in a paper"):
        TradovateVenue(live, "paper", j, rec.sinks(), env=credential_env())
    with pytest.raises(TradovateConfigError, match=r"\$TRADOVATE_PASSWORD, \$TRADOVATE_SEC"):
        env = {k: v for k, v in credential_env().items() if "PASSWORD" not in k and "SEC" not in k}
        TradovateVenue(cfg(gw), "paper", j, rec.sinks(), env=env)
    bad = {**credential_env(), "TRADOVATE_PASSWORD": "wrong"}
    v = TradovateVenue(cfg(gw), "paper", j, rec.sinks(), env=bad)
    with pytest.raises(TradovateAuthError, match="Incorrect username or password"):
        run(v.start)
    assert "wrong" not in repr(v.creds)
    j.close()
