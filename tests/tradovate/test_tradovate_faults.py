"""TradovateVenue through the double's faults: token renewal before expiry, expired tokens
(a fresh login), a lost socket with a fill while away (backfilled once), intents held while
disconnected and re-gated at release, heartbeats keeping a quiet connection alive, and
reconciliation at a restart (working orders, adoption by text, foreign orders, fills while
away, positions: the broker wins)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from tvkit import TODAY, Recorder, run, until, venue

from pycontrol.session.journal import Journal
from pycontrol.session.orders import Bracket, OrderIntent
from pycontrol.testing.tradovate_gateway import TradovateGateway


def test_token_renewed_before_expiry_and_relogin_after_expiry(tmp_path: Path) -> None:
    gw = TradovateGateway(today=TODAY, token_ttl_s=3.0).start()
    try:
        es = gw.front("ES").name
        gw.set_quote(es, 5000.0, 5000.25)
        j = Journal(tmp_path / "j.sqlite")
        rec = Recorder()

        async def go() -> None:
            v = venue(gw, j, rec, renew_before_s=2.0)
            await v.start()
            try:
                await until(lambda: v.renewals >= 1, 5)
                assert j.count("token_renewed") >= 1
                # every token expires at once: sockets closed, REST refused; the venue logs
                # in again, reconnects, reconciles and trades on
                gw.expire_tokens()
                await until(lambda: not v.ready, 5)
                await until(lambda: v.ready, 10)
                await v.submit(OrderIntent(1, 0, es, "BUY", 1, "MKT"))
                await until(lambda: j.order(4).status == "filled")  # type: ignore[union-attr]
                assert v.reconnects >= 1
                logins = [k for k, _ in rec.events if k == "login"]
                assert len(logins) >= 2
            finally:
                await v.stop()

        run(go)
        j.close()
    finally:
        gw.stop()


def test_disconnect_fill_while_away_backfilled_once(tmp_path: Path) -> None:
    gw = TradovateGateway(today=TODAY, auto_fill=False).start()
    try:
        es = gw.front("ES").name
        gw.set_quote(es, 5000.0, 5000.25)
        j = Journal(tmp_path / "j.sqlite")
        rec = Recorder()
        rec.regate = lambda i: ("HALTED", "halted meanwhile") if i.intent_id == 3 else None

        async def go() -> None:
            v = venue(gw, j, rec)
            await v.start()
            try:
                await v.submit(OrderIntent(1, 0, es, "BUY", 2, "LMT", price=4999.0))
                await until(lambda: len(gw.order_list()) == 1)
                oid = gw.order_list()[0].id
                gw.go_down(0.6)
                await until(lambda: not v.ready, 5)
                gw.fill(oid, price=4999.0)  # while the client is away
                # intents while disconnected are held, then re-gated when released
                await v.submit(OrderIntent(2, 0, es, "SELL", 1, "LMT", price=5005.0))
                await v.submit(OrderIntent(3, 0, es, "SELL", 1, "LMT", price=5006.0))
                assert len(v.held) == 2 and gw.place_commands == 1
                await until(lambda: v.ready, 10)
                await until(lambda: j.order(4).status == "filled")  # type: ignore[union-attr]
                fills = [(r, s) for r, s in rec.reports if r.kind == "fill"]
                assert len(fills) == 1 and fills[0][1] == "backfill"
                # its fee, never seen live, comes from fillFee/list: once
                await until(lambda: len(rec.commissions) == 1)
                assert rec.commissions[0][0] == 4
                assert rec.commissions[0][2] == pytest.approx(2 * 1.29)
                assert j.positions()[es][0] == 2
                # released in order: intent 2 is placed, then intent 3 is re-gated and
                # refused (the place answer of 2 may come before 3's turn)
                await until(lambda: (3, "HALTED") in [(i, r) for i, r, _ in rec.denials])
                assert gw.place_commands == 2
                assert j.count("held") == 2 and j.count("released") == 1
                # a second reconnect backfills nothing new
                gw.disconnect_all()
                await until(lambda: not v.ready, 5)
                await until(lambda: v.ready, 10)
                assert len([r for r, _ in rec.reports if r.kind == "fill"]) == 1
                assert j.positions()[es][0] == 2 and len(j.fills()) == 1
                assert len(rec.commissions) == 1 and j.count("commission") == 1
            finally:
                await v.stop()

        run(go, timeout=45)
        j.close()
    finally:
        gw.stop()


def test_heartbeats_keep_a_quiet_connection(tmp_path: Path) -> None:
    gw = TradovateGateway(today=TODAY, client_silence_s=1.0, heartbeat_s=0.3).start()
    try:
        j = Journal(tmp_path / "j.sqlite")

        async def go() -> None:
            v = venue(gw, j, Recorder(), heartbeat_s=0.25)
            await v.start()
            try:
                await asyncio.sleep(2.5)  # no traffic but heartbeats, both ways
                assert v.ready and v.reconnects == 0 and gw.connected("user") == 1
            finally:
                await v.stop()

        run(go)
        j.close()
    finally:
        gw.stop()


def test_restart_reconciles_orders_fills_and_positions(tmp_path: Path) -> None:
    gw = TradovateGateway(today=TODAY, auto_fill=False).start()
    try:
        es, nq = gw.front("ES").name, gw.front("NQ").name
        gw.set_quote(es, 5000.0, 5000.25)
        j = Journal(tmp_path / "j.sqlite")

        async def first() -> None:
            v = venue(gw, j, Recorder(), ("ES", "NQ"))
            await v.start()
            try:
                br = Bracket(stop_loss=4980.0, take_profit=5020.0)
                await v.submit(OrderIntent(1, 0, es, "BUY", 1, "LMT", price=4999.0, bracket=br))
                await v.submit(OrderIntent(2, 0, es, "SELL", 1, "LMT", price=5050.0))
                await until(lambda: j.order(8).status == "submitted")  # type: ignore[union-attr]
            finally:
                await v.stop()

        run(first)
        orders = {o.text: o for o in gw.order_list()}
        # while the session is down: the bracket entry fills (its exits start working), an
        # order of ours the journal never heard back about, someone else's order, and a
        # position the journal does not know
        gw.fill(orders["tc:4"].id, price=4999.0)
        j.record_intent(5, {"note": "sent, crashed before the answer"})
        j.record_order(
            20,
            intent_id=5,
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
        gw.add_external_order(es, "Buy", 1, 4990.0, text="tc:20")
        foreign = gw.add_external_order(es, "Sell", 2, 5100.0)
        gw.add_position(nq, -2, 18000.0)
        rec = Recorder()

        async def second() -> None:
            v = venue(gw, j, rec, ("ES", "NQ"))
            await v.start()
            try:
                s = next(d for k, d in rec.events if k == "reconcile")
                assert s["backfilled_fills"] == 1 and s["foreign_orders"] == 1
                assert s["adopted_orders"] == 0
                assert s["position_mismatches"] == [{"symbol": nq, "journal": 0, "broker": -2}]
                assert j.order(4).status == "filled"  # type: ignore[union-attr]
                assert j.order(5).status == j.order(6).status == "submitted"  # type: ignore[union-attr]
                assert j.order(20).status == "submitted"  # type: ignore[union-attr]
                assert j.positions()[es][0] == 1 and j.positions()[nq][0] == -2
                foreign_events = [e for e in j.events("foreign_order")]
                assert foreign_events[-1]["payload"]["venue_order_id"] == foreign
                # the working orders are ours again: cancel one by its client order id
                await v.submit(
                    OrderIntent(9, 0, es, "BUY", 0, "MKT", "CANCEL", target_client_order_id=8)
                )
                await until(lambda: j.order(8).status == "cancelled")  # type: ignore[union-attr]
                assert gw.place_commands == 2  # nothing was sent again
                assert next(o for o in gw.order_list() if o.id == foreign).status == "Working"
            finally:
                await v.stop()

        run(second)
        j.close()
    finally:
        gw.stop()


def test_adopts_our_tagged_order_the_journal_lost(tmp_path: Path) -> None:
    gw = TradovateGateway(today=TODAY, auto_fill=False).start()
    try:
        es = gw.front("ES").name
        gw.add_external_order(es, "Buy", 1, 4990.0, text="tc:44")
        j = Journal(tmp_path / "j.sqlite")
        rec = Recorder()

        async def go() -> None:
            v = venue(gw, j, rec)
            await v.start()
            try:
                row = j.order(44)
                assert row is not None and row.adopted and row.status == "submitted"
                assert (row.qty, row.price, row.order_type, row.side) == (1, 4990.0, "LMT", "BUY")
                assert rec.kinds(44) == ["ack"] and rec.reports[0][0].reason == "adopted"
            finally:
                await v.stop()

        run(go)
        j.close()
    finally:
        gw.stop()


def test_events_before_the_place_answer_wait_for_it(tmp_path: Path) -> None:
    gw = TradovateGateway(today=TODAY).start()
    try:
        es = gw.front("ES").name
        gw.set_quote(es, 5000.0, 5000.25)
        gw.answer_delay_s = 0.2  # the fill's events arrive before the order id is known
        j = Journal(tmp_path / "j.sqlite")
        rec = Recorder()

        async def go() -> None:
            v = venue(gw, j, rec)
            await v.start()
            try:
                br = Bracket(stop_loss=4990.0, take_profit=5010.0)
                await v.submit(OrderIntent(1, 0, es, "BUY", 1, "MKT", bracket=br))
                await until(lambda: j.order(4).status == "filled")  # type: ignore[union-attr]
                assert rec.kinds(4) == ["ack", "fill"]
                await until(lambda: len(rec.commissions) == 1)
                assert j.count("foreign_fill") == 0 and not v._orphans
                assert v.status()["early_events"] >= 3  # New, Trade, fill at least
                assert j.order(5).status == j.order(6).status == "submitted"  # type: ignore[union-attr]
            finally:
                await v.stop()

        run(go)
        j.close()
    finally:
        gw.stop()


def test_old_month_with_a_position_is_tradable_after_the_roll(tmp_path: Path) -> None:
    import datetime as dt

    from tvkit import cfg

    from pycontrol.testing.tradovate_gateway import credential_env
    from pycontrol.tradovate.venue import TradovateVenue

    day = dt.date(2026, 12, 12)  # past ESZ6's roll date: the front month is ESH7
    gw = TradovateGateway(today=day).start()
    try:
        front, old = gw.front("ES").name, "ESZ6"
        assert front == "ESH7" and old in gw.by_name
        gw.add_position(old, 1, 5000.0)
        gw.set_quote(old, 5000.0, 5000.25)
        j = Journal(tmp_path / "j.sqlite")
        rec = Recorder()

        async def go() -> None:
            clock = dt.datetime(2026, 12, 12, 15, tzinfo=dt.UTC)
            v = TradovateVenue(
                cfg(gw), "paper", j, rec.sinks(), clock=lambda: clock, env=credential_env()
            )
            await v.start()
            try:
                assert v.symbols() == {"ES": front}
                assert j.positions()[old][0] == 1  # the broker's position, journaled
                # the engine's exit of the old month goes out (not refused as unknown)
                await v.submit(OrderIntent(1, 0, old, "SELL", 1, "MKT"))
                await until(lambda: j.order(4).status == "filled")  # type: ignore[union-attr]
                assert gw.position_map() == {} and j.positions()[old][0] == 0
                await v.submit(OrderIntent(2, 0, "CLF7", "BUY", 1, "MKT"))
                assert rec.denials[-1][:2] == (2, "UNKNOWN_SYMBOL")
            finally:
                await v.stop()

        run(go)
        j.close()
    finally:
        gw.stop()
