"""A finished search's trials as one table (pandas, from Ray's ResultGrid), best first, and the
checkpoint of the best trial's best check.

Both read what Tune holds of each trial (Result.metrics: its last report; Result.checkpoint), not
the trial's result.json: Tune copies that file back from storage over its local copy whenever a
trial restarts (a PBT pause or exploit, a retry, a resumed search), so reports made since the last
sync to storage are lost from it, and its last line can be a check older than the latest checkpoint.
A trial that drove a TorchTrainer names its checkpoints in its reports alone: its last report as
Tune holds it, else the newest path in that file that exists."""
from pathlib import Path, PurePosixPath

import pandas as pd

from bertclf.folds import STD

from . import budget
from .progress import error_line, trial_status


def trial_table(grid, spec) -> pd.DataFrame:
    """One row per trial that ran: trial, status, epochs, the sampled hyperparameters, best_* and last
    metrics, error, and its Result and config (the trial's own: own_report); scored trials first, best
    first (ties: the lower valid loss)."""
    rows = []
    for result in grid:
        if not has_run(result):
            continue  # proposed before the time budget ran out, never started
        trial_id = Path(result.path).name.removeprefix("trial_")
        metrics = own_report(result)
        config = metrics.get("config") or result.config or {}  # its own: Result.config can be a donor's
        row = {"trial": f"trial_{trial_id}",
               "status": trial_status(metrics, result.error is not None, spec.scheduler.type,
                                      trial_id in budget.current().stopped),
               "epochs_run": metrics.get("epoch", 0)}
        row.update({key: config.get(key, "") for key in spec.space})  # also for trials that never reported
        for key in ["best_epoch", "best_train_loss", "best_valid_loss", *(f"best_{m}" for m in spec_metrics(spec)),
                    *fold_columns(spec), spec.metric, "train_samples_per_s", "time_total_s"]:
            row[key] = metrics.get(key)
        ended = metrics.get("timestamp")
        row["started"] = ended - metrics.get("time_total_s", 0.0) if ended else None
        row["ended"] = ended
        row["error"] = error_line(result.path) if result.error is not None else ""
        row["result"] = result
        row["config"] = config  # in full (a table cell holds numpy's)
        rows.append(row)
    table = pd.DataFrame(rows, columns=list(rows[0]) if rows else ["trial", "status"])
    score = spec.score_key
    if score in table:
        table["_scored"] = table[score].notna()
        table = table.sort_values(["_scored", score, "best_valid_loss"], ascending=[False, spec.mode == "min", True],
                                  na_position="last").drop(columns="_scored").reset_index(drop=True)
    return table


def own_report(result) -> dict:
    """The trial's own last report. Tune holds the donor's last report as the trial's after a PBT
    exploit until the trial reports again (Trial.on_restore); a trial stopped before that (by the
    time budget) would show the donor's scores: its own last report is then the last line of its own
    results (Result.metrics_dataframe), {} when it made none. Reports carry the trial's id (Tune
    adds trial_id to each)."""
    metrics = result.metrics or {}
    trial_id = Path(result.path).name.removeprefix("trial_")
    if metrics.get("trial_id", trial_id) == trial_id:
        return metrics
    frame = result.metrics_dataframe
    if frame is None or "trial_id" not in frame:
        return {}
    own = frame[frame["trial_id"] == trial_id]
    if own.empty:
        return {}
    line = {k: (None if _missing(v) else v.item() if hasattr(v, "item") else v) for k, v in own.iloc[-1].items()}
    # the file's columns are flattened (config/lr): the config of that report, not the donor's
    line["config"] = {k.removeprefix("config/"): v for k, v in line.items() if k.startswith("config/")}
    return line


def fold_columns(spec) -> list:
    """With cv_folds: the folds a trial finished, and the standard deviation over them of its score
    (whose best_* columns are then means over the folds: bertclf.folds)."""
    return ["folds_done", spec.score_key + STD] if spec.cv_folds else []


def has_run(result) -> bool:
    """The trial ran: it reported or failed. One the time budget stopped before it started did neither
    (Tune holds only its trial_id as its metrics)."""
    return result.error is not None or "training_iteration" in (result.metrics or {})


def _missing(value) -> bool:
    return isinstance(value, float) and value != value  # NaN: a column this report did not fill


def spec_metrics(spec):
    from bertclf.tasks import task_named
    return task_named(spec.task).metrics


def best_checkpoint(result):
    """The checkpoint that holds the model of the best check in the trial's last report (its row's
    best_*): the latest checkpoint the trial wrote itself. The engine keeps the best check's weights
    in every checkpoint (best/ when the latest check was not the best), and a check that becomes the
    best always writes one. That is Result.checkpoint, except after a PBT exploit that the trial did
    not report after: PBT makes the donor's checkpoint the trial's latest, in the donor's folder; the
    trial's own is then the one its last report names (under PBT every check writes one). A trial
    exploited at its last check reports one check of the weights it was given (train.train), since
    Tune takes the donor's last report as the trial's until it reports. A trial that drove a
    TorchTrainer has its checkpoints in Ray Train's storage, reported as `checkpoint_path`. None: the
    trial wrote none of its own (exploited, then stopped by the time budget before its first check)."""
    from ray.tune import Checkpoint
    latest = result.checkpoint
    if latest is not None:
        if PurePosixPath(latest.path).parent == PurePosixPath(result.path):
            return latest
        name = own_report(result).get("checkpoint_dir_name")
        return Checkpoint(path=str(PurePosixPath(result.path) / name), filesystem=latest.filesystem) if name else None
    paths = [own_report(result).get("checkpoint_path")]  # the last report as Tune holds it: newer than the file
    frame = result.metrics_dataframe
    if frame is not None and "checkpoint_path" in frame:
        paths = frame.dropna(subset=["checkpoint_path"])["checkpoint_path"].tolist() + paths
    for path in reversed(paths):
        if path and ("://" in path or Path(path).exists()):
            return Checkpoint(path)
    return None
