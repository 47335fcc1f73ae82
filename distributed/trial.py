"""One Tune trial = one engine run, reported to Tune once per epoch with a checkpoint.

Two ways to run it, chosen per search by resources.workers_per_trial:
- 1 worker: the engine loop runs inside the Tune trial itself. Ray Train's worker group costs
  ~30 s to start per trial on an H100/H200 (../shared/GPU.md), as long as a whole IMDB epoch,
  and buys nothing for one worker; a fractional GPU lets boost trials share one card.
- N workers: the trial drives a TorchTrainer (DDP; gloo on CPU, NCCL on GPU) whose rank 0
  reports through ray.train and TuneReportCallback forwards the reports to Tune.
"""
import tempfile
from pathlib import Path

from ray import train as ray_train
from ray import tune

from bertclf.config import TrainConfig
from bertclf.train import train

from .search_space import expand


def _checkpoint_dir(base: dict) -> str:
    # explicit dir=: folders left in /tmp by a killed trial would never be cleaned
    folder = Path(base["cache_dir"]) / "checkpoint-staging"
    folder.mkdir(parents=True, exist_ok=True)
    return str(folder)


def trial_config(sampled: dict, base: dict) -> TrainConfig:
    values = {**base, **expand(sampled)}
    if "{trial}" in values["cache_dir"]:  # --no-shared-inputs: this trial's own cache
        values["cache_dir"] = values["cache_dir"].format(trial=tune.get_context().get_trial_id())
    return TrainConfig.from_dict(values)


def run_in_trial(sampled: dict, spec: dict, base: dict, cpus: float) -> None:
    """Tune function trainable for one-worker trials."""
    import torch
    torch.set_num_threads(max(1, int(cpus)))  # Ray sets OMP_NUM_THREADS=1 in its workers
    config = trial_config(sampled, base)
    checkpoint = tune.get_checkpoint()
    staging = _checkpoint_dir(base)

    def report(metrics, save_checkpoint):
        with tempfile.TemporaryDirectory(dir=staging) as folder:
            save_checkpoint(folder)
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(folder))

    try:
        if checkpoint is None:
            train(config, report, save_run=False)
        else:
            with checkpoint.as_directory() as folder:
                train(config, report, resume_from=folder, save_run=False)
    finally:
        release_memory()


def release_memory() -> None:
    """The actor may run the next trial (reuse_actors): give back this trial's GPU memory."""
    import gc
    import torch
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _worker_loop(loop_config: dict) -> None:
    """Runs on every Ray Train worker; torch.distributed is already initialised."""
    import torch
    torch.set_num_threads(max(1, int(loop_config["cpus"])))
    values = dict(loop_config["values"])
    values["device"] = str(ray_train.torch.get_device())
    config = TrainConfig.from_dict(values)
    rank = ray_train.get_context().get_world_rank()
    staging = loop_config["staging"]

    def report(metrics, save_checkpoint):
        with tempfile.TemporaryDirectory(dir=staging) as folder:
            save_checkpoint(folder)  # writes only on rank 0
            ray_train.report(metrics, checkpoint=ray_train.Checkpoint.from_directory(folder) if rank == 0 else None)

    checkpoint = ray_train.get_checkpoint()
    if checkpoint is None:
        train(config, report, save_run=False)
    else:
        with checkpoint.as_directory() as folder:
            train(config, report, resume_from=folder, save_run=False)


def run_with_torch_trainer(sampled: dict, spec: dict, base: dict, workers: int, use_gpu: bool,
                           cpus_per_worker: float, storage_path: str) -> None:
    """Tune function trainable for trials that span several workers (GPUs or nodes)."""
    from ray.train.torch import TorchTrainer
    from ray.tune.integration.ray_train import TuneReportCallback

    config = trial_config(sampled, base)
    context = tune.get_context()
    trainer = TorchTrainer(
        _worker_loop,
        train_loop_config={"values": config.to_dict(), "cpus": cpus_per_worker,
                           "staging": _checkpoint_dir(base)},
        scaling_config=ray_train.ScalingConfig(
            num_workers=workers, use_gpu=use_gpu,
            resources_per_worker={"CPU": cpus_per_worker, **({"GPU": 1} if use_gpu else {})},
            placement_strategy=spec["resources"]["placement"]),
        run_config=ray_train.RunConfig(
            name=f"{context.get_trial_name()}-train", storage_path=storage_path,
            callbacks=[TuneReportCallback()],
            checkpoint_config=ray_train.CheckpointConfig(
                num_to_keep=spec["checkpoints_to_keep"], checkpoint_score_attribute=spec["metric"],
                checkpoint_score_order="max"),
            failure_config=ray_train.FailureConfig(max_failures=spec["max_failures"])),
        resume_from_checkpoint=tune.get_checkpoint(),  # the Tune trial's, after a restore or retry
    )
    trainer.fit()
