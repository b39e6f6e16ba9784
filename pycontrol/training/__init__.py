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


def __getattr__(name: str) -> object:
    # The sequence models import torch (1-2 s); only pay that when they are used.
    if name in ("SequenceClassifier", "SequenceConfig"):
        from pycontrol.training import sequence

        return getattr(sequence, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
