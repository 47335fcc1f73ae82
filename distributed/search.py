"""`launch.py --search NAME`: Ray Tune + Optuna (TPE) + ASHA (or PBT) over the engine's loop.

run_search reads top to bottom: plan (everything checkable before Ray), tokenise (once per input key,
here), the plan on the console, boost features (their passes estimated first), share (object store;
GPU check), fit (the Tuner, with recovery and a time budget), seed repeats, write outputs (results,
best model, test score, plots), refit (then its line in results.md).
"""
import shutil
import sys
import time
from contextlib import contextmanager

from bertclf.errors import UserError

from . import budget, interrupts, ray_session, search_lock, space, space_reserve, study, tracking
from .costs import measure_costs
from .disk import tidy_storage
from .feature_estimate import describe_passes
from .features_on_demand import PassNews, on_demand, passes_said, start_now
from .inputs import describe_groups, feature_passes, prepare, search_configs, share
from .outputs import SearchFailed, write_outputs
from .plan import Plan, SearchOptions, make_plan
from .progress import Progress, short
from .refit import check_refit, refit_and_score
from .repeats import run_repeats
from .run_config import run_config
from .results import has_run
from .search_record import finished_already, refit_pending, write_record
from .searchers import first_points, param_space, scheduler, search_algorithm
from .shared import Shared


class SearchInterrupted(Exception):
    """The search stopped before every trial finished; its trials are kept for --resume."""


class InterruptedBeforeTrials(Exception):
    """Ctrl-C before the search's Tuner existed: no trial had started, so there is nothing to resume;
    the folders this run created are removed, and the same command starts the search afresh."""


def say(message: str) -> None:
    print(f"[bert-hpo] {message}", file=sys.stderr, flush=True)


def run_search(opts: SearchOptions) -> dict:
    started = time.perf_counter()
    created = []  # the folders this search made (make_plan fills it)
    places = []  # the search's folders, for the line of a full disk
    ray_started = False
    interrupts.start()  # SIGTERM and SIGHUP stop the search as Ctrl-C does, from here to the end
    try:
        with before_trials(opts, created):
            plan = make_plan(opts, say, created)
            places += [str(plan.out_dir), plan.storage]
            for line in plan.notes:
                say(line)
            ready, pending, data, input_seconds = prepare_search(plan)
            costs = measure_costs(plan, say)  # before Ray: constraints no architecture meets are an error
            ray_started = ray_session.start(opts.address, opts.num_cpus, opts.dashboard_host, verbose=opts.verbose,
                                            log_folder=plan.out_dir)
            interrupts.install()  # Ray's core worker replaced the SIGTERM handler with its own
            check_refit(plan)
            shared, feature_seconds = share(plan, ready, pending, say)  # on a cluster: remote features here
            shared.costs = costs.values() if costs else {}
            if shared.waiting:
                start_now(shared, first_configs(plan))
            input_seconds += feature_seconds
            tuner = make_tuner(plan, shared, costs)
        grid, trial_seconds = fit(plan, shared, tuner)
        with interrupts.kept(f"after the trials ({sum(map(has_run, grid))} of {len(grid)} ran; they are kept in "
                             f"{plan.experiment})"):
            if plan.spec.refit:  # until it has run: a resume that finds the trials' outputs written runs it
                write_record(plan.storage, plan.spec.num_samples, refit_pending=True)
            repeated = run_repeats(plan, grid, build_trainable(plan, shared), shared, say) if plan.spec.repeats else []
            outputs = write_outputs(plan, grid, shared, say, repeated, data, input_seconds, costs)
            tracking.log_best_model(plan, outputs.best_trial, outputs.written["best_model"], say)
            if plan.spec.refit:
                refit_and_score(plan, outputs, shared, say)
            summary = outputs.summary(plan.spec.metric)
            # a resume finds a finished search before Ray starts (plan.py); one with failed trials runs them again
            write_record(plan.storage, plan.spec.num_samples, finished=None if summary["errors"] else summary["trials"])
        summary["disk"] = tidy_storage(plan.out_dir, plan.storage, opts.keep_checkpoints)  # the lock still held
    except Exception as error:  # a full disk anywhere is one line naming the folder, not a traceback
        raise space.told(error, places)
    finally:
        try:
            with interrupts.deferred():  # Ray's shutdown is not cut short, and resets SIGTERM
                ray_session.stop(ray_started)
        finally:  # a shutdown that fails still frees the folder for the next command
            search_lock.release()
            interrupts.finish()  # the caller's signal handlers again
    summary["seconds"] = {"inputs": input_seconds, "trials": trial_seconds,
                          "total": time.perf_counter() - started}
    return summary


