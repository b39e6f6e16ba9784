"""Training-run configuration: one frozen, validated dataclass per section of a
``configs/train/<family>.toml`` file, built with ``from_dict`` (unknown keys and every bad
value are reported together in one :class:`TrainConfigError`).

Sections: ``data`` (which bars, resampled to which timeframe), ``features`` (which
:class:`pycontrol.FeatureSet`), ``labels`` (a label config of :mod:`labels`), ``split``
(:class:`PurgedWalkForward` minus what the data fixes: horizon and feature lookback),
``costs`` (for the report's strategy), ``models`` (named members), ``stacking``,
``tracking`` and ``export``. ``family`` picks the entry of the family registry.
"""

from __future__ import annotations

import hashlib
import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from pycontrol.training.errors import LabelConfigError, PipelineConfigError, fail, unknown_fields
from pycontrol.training.labels import DirectionConfig, RegimeConfig, TripleBarrierConfig


class TrainConfigError(PipelineConfigError):
    """A training-run configuration (``configs/train/*.toml``) is invalid."""


def _section(cls: type[Any], data: Any, where: str) -> list[str]:
    """Violations of building ``cls`` from ``data`` (prefixed with the section name)."""
    if not isinstance(data, Mapping):
        return [f"[{where}] must be a table, got {type(data).__name__}"]
    known = [f.name for f in fields(cls)]
    bad = [f"[{where}] {v}" for v in unknown_fields(data, known)]
    try:
        cls(**{k: v for k, v in data.items() if k in known})
    except PipelineConfigError as e:
        bad += [f"[{where}] {v}" for v in e.violations]
    except TypeError as e:
        bad.append(f"[{where}] {e}")
    return bad


def _build(cls: type[Any], data: Mapping[str, Any]) -> Any:
    return cls(**{k: v for k, v in data.items() if k in {f.name for f in fields(cls)}})


def _int(v: object, lo: int) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= lo


