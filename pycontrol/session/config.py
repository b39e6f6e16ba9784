"""Session configuration (TOML under configs/session/): one frozen, validated structure per
component, unknown fields rejected and every violation reported at once.

Secrets never live here: the config names environment variables (``account_env``,
``secret_envs``) and the values are read from the environment at run time.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pycontrol._core import ConfigError

MODES = ("replay", "paper", "live")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


class SessionConfigError(ConfigError):
    """A session configuration is invalid; ``violations`` lists every problem."""

    violations: list[str]


def _fail(where: str, violations: list[str]) -> SessionConfigError:
    err = SessionConfigError(f"{where}: " + "; ".join(violations))
    err.path = where
    err.record = None
    err.offset = None
    err.violations = list(violations)
    return err


def _build(cls: type[Any], data: Any, where: str) -> tuple[Any, list[str]]:
    """Builds ``cls`` from a mapping; returns (object or None, violations)."""
    if not isinstance(data, Mapping):
        return None, [f"{where}: expected a table, got {type(data).__name__}"]
    known = [f.name for f in fields(cls)]
    bad = [
        f"{where}: unknown field {k!r} (known: {', '.join(known)})" for k in data if k not in known
    ]
    try:
        obj = cls._from_mapping({k: v for k, v in data.items() if k in known}, where)
    except SessionConfigError as e:
        return None, bad + e.violations
    except TypeError as e:
        return None, [*bad, f"{where}: {e}"]
    if bad:
        return None, bad
    return obj, []


def _pos_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v > 0


def _hhmm(v: object) -> dt.time | None:
    if not isinstance(v, str):
        return None
    try:
        return dt.time.fromisoformat(v)
    except ValueError:
        return None


class _Base:
    @classmethod
    def _from_mapping(cls, data: Mapping[str, Any], where: str) -> Any:
        try:
            return cls(**data)
        except SessionConfigError as e:
            raise _fail(where, [f"{where}.{v}" for v in e.violations]) from None


@dataclass(frozen=True)
class InstrumentConfig(_Base):
    """One traded product. ``exchange``, ``tick_size`` and ``multiplier`` default to the
    core's specs table (``pycontrol._core.instrument_spec``, the one source of contract specs);
    a value given here must agree with it unless the root is not in the table. The contract
    month is not configured: the session trades the front month by the roll rule
    (``roll_days`` business days before expiry or first notice, ``_core.front_month``)."""

    root: str = "ES"
    exchange: str = ""
    roll_days: int = 8
    tick_size: float | None = None
    multiplier: float | None = None

    def __post_init__(self) -> None:
        bad = []
        if not isinstance(self.root, str) or not self.root.isalnum():
            bad.append(f"root must be an alphanumeric root symbol, got {self.root!r}")
        if (
            not isinstance(self.roll_days, int)
            or isinstance(self.roll_days, bool)
            or not (0 <= self.roll_days <= 120)
        ):
            bad.append(f"roll_days must be an int in 0..120, got {self.roll_days!r}")
        for name in ("tick_size", "multiplier"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, int | float) or isinstance(v, bool) or v <= 0):
                bad.append(f"{name} must be > 0, got {v!r}")
        if not isinstance(self.exchange, str):
            bad.append(f"exchange must be a string, got {self.exchange!r}")
        if not bad:
            bad += self._fill_from_specs()
        if bad:
            raise _fail(f"instrument {self.root}", bad)

    def _fill_from_specs(self) -> list[str]:
        """Missing specs from the core's table; given ones checked against it."""
        from pycontrol._core import instrument_spec

        try:
            spec = instrument_spec(self.root)
        except ConfigError as e:
            missing = [n for n in ("exchange", "tick_size", "multiplier") if not getattr(self, n)]
            if missing:
                return [f"{', '.join(missing)} must be given: {e}"]
            return []
        bad = []
        for name in ("exchange", "tick_size", "multiplier"):
            mine, theirs = getattr(self, name), spec[name]
            if not mine:
                object.__setattr__(self, name, theirs)
            elif mine != theirs:
                bad.append(f"{name} {mine!r} disagrees with the specs table ({theirs!r})")
        return bad

    @property
    def point_value(self) -> float:
        assert self.multiplier is not None  # filled in __post_init__
        return float(self.multiplier)

    @property
    def tick(self) -> float:
        assert self.tick_size is not None
        return float(self.tick_size)