def prepare_search(plan: Plan):
    """(ready, pending, what the data hold, seconds): the search's inputs tokenised and (locally)
    featurised, with the plan on the console before the long work (the feature passes)."""
    def say_plan(groups):
        tracking.check_mlflow(plan)  # it creates the store: only once the data are known to be good
        replaced = study.check_study(plan)  # the same for the study's database
        if replaced:
            say(replaced)
        say(describe(plan, describe_groups(groups)))
        say(study.study_said(plan))
        passes = feature_passes(plan, groups)
        # before the features and the trials write
        space.check_space(space.needs(plan, passes), say, refuse=plan.opts.space_check == "refuse")
        if passes:
            say(f"boost: {describe_passes(passes, plan.models)}")
        if passes and on_demand(plan):
            say(passes_said(passes, first_configs(plan)))
    return prepare(plan, search_configs(plan.spec), say, say_plan)


def first_configs(plan: Plan) -> list:
    """The configurations of the search's first trials (none for a resumed search: its trials are
    Tune's)."""
    if plan.opts.resume:
        return []
    return [plan.spec.trial_config(point) for point in first_points(plan.spec, plan.opts.warm_start)]


@contextmanager
def before_trials(opts: SearchOptions, created: list):
    """The preparation of a new search (reading, tokenising, features, Ray, the Tuner): a Ctrl-C, bad
    input (UserError) or a full disk in it removes the folders in `created`, so nothing half-written
    stays and the same command starts afresh (the trials folder that would make it refuse
    is written only with the Tuner); a Ctrl-C raises InterruptedBeforeTrials. A --resume keeps its
    folders and its KeyboardInterrupt: its earlier trials are still there to resume."""
    try:
        yield
    except (KeyboardInterrupt, Exception) as error:
        full = space.told(error, [str(f) for f in created], kept=False)
        if opts.resume or not isinstance(full, (KeyboardInterrupt, UserError, space.DiskFull)):
            raise  # a fault of ours: its folders are kept, Ray's log with them
        for folder in created:
            shutil.rmtree(folder, ignore_errors=True)
        if isinstance(error, KeyboardInterrupt):
            raise InterruptedBeforeTrials("before any trial started: nothing was kept; run the same command to "
                                          "start the search again") from None
        if isinstance(full, space.DiskFull):
            raise full from None
        raise


def describe(plan: Plan, data_held: str) -> str:
    """The plan's line: `data_held` says what the prepared inputs hold ("" when none were prepared)."""
    spec = plan.spec
    device = "GPU" if plan.use_gpu else "CPU"
    data = f" ({data_held.split('; labels')[0]})" if data_held else ""
    extra = "".join([f", a time budget of {spec.time_budget:g} s for the trials" if spec.time_budget else "",
                     f", then the best {spec.repeat_top} again with {spec.repeats} seeds each" if spec.repeats else "",
                     ", then a refit on all of train" if spec.refit else ""])
    return (f"search {plan.name}: {spec.num_samples} trials of {spec.data_label}{data}, model "
            f"{', '.join(plan.models)}, up to {plan.concurrency} at a time on {device}, {spec.scheduler.type} "
            f"scheduler{extra}; results in {plan.out_dir}")


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


