"""A run's checkpoint, as the engine lays it out: a model folder (loadable by --predict) plus the
trainer state that a resume needs. Callers treat the folder as opaque: `export_model` copies out
the model, `restore` puts a run back where the checkpoint left it."""
import json
import shutil
from pathlib import Path

import torch

from .model_io import META, load_weights, save_model

TRAINER_STATE = "trainer_state.pt"


def save_checkpoint(folder, run) -> None:
    """The current weights and where the run stands: epoch, step in it, optimiser, schedule, RNG."""
    save_model(folder, run.task.model, run.tokenizer, run.meta)
    torch.save({"epoch": run.epoch, "step": run.step, "optimizer": run.optimizer.state_dict(),
                "scheduler": run.scheduler.state_dict(), "history": json.dumps(run.history),
                "bad_checks": run.bad_checks, "rng": torch.get_rng_state()},
               Path(folder) / TRAINER_STATE)


def restore(run, folder) -> None:
    """Continue `run` from a checkpoint, with the learning rates and weight decay of run.config.

    A search may restart a run from another trial's checkpoint with new hyperparameters (PBT): the
    stored optimiser state keeps its moments, but never its old learning rates."""
    state = torch.load(Path(folder) / TRAINER_STATE, map_location="cpu", weights_only=True)
    load_weights(run.task.model, folder)
    run.optimizer.load_state_dict(state["optimizer"])
    run.scheduler.load_state_dict(state["scheduler"])
    wanted = {g["name"]: (g["lr"], g["weight_decay"]) for g in run.param_groups}
    for group in run.optimizer.param_groups:
        group["initial_lr"], group["weight_decay"] = wanted[group["name"]]
    run.scheduler.base_lrs = [g["initial_lr"] for g in run.optimizer.param_groups]
    factor = run.scheduler.lr_lambdas[0](run.scheduler.last_epoch)
    for group in run.optimizer.param_groups:
        group["lr"] = group["initial_lr"] * factor
    run.scheduler._last_lr = [group["lr"] for group in run.optimizer.param_groups]  # what get_last_lr() says
    run.history = json.loads(state["history"])
    run.epoch, run.step, run.bad_checks = int(state["epoch"]), int(state["step"]), int(state["bad_checks"])
    torch.set_rng_state(state["rng"])


def export_model(checkpoint_dir, target) -> None:
    """Copy the model of a checkpoint (not its trainer state) into `target`, a new or empty folder."""
    shutil.copytree(checkpoint_dir, target, ignore=shutil.ignore_patterns(TRAINER_STATE), dirs_exist_ok=True)


def is_model_folder(folder) -> bool:
    return (Path(folder) / META).is_file()