MAX_INSTRUMENTS = 32


@dataclass(frozen=True)
class RestartWindow(_Base):
    """The daily gateway restart window: no order is sent inside it. ``policy`` says what
    happens to an intent that arrives then: ``hold`` (sent when the window ends) or ``deny``."""

    start: str = "23:45"
    end: str = "00:15"
    tz: str = "America/New_York"
    policy: str = "hold"

    def __post_init__(self) -> None:
        bad = []
        for name in ("start", "end"):
            if _hhmm(getattr(self, name)) is None:
                bad.append(f"{name} must be HH:MM, got {getattr(self, name)!r}")
        try:
            ZoneInfo(str(self.tz))
        except (ZoneInfoNotFoundError, ValueError):
            bad.append(f"tz {self.tz!r} is not a known time zone")
        if self.policy not in ("hold", "deny"):
            bad.append(f"policy must be 'hold' or 'deny', got {self.policy!r}")
        if bad:
            raise _fail("restart_window", bad)

    def contains(self, when: dt.datetime) -> bool:
        """Whether ``when`` (aware) falls in the window (which may wrap midnight)."""
        local = when.astimezone(ZoneInfo(self.tz)).time()
        start, end = _hhmm(self.start), _hhmm(self.end)
        assert start is not None and end is not None
        if start <= end:
            return start <= local < end
        return local >= start or local < end


