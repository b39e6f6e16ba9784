"""Backtest configuration: one frozen, validated dataclass per section, built from a TOML
file (``configs/backtest/*.toml``). Unknown keys are errors; every violation of every
section is reported at once in one :class:`BacktestConfigError`.

Paths may use ``${VAR}`` (e.g. ``${SHARED_DATA}``); relative paths are relative to the
current directory (the repository root for ``make`` and the CLI).
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, NoReturn

from pycontrol._core import ConfigError, CoreError, engine_settings_defaults

# The engine's defaults, defined once in the core (``tradecore::engine::EngineSettings``): the
# config's defaults below are read from it, in the config's units, never written twice.
_CORE = engine_settings_defaults()
SEC = 1_000_000_000


def _latency_default(key: str) -> Any:
    kind, params = _CORE[key]
    if kind != "constant":  # the core's defaults are constant latencies
        raise ConfigError(f"core default {key} is {kind}: expected constant")
    return lambda: LatencyConfig(ns=int(params[0]))


class BacktestConfigError(ConfigError):
    """A backtest configuration is invalid; ``violations`` lists every problem."""

    violations: list[str]


def _fail(where: str, violations: list[str]) -> NoReturn:
    err = BacktestConfigError(f"{where}: " + "; ".join(violations))
    err.path = where
    err.record = None
    err.offset = None
    err.violations = list(violations)
    raise err


def _num(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check(bad: list[str], ok: bool, msg: str) -> None:
    if not ok:
        bad.append(msg)


def _split(cls: type[Any], data: Mapping[str, Any], where: str, bad: list[str]) -> dict[str, Any]:
    """Known keys of ``data`` for ``cls``; unknown keys become violations."""
    if not isinstance(data, Mapping):
        bad.append(f"{where}: expected a table, got {type(data).__name__}")
        return {}
    known = [f.name for f in fields(cls)]
    for k in data:
        if k not in known:
            bad.append(f"{where}: unknown key {k!r} (known: {', '.join(known)})")
    return {k: v for k, v in data.items() if k in known}


def _build(cls: type[Any], data: Mapping[str, Any], where: str, bad: list[str]) -> Any:
    kwargs = _split(cls, data, where, bad)
    try:
        return cls(**kwargs)
    except BacktestConfigError as e:
        bad.extend(f"{where}.{v}" if not v.startswith(where) else v for v in e.violations)
    except TypeError as e:
        bad.append(f"{where}: {e}")
    return None


@dataclass(frozen=True)
class LatencyConfig:
    """``constant`` (``ns``), ``lognormal`` (``median_ns``, ``sigma``, ``max_ns``) or
    ``empirical`` (``samples_ns``, drawn uniformly). Draws are seeded by the run's seed."""

    kind: str = "constant"
    ns: int = 0
    median_ns: float = 0.0
    sigma: float = 0.0
    max_ns: int = 0
    samples_ns: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        bad: list[str] = []
        if self.kind == "constant":
            _check(bad, _int(self.ns) and self.ns >= 0, f"ns must be an int >= 0, got {self.ns!r}")
        elif self.kind == "lognormal":
            _check(
                bad,
                _num(self.median_ns) and self.median_ns > 0,
                f"median_ns must be > 0, got {self.median_ns!r}",
            )
            _check(
                bad, _num(self.sigma) and self.sigma >= 0, f"sigma must be >= 0, got {self.sigma!r}"
            )
            _check(
                bad,
                _int(self.max_ns) and _num(self.median_ns) and self.max_ns >= self.median_ns,
                f"max_ns must be an int >= median_ns, got {self.max_ns!r}",
            )
        elif self.kind == "empirical":
            s = self.samples_ns
            _check(
                bad,
                len(s) > 0 and all(_int(x) and x >= 0 for x in s),
                "samples_ns must be a non-empty list of ints >= 0",
            )
        else:
            bad.append(f"kind must be constant, lognormal or empirical, got {self.kind!r}")
        if bad:
            _fail("latency", bad)

    def to_core(self) -> tuple[str, list[float]]:
        if self.kind == "constant":
            return ("constant", [float(self.ns)])
        if self.kind == "lognormal":
            return ("lognormal", [float(self.median_ns), float(self.sigma), float(self.max_ns)])
        return ("empirical", [float(x) for x in self.samples_ns])


