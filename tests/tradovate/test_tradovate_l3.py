"""The double's L3 mode: orders fill through the simulated exchange (``_core.SimMarket``)
replaying the real ES MBO day, quotes and prints come from its book, and its fee is the
commission the venue reports."""

from __future__ import annotations

from pathlib import Path

import pytest
from tvkit import TODAY, Recorder, run, until, venue

from pycontrol.session.journal import Journal
from pycontrol.session.orders import Bracket, OrderIntent
from pycontrol.testing.tradovate_gateway import TradovateGateway


def test_l3_fills_quotes_and_fees(esh4_mbo: Path, tmp_path: Path) -> None:
    gw = TradovateGateway(today=TODAY, fill="l3", fee_per_contract=0.85).start()
    try:
        es = gw.front("ES").name
        gw.load_dbn(esh4_mbo, es)
        assert gw.advance(es, 8725) >= 8725  # the start-of-day snapshot
        j = Journal(tmp_path / "j.sqlite")
        rec = Recorder()

        async def go() -> None:
            v = venue(gw, j, rec)
            await v.start()
            try:
                await until(lambda: bool(rec.quotes))
                q = rec.quotes[-1]
                assert (q.symbol, q.bid, q.ask) == (es, 4799.0, 4799.5)
                br = Bracket(stop_loss=4700.0, take_profit=4900.0)
                await v.submit(OrderIntent(1, 0, es, "BUY", 2, "MKT", bracket=br))
                await until(lambda: j.order(4).status == "filled")  # type: ignore[union-attr]
                fills = [r for r, _ in rec.reports if r.kind == "fill"]
                assert sum(f.qty for f in fills) == 2 and all(f.price == 4799.5 for f in fills)
                assert j.positions()[es] == (2, 4799.5)
                await until(lambda: sum(a for _, _, a in rec.commissions) >= 2 * 0.85 - 1e-9)
                assert sum(a for _, _, a in rec.commissions) == pytest.approx(2 * 0.85)
                # the exits work at the simulated exchange: neither is near the market
                await until(lambda: j.order(5).status == "submitted")  # type: ignore[union-attr]
                kids = [o for o in gw.order_list() if o.parent_id is not None]
                assert {o.status for o in kids} == {"Working"}
                # the live part of the day moves the book: quotes and prints stream on
                before = len(rec.quotes)
                gw.advance(es, 20_000)
                await until(lambda: len(rec.quotes) > before and len(rec.trades) > 0)
                assert all(t.symbol == es and t.size > 0 for t in rec.trades)
            finally:
                await v.stop()

        run(go, timeout=60)
        j.close()
    finally:
        gw.stop()


def test_l3_needs_a_file_and_a_known_mode(esh4_mbo: Path) -> None:
    gw = TradovateGateway(today=TODAY).start()
    try:
        with pytest.raises(ValueError, match="needs TradovateGateway"):
            gw.load_dbn(esh4_mbo, gw.front("ES").name)
    finally:
        gw.stop()
    with pytest.raises(ValueError, match="fill must be 'quote' or 'l3'"):
        TradovateGateway(fill="bbo")