@dataclass(frozen=True)
class IBConfig(_Base):
    host: str = "127.0.0.1"
    port: int | None = None  # None: probe Gateway then TWS ports for the mode
    client_id: int = 7
    max_client_ids: int = 5
    connect_timeout: float = 4.0
    reconnect_initial: float = 0.5
    reconnect_max: float = 30.0
    account_env: str = "IB_ACCOUNT"
    restart_window: RestartWindow = field(default_factory=RestartWindow)

    def __post_init__(self) -> None:
        bad = []
        if self.host not in ("127.0.0.1", "localhost", "::1"):
            bad.append(f"host must be loopback (TWS/Gateway run beside us), got {self.host!r}")
        if self.port is not None and not (isinstance(self.port, int) and 0 < self.port < 65536):
            bad.append(f"port must be 1..65535 or absent, got {self.port!r}")
        if not isinstance(self.client_id, int) or self.client_id < 0:
            bad.append(f"client_id must be an int >= 0, got {self.client_id!r}")
        if not _pos_int(self.max_client_ids):
            bad.append(f"max_client_ids must be an int > 0, got {self.max_client_ids!r}")
        for name in ("connect_timeout", "reconnect_initial", "reconnect_max"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not (0 < v < 1e6):
                bad.append(f"{name} must be a number of seconds > 0, got {v!r}")
        ri, rm = self.reconnect_initial, self.reconnect_max
        if isinstance(ri, int | float) and isinstance(rm, int | float) and rm < ri:
            bad.append(f"reconnect_max ({rm}) must be >= reconnect_initial ({ri})")
        if not isinstance(self.account_env, str) or not _ENV_NAME.fullmatch(self.account_env):
            bad.append(
                f"account_env must be an environment variable name, got {self.account_env!r}"
            )
        if isinstance(self.port, bool) or isinstance(self.client_id, bool):
            bad.append("port and client_id must be integers, not true/false")
        if bad:
            raise _fail("ib", bad)

    @classmethod
    def _from_mapping(cls, data: Mapping[str, Any], where: str) -> Any:
        d = dict(data)
        if "restart_window" in d:
            rw, bad = _build(RestartWindow, d["restart_window"], f"{where}.restart_window")
            if bad:
                raise _fail(where, bad)
            d["restart_window"] = rw
        return super()._from_mapping(d, where)


TRADOVATE_HOSTS = {
    "demo": ("demo.tradovateapi.com", "md-demo.tradovateapi.com"),
    "live": ("live.tradovateapi.com", "md.tradovateapi.com"),
}
_LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")


def _url_problem(name: str, url: str, schemes: tuple[str, ...], hosts: tuple[str, ...]) -> str:
    """Why ``url`` may not be used (empty: it may): loopback (the test double) or one of the
    official hosts of the configured environment, nothing else."""
    from urllib.parse import urlsplit

    if not isinstance(url, str):
        return f"{name} must be a URL string, got {url!r}"
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return f"{name} is not a URL: {url!r}"
    if host in _LOOPBACK or host == "::1":
        if parts.scheme not in schemes:
            return f"{name} scheme must be one of {', '.join(schemes)}, got {url!r}"
        return ""
    if host not in hosts:
        return f"{name} must be loopback or {' / '.join(hosts)}, got host {host!r}"
    if parts.scheme != schemes[-1]:
        return f"{name} to {host} must use {schemes[-1]}://, got {url!r}"
    return ""


@dataclass(frozen=True)
class TradovateConfig(_Base):
    """``[tradovate]``: the Tradovate venue. ``environment`` demo or live (live only in a live
    session, demo never in one). URLs default to the environment's official hosts; an
    override must be loopback (the test double) or that environment's host. Credentials are
    the names of environment variables, never the values."""

    environment: str = "demo"
    rest_url: str = ""
    ws_url: str = ""
    md_url: str = ""
    app_id: str = "pycontrol"
    app_version: str = "1.0"
    username_env: str = "TRADOVATE_USERNAME"
    password_env: str = "TRADOVATE_PASSWORD"
    cid_env: str = "TRADOVATE_CID"
    sec_env: str = "TRADOVATE_SEC"
    device_id_env: str = "TRADOVATE_DEVICE_ID"
    account_env: str = "TRADOVATE_ACCOUNT"
    connect_timeout: float = 5.0
    request_timeout: float = 5.0
    renew_before_s: float = 900.0
    heartbeat_s: float = 2.5
    server_timeout_s: float = 30.0
    reconnect_initial: float = 0.5
    reconnect_max: float = 30.0

    def __post_init__(self) -> None:
        bad = []
        env = self.environment
        if env not in TRADOVATE_HOSTS:
            bad.append(f"environment must be 'demo' or 'live', got {env!r}")
        else:
            rest_host, md_host = TRADOVATE_HOSTS[env]
            for name, schemes, host in (
                ("rest_url", ("http", "https"), rest_host),
                ("ws_url", ("ws", "wss"), rest_host),
                ("md_url", ("ws", "wss"), md_host),
            ):
                url = getattr(self, name)
                if url != "":
                    why = _url_problem(name, url, schemes, (host,))
                    if why:
                        bad.append(why)
        for name in ("app_id", "app_version"):
            v = getattr(self, name)
            if not isinstance(v, str) or not v.strip() or len(v) > 64:
                bad.append(f"{name} must be a non-empty string of at most 64 characters")
        for name in (
            "username_env",
            "password_env",
            "cid_env",
            "sec_env",
            "device_id_env",
            "account_env",
        ):
            v = getattr(self, name)
            if not isinstance(v, str) or not _ENV_NAME.fullmatch(v):
                bad.append(f"{name} must be an environment variable name, got {v!r}")
        for name in (
            "connect_timeout",
            "request_timeout",
            "renew_before_s",
            "heartbeat_s",
            "server_timeout_s",
            "reconnect_initial",
            "reconnect_max",
        ):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not (0 < v < 1e6):
                bad.append(f"{name} must be a number of seconds > 0, got {v!r}")
        ri, rm = self.reconnect_initial, self.reconnect_max
        if isinstance(ri, int | float) and isinstance(rm, int | float) and rm < ri:
            bad.append(f"reconnect_max ({rm}) must be >= reconnect_initial ({ri})")
        hb = self.heartbeat_s
        if isinstance(hb, int | float) and not isinstance(hb, bool) and hb > 2.5:
            bad.append(f"heartbeat_s must be <= 2.5 (Tradovate drops quieter clients), got {hb}")
        if bad:
            raise _fail("tradovate", bad)

    def urls(self) -> tuple[str, str, str]:
        """(REST base, user WebSocket, market data WebSocket) for this environment."""
        rest_host, md_host = TRADOVATE_HOSTS[self.environment]
        return (
            self.rest_url or f"https://{rest_host}/v1",
            self.ws_url or f"wss://{rest_host}/v1/websocket",
            self.md_url or f"wss://{md_host}/v1/websocket",
        )


BROKERS = ("ib", "tradovate")


@dataclass(frozen=True)
class VenueSection(_Base):
    """``[venue]``: which broker a paper or live session trades at."""

    broker: str = "ib"

    def __post_init__(self) -> None:
        if self.broker not in BROKERS:
            raise _fail(
                "venue", [f"broker must be one of {', '.join(BROKERS)}, got {self.broker!r}"]
            )


class RiskConfig:
    """``[risk]``: the session's pre-trade limits, any key of the core's ``RiskLimits``
    (``configs/risk/default.toml`` lists them with their documented defaults). Keys left out
    keep the strategy's value, else the core's default; the core validates the whole set and
    names every bad key at once. There is no second copy of the defaults here."""

    def __init__(self, limits: Mapping[str, float] | None = None) -> None:
        self.limits: dict[str, float] = dict(limits or {})

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RiskConfig) and self.limits == other.limits

    def __hash__(self) -> int:
        return hash(tuple(sorted(self.limits.items())))

    def __repr__(self) -> str:
        return f"RiskConfig({self.limits!r})"

    @classmethod
    def _from_mapping(cls, data: Mapping[str, Any], where: str) -> RiskConfig:
        from pycontrol._core import risk_limits_from_table

        try:
            # the core's validation: unknown keys, wrong types, bad values, all at once
            risk_limits_from_table(dict(data))
        except ConfigError as e:
            raise _fail(where, [str(e)]) from None
        return cls({str(k): float(v) for k, v in data.items()})


