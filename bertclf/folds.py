"""cv_folds: one configuration trained on each of K folds of train in turn (each fold validated once, on
the rows the other folds train on) and scored on the mean of the folds' best valid scores.

A driver sees one report per finished fold, its scores the running mean over the folds so far, so that a
search's scheduler can stop a configuration after a poor first fold. Each report's checkpoint is the
fold's own (its best check's model) with FOLDS_FILE beside it: a resume starts at the next fold, and a fold
cut short is trained again from its start.
"""
import json
import statistics
from functools import partial
from pathlib import Path
from typing import Callable, List, Optional

from .config import TrainConfig
from .inputs import prepared_for
from .train import Report, log_stderr, train

FOLDS_FILE = "folds.json"  # in a fold's checkpoint: every finished fold's best check, in order
STD = "_std"  # the suffix of a mean's standard deviation over the folds: best_valid_accuracy_std


def fold_scores(folds: List[dict], metrics: List[str]) -> dict:
    """{best_<metric>: the mean over `folds` (each fold's best check), best_<metric>_std: their standard
    deviation (0 for one fold)} for each of the task's `metrics`, and best_epoch, the folds' mean (the
    epochs a refit on all of train gets)."""
    scores = {"best_epoch": round(statistics.fmean(f["epoch"] for f in folds), 2)}
    for key in metrics:
        values = [f[key] for f in folds if f.get(key) is not None]
        if values:
            scores[f"best_{key}"] = statistics.fmean(values)
            scores[f"best_{key}{STD}"] = statistics.stdev(values) if len(values) > 1 else 0.0
    return scores


def fold_report(config: TrainConfig, folds: List[dict], last_check: dict) -> dict:
    """The report after len(folds) folds: the last fold's last check, with the running means as best_*;
    epoch counts the epochs of the folds done (n_epochs each: the scheduler's clock) and folds_done them."""
    done = len(folds)
    return {**last_check, **fold_scores(folds, valid_metrics(folds[-1])), "epoch": done * config.n_epochs,
            "folds_done": done, "done_reason": "completed" if done == config.cv_folds else ""}


def save_fold(folder, save_checkpoint: Callable[[Path], None], folds: List[dict]) -> None:
    save_checkpoint(folder)
    (Path(folder) / FOLDS_FILE).write_text(json.dumps(folds, default=float), encoding="utf-8")


def finished_folds(checkpoint) -> List[dict]:
    """The folds a checkpoint of train_folds had finished ([] for none)."""
    if checkpoint is None:
        return []
    return json.loads((Path(checkpoint) / FOLDS_FILE).read_text(encoding="utf-8"))


def valid_metrics(check: dict) -> List[str]:
    """The valid scores of a check (its valid_* keys): each is averaged over the folds."""
    return [key for key in check if key.startswith("valid_")]


def train_folds(config: TrainConfig, report: Optional[Report] = None, *, inputs=None, model_path: Optional[str] = None,
                resume_from=None, log: Callable[[str], None] = log_stderr,
                should_stop: Callable[[], bool] = lambda: False) -> dict:
    """Train `config` on each of its cv_folds folds; return {"folds": each fold's best check, "scores":
    fold_scores, "stopped": whether should_stop ended a fold (then it is not scored)}. inputs: the
    prepared inputs with their folds (None: prepared here); resume_from: a checkpoint of a report of this
    function; report(metrics, save_checkpoint): after each fold. No run folder is written: a fold's model
    has seen part of train; the configuration's model is a run (or a search's refit) on all of it."""
    if inputs is None:
        inputs = prepared_for(config, log, model_path)
    folds = finished_folds(resume_from)
    for k in range(len(folds), config.cv_folds):
        fold = inputs.fold(k)
        log(f"fold {k + 1}/{config.cv_folds}: {len(fold.tokens['train'])} train / {len(fold.tokens['valid'])} valid")
        saves = {}
        run = train(config, lambda metrics, save: saves.update(save=save), inputs=fold, model_path=model_path,
                    save_run=False, log=log, should_stop=should_stop)
        if not run["done_reason"]:  # stopped from outside
            return {"folds": folds, "scores": fold_scores(folds, valid_metrics(folds[0])) if folds else {},
                    "stopped": True}
        folds.append(run["best"])
        scores = fold_scores(folds, valid_metrics(run["best"]))
        metric = run["metric"]
        log(f"fold {k + 1}/{config.cv_folds}: best {metric.replace('_', ' ')} {run['best'][metric]:.4f}; mean over "
            f"{len(folds)} fold(s) {scores['best_' + metric]:.4f} ± {scores['best_' + metric + STD]:.4f}")
        if report is not None:
            report(fold_report(config, folds, run["history"][-1]),
                   partial(save_fold, save_checkpoint=saves["save"], folds=folds))
    return {"folds": folds, "scores": fold_scores(folds, valid_metrics(folds[0])), "stopped": False}
