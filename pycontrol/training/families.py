"""The family registry: what each model family (a ``configs/train/<family>.toml``) trains on
and which model kinds it admits. Adding a family (the L2 multi-task model, the gap-opener
ranker) is one more entry here, not another branch in the run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pycontrol.training.labels import REGIME_NAMES
from pycontrol.training.models import SEQUENCE_KINDS, check_params
from pycontrol.training.sklearn_members import SKLEARN_KINDS


@dataclass(frozen=True)
class Family:
    """``label_kinds``: the ``[labels] kind``s it accepts (classes must match
    ``class_names``: direction and triple-barrier labels are both -1/0/+1); ``kinds``: model
    kinds it admits;
    ``class_names``: label value -> name (manifest ``classes``); ``up``/``down``: the
    classes whose summed probability drives the report's long/short strategy."""

    name: str
    description: str
    label_kinds: tuple[str, ...]
    kinds: tuple[str, ...]
    class_names: Mapping[int, str]
    up: tuple[int, ...]
    down: tuple[int, ...]

    def check_model(self, model: Mapping[str, Any]) -> list[str]:
        kind = model.get("kind")
        if kind not in self.kinds:
            return [f"family {self.name!r} admits kinds {list(self.kinds)}, got {kind!r}"]
        params = model.get("params", {})
        return check_params(str(kind), params if isinstance(params, Mapping) else {})


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family(
            name="regime_hourly",
            description="hourly macro regime, 5 classes, LightGBM on hourly bar features",
            label_kinds=("regime",),
            kinds=("lightgbm", *SKLEARN_KINDS),
            class_names={c - 2: n for c, n in enumerate(REGIME_NAMES)},
            up=(1, 2),
            down=(-2, -1),
        ),
        Family(
            name="bar_timing",
            description="short-horizon direction on 1m bars from a 30-bar sequence model",
            label_kinds=("direction", "triple_barrier"),
            kinds=(*SEQUENCE_KINDS, "lightgbm", *SKLEARN_KINDS),
            class_names={-1: "DOWN", 0: "FLAT", 1: "UP"},
            up=(1,),
            down=(-1,),
        ),
        Family(
            name="demo",
            description="`pycontrol demo`: direction on 1s bars of synthetic MBO trades, "
            "LightGBM on the bar features the backtest engine streams",
            label_kinds=("direction", "triple_barrier"),
            kinds=("lightgbm",),
            class_names={-1: "DOWN", 0: "FLAT", 1: "UP"},
            up=(1,),
            down=(-1,),
        ),
    )
}