@dataclass(frozen=True)
class SignalConfig(_Base):
    """A scripted signal: at the session's ``at_event``-th market data update, an external
    signal ``side`` with ``confidence`` enters the Rust engine (its inbox) for the session's
    instrument, or ``symbol``'s root in a portfolio. It then passes the external threshold,
    the decision, sizing and every pre-trade gate, like any signal; nothing is sent around
    the engine. ``intent_id`` names it in the journal: a restarted session that has already
    pushed it does not push it again."""

    intent_id: int
    at_event: int
    side: str
    confidence: float = 0.95
    symbol: str = ""

    def __post_init__(self) -> None:
        bad = []
        if not _pos_int(self.intent_id):
            bad.append(f"intent_id must be an int > 0, got {self.intent_id!r}")
        if not _pos_int(self.at_event):
            bad.append(f"at_event must be an int > 0, got {self.at_event!r}")
        if self.side not in ("BUY", "SELL"):
            bad.append(f"side must be BUY or SELL, got {self.side!r}")
        c = self.confidence
        if isinstance(c, bool) or not isinstance(c, int | float) or not (0.0 < c <= 1.0):
            bad.append(f"confidence must be a probability in (0, 1], got {c!r}")
        if not isinstance(self.symbol, str):
            bad.append(f"symbol must be a root symbol string, got {self.symbol!r}")
        if bad:
            raise _fail(f"signal {self.intent_id}", bad)


@dataclass(frozen=True)
class ZmqConfig(_Base):
    """Ports on 127.0.0.1; 0 picks an ephemeral port (written to run_dir/endpoints.json)."""

    cmd_port: int = 0
    pub_port: int = 0

    def __post_init__(self) -> None:
        bad = [
            f"{n} must be 0..65535, got {getattr(self, n)!r}"
            for n in ("cmd_port", "pub_port")
            if isinstance(getattr(self, n), bool)
            or not (isinstance(getattr(self, n), int) and 0 <= getattr(self, n) < 65536)
        ]
        if not bad and self.cmd_port and self.cmd_port == self.pub_port:
            bad.append(f"cmd_port and pub_port must differ, both are {self.cmd_port}")
        if bad:
            raise _fail("zmq", bad)


