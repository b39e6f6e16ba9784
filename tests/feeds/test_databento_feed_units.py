"""Units of the Databento live feed: the ``[feed]`` config, the backoff, the engine's
``on_records`` binding on hand-made DBN records (MBO, MBP-1, trades, unmapped, malformed)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import databento_dbn
import pytest

from pycontrol import InvalidInputError, _core
from pycontrol.backtest.config import BacktestConfig
from pycontrol.backtest.run import engine_kwargs
from pycontrol.feeds.databento_live import FeedError, LiveFeed, backoff
from pycontrol.session.config import FeedConfig, SessionConfig, SessionConfigError
from pycontrol.testing.databento_gateway import DatabentoGateway, GatewayDataError
from pycontrol.testing.databento_gateway import main as gateway_main

dbn: Any = databento_dbn
T0 = 1_700_000_000_000_000_000
PX = 1_000_000_000  # DBN fixed point
F_LAST = 1 << 7


def test_feed_config_defaults_and_every_violation_at_once() -> None:
    assert FeedConfig().kind == "broker"
    with pytest.raises(SessionConfigError) as e:
        FeedConfig(
            kind="tv", dataset="glbx", key_env="1BAD", gateway="evil.example.com", port=0,
            schemas=("mbo", "l4"), heartbeat_interval_s=10, stall_timeout_s=5,
            reconnect_initial=2.0, reconnect_max=1.0, ts_out=1,
        )  # fmt: skip
    v = " | ".join(e.value.violations)
    for word in ("kind", "dataset", "key_env", "gateway", "port", "schemas",
                 "stall_timeout_s", "reconnect_max", "ts_out"):  # fmt: skip
        assert word in v, word
    with pytest.raises(SessionConfigError, match="the same market twice"):
        FeedConfig(kind="databento", schemas=("mbo", "trades"))
    assert FeedConfig(schemas=("mbo", "definition", "status")).schemas[-1] == "status"
    cfg = SessionConfig.from_dict(
        {"name": "s", "feed": {"kind": "databento", "gateway": "127.0.0.1", "port": 9}}
    )
    assert cfg.feed.kind == "databento" and cfg.feed.port == 9
    with pytest.raises(SessionConfigError, match="unknown field 'key'"):
        SessionConfig.from_dict({"name": "s", "feed": {"key": "db-secret"}})


def test_backoff_grows_to_its_cap_with_jitter() -> None:
    rng = random.Random(1)
    d = [backoff(a, 0.5, 8.0, rng) for a in range(12) for _ in range(20)]
    assert all(0.05 <= x <= 8.0 for x in d)
    late = [backoff(10, 0.5, 8.0, rng) for _ in range(50)]
    assert max(late) > 4.0 and len(set(late)) == 50  # capped, and jittered


def test_a_feed_without_a_key_is_refused() -> None:
    cfg = FeedConfig(kind="databento", key_env="NO_SUCH_KEY_ENV")
    with pytest.raises(FeedError, match="NO_SUCH_KEY_ENV"):
        LiveFeed(cfg, ["ESH4"], "")


def engine() -> Any:
    bt = BacktestConfig.from_dict({"name": "feed", "data": ["<databento>"]})
    ids = {1: "ES", 2: "NQ"}
    return _core.LiveEngine(
        [(1, "ES", 0.25, 50.0), (2, "NQ", 0.25, 20.0)], **engine_kwargs(bt, ids, None)
    )


def mbo(iid: int, oid: int, action: str, side: str, px: float, size: int, t: int) -> bytes:
    a = {"A": dbn.Action.ADD, "C": dbn.Action.CANCEL, "T": dbn.Action.TRADE}[action]
    s = {"B": dbn.Side.BID, "A": dbn.Side.ASK, "N": dbn.Side.NONE}[side]
    m = dbn.MBOMsg(1, iid, T0 + t, oid, int(px * PX), size, a, s, T0 + t, flags=F_LAST)
    return bytes(m)


def test_on_records_builds_the_l3_book_of_mapped_instruments_only() -> None:
    e = engine()
    e.map_feed_instrument(17077, 1)
    data = (
        mbo(17077, 1, "A", "B", 5000.0, 3, 1)
        + mbo(17077, 2, "A", "B", 5000.0, 2, 2)
        + mbo(17077, 3, "A", "A", 5000.25, 4, 3)
        + mbo(99, 4, "A", "A", 1.0, 4, 4)  # not in this session
        + mbo(17077, 1, "C", "B", 5000.0, 3, 5)
    )
    out = e.on_records(data)
    assert (out["records"], out["skipped"]) == (4, 1)
    assert e.book_levels(1, "B", 5) == [(5000.0, 2, 1)]
    assert e.book_levels(1, "A", 5) == [(5000.25, 4, 1)]
    assert e.book_trusted(1) is True and e.book_trusted(2) is None
    e.mark_untrusted(1)
    assert e.book_trusted(1) is False and e.feed_stats()["gaps"] == {1: 1}
    with pytest.raises(InvalidInputError, match="engine instrument 7"):
        e.map_feed_instrument(5, 7)


def test_on_records_routes_mbp1_and_trades_through_the_quote_path() -> None:
    e = engine()
    e.map_feed_instrument(118, 2)
    lv = dbn.BidAskPair(
        bid_px=int(20000.0 * PX), ask_px=int(20000.25 * PX), bid_sz=5, ask_sz=7, bid_ct=1, ask_ct=1
    )
    m = dbn.MBP1Msg(1, 118, T0, int(20000.0 * PX), 1, dbn.Action.TRADE, dbn.Side.BID, 0,
                    T0, flags=F_LAST, levels=lv)  # fmt: skip
    t = dbn.TradeMsg(1, 118, T0 + 1, int(20000.25 * PX), 2, dbn.Action.TRADE, dbn.Side.ASK,
                     0, T0 + 1, flags=F_LAST)  # fmt: skip
    out = e.on_records(bytes(m) + bytes(t))
    assert out["records"] == 2
    assert e.book_levels(2, "B", 3) == [(20000.0, 5, 1)]
    assert e.book_levels(2, "A", 3) == [(20000.25, 7, 1)]


@pytest.mark.parametrize(
    ("data", "what"),
    [(b"\x0e\xa0\x01", "bytes left"), (b"\x02" + b"\x00" * 15, "record length 8"),
     (b"\x20" + b"\xa0" + b"\x00" * 30, "record length 128")],
)  # fmt: skip
def test_malformed_records_are_a_typed_error_naming_the_offset(data: bytes, what: str) -> None:
    e = engine()
    good = mbo(1, 1, "A", "B", 5000.0, 1, 1)
    e.map_feed_instrument(1, 1)
    with pytest.raises(InvalidInputError, match=f"byte {len(good)}.*{what}"):
        e.on_records(good + data)


def test_the_test_gateway_refuses_bad_data_with_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert gateway_main(["--data", str(tmp_path / "missing.dbn"), "--port", "0"]) == 2
    assert "missing.dbn" in capsys.readouterr().err
    text = tmp_path / "notes.dbn"
    text.write_text("not dbn")
    with pytest.raises(GatewayDataError, match=r"notes\.dbn: not a DBN file"):
        DatabentoGateway(text)
    with pytest.raises(SystemExit):
        gateway_main(["--data", str(text), "--rename", "ESH4"])