def make_tuner(plan: Plan, shared: Shared, costs=None):
    """The search's Tuner: a new one (it writes the trials folder), or the interrupted search's, restored
    (its searcher holds the costs it was given). costs: the measured inference costs (costs.py), or None."""
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
            outside = [k for k, v in spec.first_trial.items() if points[0].get(k) != v]
            given = "the encoder rate sized to the model" if "lr_main" in spec.sized else "the spec's first_trial"
            start = (f"{given}, the defaults elsewhere" if len(outside) < len(spec.first_trial)
                     else "the defaults") + "".join(f"; first_trial's {k}={short(spec.first_trial[k])} lies "
                                                    f"outside this space" for k in outside)
            say(f"first trial(s): {'the best of ' + plan.opts.warm_start if plan.opts.warm_start else start}"
                f" ({'; '.join(', '.join(f'{k}={short(v)}' for k, v in p.items()) for p in points)})")
        tuner = Tuner(
            trainable, param_space=param_space(spec),
            tune_config=tune.TuneConfig(search_alg=search_algorithm(spec, plan.concurrency, points, costs,
                                                                    study.study_storage(plan), plan.name),
                                        scheduler=scheduler(spec, plan.max_epochs * max(1, spec.cv_folds)),
                                        num_samples=spec.num_samples,
                                        max_concurrent_trials=plan.concurrency,
                                        # a fresh actor per trial re-imports torch and transformers;
                                        # reuse keeps them warm across trials. A trial that drives a
                                        # TorchTrainer only waits on it: no reuse there
                                        reuse_actors=spec.resources.workers_per_trial == 1,
                                        trial_name_creator=_trial_name,
                                        trial_dirname_creator=_trial_name),
            run_config=run_config(plan, "trials", [*([PassNews(say)] if shared.passes else []),
                                                   Progress(spec, plan.concurrency, say), *tracking.callbacks(plan),
                                                   budget.ReportsStartedTrials(metric=spec.score_key)],
                                  stop=budget.BudgetStopper()))
    return tuner


def fit(plan: Plan, shared: Shared, tuner):
    """(ResultGrid, seconds): run the trials of `tuner`; a resumed search re-runs a trial whose last
    checkpoint was lost."""
    from ray.tune import Tuner
    spec = plan.spec
    started, began = time.perf_counter(), time.time()
    budget.start(spec.time_budget, began)
    places = [str(plan.out_dir), plan.storage]
    with space_reserve.reserved(plan.experiment, spec.num_samples, places), interrupts.stopping_tune():
        grid = tuner.fit()
        space.check_trials(grid, places)  # before a trial's error file is read
    lost = [r for r in grid if r.error is not None and "Could not recover from checkpoint" in str(r.error)]
    if plan.opts.resume and lost:
        # A driver killed between Tune deleting an old checkpoint (num_to_keep) and its next state
        # snapshot leaves a trial pointing at a deleted checkpoint: run such trials again from the
        # start (finished trials stay untouched; trials that failed for their own reasons fail again).
        say(f"{len(lost)} interrupted trial(s) had lost their last checkpoint: running them again")
        with interrupts.stopping_tune():
            grid = Tuner.restore(plan.experiment, trainable=build_trainable(plan, shared), restart_errored=True,
                                 param_space=param_space(spec) or None).fit()
    seconds = time.perf_counter() - started
    ran = [r for r in grid if has_run(r)]
    if plan.opts.resume and (plan.out_dir / "results.md").exists() and \
            all((r.metrics or {}).get("timestamp", began) < began for r in ran):
        if not (plan.spec.refit and refit_pending(plan.storage)):
            raise finished_already(len(grid), plan.out_dir)
        say("the refit had not finished: it runs now, after the trials' outputs are written again")
    finished = grid.num_terminated + grid.num_errors
    kept = f"{finished} of {spec.num_samples} trials finished and are kept in {plan.experiment}"
    if interrupts.received():  # a signal stopped the Tuner, which saved its state and returned
        raise SearchInterrupted(kept)
    if budget.current().over():
        if not any("training_iteration" in (r.metrics or {}) for r in ran):
            raise SearchFailed(f"the time budget of {spec.time_budget:g} s ran out before any trial finished a "
                               f"check; give the search more time (--time-budget)")
        stopped, unstarted = len(budget.current().stopped), len(grid) - len(ran)
        say(f"time budget: {len(ran)} of {spec.num_samples} trials ran"
            + (f", {stopped} of them stopped early by it" if stopped else "")
            + (f"; {unstarted} proposed before it ran out did not start" if unstarted else ""))
    elif finished < spec.num_samples:
        raise SearchInterrupted(kept)
    return grid, seconds
