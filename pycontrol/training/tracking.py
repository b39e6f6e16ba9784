"""Experiment tracking with MLflow: a local file store by default, never a server, never
the network unless a remote ``tracking.uri`` is configured on purpose.

mlflow-skinny has no SQL store, so a ``file:`` store needs ``MLFLOW_ALLOW_FILE_STORE``
(set here only for file URIs); telemetry is switched off before mlflow is imported.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

_QUIET = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "1",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
}


def tracking_uri(configured: str | None, runs_root: Path) -> str:
    """The configured URI, or a file store under ``runs_root/mlruns``."""
    if configured:
        return configured
    return (runs_root.resolve() / "mlruns").as_uri()


def _flat(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, Mapping):
        for k, v in value.items():
            _flat(f"{prefix}.{k}" if prefix else str(k), v, out)
    elif isinstance(value, list | tuple):
        out[prefix] = ",".join(str(v) for v in value)[:500]
    else:
        out[prefix] = value


def log_run(
    uri: str,
    experiment: str,
    run_name: str,
    params: Mapping[str, Any],
    metrics: Mapping[str, float],
    artifacts: Path,
) -> str:
    """Logs one run (params flattened, finite metrics, the run folder as artifacts);
    returns the MLflow run id."""
    for k, v in _QUIET.items():
        os.environ.setdefault(k, v)
    if uri.startswith("file:") or "://" not in uri:
        os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    import mlflow

    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(experiment)
    flat: dict[str, Any] = {}
    _flat("", params, flat)
    with mlflow.start_run(run_name=run_name) as run:
        mlflow.log_params({k: str(v)[:500] for k, v in flat.items()})
        mlflow.log_metrics({k: float(v) for k, v in metrics.items() if v is not None and v == v})
        mlflow.log_artifacts(str(artifacts))
        run_id: str = run.info.run_id
    return run_id