@dataclass(frozen=True)
class SynthData:
    """Synthetic MBO from the project's generator (``pycontrol data synth``), written once
    to ``cache_dir`` and reused."""

    events: int = 200_000
    seed: int = 7
    instruments: tuple[str, ...] = ("ES",)
    cache_dir: str = "build/backtest"

    def __post_init__(self) -> None:
        bad: list[str] = []
        _check(
            bad, _int(self.events) and self.events >= 1, f"events must be >= 1, got {self.events!r}"
        )
        _check(
            bad, _int(self.seed) and self.seed >= 0, f"seed must be an int >= 0, got {self.seed!r}"
        )
        _check(
            bad,
            len(self.instruments) > 0 and all(isinstance(x, str) for x in self.instruments),
            f"instruments must be a non-empty list of roots, got {self.instruments!r}",
        )
        if bad:
            _fail("synth", bad)


@dataclass(frozen=True)
class SignalsConfig:
    """Where class probabilities come from (they go through the same decision and risk path).

    - ``file``: Parquet or CSV with ``ts`` (int ns UTC, or a datetime), ``instrument_id``
      (int) or ``symbol`` (str), and probability columns ``p_sell`` / ``p_hold`` / ``p_buy``
      (classes -1 / 0 / +1; at least two).
    - ``placebo``: seeded random probabilities every ``interval_s`` per instrument. No edge
      by construction: a plumbing check and a cost baseline (its P&L should be about minus
      the costs), never a strategy.
    - ``pushed``: none of its own; only signals pushed into the engine's inbox while it runs
      (a session's scripted ``[[signals]]``, webhook alerts), each answered at its
      instrument's next event unless older than ``max_age_s`` by then.
    - ``model``: a model in the engine, asked at every bar (or book event, for a micro
      feature set) it was trained on: the ``production`` version of ``family`` in the
      registry at ``registry``, or the export folder ``path``. The engine streams the
      model's own feature set (its manifest's names, bars at their finest timeframe) and
      refuses a model whose feature-set hash differs. ``backend``: ``native`` evaluates a
      LightGBM model with the core's own tree evaluator (when the export has its dump),
      ``onnx`` always runs the ONNX graph in ONNX Runtime.
    """

    kind: str = "placebo"
    path: str = ""
    interval_s: float = 60.0
    seed: int = 0
    max_age_s: float = 60.0
    registry: str = ""
    family: str = ""
    backend: str = "native"

    def __post_init__(self) -> None:
        bad: list[str] = []
        _check(
            bad,
            self.backend in ("native", "onnx"),
            f"backend must be native or onnx, got {self.backend!r}",
        )
        for name in ("path", "registry", "family"):
            _check(
                bad,
                isinstance(getattr(self, name), str),
                f"{name} must be a string, got {getattr(self, name)!r}",
            )
        if self.kind == "file":
            _check(bad, isinstance(self.path, str) and self.path != "", "file signals need a path")
        elif self.kind == "model":
            from_registry = bool(self.registry) or bool(self.family)
            _check(
                bad,
                from_registry != bool(self.path),
                "model signals need registry + family (the production version) or path "
                "(an export folder), not both",
            )
            if from_registry:
                _check(bad, bool(self.registry), "model signals from a registry need registry")
                _check(
                    bad,
                    isinstance(self.family, str)
                    and re.fullmatch(r"[a-z][a-z0-9_]{0,63}", self.family) is not None,
                    f"family must be a registry family name, got {self.family!r}",
                )
        elif self.kind == "placebo":
            _check(
                bad,
                _num(self.interval_s) and self.interval_s > 0,
                f"interval_s must be > 0, got {self.interval_s!r}",
            )
        elif self.kind != "pushed":
            bad.append(f"kind must be file, placebo, model or pushed, got {self.kind!r}")
        _check(
            bad, _int(self.seed) and self.seed >= 0, f"seed must be an int >= 0, got {self.seed!r}"
        )
        _check(
            bad,
            _num(self.max_age_s) and self.max_age_s >= 0,
            f"max_age_s must be >= 0, got {self.max_age_s!r}",
        )
        if bad:
            _fail("signals", bad)


