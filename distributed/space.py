"""Disk space: what a search will write, checked against the free space of each folder before Ray
starts; and a full disk during the search told as one line instead of a traceback.

A search's checkpoints are most of what it writes, and every trial keeps its best ones until the
best model is exported (disk.tidy_storage deletes them at the end), so the peak is every trial's kept
checkpoints at once. A checkpoint's size follows from the model's parameter count and the mode:
a fine-tuned trial saves the encoder's weights and AdamW's two moments for each (4 + 8 bytes a
parameter; bench/results/checkpoint_cost/checkpoint_cost.json measured 9 a parameter for bert-base), a
LoRA trial its adapters and head with theirs, a boost trial only its head on the frozen features. The
estimate takes the larger where the space holds several modes, so it is an upper bound: a search is
refused when it exceeds the free space, and warned when it takes more than half of it.

During the search a full disk shows up as ENOSPC in the driver (the searcher's state, the outputs,
the export), or as a trial's error (its checkpoint): either ends the search with DiskFull, whose one
line names the folder and --resume; the trials that finished are kept. The search's own files
(outputs, search.json) are written whole or not at all (bertclf.atomic). Tune's are not: its
tuner.pkl and experiment state are written in place, so a full disk before the trials removes the
folders the search made (search.before_trials); during the trials, room held in the experiment
folder (space_reserve) lets the search write Tune's state and results whole once the trials end
on a full disk, so that a --resume reruns the trials that failed on it.
"""
import errno
import os
import pickle
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

from bertclf.errors import UserError
from bertclf.models.encoders import load_model_config
from bertclf.models.heads import MLP_HIDDEN, feature_size
from bertclf.windows import sequences

from .disk import megabytes
from .feature_estimate import pass_name
from .searchers import checkpoints_kept

BYTES_PER_FLOAT = 4
ADAM_MOMENTS = 2
WARN_SHARE = 0.5  # warn when the estimate takes more than this share of the free space
ENOSPC_TEXT = os.strerror(errno.ENOSPC)  # 'No space left on device'
SQLITE_FULL_TEXT = "database or disk is full"  # SQLite's SQLITE_FULL: the Optuna study's database (study.py)
FULL_BELOW = 64 * 1024  # bytes free under which a folder counts as full once the trials have ended
# room held in the experiment folder while the trials run (space_reserve): Tune's state and the
# searcher's (a smoke test's staged under 0.6 MB), and each trial's result.json, progress.csv, parameters
RESERVE_BASE = 2**20
RESERVE_PER_TRIAL = 64 * 1024
# what a full disk raises when it shows only as what it broke (Tune reading back a file it cut short);
# the search's own errors (a bad input, a search finished or interrupted) say what they are
BROKEN_BY_FULL_DISK = (OSError, EOFError, pickle.UnpicklingError)


class DiskFull(Exception):
    """The disk filled during the search: its text names the folder and how to continue."""


@dataclass
class Need:
    folder: str  # where the bytes go (a local folder)
    size: int  # bytes, estimated
    what: str  # for the console: '4 kept checkpoint(s) of 12.3 MB'


def checkpoint_size(plan) -> int:
    """Bytes of one trial checkpoint, the largest over the space's models and modes: what the trial
    trains (the weights and AdamW's two moments)."""
    options = ["mode", "boost", "bert_finetuning", "lora", "lora_r", "lora_targets", "pooling", "layers", "head",
               "truncation"]
    return max(trained_parameters(plan, plan.spec.trial_config(c)) * BYTES_PER_FLOAT * (1 + ADAM_MOMENTS)
               for c in plan.spec.corners(options))


def trained_parameters(plan, config) -> int:
    """The parameters a trial of `config` trains and checkpoints: a boost trial its head alone (an MLP's
    at most), a LoRA trial the adapters and the head (its checkpoint holds no encoder), a fine-tuned
    one the whole encoder. The head of truncation chunks reads a text's windows' mean and max: twice
    the feature size."""
    model = plan.models[config.bert_name]
    features = feature_size(load_model_config(model.source), config.pooling, config.layers)
    head = features * (2 if config.truncation == "chunks" else 1) * MLP_HIDDEN + MLP_HIDDEN * 2
    if config.uses_feature_cache:
        return head
    if config.lora:
        return model.facts.adapter_parameters(config.lora_targets, config.lora_r) + head
    return model.facts.parameters


