"""`launch.py --search NAME`: Ray Tune + Optuna (TPE) + ASHA (or PBT) over the engine's loop.

run_search reads top to bottom: plan (everything checkable before Ray), prepare (tokenise once per
input key, here), share (object store; GPU check; boost features), fit (the Tuner, with recovery),
write outputs (results, best model, test score, plots), refit (then its line in results.md).
"""
import sys
import time

from . import ray_session
from .disk import tidy_storage
from .inputs import prepare, search_configs, share
from .outputs import write_outputs
from .plan import Plan, SearchOptions, make_plan
from .progress import Progress, short
from .refit import check_refit, refit_and_score
from .search_record import write_record
from .searchers import checkpoints_kept, first_points, param_space, scheduler, search_algorithm
from .shared import Shared


class SearchInterrupted(Exception):
    """The search stopped before every trial finished; its trials are kept for --resume."""


class SearchFinishedAlready(Exception):
    """--resume of a search whose trials had all finished: nothing ran, its outputs stand as written
    (its trials' checkpoints may be deleted, so they are not exported again)."""


def say(message: str) -> None:
    print(f"[bert-hpo] {message}", file=sys.stderr, flush=True)


def run_search(opts: SearchOptions) -> dict:
    started = time.perf_counter()
    plan = make_plan(opts, say)
    for line in plan.notes:
        say(line)
    ready, pending = prepare(plan, search_configs(plan.spec), say)
    say(describe(plan))
    ray_started = ray_session.start(opts.address, opts.num_cpus, opts.dashboard_host, verbose=opts.verbose)
    try:
        check_refit(plan)
        shared, feature_seconds = share(plan, ready, pending, say)
        plan.seconds["remote features"] = feature_seconds  # on a cluster: after Ray started, before the trials
        grid, trial_seconds = fit(plan, shared)
        outputs = write_outputs(plan, grid, shared, say)
        if plan.spec.refit:
            refit_and_score(plan, outputs, shared, say)
        summary = outputs.summary(plan.spec.metric)
    finally:
        ray_session.stop(ray_started)
    summary["disk"] = tidy_storage(plan.out_dir, plan.storage, opts.keep_checkpoints)
    summary["seconds"] = {"inputs": plan.seconds.get("inputs", 0.0) + feature_seconds, "trials": trial_seconds,
                          "total": time.perf_counter() - started}
    return summary


def describe(plan: Plan) -> str:
    spec = plan.spec
    device = "GPU" if plan.use_gpu else "CPU"
    data = f" ({plan.describe_data.split(' (')[0]})" if plan.describe_data else ""
    return (f"search {plan.name}: {spec.num_samples} trials of {spec.data_label}{data}, up to {plan.concurrency} at "
            f"a time on {device}, {spec.scheduler.type} scheduler; results in {plan.out_dir}")


def build_trainable(plan: Plan, shared: Shared):
    from ray import tune
    from .trial import run_in_trial, run_with_torch_trainer
    spec, res = plan.spec, plan.spec.resources
    every_check = spec.scheduler.type == "pbt"  # PBT copies the latest weights between trials
    if res.workers_per_trial > 1:
        fn = tune.with_parameters(run_with_torch_trainer, spec=spec, shared=shared, use_gpu=plan.use_gpu,
                                  storage_path=plan.storage, every_check=every_check)
        return tune.with_resources(fn, {"cpu": 0.01})  # the trial only waits on its workers

    def resources(sampled):
        boost = spec.trial_config(sampled).uses_feature_cache
        gpu = (res.boost_gpu_fraction if boost else res.gpus_per_worker) if plan.use_gpu else 0
        return {"cpu": res.cpus_per_worker, "gpu": gpu}

    fn = tune.with_parameters(run_in_trial, spec=spec, shared=shared, cpus=res.cpus_per_worker, every_check=every_check)
    return tune.with_resources(fn, resources)


def _trial_name(trial) -> str:
    return f"trial_{trial.trial_id}"


def fit(plan: Plan, shared: Shared):
    """(ResultGrid, seconds): run the trials; a resumed search re-runs a trial whose last checkpoint was lost."""
    from ray import tune
    from ray.tune import Tuner
    spec = plan.spec
    trainable = build_trainable(plan, shared)
    if plan.opts.resume:
        tuner = Tuner.restore(plan.experiment, trainable=trainable, resume_errored=True,
                              param_space=param_space(spec) or None)
    else:
        write_record(plan.storage, spec.num_samples)
        points = first_points(spec, plan.opts.warm_start)
        if points:
            say(f"first trial(s): {'the best of ' + plan.opts.warm_start if plan.opts.warm_start else 'the defaults'}"
                f" ({'; '.join(', '.join(f'{k}={short(v)}' for k, v in p.items()) for p in points)})")
        tuner = Tuner(
            trainable, param_space=param_space(spec),
            tune_config=tune.TuneConfig(search_alg=search_algorithm(spec, plan.concurrency, points),
                                        scheduler=scheduler(spec, plan.max_epochs), num_samples=spec.num_samples,
                                        max_concurrent_trials=plan.concurrency,
                                        # a fresh actor per trial re-imports torch and transformers;
                                        # reuse keeps them warm across trials. A trial that drives a
                                        # TorchTrainer only waits on it: no reuse there
                                        reuse_actors=spec.resources.workers_per_trial == 1,
                                        trial_name_creator=_trial_name,
                                        trial_dirname_creator=_trial_name),
            run_config=tune.RunConfig(
                name="trials", storage_path=plan.experiment.rsplit("/", 1)[0], verbose=1 if plan.opts.verbose else 0,
                callbacks=[Progress(spec, plan.concurrency, say)],
                checkpoint_config=tune.CheckpointConfig(num_to_keep=checkpoints_kept(spec),
                                                        checkpoint_score_attribute=spec.score_key,
                                                        checkpoint_score_order="max"),
                failure_config=tune.FailureConfig(max_failures=spec.max_failures)))
    started, began = time.perf_counter(), time.time()
    grid = tuner.fit()
    lost = [r for r in grid if r.error is not None and "Could not recover from checkpoint" in str(r.error)]
    if plan.opts.resume and lost:
        # A driver killed between Tune deleting an old checkpoint (num_to_keep) and its next state
        # snapshot leaves a trial pointing at a deleted checkpoint: run such trials again from the
        # start (finished trials stay untouched; trials that failed for their own reasons fail again).
        say(f"{len(lost)} interrupted trial(s) had lost their last checkpoint: running them again")
        grid = Tuner.restore(plan.experiment, trainable=trainable, restart_errored=True,
                             param_space=param_space(spec) or None).fit()
    seconds = time.perf_counter() - started
    if plan.opts.resume and all((r.metrics or {}).get("timestamp", began) < began for r in grid):
        raise SearchFinishedAlready(f"this search had finished already ({len(grid)} trials, none run now): its "
                                    f"outputs are in {plan.out_dir}")
    finished = grid.num_terminated + grid.num_errors
    if finished < spec.num_samples:
        raise SearchInterrupted(f"{finished} of {spec.num_samples} trials finished and are kept in {plan.experiment}")
    return grid, seconds