@dataclass(frozen=True)
class ReplayConfig(_Base):
    """``data``: the MBO file replayed; ``rate_hz``: records per second (0: as fast as
    possible, so a short file finishes in well under a second); ``exit_at_end``: stop the
    session when the data ends (else it stays up for ``ctl``)."""

    data: str = ""
    rate_hz: float = 0.0
    exit_at_end: bool = False

    def __post_init__(self) -> None:
        bad = []
        if not isinstance(self.data, str):
            bad.append(f"data must be a path string, got {self.data!r}")
        r = self.rate_hz
        if isinstance(r, bool) or not isinstance(r, int | float) or not (0.0 <= r < 1e12):
            bad.append(f"rate_hz must be a finite number >= 0, got {r!r}")
        if not isinstance(self.exit_at_end, bool):
            bad.append(f"exit_at_end must be true or false, got {self.exit_at_end!r}")
        if bad:
            raise _fail("replay", bad)


@dataclass(frozen=True)
class WebhookConfig(_Base):
    """``[webhook]``: TradingView alerts into this session (docs/webhook.md). Served by the
    session process on 127.0.0.1:``port`` (0: an ephemeral port, written to
    ``endpoints.json``). The shared secret (and the optional HMAC key of the ``X-Signature``
    header) come from the environment variables named here, never from the file.
    ``min_confidence``: the model's probability for the alert's side needed to trade;
    ``max_alert_age_s``: older alerts are refused as stale (0: no limit, a replay);
    ``rate_per_min`` / ``burst``: the token bucket per strategy; ``strategies``: the strategy
    ids accepted (empty: any)."""

    port: int = 0
    secret_env: str = "PYCONTROL_WEBHOOK_SECRET"
    hmac_secret_env: str = ""
    min_confidence: float = 0.87
    max_alert_age_s: float = 30.0
    max_body_bytes: int = 65536
    rate_per_min: float = 60.0
    burst: int = 10
    strategies: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        bad = []
        p = self.port
        if isinstance(p, bool) or not isinstance(p, int) or not 0 <= p < 65536:
            bad.append(f"port must be 0..65535, got {p!r}")
        if not isinstance(self.secret_env, str) or not _ENV_NAME.fullmatch(self.secret_env):
            bad.append(f"secret_env must be an environment variable name, got {self.secret_env!r}")
        h = self.hmac_secret_env
        if not isinstance(h, str) or (h and not _ENV_NAME.fullmatch(h)):
            bad.append(f"hmac_secret_env must be an environment variable name or '', got {h!r}")
        c = self.min_confidence
        if isinstance(c, bool) or not isinstance(c, int | float) or not 0.0 < c <= 1.0:
            bad.append(f"min_confidence must be a probability in (0, 1], got {c!r}")
        a = self.max_alert_age_s
        if isinstance(a, bool) or not isinstance(a, int | float) or not 0.0 <= a < 1e9:
            bad.append(f"max_alert_age_s must be a number >= 0 (0: no limit), got {a!r}")
        if not _pos_int(self.max_body_bytes) or self.max_body_bytes > 1 << 20:
            bad.append(f"max_body_bytes must be an int in 1..1048576, got {self.max_body_bytes!r}")
        r = self.rate_per_min
        if isinstance(r, bool) or not isinstance(r, int | float) or not 0.0 < r < 1e9:
            bad.append(f"rate_per_min must be a number > 0, got {r!r}")
        if not _pos_int(self.burst):
            bad.append(f"burst must be an int > 0, got {self.burst!r}")
        st = self.strategies
        if not isinstance(st, list | tuple) or not all(
            isinstance(x, str) and _NAME.fullmatch(x) for x in st
        ):
            bad.append(f"strategies must be a list of strategy ids, got {st!r}")
        else:
            object.__setattr__(self, "strategies", tuple(st))
        if bad:
            raise _fail("webhook", bad)


@dataclass(frozen=True)
class ScannerConfig(_Base):
    """``[scanner]``: a paper or live portfolio session lets only the instruments the
    momentum scanner selects open new positions (``pycontrol scan``, docs/operations.md).
    ``universe``: a universe config whose member names are the session's roots (each root
    must be in it); ``threshold``: overrides the universe's. The scan runs when the session
    starts; the others still close what they hold (their entries are held NOT_SELECTED)."""

    universe: str = ""
    threshold: float | None = None

    def __post_init__(self) -> None:
        bad = []
        if not isinstance(self.universe, str) or not self.universe:
            bad.append(f"universe must be a path to a universe config, got {self.universe!r}")
        t = self.threshold
        if t is not None and (
            isinstance(t, bool) or not isinstance(t, int | float) or not 0 <= t <= 100
        ):
            bad.append(f"threshold must be a number in 0..100, got {t!r}")
        if bad:
            raise _fail("scanner", bad)


