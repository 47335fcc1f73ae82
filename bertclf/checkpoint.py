"""A run's checkpoint, as the engine lays it out: a model folder (loadable by --predict) with the
current weights, the trainer state that a resume needs, and, when the run's best check is not the
current one, that check's model in `best/`. Callers treat the folder as opaque: `export_model`
copies out the best model, `restore` puts a run back where the checkpoint left it."""
import json
import shutil
from pathlib import Path

import torch

from .models.model_io import load_weights, save_model, write_merged_encoder

TRAINER_STATE = "trainer_state.pt"
BEST = "best"  # the best check's model, when the current weights are not it (a check that did not improve)


def save_checkpoint(folder, run) -> None:
    """The current weights and where the run stands: epoch, step in it, optimiser, schedule, the
    random states of every worker (CPU and CUDA), and the best check's weights when they differ.
    With LoRA the weights are the adapters and the head (and the optimiser holds only theirs): the
    encoder is the base model's, merged in by export_model."""
    folder = Path(folder)
    save_model(folder, run.task.model, run.tokenizer, run.meta(run.history[-1] if run.history else None),
               merge_lora=False)
    if run.best_state is not None and run.best is not run.history[-1]:
        current = {k: v.detach().to("cpu", copy=True) for k, v in run.task.model.state_dict().items()}
        run.task.model.load_state_dict(run.best_state)
        save_model(folder / BEST, run.task.model, run.tokenizer, run.meta(run.best), merge_lora=False)
        run.task.model.load_state_dict(current)
    torch.save({"epoch": run.epoch, "step": run.step, "optimizer": run.optimizer.state_dict(),
                "scheduler": run.scheduler.state_dict(), "history": json.dumps(run.history),
                "bad_checks": run.bad_checks, "rng": run.rng_states},
               folder / TRAINER_STATE)


def restore(run, folder, *, own: bool = True) -> None:
    """Continue `run` from a checkpoint, with the learning rates and weight decay of run.config.

    own: the checkpoint is this run's (a resume): its history, best check and best weights come
    back. False: another trial's (PBT exploits a donor): only its weights, optimiser moments and
    place in the schedule are taken; the run reports only checks it runs itself from here on.
    A search may restart a run with new hyperparameters: the stored optimiser state keeps its
    moments, but never its old learning rates."""
    folder = Path(folder)
    state = torch.load(folder / TRAINER_STATE, map_location="cpu", weights_only=True)
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
    run.epoch, run.step = int(state["epoch"]), int(state["step"])
    if own:
        run.history, run.bad_checks = json.loads(state["history"]), int(state["bad_checks"])
        run.rng_states = state["rng"]
        set_rng_state(state["rng"], run.rank)
        _restore_best(run, folder)


def _restore_best(run, folder: Path) -> None:
    """The best check's metrics from the history, and its weights: best/ where saved, else the
    checkpoint's own weights (then the latest check was the best)."""
    run.best = max((m for m in run.history if "epoch" in m), key=run.rank_key, default=None)
    if run.best is None or run.rank != 0:
        return
    current = {k: v.detach().to("cpu", copy=True) for k, v in run.task.model.state_dict().items()}
    if (folder / BEST).is_dir():
        load_weights(run.task.model, folder / BEST)
        run.best_state = {k: v.detach().to("cpu", copy=True) for k, v in run.task.model.state_dict().items()}
        run.task.model.load_state_dict(current)
    else:
        run.best_state = current


def rng_state() -> dict:
    """This process's random state: CPU, and every CUDA device's where there is CUDA."""
    state = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(states, rank: int) -> None:
    """Put back this worker's random state (states: one rng_state() per worker, as saved at the
    check). A worker beyond those saved (a resume on more workers) keeps its own seed."""
    if rank >= len(states):
        return
    torch.set_rng_state(states[rank]["cpu"])
    if "cuda" in states[rank] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states[rank]["cuda"])


def model_folder(checkpoint_dir) -> Path:
    """The best check's model inside a checkpoint: best/ when the latest check was not the best."""
    best = Path(checkpoint_dir) / BEST
    return best if best.is_dir() else Path(checkpoint_dir)


def export_model(checkpoint_dir, target, encoder_path=None) -> None:
    """Copy the best model of a checkpoint (not its trainer state) into `target`, a new or empty folder;
    a LoRA model gets its merged encoder there (its base encoder from `encoder_path`, or its bert_name)."""
    shutil.copytree(model_folder(checkpoint_dir), target, ignore=shutil.ignore_patterns(TRAINER_STATE, BEST),
                    dirs_exist_ok=True)
    write_merged_encoder(target, encoder_path)
