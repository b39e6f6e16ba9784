"""Session configuration (TOML under configs/session/): one frozen, validated structure per
component, unknown fields rejected and every violation reported at once.

Secrets never live here: the config names environment variables (``account_env``,
``secret_envs``) and the values are read from the environment at run time.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pycontrol._core import ConfigError

MODES = ("replay", "paper", "live")


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
    root: str = "ES"
    exchange: str = "CME"
    roll_days: int = 8
    tick_size: float = 0.25
    multiplier: float = 50.0

    def __post_init__(self) -> None:
        bad = []
        if not isinstance(self.root, str) or not self.root.isalnum():
            bad.append(f"root must be an alphanumeric root symbol, got {self.root!r}")
        if not isinstance(self.roll_days, int) or self.roll_days < 0:
            bad.append(f"roll_days must be an int >= 0, got {self.roll_days!r}")
        for name in ("tick_size", "multiplier"):
            v = getattr(self, name)
            if not isinstance(v, int | float) or isinstance(v, bool) or v <= 0:
                bad.append(f"{name} must be > 0, got {v!r}")
        if bad:
            raise _fail("instrument", bad)


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
            if not isinstance(v, int | float) or v <= 0:
                bad.append(f"{name} must be > 0, got {v!r}")
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


@dataclass(frozen=True)
class RiskConfig(_Base):
    max_order_qty: int = 5
    max_position: int = 10

    def __post_init__(self) -> None:
        bad = [
            f"{n} must be an int > 0, got {getattr(self, n)!r}"
            for n in ("max_order_qty", "max_position")
            if not _pos_int(getattr(self, n))
        ]
        if bad:
            raise _fail("risk", bad)


@dataclass(frozen=True)
class SignalConfig(_Base):
    """A scripted signal: at the ``at_event``-th market data update, intent ``intent_id``.
    Limit prices are ``offset_ticks`` behind the touch (buy: bid - offset); brackets put the
    stop ``stop_ticks`` and the target ``take_ticks`` away from the entry."""

    intent_id: int
    at_event: int
    side: str
    qty: int
    order_type: str = "LMT"
    offset_ticks: int = 0
    stop_ticks: int | None = None
    take_ticks: int | None = None
    tif: str = "DAY"

    def __post_init__(self) -> None:
        bad = []
        if not _pos_int(self.intent_id):
            bad.append(f"intent_id must be an int > 0, got {self.intent_id!r}")
        if not _pos_int(self.at_event):
            bad.append(f"at_event must be an int > 0, got {self.at_event!r}")
        if self.side not in ("BUY", "SELL"):
            bad.append(f"side must be BUY or SELL, got {self.side!r}")
        if not _pos_int(self.qty):
            bad.append(f"qty must be an int > 0, got {self.qty!r}")
        if self.order_type not in ("MKT", "LMT", "STP"):
            bad.append(f"order_type must be MKT, LMT or STP, got {self.order_type!r}")
        if (self.stop_ticks is None) != (self.take_ticks is None):
            bad.append("stop_ticks and take_ticks go together (a bracket needs both)")
        for n in ("stop_ticks", "take_ticks"):
            v = getattr(self, n)
            if v is not None and not _pos_int(v):
                bad.append(f"{n} must be an int > 0, got {v!r}")
        if self.tif not in ("DAY", "GTC", "IOC"):
            bad.append(f"tif must be DAY, GTC or IOC, got {self.tif!r}")
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
            if not (isinstance(getattr(self, n), int) and 0 <= getattr(self, n) < 65536)
        ]
        if bad:
            raise _fail("zmq", bad)


@dataclass(frozen=True)
class ReplayConfig(_Base):
    data: str = ""
    rate_hz: float = 0.0  # 0: as fast as possible
    exit_at_end: bool = False


ENGINE_KINDS = ("scripted", "rust")


@dataclass(frozen=True)
class EngineSection(_Base):
    """Which engine trades. ``scripted``: :class:`~pycontrol.session.engine.ScriptedEngine`
    (the ``[[signals]]`` list) in a thread, any mode. ``rust``: the Rust engine, its strategy
    (signals, decision, sizing, latency, seed, risk limits) from the backtest config
    ``strategy`` (empty: the backtest defaults, placebo signals); in replay on the L3
    simulated exchange, stepped ``chunk_records`` records at a time between commands; in
    paper and live on IB (quotes in, intents out, fills back)."""

    kind: str = "scripted"
    strategy: str = ""
    chunk_records: int = 4096

    def __post_init__(self) -> None:
        bad = []
        if self.kind not in ENGINE_KINDS:
            bad.append(f"kind must be one of {', '.join(ENGINE_KINDS)}, got {self.kind!r}")
        if not isinstance(self.strategy, str):
            bad.append(f"strategy must be a path to a backtest config, got {self.strategy!r}")
        if not _pos_int(self.chunk_records):
            bad.append(f"chunk_records must be an int > 0, got {self.chunk_records!r}")
        if bad:
            raise _fail("engine", bad)


@dataclass(frozen=True)
class SessionConfig(_Base):
    name: str
    mode: str = "paper"
    run_dir: str = "build/sessions/default"
    model: str = "scripted"
    # Empty: the scripted engine in a thread of the session. Otherwise the engine channel
    # address of an engine running in its own process (the Rust engine): the session
    # connects there and speaks the same messages.
    engine_address: str = ""
    secret_envs: tuple[str, ...] = ("IB_ACCOUNT",)
    instrument: InstrumentConfig = field(default_factory=InstrumentConfig)
    ib: IBConfig = field(default_factory=IBConfig)
    risk: RiskConfig = field(default_factory=RiskConfig)
    zmq: ZmqConfig = field(default_factory=ZmqConfig)
    replay: ReplayConfig = field(default_factory=ReplayConfig)
    engine: EngineSection = field(default_factory=EngineSection)
    signals: tuple[SignalConfig, ...] = ()

    def __post_init__(self) -> None:
        bad = []
        if not isinstance(self.name, str) or not self.name:
            bad.append(f"name must be a non-empty string, got {self.name!r}")
        if self.mode not in MODES:
            bad.append(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        ea = self.engine_address
        if ea and not (ea.startswith(("tcp://127.0.0.1:", "ipc://"))):
            bad.append(f"engine_address must be tcp://127.0.0.1:<port> or ipc://..., got {ea!r}")
        if self.engine.kind == "rust" and self.engine_address:
            bad.append("engine_address and [engine] kind = 'rust' exclude each other")
        ids = [s.intent_id for s in self.signals]
        if len(ids) != len(set(ids)):
            bad.append("signal intent_ids must be unique")
        if bad:
            raise _fail("session", bad)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "session") -> SessionConfig:
        sections = {
            "instrument": InstrumentConfig,
            "ib": IBConfig,
            "risk": RiskConfig,
            "zmq": ZmqConfig,
            "replay": ReplayConfig,
            "engine": EngineSection,
        }
        d = dict(data)
        bad: list[str] = []
        for key, sub in sections.items():
            if key in d:
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
        if "secret_envs" in d:
            d["secret_envs"] = tuple(d["secret_envs"])
        if bad:
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