ENGINE_KINDS = ("rust",)


@dataclass(frozen=True)
class EngineSection(_Base):
    """The engine is the Rust core's in every mode (there is no other): its strategy
    (signals, decision, sizing, latency, seed, risk limits) from the backtest config
    ``strategy`` (empty: the backtest defaults, placebo signals); in replay on the L3
    simulated exchange, stepped ``chunk_records`` records at a time between commands; in
    paper and live on IB (quotes in, intents out, fills back). Scripted ``[[signals]]`` enter
    it through its signal inbox."""

    kind: str = "rust"
    strategy: str = ""
    chunk_records: int = 4096

    def __post_init__(self) -> None:
        bad = []
        if self.kind == "scripted":
            bad.append(
                "kind 'scripted' was removed: the Rust engine trades in every mode, and "
                "[[signals]] enter it as external signals (drop the kind line)"
            )
        elif self.kind not in ENGINE_KINDS:
            bad.append(f"kind must be 'rust', got {self.kind!r}")
        if not isinstance(self.strategy, str):
            bad.append(f"strategy must be a path to a backtest config, got {self.strategy!r}")
        if not _pos_int(self.chunk_records):
            bad.append(f"chunk_records must be an int > 0, got {self.chunk_records!r}")
        if bad:
            raise _fail("engine", bad)


