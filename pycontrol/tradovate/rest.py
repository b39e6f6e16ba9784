"""Tradovate's REST API over aiohttp: the access token (``auth/accesstokenrequest``, renewed
with ``auth/renewaccesstoken`` before its ``expirationTime``) and JSON GET / POST calls with
the bearer token. Credentials come from environment variables named in the config; their
values are never logged, journaled or put into an error message."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from pycontrol.session.config import TradovateConfig
from pycontrol.tradovate.errors import (
    TradovateAuthError,
    TradovateConfigError,
    TradovateConnectError,
    TradovateRequestError,
)


@dataclass(frozen=True)
class Credentials:
    """The body of ``auth/accesstokenrequest``; ``repr`` never shows a value."""

    name: str = field(repr=False)
    password: str = field(repr=False)
    app_id: str
    app_version: str
    cid: str = field(repr=False)
    sec: str = field(repr=False)
    device_id: str = field(repr=False)

    @staticmethod
    def from_env(c: TradovateConfig, env: dict[str, str] | None = None) -> Credentials:
        """Reads every credential variable; one error names all the missing ones."""
        e = os.environ if env is None else env
        names = {
            "name": c.username_env,
            "password": c.password_env,
            "cid": c.cid_env,
            "sec": c.sec_env,
            "device_id": c.device_id_env,
        }
        missing = [f"${v}" for v in names.values() if not e.get(v)]
        if missing:
            raise TradovateConfigError(
                f"tradovate credentials: {', '.join(missing)} not set in the environment"
            )
        vals = {k: e[v] for k, v in names.items()}
        return Credentials(app_id=c.app_id, app_version=c.app_version, **vals)

    def body(self) -> dict[str, Any]:
        cid: Any = int(self.cid) if self.cid.isdigit() else self.cid
        return {
            "name": self.name,
            "password": self.password,
            "appId": self.app_id,
            "appVersion": self.app_version,
            "cid": cid,
            "sec": self.sec,
            "deviceId": self.device_id,
        }


@dataclass
class Token:
    access: str
    md_access: str
    expires: dt.datetime
    user_id: int

    @staticmethod
    def parse(d: dict[str, Any], where: str) -> Token:
        if d.get("errorText") or "accessToken" not in d:
            # Tradovate answers bad credentials (and a captcha p-ticket) with 200 + errorText
            why = str(d.get("errorText") or "no accessToken in the answer")
            if "p-ticket" in d:
                why += f" (rate limited: retry in {d.get('p-time', '?')} s)"
            raise TradovateAuthError(f"{where}: {why}")
        try:
            exp = dt.datetime.fromisoformat(str(d["expirationTime"]).replace("Z", "+00:00"))
        except (KeyError, ValueError):
            raise TradovateAuthError(
                f"{where}: bad expirationTime {d.get('expirationTime')!r}"
            ) from None
        return Token(
            str(d["accessToken"]),
            str(d.get("mdAccessToken") or d["accessToken"]),
            exp,
            int(d.get("userId") or 0),
        )


class RestClient:
    """One REST session: ``login`` gets the token, ``renew`` renews it, ``get``/``post`` call
    endpoints relative to the base URL (``order/placeorder``)."""

    def __init__(self, base_url: str, timeout: float) -> None:
        self.base = base_url.rstrip("/")
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.token: Token | None = None
        self._http: aiohttp.ClientSession | None = None

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(timeout=self.timeout)
        return self._http

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def login(self, creds: Credentials) -> Token:
        d = await self._call("POST", "auth/accesstokenrequest", body=creds.body(), auth=False)
        self.token = Token.parse(d, "auth/accesstokenrequest")
        return self.token

    async def renew(self) -> Token:
        d = await self._call("GET", "auth/renewaccesstoken")
        self.token = Token.parse(d, "auth/renewaccesstoken")
        return self.token

    async def get(self, endpoint: str, **params: Any) -> Any:
        return await self._call("GET", endpoint, params=params)

    async def post(self, endpoint: str, body: dict[str, Any]) -> Any:
        return await self._call("POST", endpoint, body=body)

    async def _call(
        self,
        method: str,
        endpoint: str,
        body: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        auth: bool = True,
    ) -> Any:
        headers = {"Accept": "application/json"}
        if auth:
            if self.token is None:
                raise TradovateAuthError(f"{endpoint}: not logged in")
            headers["Authorization"] = f"Bearer {self.token.access}"
        url = f"{self.base}/{endpoint}"
        q = {k: str(v) for k, v in (params or {}).items()}
        try:
            async with self._session().request(
                method, url, json=body, params=q, headers=headers
            ) as r:
                text = await r.text()
                if r.status == 401:
                    raise TradovateAuthError(f"{endpoint}: access token refused (401)")
                if r.status != 200:
                    raise TradovateRequestError(endpoint, r.status, text)
                try:
                    return await r.json(content_type=None)
                except ValueError:
                    raise TradovateRequestError(endpoint, r.status, "not JSON: " + text) from None
        except (aiohttp.ClientError, TimeoutError, OSError) as e:
            raise TradovateConnectError(
                f"{endpoint} at {self.base}: {type(e).__name__}: {e}"
            ) from e