def _num(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _check(where: str, bad: list[str]) -> None:
    if bad:
        fail(TrainConfigError, where, bad)


@dataclass(frozen=True)
class DataConfig:
    """``path``: a bar file or folder (:func:`pycontrol.load_bars`); a relative path is
    resolved against ``$SHARED_DATA`` (default ``../shared/data``). ``resample``: coarser
    timeframe to train on (``"1h"``) or None for the file's own bars (``"1m"``).
    ``source = "trades"``: ``path`` is a DBN file with trades (MBO, MBP, trades) and the bars
    are built from them at ``timeframe`` by the Rust bar builder the backtest engine streams
    (:func:`pycontrol.build_bars`), so a model trains on exactly the bars it is served;
    ``instrument_id`` picks one instrument of a multi-instrument file."""

    path: str
    timeframe: str = "1m"
    resample: str | None = None
    contract: str | None = None
    source: str = "bars"
    instrument_id: int | None = None

    def __post_init__(self) -> None:
        bad = []
        if not isinstance(self.path, str) or not self.path:
            bad.append(f"path must be a non-empty string, got {self.path!r}")
        for name in ("timeframe", "resample"):
            v = getattr(self, name)
            if v is not None and (
                not isinstance(v, str) or v[-1:] not in "smhd" or not v[:-1].isdigit()
            ):
                bad.append(f"{name} must look like '1m' or '1h', got {v!r}")
        if self.source not in ("bars", "trades"):
            bad.append(f"source must be 'bars' or 'trades', got {self.source!r}")
        if self.source == "trades" and self.resample is not None:
            bad.append("resample does not apply to source = 'trades' (set timeframe instead)")
        if self.instrument_id is not None and not _int(self.instrument_id, 0):
            bad.append(f"instrument_id must be an int >= 0, got {self.instrument_id!r}")
        _check("DataConfig", bad)

    @property
    def model_timeframe(self) -> str:
        return self.resample or self.timeframe

    def resolve(self, data_root: Path | None = None) -> Path:
        p = Path(self.path)
        if p.is_absolute():
            return p
        root = data_root or Path(os.environ.get("SHARED_DATA", "../shared/data"))
        return (root / p).resolve()


@dataclass(frozen=True)
class FeaturesConfig:
    """Either explicit ``names`` or every default feature of ``timeframes`` whose warm-up is
    at most ``max_warmup`` bars (warm-ups must fit the data: see docs/training.md)."""

    names: tuple[str, ...] | None = None
    timeframes: tuple[str, ...] = ("1m",)
    max_warmup: int = 60

    def __post_init__(self) -> None:
        bad = []
        if self.names is not None and (
            not self.names or not all(isinstance(n, str) for n in self.names)
        ):
            bad.append(f"names must be a non-empty list of strings, got {self.names!r}")
        if not self.timeframes or not all(isinstance(t, str) for t in self.timeframes):
            bad.append(f"timeframes must be a non-empty list of strings, got {self.timeframes!r}")
        if not _int(self.max_warmup, 1):
            bad.append(f"max_warmup must be an int >= 1, got {self.max_warmup!r}")
        _check("FeaturesConfig", bad)
        object.__setattr__(self, "timeframes", tuple(self.timeframes))
        if self.names is not None:
            object.__setattr__(self, "names", tuple(self.names))


@dataclass(frozen=True)
class SplitConfig:
    """:class:`PurgedWalkForward` parameters the data does not fix (the label horizon and
    the feature lookback come from the labels and the feature set)."""

    n_folds: int = 4
    min_train: int = 200
    embargo: int | None = None  # default: the label horizon
    window: str = "expanding"
    train_size: int | None = None

    def __post_init__(self) -> None:
        bad = []
        if not _int(self.n_folds, 2):
            bad.append(f"n_folds must be an int >= 2, got {self.n_folds!r}")
        if not _int(self.min_train, 1):
            bad.append(f"min_train must be an int >= 1, got {self.min_train!r}")
        if self.embargo is not None and not _int(self.embargo, 0):
            bad.append(f"embargo must be an int >= 0, got {self.embargo!r}")
        _check("SplitConfig", bad)


@dataclass(frozen=True)
class CostsConfig:
    """Costs of the report's threshold strategy (:mod:`pycontrol.training.pnl`), in price
    units: ``half_spread`` per side, ``fees`` per round trip (half per side); long when
    P(up classes) > ``threshold``, short when P(down classes) > ``threshold``, flat
    otherwise, each signal held for the label horizon. ``point_value``: USD per price unit
    of one contract (6E 125,000; ES 50), so P&L is reported in USD."""

    half_spread: float = 0.0
    fees: float = 0.0
    threshold: float = 0.5
    point_value: float = 1.0

    def __post_init__(self) -> None:
        bad = [
            f"{n} must be a finite number >= 0, got {getattr(self, n)!r}"
            for n in ("half_spread", "fees")
            if not _num(getattr(self, n)) or getattr(self, n) < 0
        ]
        if not _num(self.threshold) or not 0 < self.threshold < 1:
            bad.append(f"threshold must be in (0, 1), got {self.threshold!r}")
        if not _num(self.point_value) or self.point_value <= 0:
            bad.append(f"point_value must be a number > 0, got {self.point_value!r}")
        _check("CostsConfig", bad)


@dataclass(frozen=True)
class ModelConfig:
    """One member model: ``name`` (unique), ``kind`` (a key of the model registry) and
    ``params`` handed to that kind (validated by it)."""

    name: str
    kind: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        bad = []
        if not isinstance(self.name, str) or not self.name.isidentifier():
            bad.append(f"name must be an identifier, got {self.name!r}")
        if not isinstance(self.kind, str):
            bad.append(f"kind must be a string, got {self.kind!r}")
        if not isinstance(self.params, Mapping):
            bad.append(f"params must be a table, got {self.params!r}")
        _check("ModelConfig", bad)


@dataclass(frozen=True)
class StackingConfig:
    """Meta-learner over the members' out-of-fold probabilities: weights = each member's
    accuracy over its last ``recent`` out-of-fold rows before the fold, normalised; then a
    multinomial logistic (inverse regularisation ``C``) on the log blended probabilities."""

    enabled: bool = True
    recent: int = 200
    C: float = 1.0

    def __post_init__(self) -> None:
        bad = []
        if not isinstance(self.enabled, bool):
            bad.append(f"enabled must be a bool, got {self.enabled!r}")
        if not _int(self.recent, 1):
            bad.append(f"recent must be an int >= 1, got {self.recent!r}")
        if not _num(self.C) or self.C <= 0:
            bad.append(f"C must be a number > 0, got {self.C!r}")
        _check("StackingConfig", bad)


@dataclass(frozen=True)
class TrackingConfig:
    """MLflow: ``uri`` None = a local file store under the runs folder (``<runs>/mlruns``);
    a remote ``http(s)://`` URI is allowed but never the default."""

    enabled: bool = True
    uri: str | None = None
    experiment: str | None = None

    def __post_init__(self) -> None:
        bad: list[str] = []
        if not isinstance(self.enabled, bool):
            bad.append(f"enabled must be a bool, got {self.enabled!r}")
        if self.uri is not None and not isinstance(self.uri, str):
            bad.append(f"uri must be a string, got {self.uri!r}")
        _check("TrackingConfig", bad)


@dataclass(frozen=True)
class ExportConfig:
    """``max_age_days`` goes into every manifest (the engine gates stale models)."""

    enabled: bool = True
    max_age_days: int = 30

    def __post_init__(self) -> None:
        bad = []
        if not isinstance(self.enabled, bool):
            bad.append(f"enabled must be a bool, got {self.enabled!r}")
        if not _int(self.max_age_days, 1):
            bad.append(f"max_age_days must be an int >= 1, got {self.max_age_days!r}")
        _check("ExportConfig", bad)


_LABELS: dict[str, type[Any]] = {
    "regime": RegimeConfig,
    "direction": DirectionConfig,
    "triple_barrier": TripleBarrierConfig,
}
_TOP = (
    "family",
    "seeds",
    "data",
    "features",
    "labels",
    "split",
    "costs",
    "models",
    "stacking",
    "tracking",
    "export",
)


@dataclass(frozen=True)
class TrainConfig:
    """A whole training run. ``labels`` is the ``[labels]`` config of ``label_kind``
    (``regime``, ``direction`` or ``triple_barrier``)."""

    family: str
    seeds: tuple[int, ...]
    data: DataConfig
    features: FeaturesConfig
    label_kind: str
    labels: RegimeConfig | DirectionConfig | TripleBarrierConfig
    split: SplitConfig
    costs: CostsConfig
    models: tuple[ModelConfig, ...]
    stacking: StackingConfig
    tracking: TrackingConfig
    export: ExportConfig
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False)
    source: str | None = None
    source_sha256: str | None = None

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], source: str | None = None, sha256: str | None = None
    ) -> TrainConfig:
        from pycontrol.training.families import FAMILIES  # the registry imports this module

        bad = unknown_fields({k: v for k, v in data.items() if k != "trial_count"}, _TOP)
        family = data.get("family")
        if family not in FAMILIES:
            bad.append(f"family must be one of {sorted(FAMILIES)}, got {family!r}")
        seeds = data.get("seeds", [0, 1, 2, 3, 4])
        if (
            not isinstance(seeds, list)
            or not seeds
            or not all(_int(s, 0) for s in seeds)
            or len(set(seeds)) != len(seeds)
        ):
            bad.append(f"seeds must be a non-empty list of distinct ints >= 0, got {seeds!r}")
        if "trial_count" in data:
            bad.append(
                "trial_count is not a config key: the family's trial ledger "
                "(<runs>/<family>/trials.jsonl) counts the trials"
            )
        sections: dict[str, tuple[type[Any], Any]] = {
            "data": (DataConfig, data.get("data")),
            "features": (FeaturesConfig, data.get("features", {})),
            "split": (SplitConfig, data.get("split", {})),
            "costs": (CostsConfig, data.get("costs", {})),
            "stacking": (StackingConfig, data.get("stacking", {})),
            "tracking": (TrackingConfig, data.get("tracking", {})),
            "export": (ExportConfig, data.get("export", {})),
        }
        for name, (sec, value) in sections.items():
            bad += _section(sec, value, name)
        labels = data.get("labels")
        kind = labels.get("kind") if isinstance(labels, Mapping) else None
        if kind not in _LABELS:
            bad.append(f"[labels] kind must be one of {sorted(_LABELS)}, got {kind!r}")
        else:
            assert isinstance(labels, Mapping)
            rest = {k: v for k, v in labels.items() if k != "kind"}
            try:
                _LABELS[kind].from_dict(rest)
            except LabelConfigError as e:
                bad += [f"[labels] {v}" for v in e.violations]
        models = data.get("models")
        if not isinstance(models, list) or not models:
            bad.append("[[models]] needs at least one member table")
            models = []
        names = [m.get("name") for m in models if isinstance(m, Mapping)]
        if len(set(names)) != len(names):
            bad.append(f"[[models]] names must be unique, got {names}")
        for i, m in enumerate(models):
            bad += _section(ModelConfig, m, f"models.{i}")
        if not bad and family in FAMILIES:
            fam = FAMILIES[family]
            if kind not in fam.label_kinds:
                bad.append(
                    f"[labels] family {family!r} uses kind "
                    f"{' or '.join(repr(k) for k in fam.label_kinds)}, "
                    f"got {kind!r}"
                )
            for m in models:
                bad += [f"[models.{m['name']}] {v}" for v in fam.check_model(m)]
        _check(source or "TrainConfig", bad)
        assert isinstance(labels, Mapping) and isinstance(kind, str)
        return cls(
            family=str(family),
            seeds=tuple(int(s) for s in seeds),
            data=_build(DataConfig, sections["data"][1]),
            features=_build(FeaturesConfig, sections["features"][1]),
            label_kind=kind,
            labels=_LABELS[kind].from_dict({k: v for k, v in labels.items() if k != "kind"}),
            split=_build(SplitConfig, sections["split"][1]),
            costs=_build(CostsConfig, sections["costs"][1]),
            models=tuple(_build(ModelConfig, m) for m in models),
            stacking=_build(StackingConfig, sections["stacking"][1]),
            tracking=_build(TrackingConfig, sections["tracking"][1]),
            export=_build(ExportConfig, sections["export"][1]),
            raw=dict(data),
            source=source,
            source_sha256=sha256,
        )

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TrainConfig:
        p = Path(path)
        try:
            blob = p.read_bytes()
        except OSError as e:
            fail(TrainConfigError, str(p), [f"cannot read: {e.strerror}"])
        try:
            data = tomllib.loads(blob.decode())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            fail(TrainConfigError, str(p), [f"not valid TOML: {e}"])
        return cls.from_dict(data, source=str(p), sha256=hashlib.sha256(blob).hexdigest())
