"""One Tune trial = one engine run, reported to Tune at every check.

Two ways to run it, chosen per search by resources.workers_per_trial:
- 1 worker: the engine loop runs inside the Tune trial itself. A TorchTrainer starts a worker group
  and a process group for every trial, which buys nothing for one worker (bench/gpu.sh measures what
  it costs: bench/README.md); a fractional GPU lets boost trials share one card.
- N workers: the trial drives a TorchTrainer (DDP; gloo on CPU, NCCL on GPU) whose rank 0
  reports through ray.train, and TuneReportCallback forwards the reports to Tune.

Trials read no file of the driver's: their inputs and the model's files come through Ray's object
store (see shared.py), so nodes need share nothing but the storage path.
"""
import gc
import os
import resource
import shutil
import tempfile
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path

import psutil
import ray
import torch
from ray import train as ray_train
from ray import tune

from bertclf.errors import UserError
from bertclf.folds import train_folds
from bertclf.heap import trim_heap
from bertclf.inputs import inputs_key
from bertclf.models.device import cuda_problem
from bertclf.train import train

from . import ray_compat
from .lock_holder import running
from .shared import Shared
from .worker_tokens import gathered

TRIAL_LOG = "trial.log"
OWNER = "trial_id"  # in each checkpoint: the trial that wrote it (PBT hands a trial another's)


def guard_gpu() -> None:
    """A trial that holds a GPU but whose torch cannot use it would fine-tune on the CPU for days."""
    gpus = ray.get_gpu_ids()
    if gpus and not torch.cuda.is_available():
        raise UserError(f"this trial holds GPU {gpus} but torch {torch.__version__} cannot use CUDA: {cuda_problem()}")


def wants_checkpoint(metrics: dict, every_check: bool) -> bool:
    """A check's checkpoint is kept when the check is the run's best so far (the best model, and where
    a resume restarts), or at every check when the scheduler moves weights between trials (PBT)."""
    return every_check or metrics["epoch"] == metrics["best_epoch"]


def reporter(send, to_checkpoint, every_check: bool, writes: bool = True, extra=dict, owner: str = ""):
    """The engine's report(metrics, save_checkpoint) for Tune or Ray Train: send(metrics) at every check,
    with a checkpoint (to_checkpoint(folder)) when wants_checkpoint says so. writes: whether this process
    writes the checkpoint (Ray Train: rank 0 only; the others send None); extra() adds metrics; owner:
    the Tune trial id written into each checkpoint (OWNER), so that a restore tells its own from a donor's."""
    def report(metrics, save_checkpoint):
        metrics.update(extra())
        if not wants_checkpoint(metrics, every_check):
            send(metrics)
            return
        with tempfile.TemporaryDirectory(dir=staging_dir(), prefix=f"{os.getpid()}-") as folder:
            if writes:
                save_checkpoint(folder)
                if owner:
                    (Path(folder) / OWNER).write_text(owner, encoding="utf-8")
            send(metrics, checkpoint=to_checkpoint(folder) if writes else None)
    return report