@dataclass(frozen=True)
class DecisionSection:
    """Thresholds on the chosen direction's probability, risk score cap, horizon."""

    min_confidence_ensemble: float = _CORE["min_confidence_ensemble"]
    min_confidence_external: float = _CORE["min_confidence_external"]
    max_risk_score: int = _CORE["max_risk_score"]
    horizon_s: float = _CORE["horizon_ns"] / SEC

    def __post_init__(self) -> None:
        bad: list[str] = []
        for n in ("min_confidence_ensemble", "min_confidence_external"):
            v = getattr(self, n)
            _check(bad, _num(v) and 0 < v <= 1, f"{n} must be in (0, 1], got {v!r}")
        _check(
            bad,
            _int(self.max_risk_score) and 1 <= self.max_risk_score <= 10,
            f"max_risk_score must be an int in 1..10, got {self.max_risk_score!r}",
        )
        _check(
            bad,
            _num(self.horizon_s) and self.horizon_s > 0,
            f"horizon_s must be > 0, got {self.horizon_s!r}",
        )
        if bad:
            _fail("decision", bad)


@dataclass(frozen=True)
class SizingSection:
    """Fractional Kelly under a volatility target; bracket at ``stop_k`` horizon sigmas with
    ``reward_risk`` times that as the target."""

    kelly_fraction: float = _CORE["kelly_fraction"]
    vol_target: float = _CORE["vol_target"]
    stop_k: float = _CORE["stop_k"]
    reward_risk: float = _CORE["reward_risk"]
    max_qty: int = _CORE["max_qty"]

    def __post_init__(self) -> None:
        bad: list[str] = []
        _check(
            bad,
            _num(self.kelly_fraction) and 0 < self.kelly_fraction <= 0.5,
            f"kelly_fraction must be in (0, 0.5], got {self.kelly_fraction!r}",
        )
        for n in ("vol_target", "stop_k"):
            v = getattr(self, n)
            _check(bad, _num(v) and v > 0, f"{n} must be > 0, got {v!r}")
        _check(
            bad,
            _num(self.reward_risk) and self.reward_risk >= 2,
            f"reward_risk must be >= 2, got {self.reward_risk!r}",
        )
        _check(
            bad,
            _int(self.max_qty) and self.max_qty >= 1,
            f"max_qty must be >= 1, got {self.max_qty!r}",
        )
        if bad:
            _fail("sizing", bad)


@dataclass(frozen=True)
class DriftSection:
    """``[drift]``: feature drift of the rows the model is asked with against its training
    reference (``drift_reference.json`` of the served version, or ``reference``), per
    instrument over the last ``window_rows`` rows, checked every ``check_every`` rows. A
    feature whose PSI exceeds ``psi_alert`` or whose binned KS statistic exceeds
    ``ks_alert`` is a breach: recorded as a drift event, and with ``reduce_on_drift`` the
    engine moves to REDUCING. Off unless ``enabled``; a model without a reference reports
    "no reference"."""

    enabled: bool = False
    reference: str | None = None
    psi_alert: float = 0.25
    ks_alert: float = 0.2
    window_rows: int = 500
    check_every: int = 50
    reduce_on_drift: bool = False

    def __post_init__(self) -> None:
        bad: list[str] = []
        for n in ("enabled", "reduce_on_drift"):
            v = getattr(self, n)
            _check(bad, isinstance(v, bool), f"{n} must be a bool, got {v!r}")
        _check(
            bad,
            self.reference is None or (isinstance(self.reference, str) and self.reference != ""),
            f"reference must be a path, got {self.reference!r}",
        )
        _check(
            bad,
            _num(self.psi_alert) and self.psi_alert > 0,
            f"psi_alert must be > 0, got {self.psi_alert!r}",
        )
        _check(
            bad,
            _num(self.ks_alert) and 0 < self.ks_alert <= 1,
            f"ks_alert must be in (0, 1], got {self.ks_alert!r}",
        )
        for n in ("window_rows", "check_every"):
            v = getattr(self, n)
            _check(bad, _int(v) and v >= 1, f"{n} must be an int >= 1, got {v!r}")
        if bad:
            _fail("drift", bad)


