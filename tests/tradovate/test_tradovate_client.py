"""The REST and WebSocket clients against the test double on loopback: login, renewal, a
refused token, authorize, heartbeats answered, requests matched by id, errors typed."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from tvkit import TODAY, run

from pycontrol.session.config import TradovateConfig
from pycontrol.testing.tradovate_gateway import TradovateGateway, credential_env
from pycontrol.tradovate.contracts import resolve_front
from pycontrol.tradovate.errors import (
    TradovateAuthError,
    TradovateConnectError,
    TradovateContractError,
    TradovateRequestError,
)
from pycontrol.tradovate.rest import Credentials, RestClient
from pycontrol.tradovate.ws import WsClient


@pytest.fixture
def gw() -> Iterator[TradovateGateway]:
    g = TradovateGateway(today=TODAY, token_ttl_s=60).start()
    yield g
    g.stop()


def _creds() -> Credentials:
    return Credentials.from_env(TradovateConfig(), credential_env())


def test_login_renew_expire(gw: TradovateGateway) -> None:
    async def go() -> None:
        rest = RestClient(gw.rest_url, 3.0)
        try:
            tok = await rest.login(_creds())
            left = (tok.expires - dt.datetime.now(dt.UTC)).total_seconds()
            assert 50 < left <= 60 and tok.md_access != tok.access and tok.user_id == 501
            tok2 = await rest.renew()
            assert tok2.access != tok.access
            accounts = await rest.get("account/list")
            assert accounts[0]["name"] == "DEMO4242"
            gw.expire_tokens()
            with pytest.raises(TradovateAuthError, match="account/list: access token refused"):
                await rest.get("account/list")
            with pytest.raises(TradovateAuthError, match="renewaccesstoken"):
                await rest.renew()
            await rest.login(_creds())  # a fresh login works again
            with pytest.raises(TradovateRequestError, match="status 404"):
                await rest.get("nothing/here")
            k = await resolve_front(rest, "CL", 8, TODAY)
            assert k.name == gw.front("CL").name and k.id == gw.front("CL").id
            gw.call(lambda: gw.by_name.pop(gw.front("GC").name))
            with pytest.raises(TradovateContractError, match="GC: contract/find GC"):
                await resolve_front(rest, "GC", 8, TODAY)
        finally:
            await rest.close()
        bad = RestClient("http://127.0.0.1:1/v1", 1.0)
        with pytest.raises(TradovateConnectError, match="auth/accesstokenrequest at"):
            await bad.login(_creds())
        await bad.close()

    run(go)


def test_sockets_authorize_sync_quotes(gw: TradovateGateway) -> None:
    es = gw.front("ES")
    gw.set_quote(es.name, 5000.0, 5000.5)
    events: list[tuple[str, Any]] = []
    closed: list[str] = []

    async def go() -> None:
        rest = RestClient(gw.rest_url, 3.0)
        tok = await rest.login(_creds())
        await rest.close()
        user = WsClient(
            gw.ws_url, 0.2, 3.0, lambda e, d: events.append((e, d)), closed.append, "user"
        )
        md = WsClient(gw.md_url, 0.2, 3.0, lambda e, d: events.append((e, d)), closed.append, "md")
        try:
            await user.connect(tok.access)
            sync = await user.request("user/syncrequest", {"users": [tok.user_id]})
            assert sync["accounts"][0]["id"] == 7001 and sync["orders"] == []
            with pytest.raises(TradovateAuthError, match="md authorize: Access is denied"):
                await md.connect("not-a-token")
            await md.connect(tok.md_access)
            await md.request("md/subscribeQuote", {"symbol": es.name})
            with pytest.raises(TradovateRequestError, match=r"status 404.*Unknown symbol"):
                await md.request("md/subscribeQuote", {"symbol": "XXZ9"})
            for _ in range(100):
                if any(e == "md" for e, _ in events):
                    break
                await asyncio.sleep(0.02)
            q = next(d for e, d in events if e == "md")["quotes"][0]
            assert q["contractId"] == es.id and q["entries"]["Offer"]["price"] == 5000.5
            await asyncio.sleep(1.0)  # heartbeats both ways: still open
            assert user.connected and md.connected and closed == []
            gw.disconnect_all()
            for _ in range(100):
                if len(closed) == 2:
                    break
                await asyncio.sleep(0.02)
            assert sorted(closed) == ["closed by server: 1000 bye"] * 2
            assert not user.connected
            with pytest.raises(TradovateConnectError, match="not connected"):
                await user.request("user/syncrequest", {})
        finally:
            await user.close()
            await md.close()

    run(go)


def test_token_answers_and_credentials() -> None:
    from pycontrol.tradovate.rest import Token

    with pytest.raises(TradovateAuthError, match="x: Incorrect username"):
        Token.parse({"errorText": "Incorrect username or password"}, "x")
    with pytest.raises(TradovateAuthError, match=r"rate limited: retry in 15 s"):
        Token.parse({"p-ticket": "abc", "p-time": 15, "p-captcha": False}, "x")
    with pytest.raises(TradovateAuthError, match="bad expirationTime 'soon'"):
        Token.parse({"accessToken": "t", "expirationTime": "soon"}, "x")
    t = Token.parse(
        {"accessToken": "t", "expirationTime": "2026-12-08T04:00:00.000Z", "userId": 9}, "x"
    )
    assert (t.md_access, t.user_id, t.expires.tzinfo is not None) == ("t", 9, True)
    c = _creds()
    assert c.body()["cid"] == 8 and c.body()["deviceId"] == "test-device"
    assert "demo-pass" not in repr(c) and "demo-sec" not in repr(c)
