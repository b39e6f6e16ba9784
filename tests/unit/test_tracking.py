"""MLflow tracking: a local file store by default, params, metrics and artifacts recorded,
a configured URI used as given."""

from __future__ import annotations

from pathlib import Path

from pycontrol.training.tracking import log_run, tracking_uri


def test_default_is_a_file_store_under_the_runs_root(tmp_path: Path) -> None:
    assert tracking_uri(None, tmp_path) == (tmp_path.resolve() / "mlruns").as_uri()
    assert tracking_uri("http://mlflow.example:5000", tmp_path) == "http://mlflow.example:5000"


def test_log_run_records_params_metrics_and_artifacts(tmp_path: Path) -> None:
    art = tmp_path / "run"
    art.mkdir()
    (art / "metrics.json").write_text("{}")
    uri = tracking_uri(None, tmp_path)
    run_id = log_run(
        uri, "exp", "r1", {"family": "x", "split": {"n_folds": 3}}, {"m.accuracy": 0.5}, art
    )
    import mlflow

    run = mlflow.MlflowClient(tracking_uri=uri).get_run(run_id)
    assert run.data.params["split.n_folds"] == "3" and run.data.params["family"] == "x"
    assert run.data.metrics["m.accuracy"] == 0.5
    (stored,) = (tmp_path / "mlruns").glob(f"*/{run_id}/artifacts/metrics.json")
    assert stored.read_text() == "{}"
