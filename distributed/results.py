"""A finished search's trials as one table (pandas, from Ray's ResultGrid), best first, and the
checkpoint of the best trial's best check.

Both read what Tune holds of each trial (Result.metrics: its last report; Result.checkpoint), not
the trial's result.json: Tune copies that file back from storage over its local copy whenever a
trial restarts (a PBT pause or exploit, a retry, a resumed search), so reports made since the last
sync to storage are lost from it, and its last line can be a check older than the latest checkpoint.
Only a trial that drove a TorchTrainer is found through that file: its checkpoints' paths are in
its reports alone."""
from pathlib import Path, PurePosixPath

import pandas as pd

from . import budget
from .progress import error_line, trial_status


def trial_table(grid, spec) -> pd.DataFrame:
    """One row per trial: trial, status, epochs, the sampled hyperparameters, best_* and last
    metrics, error; scored trials first, best first (ties: the lower valid loss)."""
    rows = []
    for result in grid:
        trial_id = Path(result.path).name.removeprefix("trial_")
        metrics = result.metrics or {}
        row = {"trial": f"trial_{trial_id}",
               "status": trial_status(metrics, result.error is not None, spec.scheduler.type,
                                      trial_id in budget.current().stopped),
               "epochs_run": metrics.get("epoch", 0)}
        row.update({key: (result.config or {}).get(key, "") for key in spec.space})  # also for trials that never reported
        for key in ["best_epoch", "best_train_loss", "best_valid_loss", *(f"best_{m}" for m in spec_metrics(spec)),
                    spec.metric, "train_samples_per_s", "time_total_s"]:
            row[key] = metrics.get(key)
        ended = metrics.get("timestamp")
        row["started"] = ended - metrics.get("time_total_s", 0.0) if ended else None
        row["ended"] = ended
        row["error"] = error_line(result.path) if result.error is not None else ""
        row["result"] = result
        rows.append(row)
    table = pd.DataFrame(rows, columns=list(rows[0]) if rows else ["trial", "status"])
    score = spec.score_key
    if score in table:
        table["_scored"] = table[score].notna()
        table = table.sort_values(["_scored", score, "best_valid_loss"], ascending=[False, False, True],
                                  na_position="last").drop(columns="_scored").reset_index(drop=True)
    return table


def spec_metrics(spec):
    from bertclf.task_registry import task_kind
    return task_kind(spec.task).metrics


def best_checkpoint(result):
    """The checkpoint that holds the model of the best check in the trial's last report (its row's
    best_*): the latest checkpoint the trial wrote itself. The engine keeps the best check's weights
    in every checkpoint (best/ when the latest check was not the best), and a check that becomes the
    best always writes one. That is Result.checkpoint, except after a PBT exploit that the trial did
    not report after: PBT makes the donor's checkpoint the trial's latest, in the donor's folder; the
    trial's own is then the one its last report names (under PBT every check writes one). A trial
    exploited at its last check reports one check of the weights it was given (train.train), since
    Tune takes the donor's last report as the trial's until it reports. A trial that drove a
    TorchTrainer has its checkpoints in Ray Train's storage, reported as `checkpoint_path`."""
    from ray.tune import Checkpoint
    latest = result.checkpoint
    if latest is not None:
        if PurePosixPath(latest.path).parent == PurePosixPath(result.path):
            return latest
        own = PurePosixPath(result.path) / result.metrics["checkpoint_dir_name"]
        return Checkpoint(path=str(own), filesystem=latest.filesystem)
    frame = result.metrics_dataframe
    if frame is not None and "checkpoint_path" in frame:
        paths = frame.dropna(subset=["checkpoint_path"])["checkpoint_path"]
        for path in reversed(paths.tolist()):
            if "://" in path or Path(path).exists():
                return Checkpoint(path)
    return None
