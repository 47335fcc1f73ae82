"""--refit: the best configuration trained again on all of train (the held-out valid included) for the
epochs its best trial needed, then scored once on the test split. This is the run that Ray Train
spreads over every GPU: one TorchTrainer (DDP) with a worker per GPU (gloo workers on a CPU). It
checkpoints under the storage path at each epoch's end and every `refit_checkpoint_every` seconds of
training inside an epoch (a refit's epoch is all of train: over two hours for IMDB on a 2-core CPU),
so a lost worker, or an interrupted refit run again by --resume, goes on from the latest checkpoint."""
import math
import threading
from dataclasses import asdict, replace

import ray
from ray.util.queue import Empty, Queue

from bertclf.errors import UserError
from bertclf.tensor_cache import digest

from . import ray_compat
from .inputs import prepare, share
from .outputs import SearchOutputs, write_refit
from .ray_session import cpus_each
from .shared import Shared
from .spec.check import check_batches_divide
from .trial import torch_trainer


def refit_config(spec, sampled: dict, best_epoch: float):
    """The best trial's options, with all of train, no validation (nor folds), and its epochs rounded up
    (with folds: the mean of the folds' best epochs)."""
    config = spec.trial_config(sampled)
    return replace(config, valid_path=None, valid_fraction=0.0, cv_folds=0, max_train_samples=None, max_valid_samples=None,
                   n_epochs=max(1, math.ceil(best_epoch - 1e-9)), early_stop=-1, evals_per_epoch=1,
                   degenerate_check=False)


def refit_workers(plan) -> int:
    if plan.spec.resources.refit_workers:
        return plan.spec.resources.refit_workers
    return max(1, int(ray.cluster_resources().get("GPU", 0))) if plan.use_gpu else 1


def check_refit(plan) -> None:
    """Before the first trial (Ray is up: the GPUs are counted): whichever configuration wins, its
    refit's micro-batch splits over the refit's workers."""
    if plan.spec.refit:
        what = "resources.refit_workers" if plan.spec.resources.refit_workers else "the refit (one worker per GPU)"
        check_batches_divide(plan.spec, refit_workers(plan), what)


def refit_and_score(plan, outputs: SearchOutputs, shared: Shared, say) -> None:
    """Train the best configuration on all of train, then write its model, test score and results.md line."""
    config = refit_config(plan.spec, outputs.sampled, outputs.best_epoch)
    checkpoint = run_refit(plan, config, shared, say)
    write_refit(plan, outputs, checkpoint, config, shared, say)


def run_refit(plan, config, shared: Shared, say):
    """The refit's final checkpoint (Ray Train's, under the storage path)."""
    workers = refit_workers(plan)
    cpus = plan.spec.resources.cpus_per_worker if plan.use_gpu else \
        cpus_each(workers)
    ready, pending, _, _ = prepare(plan, [config], say)
    refit_shared, _ = share(plan, ready, pending, say, shared)
    inputs = next(iter(ready.values()), None) or (pending[0][1] if pending else None)
    data = inputs.description.split(" (")[0] if inputs else "each worker reads its own inputs (--no-shared-inputs)"
    say(f"refit: {data}, {config.n_epochs} epoch(s), {workers} worker(s) "
        f"({'GPU' if plan.use_gpu else f'CPU, {cpus:g} each'})")
    # the workers' log lines come to this console through a queue. Ray Train resumes a run of the same
    # name and storage path from its latest checkpoint: the name holds the configuration, so that a
    # resumed search whose best changed (its failed trials ran again) does not go on from another's
    lines = Queue(actor_options={"num_cpus": 0})
    trainer = torch_trainer(config, refit_shared, workers=workers, use_gpu=plan.use_gpu, cpus_per_worker=cpus,
                            placement="PACK", name=f"refit-{digest(asdict(config))[:12]}", storage_path=plan.storage,
                            checkpoints_to_keep=1, max_failures=plan.spec.max_failures, metric=None, every_check=True,
                            lines=lines, check_every_s=plan.spec.refit_checkpoint_every)
    result = {}
    fitting = threading.Thread(target=lambda: result.update(checkpoint=_fit(trainer)), daemon=True)
    fitting.start()
    while fitting.is_alive() or not lines.empty():
        try:
            say(f"refit: {lines.get(timeout=1)}")
        except Empty:
            pass
    error = result.get("checkpoint")
    if isinstance(error, BaseException):
        if ray_compat.ended_by_memory_monitor(error):
            raise UserError(f"refit: out of memory: Ray's memory monitor ended its workers, the machine's memory "
                            f"nearly full; the search's results are in {plan.out_dir}; a smaller batch_size or "
                            f"max_chunks needs less (each of the {workers} worker(s), resources.refit_workers, "
                            f"holds its own copy of the model); --resume runs the refit again (from its latest "
                            f"checkpoint while its options are the same)") from None
        raise error
    return error


def _fit(trainer):
    try:
        return trainer.fit().checkpoint
    except BaseException as e:  # noqa: BLE001 - raised again in the driver's thread
        return e