@dataclass(frozen=True)
class RiskModelSection:
    """``[risk_model]``: where the decision's volatility forecast, VaR/CVaR and co-movement
    come from. ``vol_model = "ewma"`` (default): the EWMA of one-second mid returns
    (``vol_halflife_s``) with normal tails and no index. ``"garch"``: the (E)GARCH/t-copula
    model of the params file ``params`` (written by ``pycontrol risk fit``), streamed by the
    core on mid bars at the file's interval. ``reference``: the symbol (``ESH4``) or product
    (``ES``) of the instrument in the data whose bars feed correlation and beta (overrides
    the file's ``reference_instrument_id``); ``corr_window`` and ``min_bars`` override the
    file's values."""

    vol_model: str = "ewma"
    params: str | None = None
    reference: str | None = None
    corr_window: int | None = None
    min_bars: int | None = None

    def __post_init__(self) -> None:
        bad: list[str] = []
        _check(
            bad,
            self.vol_model in ("ewma", "garch"),
            f"vol_model must be 'ewma' or 'garch', got {self.vol_model!r}",
        )
        garch = self.vol_model == "garch"
        _check(
            bad,
            (self.params is not None) == garch,
            "params (a risk model params file) is needed with vol_model = 'garch' and only then",
        )
        _check(
            bad,
            self.reference is None or (isinstance(self.reference, str) and self.reference != ""),
            f"reference must be a symbol or product, got {self.reference!r}",
        )
        for n in ("corr_window", "min_bars"):
            v = getattr(self, n)
            lo = 2 if n == "corr_window" else 0
            _check(
                bad, v is None or (_int(v) and v >= lo), f"{n} must be an int >= {lo}, got {v!r}"
            )
        if garch and isinstance(self.params, str) and not bad:
            try:
                self.core_json({})
            except (CoreError, OSError) as e:
                bad.append(str(e))
        if bad:
            _fail("risk_model", bad)

    def core_json(self, symbols: Mapping[int, str]) -> str | None:
        """The params file for the core with this section's overrides, the reference
        resolved against the run's ``symbols`` (id -> symbol); None for the EWMA model.
        Validated by the core (every bad field named, with the file's path)."""
        import json

        from pycontrol import _core

        if self.vol_model != "garch" or self.params is None:
            return None
        path = expand(self.params)
        if not path.is_file():
            raise BacktestConfigError(f"risk_model: params file not found: {path}")
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise BacktestConfigError(f"risk_model: {path}: not JSON: {e}") from None
        if not isinstance(data, dict):
            raise BacktestConfigError(f"risk_model: {path}: expected a JSON object")
        for n in ("corr_window", "min_bars"):
            if getattr(self, n) is not None:
                data[n] = getattr(self, n)
        if self.reference is not None and symbols:
            ids = [i for i, sym in symbols.items() if self.reference in (sym, _root(sym))]
            if len(ids) != 1:
                raise BacktestConfigError(
                    f"risk_model: reference {self.reference!r} matches {len(ids)} instruments "
                    f"of the data ({', '.join(sorted(symbols.values()))}); name one"
                )
            data["reference_instrument_id"] = ids[0]
        text = json.dumps(data)
        _core.check_risk_model(text, str(path))
        return text