def staging_dir() -> Path:
    """Where checkpoints are written before Tune copies them: this node's temp folder, one sub-folder
    per process. Not the trial's folder, which Tune syncs while the files are being written; folders
    of processes that died (a killed trial) are removed here."""
    root = Path(tempfile.gettempdir()) / "bert-hpo-staging"
    root.mkdir(exist_ok=True)
    for folder in root.iterdir():
        pid = folder.name.split("-")[0]
        if pid.isdigit() and not running(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
    return root


def _file_log(folder: str):
    path = Path(folder) / TRIAL_LOG

    def log(message: str) -> None:
        with open(path, "a", encoding="utf-8") as f:
            f.write(message + "\n")
    return log


def run_in_trial(sampled: dict, spec, shared: Shared, cpus: float, every_check: bool) -> None:
    """Tune function trainable for one-worker trials."""
    torch.set_num_threads(max(1, int(cpus)))  # Ray sets OMP_NUM_THREADS=1 in its workers
    guard_gpu()
    config = spec.trial_config(sampled)
    if ray.get_gpu_ids():
        config = replace(config, device="cuda")
    trial_dir, trial_id = ray_compat.trial_working_directory(), tune.get_context().get_trial_id()
    checkpoint = tune.get_checkpoint()
    ray_compat.fresh_checkpoint_names()  # a restarted trial never writes into a checkpoint folder it wrote before
    memory, cost = memory_probe(), shared.cost_of(config)
    # with folds every report is a fold's end, and its checkpoint where a resume starts
    report = reporter(tune.report, tune.Checkpoint.from_directory, every_check or config.cv_folds > 0,
                      extra=lambda: {**memory(), **cost}, owner=trial_id)

    try:
        config, inputs = own_inputs_or_shared(config, shared, trial_id)
        model_path = shared.model_path(config.bert_name)
        options = dict(inputs=inputs, model_path=model_path, log=_file_log(trial_dir),
                       should_stop=ray_compat.trial_stop_requested)
        if config.cv_folds:
            with checkpoint.as_directory() if checkpoint is not None else nullcontext() as folder:
                train_folds(config, report, resume_from=folder, **options)
            return
        if checkpoint is None:
            train(config, report, save_run=False, **options)
        else:
            with checkpoint.as_directory() as folder:
                own = (Path(folder) / OWNER).read_text(encoding="utf-8") == trial_id
                train(config, report, resume_from=folder, own_checkpoint=own, save_run=False, **options)
    finally:
        release_memory()


def memory_probe():
    """() -> memory metrics: what this process held when the trial started (what an earlier trial of a
    reused actor left behind) and its peak so far: resident memory (the process's lifetime peak), and
    with CUDA the GPU memory allocated (the trial's peak)."""
    rss_at_start = psutil.Process().memory_info().rss / 2**20

    def cpu() -> dict:
        return {"memory_at_start_mb": rss_at_start,
                "peak_memory_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10}
    if not torch.cuda.is_available():
        return cpu
    at_start = torch.cuda.memory_allocated() / 2**20
    torch.cuda.reset_peak_memory_stats()
    return lambda: {**cpu(), "gpu_memory_at_start_mb": at_start,
                    "gpu_peak_memory_mb": torch.cuda.max_memory_allocated() / 2**20}


def own_inputs_or_shared(config, shared: Shared, run_id: str):
    """(config, inputs): the prepared inputs from the object store; with --no-shared-inputs (a benchmark
    of Pytorch-BERT-Classification's way) None, and the config with a cache of this run's own: the run reads, tokenises
    and encodes for itself."""
    if shared.holds_inputs:
        return config, gathered(ray.get(shared.inputs_for(inputs_key(config))))
    return replace(config, cache_dir=os.path.join(config.cache_dir, "per-trial", run_id)), None


def release_memory() -> None:
    """The actor may run the next trial (reuse_actors): give back this trial's memory, the GPU's, and
    the heap's that glibc keeps after the trial's tensors are freed. Tune runs each trial in a new
    thread, and glibc gives threads arenas of their own that it does not return to the system unasked:
    without the trim a reused actor grew by ~35 MB a trial (RssAnon) on a 3.4 M-parameter BERT."""
    gc.collect()
    trim_heap()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def worker_loop(loop_config: dict) -> None:
    """Runs on every Ray Train worker; torch.distributed is already initialised."""
    torch.set_num_threads(max(1, int(loop_config["cpus"])))
    guard_gpu()
    config, shared = loop_config["config"], loop_config["shared"]
    config = replace(config, device=str(ray_train.torch.get_device()))
    rank = ray_train.get_context().get_world_rank()
    cost = shared.cost_of(config)  # the searcher reads it from the trial's reports
    report = reporter(ray_train.report, ray_train.Checkpoint.from_directory, loop_config["every_check"],
                      writes=rank == 0, extra=lambda: dict(cost))

    config, inputs = own_inputs_or_shared(config, shared, ray_train.get_context().get_experiment_name())
    lines = loop_config.get("lines")  # a queue the driver prints from (a refit), or the worker's own log
    log = (lines.put if lines is not None else print) if rank == 0 else (lambda message: None)
    options = dict(inputs=inputs, model_path=shared.model_path(config.bert_name), save_run=False, log=log,
                   check_every_s=loop_config["check_every_s"])
    checkpoint = ray_train.get_checkpoint()  # after a lost worker, or of the interrupted run of this name
    if checkpoint is None:
        train(config, report, **options)
    else:
        with checkpoint.as_directory() as folder:
            train(config, report, resume_from=folder, **options)


def torch_trainer(config, shared: Shared, *, workers: int, use_gpu: bool, cpus_per_worker: float, placement: str,
                  name: str, storage_path: str, checkpoints_to_keep: int, max_failures: int, metric,
                  mode: str = "max", every_check: bool = False, callbacks=(), lines=None, check_every_s: float = 0.0):
    """A TorchTrainer that runs the engine loop on `workers` workers (DDP). Run again under the same
    name and storage path, it resumes from its latest checkpoint (Ray Train restores its own state), as
    it does after a lost worker (max_failures). check_every_s: also a check (so a checkpoint, with
    every_check) every this many seconds of training (bertclf.train.train)."""
    from ray.train.torch import TorchTrainer
    return TorchTrainer(
        worker_loop,
        train_loop_config={"config": config, "shared": shared, "cpus": cpus_per_worker, "every_check": every_check,
                           "lines": lines, "check_every_s": check_every_s},
        scaling_config=ray_train.ScalingConfig(
            num_workers=workers, use_gpu=use_gpu,
            resources_per_worker={"CPU": cpus_per_worker, **({"GPU": 1} if use_gpu else {})},
            placement_strategy=placement),
        run_config=ray_train.RunConfig(
            name=name, storage_path=storage_path, callbacks=list(callbacks),
            # no metric (a refit): the latest checkpoints are kept
            checkpoint_config=ray_train.CheckpointConfig(num_to_keep=checkpoints_to_keep, checkpoint_score_attribute=metric,
                                                         checkpoint_score_order=mode),
            failure_config=ray_train.FailureConfig(max_failures=max_failures)))


def run_with_torch_trainer(sampled: dict, spec, shared: Shared, use_gpu: bool, storage_path: str,
                           every_check: bool) -> None:
    """Tune function trainable for trials that span several workers (GPUs or nodes)."""
    from ray.tune.integration.ray_train import TuneReportCallback
    res = spec.resources
    trainer = torch_trainer(
        spec.trial_config(sampled), shared, workers=res.workers_per_trial, use_gpu=use_gpu,
        cpus_per_worker=res.cpus_per_worker, placement=res.placement,
        name=f"{tune.get_context().get_trial_name()}-train", storage_path=storage_path,
        checkpoints_to_keep=spec.checkpoints_to_keep, max_failures=spec.max_failures, metric=spec.score_key,
        mode=spec.mode, every_check=every_check, callbacks=[TuneReportCallback()])
    try:
        trainer.fit()
    except ray_train.TrainingFailedError as e:
        if ray_compat.ended_by_memory_monitor(e):  # the same configuration would need the same memory again
            raise UserError(ray_compat.out_of_memory_said("the trial's workers")) from None
        raise

