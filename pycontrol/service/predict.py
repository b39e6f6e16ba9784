"""``POST /predict``: a family's production model scores posted feature rows, for tools that
want predictions without a session.

Body: ``{"family": NAME, "rows": [[f0, f1, ...], ...] | [{"name": value, ...}, ...],
"now_ns": optional engine clock (default now)}``. Rows as objects must name exactly the
model's features (``feature_set.names`` of its manifest, any order); rows as lists must have
exactly that many values. Every row goes through the model's gates (stale, non-finite, out
of bounds): a gated row answers ``{"gated": reason}``, never a probability. The model is the
registry's ``production`` alias at the time of the request (reloaded when it moves), loaded
by :class:`pycontrol.inference.Model`, which checks the manifest contract at load.
"""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path
from typing import Any


class Predictor:
    def __init__(self, registry_root: Path) -> None:
        self.registry_root = Path(registry_root)
        self._models: dict[str, tuple[str, Any]] = {}  # family -> (version, Model)
        self._lock = threading.Lock()

    def _model(self, family: str) -> tuple[str, Any]:
        from pycontrol.inference import Model
        from pycontrol.registry import Registry

        reg = Registry(self.registry_root)
        if family not in reg.families():
            raise LookupError(f"no family {family!r} in {self.registry_root}")
        version = reg.aliases(family).get("production")
        if version is None:
            raise PermissionError(f"family {family!r} has no production version (promote one)")
        with self._lock:
            cached = self._models.get(family)
            if cached is None or cached[0] != version:
                cached = (version, Model.load(reg.folder(family, version)))
                self._models[family] = cached
        return cached

    def handle(self, body: dict[str, Any]) -> tuple[dict[str, Any], int]:
        """(response body, HTTP status)."""
        from pycontrol import CoreError
        from pycontrol.registry import RegistryError

        family, rows = body.get("family"), body.get("rows")
        if not isinstance(family, str) or not family:
            return {"error": "'family' must be a non-empty string"}, 422
        if not isinstance(rows, list) or not rows:
            return {"error": "'rows' must be a non-empty list of rows"}, 422
        now_ns = body.get("now_ns", time.time_ns())
        if not isinstance(now_ns, int) or isinstance(now_ns, bool):
            return {"error": "'now_ns' must be an integer (ns since the epoch)"}, 422
        try:
            version, model = self._model(family)
        except LookupError as e:
            return {"error": str(e)}, 404
        except PermissionError as e:
            return {"error": str(e)}, 409
        except (RegistryError, CoreError) as e:
            return {"error": f"{type(e).__name__}: {e}"}, 500
        names: list[str] = list(model.manifest["feature_set"]["names"])
        matrix, problems = _matrix(rows, names)
        if problems:
            return {"error": "rows do not match the model's features", "problems": problems}, 422
        import numpy as np

        probs, reasons = model.infer(np.asarray(matrix, dtype=np.float32), now_ns)
        classes = model.classes
        out: list[dict[str, Any]] = []
        for p, reason in zip(probs, reasons, strict=True):
            if reason is not None:
                out.append({"gated": reason})
            else:
                k = int(np.argmax(p))
                out.append({"class": classes[k], "probabilities": [float(x) for x in p]})
        return {
            "family": family,
            "version": version,
            "classes": classes,
            "features": names,
            "predictions": out,
            "gate_counts": model.gate_counts(),
        }, 200


def _matrix(rows: list[Any], names: list[str]) -> tuple[list[list[float]], list[str]]:
    problems: list[str] = []
    matrix: list[list[float]] = []
    for i, row in enumerate(rows[:10_000]):
        if isinstance(row, dict):
            missing = [n for n in names if n not in row]
            extra = [k for k in row if k not in names]
            if missing or extra:
                problems.append(f"row {i}: missing {missing}, unknown {extra}")
                continue
            vals = [row[n] for n in names]
        elif isinstance(row, list):
            if len(row) != len(names):
                problems.append(f"row {i}: {len(row)} values, the model takes {len(names)}")
                continue
            vals = row
        else:
            problems.append(f"row {i}: expected a list or an object")
            continue
        bad = [
            names[j]
            for j, v in enumerate(vals)
            if v is not None and (not isinstance(v, int | float) or isinstance(v, bool))
        ]
        if bad:
            problems.append(f"row {i}: not numbers: {bad}")
            continue
        # null is a missing value: NaN, which the non-finite gate answers
        matrix.append([math.nan if v is None else float(v) for v in vals])
    if len(rows) > 10_000:
        problems.append(f"{len(rows)} rows; at most 10000 per request")
    return matrix, problems