def _root(symbol: str) -> str:
    """Product root of a CME futures symbol (``ESH4`` -> ``ES``), as the core's."""
    m = re.fullmatch(r"(.+?)[FGHJKMNQUVXZ]\d{1,2}", symbol)
    return m.group(1) if m else symbol


def _risk_limits(data: object, bad: list[str]) -> tuple[tuple[str, float], ...]:
    """``[risk]``: overrides of the core's pre-trade limits (keys of configs/risk/default.toml),
    validated by the core's RiskEngine, which lists every bad key and value."""
    from pycontrol import RiskEngine

    if not isinstance(data, Mapping):
        bad.append(f"risk: expected a table, got {type(data).__name__}")
        return ()
    nums = {}
    for k, v in data.items():
        if isinstance(v, bool) or not isinstance(v, int | float):
            bad.append(f"risk: {k} = {v!r} must be a number")
        else:
            nums[str(k)] = float(v)
    try:
        RiskEngine(nums)
    except ConfigError as e:
        bad.append(f"risk: {e}")
    return tuple(sorted(nums.items()))


_SECTIONS: dict[str, type[Any]] = {
    "order_latency": LatencyConfig,
    "feed_latency": LatencyConfig,
    "synth": SynthData,
    "signals": SignalsConfig,
    "decision": DecisionSection,
    "sizing": SizingSection,
    "risk_model": RiskModelSection,
    "drift": DriftSection,
}

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def expand(path: str) -> Path:
    """``${VAR}`` from the environment (``SHARED_DATA`` defaults to ``../shared/data``)."""

    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name == "SHARED_DATA":
            return os.environ.get(name, str(Path("../shared/data").resolve()))
        if name not in os.environ:
            raise BacktestConfigError(f"path {path!r}: environment variable {name} is not set")
        return os.environ[name]

    return Path(_VAR.sub(sub, path))


