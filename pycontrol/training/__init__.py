"""Research pipeline: honest labels, purged walk-forward splits and the baselines every model
is reported next to.

Labels look only forward from a decision time; splits purge and embargo training rows whose
label windows or feature lookbacks reach the test fold; baselines run on the identical folds.
"""

from pycontrol.training.baselines import (
    BaselineReport,
    LogisticBaseline,
    MajorityClass,
    Persistence,
    evaluate_baselines,
)
from pycontrol.training.errors import (
    LabelConfigError,
    SequenceConfigError,
    SequenceInputError,
    SplitConfigError,
)
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
from pycontrol.training.sequence import SequenceClassifier, SequenceConfig
from pycontrol.training.splits import PurgedWalkForward, feature_lookback

__all__ = [
    "REGIME_NAMES",
    "BaselineReport",
    "DirectionConfig",
    "LabelConfigError",
    "LogisticBaseline",
    "MajorityClass",
    "Persistence",
    "PurgedWalkForward",
    "RegimeConfig",
    "SequenceClassifier",
    "SequenceConfig",
    "SequenceConfigError",
    "SequenceInputError",
    "SplitConfigError",
    "TripleBarrierConfig",
    "direction_labels",
    "evaluate_baselines",
    "feature_lookback",
    "regime_labels",
    "trailing_volatility",
    "triple_barrier_labels",
]