def needs(plan, passes) -> List[Need]:
    """What the search writes where: the trials' kept checkpoints and the room held for Tune's state
    (storage), the exported best model (the output folder), the boost features (the cache folder)."""
    spec, each = plan.spec, checkpoint_size(plan)
    kept = checkpoints_kept(spec) * (spec.num_samples + spec.repeat_top * (spec.repeats or 0))
    export = max(model.facts.parameters for model in plan.models.values()) * BYTES_PER_FLOAT
    out = [Need(str(plan.out_dir), export * (2 if spec.refit else 1), "the best model's export"
                + (" and the refit's" if spec.refit else ""))]
    if "://" not in plan.storage:
        out.append(Need(plan.storage, kept * each, f"{kept} kept checkpoint(s) of {megabytes(each)}"))
        out.append(Need(plan.storage, reserve_size(spec.num_samples), "room held for the search's state"))
    for config, inputs, keys in passes:
        rows = sum(len(sequences(t)) for t in inputs.tokens.values())  # the cache holds a window's features each
        model_config = load_model_config(plan.models[config.bert_name].source)
        size = sum(feature_size(model_config, *variant) for variant in {k.features for k in keys if k.features})
        out.append(Need(config.cache_dir, rows * size * BYTES_PER_FLOAT,
                        f"boost features at {pass_name(config)}"))
    return out


def reserve_size(trials: int) -> int:
    return RESERVE_BASE + RESERVE_PER_TRIAL * trials


def check_space(needs_: List[Need], say, refuse: bool = True, free=shutil.disk_usage) -> None:
    """Refuse (UserError) when a file system's free space is under what the search writes there
    (refuse=False, --space-check warn: a warning); warn when the search would take more than half of it;
    else say what it writes there, one line per file system."""
    by_device: Dict[int, List[Need]] = {}
    for need in needs_:
        by_device.setdefault(os.stat(_existing(need.folder)).st_dev, []).append(need)
    for group in by_device.values():
        total = sum(n.size for n in group)
        available = free(_existing(group[0].folder)).free
        folders = ", ".join(dict.fromkeys(n.folder for n in group))
        what = "; ".join(f"{n.what}: {megabytes(n.size)}" for n in group)
        if total > available and refuse:
            raise UserError(f"{folders}: the search writes up to {megabytes(total)} there ({what}), and only "
                            f"{megabytes(available)} is free; free some space or choose another folder "
                            f"(--output-dir, --storage-path), or start anyway: the estimate is an upper bound "
                            f"(--space-check warn)")
        if total > available:
            say(f"warning: {folders}: the search writes up to {megabytes(total)} there ({what}), and only "
                f"{megabytes(available)} is free (--space-check warn: starting anyway)")
        elif total > WARN_SHARE * available:
            say(f"warning: {folders}: the search writes up to {megabytes(total)} there, {total / available:.0%} of "
                f"the {megabytes(available)} free")
        else:  # told before the trials, not only in the end line of what was written
            say(f"disk: up to {megabytes(total)} in {folders} ({what}; {megabytes(available)} free)")


def told(error: BaseException, places: List[str], kept: bool = True) -> BaseException:
    """DiskFull when `error` (or what it was raised from, or a trial's error text) is ENOSPC, or is
    what a full disk breaks (BROKEN_BY_FULL_DISK) while a folder of `places` is full; else `error` itself. places: the search's folders, the one with the least free space named when the
    error does not say which file it was; kept: whether the search keeps what it did (False: a search
    that had not started its trials, whose folders are removed)."""
    seen = error
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno == errno.ENOSPC:
            return disk_full(seen.filename, places, kept)
        if ENOSPC_TEXT in str(seen):
            found = re.search(rf"{ENOSPC_TEXT}: '([^']+)'", str(seen))
            return disk_full(found.group(1) if found else None, places, kept)
        if SQLITE_FULL_TEXT in str(seen):
            return disk_full(None, places, kept)
        seen = seen.__cause__ or seen.__context__
    full = _full(places) if isinstance(error, BROKEN_BY_FULL_DISK) else None
    return disk_full(None, [full], kept) if full else error


def check_trials(grid, places: List[str]) -> None:
    """DiskFull when the trials ended on a full disk: a folder of the search without room for one more
    file (a trial's error file may then be cut short, and is not read), or a trial that failed
    writing its checkpoint."""
    full = _full(places)
    if full:
        raise disk_full(None, [full], kept=True)
    for result in grid:
        if result.error is not None and ENOSPC_TEXT in str(result.error):
            raise told(result.error, places)


def disk_full(path: Optional[str], places: List[str], kept: bool) -> DiskFull:
    if path:
        folder = Path(path).parent
    else:
        local = [Path(_existing(p)) for p in places if "://" not in p] or [Path.cwd()]
        folder = min(local, key=lambda p: shutil.disk_usage(p).free)
    free = megabytes(shutil.disk_usage(_existing(folder)).free)
    then = ("the finished trials are kept; free some space, then run the same command with --resume" if kept
            else "before any trial started: nothing was kept; free some space, then run the same command")
    return DiskFull(f"no space left on the disk of {folder} ({free} free): {then}")


def _full(places: List[str]) -> Optional[str]:
    """The first local folder of `places` without room for one more file, else None."""
    return next((p for p in places if "://" not in p and shutil.disk_usage(_existing(p)).free < FULL_BELOW), None)


def _existing(folder) -> str:
    """The folder, or its nearest existing parent (a folder the search has not made yet)."""
    path = Path(folder).resolve()
    while not path.exists():
        path = path.parent
    return str(path)
