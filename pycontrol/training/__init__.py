"""Research pipeline: honest labels, purged walk-forward splits and the baselines every model
is reported next to.

Labels look only forward from a decision time; splits purge and embargo training rows whose
label windows or feature lookbacks reach the test fold; baselines run on the identical folds.
``pycontrol train`` (:mod:`pycontrol.training.run`) runs a family of :data:`FAMILIES` from a
:class:`TrainConfig` end to end.
"""

from pycontrol.training.baselines import (
    BaselineReport,
    LogisticBaseline,
    MajorityClass,
    Persistence,
    evaluate_baselines,
)
from pycontrol.training.config import TrainConfig, TrainConfigError
from pycontrol.training.errors import LabelConfigError, SplitConfigError
from pycontrol.training.families import FAMILIES
from pycontrol.training.labels import (
    REGIME_NAMES,
    DirectionConfig,
    RegimeConfig,
    TripleBarrierConfig,
    direction_labels,
    regime_labels,
    trailing_volatility,
    triple_barrier_labels,
)
from pycontrol.training.splits import PurgedWalkForward, feature_lookback

__all__ = [
    "FAMILIES",
    "REGIME_NAMES",
    "BaselineReport",
    "DirectionConfig",
    "LabelConfigError",
    "LogisticBaseline",
    "MajorityClass",
    "Persistence",
    "PurgedWalkForward",
    "RegimeConfig",
    "SplitConfigError",
    "TrainConfig",
    "TrainConfigError",
    "TripleBarrierConfig",
    "direction_labels",
    "evaluate_baselines",
    "feature_lookback",
    "regime_labels",
    "trailing_volatility",
    "triple_barrier_labels",
]
