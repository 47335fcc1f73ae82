"""`launch.py --search NAME`: Ray Tune + Optuna (TPE) + ASHA (or PBT) over the engine's loop.

run_search reads top to bottom: plan (everything checkable before Ray), prepare (tokenise once per
input key, here), share (object store; GPU check; boost features), fit (the Tuner, with recovery),
outputs (results, best model, test score, refit).
"""
import sys
import time
from pathlib import Path

import ray

from bertclf.classification import feature_variant
from bertclf.errors import UserError
from bertclf.inputs import add_features, inputs_key, prepare_inputs, tokens_key

from . import budget, ray_session, tracking
from .outputs import SearchFailed, write_outputs
from .plan import Plan, SearchOptions, make_plan
from .repeats import run_repeats
from .run_config import run_config
from .feature_estimate import describe_passes
from .progress import Progress, short
from .searchers import first_points, param_space, scheduler, search_algorithm
from .shared import Shared, check_gpu, share_inputs, share_model


class SearchInterrupted(Exception):
    """The search stopped before every trial finished; its trials are kept for --resume."""


def say(message: str) -> None:
    print(f"[bert-hpo] {message}", file=sys.stderr, flush=True)


def run_search(opts: SearchOptions) -> dict:
    started = time.perf_counter()
    plan = make_plan(opts, say)
    tracking.check_mlflow(plan)
    for line in plan.notes:
        say(line)
    groups = tokenise(plan, search_configs(plan.spec))
    say(describe(plan))  # the plan, before the long work (the feature passes)
    passes = feature_passes(plan, groups)
    if passes:
        say(f"boost: {describe_passes(passes, plan.model_source)}")
    ready, pending = featurise(plan, groups)
    ray_started = ray_session.start(opts.address, opts.num_cpus, opts.dashboard_host, verbose=opts.verbose)
    try:
        shared, feature_seconds = share(plan, ready, pending)
        grid, trial_seconds = fit(plan, shared)
        repeated = run_repeats(plan, grid, build_trainable(plan, shared), shared, say) if plan.spec.repeats else []
        summary = write_outputs(plan, grid, shared, say, repeated)
        tracking.log_best_model(plan, summary["best_trial"], Path(summary["written"]["best_model"]), say)
    finally:
        ray_session.stop(ray_started)
    summary["seconds"] = {"inputs": plan.seconds.get("inputs", 0.0) + feature_seconds, "trials": trial_seconds,
                          "total": time.perf_counter() - started}
    return summary


def describe(plan: Plan) -> str:
    spec = plan.spec
    device = "GPU" if plan.use_gpu else "CPU"
    config = spec.trial_config(spec.default_point())
    data = f" ({plan.describe_data.split('; labels')[0]})" if plan.describe_data else ""
    extra = "".join([f", a time budget of {spec.time_budget:g} s for the trials" if spec.time_budget else "",
                     f", then the best {spec.repeat_top} again with {spec.repeats} seeds each" if spec.repeats else "",
                     ", then a refit on all of train" if spec.refit else ""])
    return (f"search {plan.name}: {spec.num_samples} trials of {spec.dataset}{data}, model {config.bert_name}, "
            f"up to {plan.concurrency} at a time on {device}, {spec.scheduler.type} scheduler{extra}; "
            f"results in {plan.out_dir}")


def prepare(plan: Plan, configs):
    """featurise(tokenise(...)): the inputs of `configs` (a refit's) ready to share."""
    return featurise(plan, tokenise(plan, configs))


def tokenise(plan: Plan, configs):
    """[(config, inputs, {inputs_key: feature variant or None})]: the data of `configs` read, split and
    tokenised once per distinct token key, here, before any trial (none with --no-shared-inputs)."""
    by_tokens = {}
    for config in configs:
        group = by_tokens.setdefault(tokens_key(config), (config, {}))
        group[1][inputs_key(config)] = feature_variant(config) if config.uses_feature_cache else None
    if not plan.opts.share_inputs:
        return []
    started = time.perf_counter()
    groups = [(config, prepare_inputs(config, lambda m: None, model_path=plan.model_source), keys)
              for config, keys in by_tokens.values()]
    plan.describe_data = plan.describe_data or groups[0][1].description
    plan.seconds["inputs"] = plan.seconds.get("inputs", 0.0) + time.perf_counter() - started
    return groups


def feature_passes(plan: Plan, groups):
    """The groups whose boost features this machine computes (on a cluster a Ray task does: share)."""
    return [g for g in groups if plan.local and any(v is not None for v in g[2].values())]


