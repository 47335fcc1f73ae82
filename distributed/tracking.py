"""--mlflow [URI]: every trial as an MLflow run, through Ray's own MLflowLoggerCallback (one run per
trial, named after it: its sampled hyperparameters as params, every check's metrics, stepped by
Tune's report count); after the search the best model folder is logged as an artifact of the best
trial's run.

Without a URI the runs go to a SQLite store in the output folder (mlflow.db, artifacts in
mlartifacts/): MLflow 3 refuses its old file store (./mlruns) unless told otherwise, and names
SQLite as its local default. Any tracking URI MLflow accepts works too (an `mlflow server`'s
http://127.0.0.1:5000, a database). TensorBoard needs nothing: Ray writes an events file in every
trial's folder (`tensorboard --logdir OUTPUT/NAME/trials`).
"""
from pathlib import Path
from typing import List, Optional

from bertclf.errors import UserError

MLFLOW_DB = "mlflow.db"
MLFLOW_ARTIFACTS = "mlartifacts"


def tracking_uri(plan) -> Optional[str]:
    """The MLflow tracking URI of this search, None without --mlflow."""
    if plan.opts.mlflow is None:
        return None
    return plan.opts.mlflow or f"sqlite:///{plan.out_dir / MLFLOW_DB}"


def check_mlflow(plan) -> None:
    """Before Ray starts: mlflow is installed, and the experiment exists (with its artifacts in the
    output folder for the default store; Ray's callback would put them under the current folder)."""
    uri = tracking_uri(plan)
    if uri is None:
        return
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise UserError("--mlflow: mlflow is not installed; pip install 'bert-hpo[mlflow]'") from None
    import logging
    logging.getLogger("mlflow").setLevel(logging.WARNING)  # its database set-up logs at INFO
    plan.out_dir.mkdir(parents=True, exist_ok=True)
    client = MlflowClient(uri)
    try:
        if client.get_experiment_by_name(plan.name) is None:
            location = None if plan.opts.mlflow else (plan.out_dir / MLFLOW_ARTIFACTS).as_uri()
            client.create_experiment(plan.name, artifact_location=location)
    except Exception as e:  # noqa: BLE001 - any failure to reach the store is the user's URI
        raise UserError(f"--mlflow {uri}: cannot use this tracking store ({str(e).splitlines()[0]})") from None


def callbacks(plan) -> List:
    """Tune callbacks for the trials: Ray's MLflowLoggerCallback with --mlflow, else none."""
    uri = tracking_uri(plan)
    if uri is None:
        return []
    from .mlflow_callback import StartedTrials  # mlflow takes seconds to import: only --mlflow pays them
    return [StartedTrials(tracking_uri=uri, experiment_name=plan.name,
                          tags={"search": plan.name, "dataset": plan.spec.dataset})]


def log_best_model(plan, trial: str, model_dir: Path, say) -> Optional[str]:
    """Log `model_dir` as the artifact best_model/ of `trial`'s run; returns the run id (None
    without --mlflow)."""
    uri = tracking_uri(plan)
    if uri is None:
        return None
    from mlflow.tracking import MlflowClient
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(plan.name)
    runs = client.search_runs([experiment.experiment_id], filter_string=f"tags.trial_name = '{trial}'",
                              order_by=["attributes.start_time DESC"], max_results=1)
    if not runs:
        say(f"mlflow: no run of {trial} in {uri}; the best model was not logged")
        return None
    run_id = runs[0].info.run_id
    client.log_artifacts(run_id, str(model_dir), artifact_path=model_dir.name)
    client.set_tag(run_id, "best_trial", "true")
    say(f"mlflow: {plan.name}, one run per trial, the best model logged with {trial}'s run ({uri})")
    return run_id