@dataclass(frozen=True)
class BacktestConfig:
    """One backtest: data (MBO files, or synthetic), venue, strategy and output."""

    name: str
    data: tuple[str, ...] = ()
    synth: SynthData | None = None
    definitions: str | None = None
    out: str = "runs/backtest"
    seed: int = _CORE["seed"]
    fee_per_contract: float = _CORE["fee_per_contract"]
    initial_equity: float = _CORE["initial_equity"]
    equity_interval_s: float = _CORE["equity_interval_ns"] / SEC
    flatten_at_end: bool = _CORE["flatten_at_end"]
    chunk_records: int = 16_384
    vol_halflife_s: float = _CORE["vol_halflife_s"]
    vol_min_samples: int = _CORE["vol_min_samples"]
    # Configurations tried before this one (the deflated Sharpe ratio of metrics.json).
    n_trials: int = 1
    order_latency: LatencyConfig = field(default_factory=_latency_default("order_latency"))
    feed_latency: LatencyConfig = field(default_factory=_latency_default("feed_latency"))
    signals: SignalsConfig = field(default_factory=SignalsConfig)
    decision: DecisionSection = field(default_factory=DecisionSection)
    sizing: SizingSection = field(default_factory=SizingSection)
    risk_model: RiskModelSection = field(default_factory=RiskModelSection)
    drift: DriftSection = field(default_factory=DriftSection)
    # Overrides of tradecore::risk::RiskLimits defaults, as sorted (key, value) pairs.
    risk: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        bad: list[str] = []
        _check(
            bad,
            isinstance(self.name, str) and re.fullmatch(r"[A-Za-z0-9_.-]+", self.name) is not None,
            f"name must be letters, digits, _ . -, got {self.name!r}",
        )
        has_data = len(self.data) > 0
        _check(
            bad,
            has_data != (self.synth is not None),
            "give exactly one of data (MBO files) or [synth]",
        )
        _check(
            bad,
            all(isinstance(p, str) and p for p in self.data),
            f"data must be a list of paths, got {self.data!r}",
        )
        _check(
            bad, _int(self.seed) and self.seed >= 0, f"seed must be an int >= 0, got {self.seed!r}"
        )
        _check(
            bad,
            _num(self.fee_per_contract) and self.fee_per_contract >= 0,
            f"fee_per_contract must be >= 0, got {self.fee_per_contract!r}",
        )
        _check(
            bad,
            _num(self.initial_equity) and self.initial_equity > 0,
            f"initial_equity must be > 0, got {self.initial_equity!r}",
        )
        _check(
            bad,
            _num(self.equity_interval_s) and self.equity_interval_s > 0,
            f"equity_interval_s must be > 0, got {self.equity_interval_s!r}",
        )
        _check(
            bad,
            isinstance(self.flatten_at_end, bool),
            f"flatten_at_end must be a bool, got {self.flatten_at_end!r}",
        )
        _check(
            bad,
            _int(self.chunk_records) and self.chunk_records >= 1,
            f"chunk_records must be >= 1, got {self.chunk_records!r}",
        )
        _check(
            bad,
            _num(self.vol_halflife_s) and self.vol_halflife_s > 0,
            f"vol_halflife_s must be > 0, got {self.vol_halflife_s!r}",
        )
        _check(
            bad,
            _int(self.vol_min_samples) and self.vol_min_samples >= 2,
            f"vol_min_samples must be >= 2, got {self.vol_min_samples!r}",
        )
        _check(
            bad,
            _int(self.n_trials) and self.n_trials >= 1,
            f"n_trials must be an int >= 1, got {self.n_trials!r}",
        )
        if bad:
            _fail("backtest", bad)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BacktestConfig:
        """Builds and validates the whole config; raises one error listing every problem."""
        bad: list[str] = []
        top = _split(cls, data, "backtest", bad)
        for key, sub in _SECTIONS.items():
            if key in top:
                raw = top[key]
                if isinstance(raw, Mapping) and "samples_ns" in raw:
                    raw = {**raw, "samples_ns": tuple(raw["samples_ns"])}
                if isinstance(raw, Mapping) and "instruments" in raw:
                    raw = {**raw, "instruments": tuple(raw["instruments"])}
                top[key] = _build(sub, raw, key, bad)
        if "risk" in top:
            top["risk"] = _risk_limits(top["risk"], bad)
        if "data" in top:
            d = top["data"]
            top["data"] = tuple(d) if isinstance(d, list) else (d,) if isinstance(d, str) else d
        if bad:
            # Still check the top level so its violations are listed too.
            try:
                rest = {k: v for k, v in top.items() if k not in _SECTIONS and k != "risk"}
                if "synth" in top:
                    rest["synth"] = SynthData()  # its own violations are listed already
                cls(**rest)
            except BacktestConfigError as e:
                bad.extend(e.violations)
            except TypeError as e:
                bad.append(f"backtest: {e}")
            _fail("backtest config", bad)
        try:
            return cls(**top)
        except TypeError as e:
            _fail("backtest config", [str(e)])

    @classmethod
    def load(cls, path: str | Path) -> BacktestConfig:
        p = Path(path)
        try:
            raw = tomllib.loads(p.read_text())
        except FileNotFoundError:
            _fail(str(p), ["config file not found"])
        except tomllib.TOMLDecodeError as e:
            _fail(str(p), [f"not valid TOML: {e}"])
        return cls.from_dict(raw)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (for config.json in the run folder)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if hasattr(v, "__dataclass_fields__"):
                v = {g.name: getattr(v, g.name) for g in fields(v)}
                v = {k: list(x) if isinstance(x, tuple) else x for k, x in v.items()}
            elif f.name == "risk":
                v = dict(v)
            elif isinstance(v, tuple):
                v = list(v)
            out[f.name] = v
        return out