def featurise(plan: Plan, groups):
    """(ready {inputs_key: inputs}, pending [(config, inputs, {inputs_key: feature variant})]): boost
    features computed here on a local machine (the same CPUs and GPUs the trials get), one encoder
    pass per group for all its variants, with progress and time left; on a cluster they are pending,
    for a Ray task on a GPU node (see share)."""
    ready, pending, started = {}, [], time.perf_counter()
    passes = feature_passes(plan, groups)
    for config, inputs, keys in groups:
        ready.update({key: inputs for key, v in keys.items() if v is None})
        boost = {key: v for key, v in keys.items() if v is not None}
        if boost and plan.local:
            number = next(i for i, g in enumerate(passes, 1) if g[0] is config)
            variants, begun = sorted(set(boost.values())), time.perf_counter()
            say(f"boost: feature pass {number} of {len(passes)}: {sum(len(t) for t in inputs.tokens.values())} texts "
                f"(max_length {config.max_length}, {config.truncation}), {len(variants)} variant(s)")
            featured = add_features(inputs, config, variants, say, model_path=plan.model_source)
            say(f"boost: feature pass {number} of {len(passes)} done in {time.perf_counter() - begun:.0f} s")
            ready.update({key: featured[v] for key, v in boost.items()})
        elif boost:
            pending.append((config, inputs, boost))
    plan.seconds["inputs"] = plan.seconds.get("inputs", 0.0) + time.perf_counter() - started
    if groups:
        say(f"inputs ready in {plan.seconds['inputs']:.0f} s, prepared once")
    return ready, pending


def search_configs(spec):
    """A trial configuration for every input key the space can ask for (its corners)."""
    _check_ranges_keep_inputs(spec)
    return [spec.trial_config(sampled) for sampled in spec.corners()]


def _check_ranges_keep_inputs(spec) -> None:
    """Inputs are prepared once per distinct value: an option that changes them must be a choice."""
    for key, dist in spec.space.items():
        if dist.is_choice:
            continue
        point = spec.default_point()
        low, high = ({**point, key: dist.args[0]}, {**point, key: dist.args[1]})
        if inputs_key(spec.trial_config(low)) != inputs_key(spec.trial_config(high)):
            raise UserError(f"{spec.source}: space.{key}: inputs are prepared once per distinct value of this "
                            f"option; use a choice, not a range")


def share(plan: Plan, ready: dict, pending: list, shared: Shared = None):
    """(Shared, seconds of remote feature computation): inputs and a local model folder in the object
    store, a usable GPU checked (on a cluster: one that the autoscaler brings, within --gpu-wait).
    Given `shared` (the search's), only the inputs are added to a copy of it (a refit)."""
    if shared is None:
        shared = Shared()
        if plan.use_gpu:
            say(f"GPU: {check_gpu(plan.opts.gpu_wait, say)}")
        if Path(plan.model_source).is_dir():
            share_model(plan.model_source, shared)
        if not plan.opts.share_inputs:
            return shared, 0.0
    else:
        shared = Shared(model_digest=shared.model_digest, model_files=shared.model_files)
    refs = {}
    for key, inputs in ready.items():  # keys that share inputs share one object
        refs.setdefault(id(inputs), ray.put(inputs))
        shared.inputs[key] = refs[id(inputs)]
    seconds = share_inputs(pending, shared, use_gpu=plan.use_gpu, cpus=plan.spec.resources.cpus_per_worker, say=say)
    if seconds:
        say(f"boost features ready in {seconds:.0f} s, computed once for the whole search")
    return shared, seconds


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
        points = first_points(spec, plan.opts.warm_start)
        if points:
            say(f"first trial(s): {'the best of ' + plan.opts.warm_start if plan.opts.warm_start else 'the defaults'}"
                f" ({'; '.join(', '.join(f'{k}={short(v)}' for k, v in p.items()) for p in points)})")
        tuner = Tuner(
            trainable, param_space=param_space(spec),
            tune_config=tune.TuneConfig(search_alg=search_algorithm(spec, plan.concurrency, points),
                                        scheduler=scheduler(spec, plan.max_epochs), num_samples=spec.num_samples,
                                        max_concurrent_trials=plan.concurrency,
                                        # a fresh actor per trial re-imports torch and transformers
                                        # (~3 s on a CPU); reuse keeps them warm across trials. A trial
                                        # that drives a TorchTrainer only waits on it: no reuse there
                                        reuse_actors=spec.resources.workers_per_trial == 1,
                                        trial_name_creator=_trial_name,
                                        trial_dirname_creator=_trial_name),
            run_config=run_config(plan, "trials", [Progress(spec, plan.concurrency, say), *tracking.callbacks(plan)],
                                  stop=budget.BudgetStopper()))
    started = time.perf_counter()
    budget.start(spec.time_budget, time.time())
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
    finished = grid.num_terminated + grid.num_errors
    if budget.current().over():
        if not any(r.metrics for r in grid):
            raise SearchFailed(f"the time budget of {spec.time_budget:g} s ran out before any trial finished a "
                               f"check; give the search more time (--time-budget)")
        say(f"time budget: {len(grid)} of {spec.num_samples} trials ran"
            + (f", {len(budget.current().stopped)} of them stopped early by it" if budget.current().stopped else ""))
    elif finished < spec.num_samples:
        raise SearchInterrupted(f"{finished} of {spec.num_samples} trials finished and are kept in {plan.experiment}")
    return grid, seconds
