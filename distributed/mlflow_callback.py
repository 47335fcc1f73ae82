"""Ray's MLflowLoggerCallback for the trials of a search with --mlflow (tracking.callbacks). A module
of its own: importing Ray's integration imports mlflow, which takes seconds that only --mlflow needs."""
from ray.air.integrations.mlflow import MLflowLoggerCallback

from . import ray_compat


class StartedTrials(MLflowLoggerCallback):
    """Ray's MLflowLoggerCallback, for the trials that started: one that the time budget stopped before
    it started (budget.py) has no MLflow run to end (Ray's own would raise KeyError)."""

    def log_trial_end(self, trial, failed: bool = False):
        if ray_compat.mlflow_run_of(self, trial) is not None:
            super().log_trial_end(trial, failed)