def _top_level_problems(name: object, mode: object, run_dir: object) -> list[str]:
    bad = []
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        bad.append(f"name must be letters, digits, '_', '.', '-', got {name!r}")
    if mode not in MODES:
        bad.append(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if not isinstance(run_dir, str) or not run_dir.strip() or "\0" in run_dir:
        bad.append(f"run_dir must be a non-empty path, got {run_dir!r}")
    return bad


@dataclass(frozen=True)
class FeedConfig(_Base):
    """``[feed]``: where the engine's market data comes from. ``broker``: the venue's own
    quotes (IB's top of book). ``databento``: Databento Live (MBO, L3) through the official
    client, while orders still go to the broker venue. The API key is read at run time from
    the environment variable ``key_env`` (never written in a config)."""

    kind: str = "broker"
    dataset: str = "GLBX.MDP3"
    key_env: str = "DATABENTO_API_KEY"
    # None: Databento's gateway for the dataset; a loopback host for the test gateway
    gateway: str | None = None
    port: int = 13000
    schemas: tuple[str, ...] = ("mbo",)
    heartbeat_interval_s: int = 30
    # no record and no heartbeat for this long: the stream is stalled, reconnect
    stall_timeout_s: float = 45.0
    reconnect_initial: float = 0.5
    reconnect_max: float = 30.0
    # an intraday replay after a reconnect starts this far before the last ts_event seen
    # (what the replay repeats is de-duplicated)
    replay_overlap_s: float = 1.0
    # the gateway appends its send time to every record (gateway -> engine latency)
    ts_out: bool = False

    def __post_init__(self) -> None:
        bad = []
        if self.kind not in ("broker", "databento"):
            bad.append(f"kind must be 'broker' or 'databento', got {self.kind!r}")
        if not isinstance(self.dataset, str) or not re.fullmatch(
            r"[A-Z0-9]+\.[A-Z0-9]+", self.dataset
        ):
            bad.append(
                f"dataset must be a Databento dataset like 'GLBX.MDP3', got {self.dataset!r}"
            )
        if not isinstance(self.key_env, str) or not _ENV_NAME.fullmatch(self.key_env):
            bad.append(f"key_env must be an environment variable name, got {self.key_env!r}")
        gw = self.gateway
        if gw is not None and not (
            isinstance(gw, str)
            and (gw in ("127.0.0.1", "localhost", "::1") or gw.endswith(".databento.com"))
        ):
            bad.append(f"gateway must be loopback or a *.databento.com host, got {gw!r}")
        if isinstance(self.port, bool) or not (
            isinstance(self.port, int) and 0 < self.port < 65536
        ):
            bad.append(f"port must be 1..65535, got {self.port!r}")
        known = ("mbo", "mbp-1", "mbp-10", "trades", "definition", "status")
        schemas = self.schemas
        if isinstance(schemas, list):
            schemas = tuple(schemas)
            object.__setattr__(self, "schemas", schemas)
        if not isinstance(schemas, tuple) or not schemas or any(x not in known for x in schemas):
            bad.append(f"schemas must be a non-empty list of {known}, got {self.schemas!r}")
        elif "mbo" in schemas and {"mbp-1", "mbp-10", "trades"} & set(schemas):
            bad.append(
                f"schemas {list(schemas)}: mbo already carries the book and the trades; "
                "adding mbp-1, mbp-10 or trades would feed the engine the same market twice"
            )
        hb = self.heartbeat_interval_s
        if not _pos_int(hb):
            bad.append(f"heartbeat_interval_s must be an int > 0, got {hb!r}")
        st = self.stall_timeout_s
        if _pos_int(hb) and isinstance(st, int | float) and not isinstance(st, bool) and st <= hb:
            bad.append(
                f"stall_timeout_s ({st}) must be > heartbeat_interval_s ({hb}): an idle "
                "stream is only known alive by its heartbeats"
            )
        for name in ("stall_timeout_s", "reconnect_initial", "reconnect_max", "replay_overlap_s"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not (0 < v < 1e6):
                bad.append(f"{name} must be a number of seconds > 0, got {v!r}")
        ri, rm = self.reconnect_initial, self.reconnect_max
        if isinstance(ri, int | float) and isinstance(rm, int | float) and rm < ri:
            bad.append(f"reconnect_max ({rm}) must be >= reconnect_initial ({ri})")
        if not isinstance(self.ts_out, bool):
            bad.append(f"ts_out must be true or false, got {self.ts_out!r}")
        if bad:
            raise _fail("feed", bad)


@dataclass(frozen=True)
class SessionConfig(_Base):
    name: str
    mode: str = "paper"
    run_dir: str = "build/sessions/default"
    secret_envs: tuple[str, ...] = ("IB_ACCOUNT",)
    instrument: InstrumentConfig = field(default_factory=InstrumentConfig)
    # ``[[instruments]]``: a portfolio session (one engine, one broker connection); a single
    # ``[instrument]`` is a portfolio of one. Always filled: ``instruments[0] is instrument``.
    instruments: tuple[InstrumentConfig, ...] = ()
    ib: IBConfig = field(default_factory=IBConfig)
    tradovate: TradovateConfig = field(default_factory=TradovateConfig)
    venue: VenueSection = field(default_factory=VenueSection)
    risk: RiskConfig = field(default_factory=RiskConfig)
    zmq: ZmqConfig = field(default_factory=ZmqConfig)
    replay: ReplayConfig = field(default_factory=ReplayConfig)
    engine: EngineSection = field(default_factory=EngineSection)
    signals: tuple[SignalConfig, ...] = ()
    webhook: WebhookConfig | None = None
    feed: FeedConfig = field(default_factory=FeedConfig)
    scanner: ScannerConfig | None = None

    def __post_init__(self) -> None:
        ids = [s.intent_id for s in self.signals]
        bad = _top_level_problems(self.name, self.mode, self.run_dir)
        if len(ids) != len(set(ids)):
            bad.append("signal intent_ids must be unique")
        if not self.instruments:
            object.__setattr__(self, "instruments", (self.instrument,))
        else:
            object.__setattr__(self, "instrument", self.instruments[0])
        roots = [i.root for i in self.instruments]
        if len(roots) != len(set(roots)):
            bad.append(f"instruments: each root once, got {roots}")
        if len(roots) > MAX_INSTRUMENTS:
            bad.append(f"instruments: at most {MAX_INSTRUMENTS}, got {len(roots)}")
        bad += [
            f"signal {s.intent_id}: symbol {s.symbol!r} is not an instrument of this session "
            f"({', '.join(roots)})"
            for s in self.signals
            if s.symbol and s.symbol not in roots
        ]
        if bad:
            raise _fail("session", bad)

    def point_values(self) -> dict[str, float]:
        """Point value (multiplier) per instrument root."""
        return {i.root: i.point_value for i in self.instruments}

    def instrument_of(self, root: str) -> InstrumentConfig:
        for i in self.instruments:
            if i.root == root:
                return i
        raise _fail("instruments", [f"no instrument {root!r} in this session"])

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "session") -> SessionConfig:
        sections = {
            "instrument": InstrumentConfig,
            "ib": IBConfig,
            "tradovate": TradovateConfig,
            "venue": VenueSection,
            "risk": RiskConfig,
            "zmq": ZmqConfig,
            "replay": ReplayConfig,
            "engine": EngineSection,
            "webhook": WebhookConfig,
            "feed": FeedConfig,
            "scanner": ScannerConfig,
        }
        d = dict(data)
        bad: list[str] = []
        for key, sub in sections.items():
            if key not in d:
                continue
            if sub is RiskConfig:
                try:
                    if not isinstance(d[key], Mapping):
                        raise _fail(key, [f"expected a table, got {type(d[key]).__name__}"])
                    d[key] = RiskConfig._from_mapping(d[key], key)
                except SessionConfigError as e:
                    bad += e.violations
                    d[key] = None
                continue
            obj, errs = _build(sub, d[key], key)
            bad += errs
            d[key] = obj
        if "signals" in d:
            sigs = []
            raw = d["signals"]
            if not isinstance(raw, list):
                bad.append("signals must be an array of tables")
                raw = []
            for i, s in enumerate(raw):
                obj, errs = _build(SignalConfig, s, f"signals[{i}]")
                bad += errs
                sigs.append(obj)
            d["signals"] = tuple(sigs)
        if "instruments" in d:
            raw_inst = d["instruments"]
            insts = []
            if "instrument" in d:
                bad.append("give either [instrument] or [[instruments]], not both")
            if not isinstance(raw_inst, list) or not raw_inst:
                bad.append("instruments must be a non-empty array of tables ([[instruments]])")
                raw_inst = []
            for i, x in enumerate(raw_inst):
                obj, errs = _build(InstrumentConfig, x, f"instruments[{i}]")
                bad += errs
                insts.append(obj)
            d["instruments"] = tuple(insts)
        if "secret_envs" in d:
            raw_envs = d["secret_envs"]
            # A bare string would become a tuple of its characters, and the secret it names
            # would then never be masked: only a list of variable names is accepted.
            if not isinstance(raw_envs, list):
                bad.append(
                    f"secret_envs must be a list of environment variable names, got {raw_envs!r}"
                )
            else:
                bad += [
                    f"secret_envs[{i}] must be an environment variable name, got {v!r}"
                    for i, v in enumerate(raw_envs)
                    if not isinstance(v, str) or not _ENV_NAME.fullmatch(v)
                ]
            d["secret_envs"] = tuple(raw_envs) if isinstance(raw_envs, list) else ()
        if "engine_address" in d or "model" in d:
            bad += [
                f"{k!r} was removed: the Rust engine trades in every mode ([engine] strategy "
                "names its signals)"
                for k in ("engine_address", "model")
                if k in d
            ]
        if bad:
            bad += _top_level_problems(
                d.get("name"), d.get("mode", "paper"), d.get("run_dir", "build/sessions/default")
            )
            known = [f.name for f in fields(cls)]
            bad += [f"unknown field {k!r} (known: {', '.join(known)})" for k in d if k not in known]
            raise _fail(where, bad)
        obj, errs = _build(cls, d, where)
        if errs:
            raise _fail(where, errs)
        out: SessionConfig = obj
        return out

    @classmethod
    def load(cls, path: str | Path) -> SessionConfig:
        p = Path(path)
        try:
            data = tomllib.loads(p.read_text())
        except FileNotFoundError:
            raise _fail(str(p), ["file not found"]) from None
        except tomllib.TOMLDecodeError as e:
            raise _fail(str(p), [f"not valid TOML: {e}"]) from None
        return cls.from_dict(data, where=str(p))
