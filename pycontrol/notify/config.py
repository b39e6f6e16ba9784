"""The notifications service's config (TOML): where the queue lives, the Telegram chat and
the environment variable that holds the bot token (never the token itself), webhooks,
per-event routes and muted events. Every violation is reported at once."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pycontrol._core import ConfigError

EVENTS = (
    "promotion", "rollback", "fill", "halt", "resume", "breaker", "denial_spike", "feed_gap",
    "reconnect", "drift", "session_start", "session_stop", "error", "test", "training", "roll",
    "alert",
)  # fmt: skip


class NotifyConfigError(ConfigError):
    """A notifications config is invalid; ``violations`` lists every problem."""

    violations: list[str]


def _fail(where: str, violations: list[str]) -> NotifyConfigError:
    err = NotifyConfigError(f"{where}: " + "; ".join(violations))
    err.path = where
    err.record = None
    err.offset = None
    err.violations = list(violations)
    return err


@dataclass(frozen=True)
class TelegramConfig:
    chat_id: str
    token_env: str = "TELEGRAM_BOT_TOKEN"
    base_url: str = "https://api.telegram.org/bot"
    min_interval_s: float = 1.0  # at most one message per interval to the chat

    def token(self) -> str:
        return os.environ.get(self.token_env, "")


@dataclass(frozen=True)
class WebhookConfig:
    name: str
    url: str
    timeout_s: float = 5.0


@dataclass(frozen=True)
class NotifyConfig:
    db: Path
    host: str = "127.0.0.1"
    port: int = 8472
    telegram: TelegramConfig | None = None
    webhooks: tuple[WebhookConfig, ...] = ()
    routes: dict[str, list[str]] = field(default_factory=lambda: {"*": ["telegram"]})
    mute: tuple[str, ...] = ()
    max_backoff_s: float = 60.0

    def sinks(self) -> list[str]:
        out = ["telegram"] if self.telegram else []
        return out + [f"webhook:{w.name}" for w in self.webhooks]

    def route(self, event: str) -> list[str]:
        """The sinks an event goes to; [] when muted or routed nowhere."""
        if event in self.mute:
            return []
        return list(self.routes.get(event, self.routes.get("*", [])))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> NotifyConfig:
        where = str(path)
        try:
            doc = tomllib.loads(Path(path).read_text())
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise _fail(where, [f"cannot read: {e}"]) from None
        return cls.from_mapping(doc, where)

    @classmethod
    def from_mapping(cls, doc: dict[str, Any], where: str = "notify config") -> NotifyConfig:
        bad: list[str] = []
        known = {"notify", "telegram", "webhook", "routes"}
        bad += [f"unknown table {k!r} (known: {sorted(known)})" for k in doc if k not in known]
        n = doc.get("notify", {})
        db = n.get("db")
        if not isinstance(db, str) or not db:
            bad.append("notify.db must name the queue file")
        port = n.get("port", 8472)
        if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port < 65536:
            bad.append(f"notify.port must be 0..65535, got {port!r}")
        backoff = n.get("max_backoff_s", 60.0)
        if not isinstance(backoff, int | float) or backoff <= 0:
            bad.append(f"notify.max_backoff_s must be > 0, got {backoff!r}")
        tg = None
        if "telegram" in doc:
            t = doc["telegram"]
            extra = set(t) - {"chat_id", "token_env", "base_url", "min_interval_s", "token"}
            if "token" in t:
                bad.append("telegram.token: the token never goes in a file; name its "
                           "environment variable in telegram.token_env")  # fmt: skip
            bad += [f"telegram: unknown field {k!r}" for k in sorted(extra - {"token"})]
            if not isinstance(t.get("chat_id"), str | int) or isinstance(t.get("chat_id"), bool):
                bad.append("telegram.chat_id must be a chat id (string or integer)")
            mi = t.get("min_interval_s", 1.0)
            if not isinstance(mi, int | float) or mi < 0:
                bad.append(f"telegram.min_interval_s must be >= 0, got {mi!r}")
            if not bad:
                tg = TelegramConfig(
                    chat_id=str(t["chat_id"]),
                    token_env=str(t.get("token_env", "TELEGRAM_BOT_TOKEN")),
                    base_url=str(t.get("base_url", "https://api.telegram.org/bot")),
                    min_interval_s=float(mi),
                )
        hooks = []
        for i, w in enumerate(doc.get("webhook", [])):
            if not isinstance(w.get("name"), str) or not isinstance(w.get("url"), str):
                bad.append(f"webhook[{i}] needs a name and a url")
                continue
            if not w["url"].startswith(("http://", "https://")):
                bad.append(f"webhook[{i}].url must be http(s), got {w['url']!r}")
            hooks.append(WebhookConfig(w["name"], w["url"], float(w.get("timeout_s", 5.0))))
        sinks = (["telegram"] if "telegram" in doc else []) + [f"webhook:{h.name}" for h in hooks]
        routes = doc.get("routes", {"*": ["telegram"] if "telegram" in doc else sinks})
        for ev, targets in routes.items():
            if ev != "*" and ev not in EVENTS:
                bad.append(f"routes.{ev}: unknown event (known: {', '.join(EVENTS)})")
            if not isinstance(targets, list):
                bad.append(f"routes.{ev} must be a list of sinks")
                continue
            bad += [f"routes.{ev}: unknown sink {s!r} (known: {sinks})" for s in targets
                    if s not in sinks]  # fmt: skip
        mute = n.get("mute", [])
        bad += [f"notify.mute: unknown event {e!r}" for e in mute if e not in EVENTS]
        if bad:
            raise _fail(where, bad)
        return cls(
            db=Path(db),
            host=str(n.get("host", "127.0.0.1")),
            port=int(port),
            telegram=tg,
            webhooks=tuple(hooks),
            routes={k: list(v) for k, v in routes.items()},
            mute=tuple(mute),
            max_backoff_s=float(backoff),
        )
