"""Where alerts go: Telegram through python-telegram-bot's ``Bot.send_message`` (its
``base_url`` can point at the loopback test double) and generic webhooks (a JSON POST).

A send either succeeds, or raises :class:`RetryLater` (429 with ``retry_after``, network
errors, 5xx: try again) or :class:`Undeliverable` (bad request, forbidden, bad token: no
retry will help). The bot token appears in no message these raise."""

from __future__ import annotations

import datetime as dt
import warnings
from typing import Any

import httpx

from pycontrol.notify.config import TelegramConfig, WebhookConfig


class RetryLater(Exception):
    def __init__(self, message: str, after_s: float | None = None, pause_sink: bool = False):
        super().__init__(message)
        self.after_s = after_s
        self.pause_sink = pause_sink  # 429: the whole sink waits, not only this message


class Undeliverable(Exception):
    pass


def format_text(event: str, source: str, text: str, data: dict[str, Any]) -> str:
    head = f"[{event}] {source}: {text}" if source else f"[{event}] {text}"
    if data:
        body = ", ".join(f"{k}={v}" for k, v in sorted(data.items()))
        head += f"\n{body}"
    return head[:4096]  # sendMessage's limit


class TelegramSink:
    name = "telegram"

    def __init__(self, cfg: TelegramConfig) -> None:
        from telegram import Bot
        from telegram.request import HTTPXRequest

        token = cfg.token()
        if not token:
            raise Undeliverable(f"telegram: environment variable {cfg.token_env} is not set")
        self.cfg = cfg
        self._mask = token
        self._ready = False
        self.bot = Bot(
            token,
            base_url=cfg.base_url,
            request=HTTPXRequest(connect_timeout=5.0, read_timeout=10.0),
        )

    def _safe(self, e: BaseException) -> str:
        return f"{type(e).__name__}: {e}".replace(self._mask, "***")

    async def send(self, text: str) -> None:
        from telegram import error as tg

        try:
            if not self._ready:
                await self.bot.initialize()  # getMe: the token is checked once
                self._ready = True
            await self.bot.send_message(chat_id=self.cfg.chat_id, text=text)
        except tg.RetryAfter as e:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ra = e.retry_after
            secs = ra.total_seconds() if isinstance(ra, dt.timedelta) else float(ra)
            raise RetryLater(self._safe(e), after_s=secs, pause_sink=True) from None
        except (tg.TimedOut, tg.NetworkError) as e:
            if isinstance(e, tg.BadRequest):
                raise Undeliverable(self._safe(e)) from None
            raise RetryLater(self._safe(e)) from None
        except (tg.Forbidden, tg.InvalidToken, tg.ChatMigrated) as e:
            raise Undeliverable(self._safe(e)) from None
        except tg.TelegramError as e:
            raise RetryLater(self._safe(e)) from None

    async def close(self) -> None:
        await self.bot.shutdown()


class WebhookSink:
    def __init__(self, cfg: WebhookConfig) -> None:
        self.cfg = cfg
        self.name = f"webhook:{cfg.name}"
        self.client = httpx.AsyncClient(timeout=cfg.timeout_s)

    async def send_json(self, body: dict[str, Any]) -> None:
        try:
            r = await self.client.post(self.cfg.url, json=body)
        except httpx.HTTPError as e:
            raise RetryLater(f"{self.name}: {type(e).__name__}: {e}") from None
        if r.status_code == 429:
            after = r.headers.get("retry-after")
            raise RetryLater(
                f"{self.name}: 429",
                after_s=float(after) if after and after.isdigit() else None,
                pause_sink=True,
            )
        if r.status_code >= 500:
            raise RetryLater(f"{self.name}: HTTP {r.status_code}")
        if r.status_code >= 400:
            raise Undeliverable(f"{self.name}: HTTP {r.status_code}: {r.text[:200]}")

    async def close(self) -> None:
        await self.client.aclose()
