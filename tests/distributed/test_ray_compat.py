"""The Ray internals the search relies on (distributed/ray_compat.py), each against the installed Ray:
what each hook reads exists and means what we read, every override of a Ray method keeps Ray's
signature, and the installed Ray is inside the range pyproject.toml pins. A failure here is the
first sign that a new Ray release moved something."""
import inspect
import re
import sys
import tempfile
import threading
import tomllib
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from bert_hpo_distributed import budget, mlflow_callback, ray_compat, tolerant_optuna
from tests.helpers import ROOT


def _ray_pin() -> SpecifierSet:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    pins = [re.sub(r"^ray(\[[^]]*\])?", "", req) for req in extras["search"] if re.match(r"ray\b", req)]
    assert len(pins) == 1, extras["search"]
    return SpecifierSet(pins[0])


def test_the_installed_ray_is_inside_the_pinned_range():
    import ray
    pin = _ray_pin()
    assert any(s.operator == "<" for s in pin), f"ray is pinned without an upper bound: {pin}"
    assert Version(ray.__version__) in pin, f"ray {ray.__version__} is outside the tested range {pin}"


def _ray_method(cls, name):
    """The method `name` as the nearest Ray class in cls's bases defines it, None when none does."""
    for base in cls.__mro__[1:]:
        if base.__module__.startswith("ray.") and name in vars(base):
            return vars(base)[name]
    return None


def _parameters(function):
    return [(p.name, p.kind) for p in inspect.signature(function).parameters.values()]


@pytest.mark.parametrize("ours", [budget.BudgetStopper, budget.BudgetLimiter, budget.BudgetVariants,
                                  budget.ReportsStartedTrials, budget.BudgetFIFO, budget.BudgetASHA,
                                  budget.BudgetPBT, mlflow_callback.StartedTrials, tolerant_optuna.TolerantOptunaSearch],
                         ids=lambda cls: cls.__name__)
def test_every_override_of_a_ray_method_keeps_its_signature(ours):
    overridden = {}
    for klass in ours.__mro__:
        if klass.__module__.startswith("ray."):
            break
        for name, member in vars(klass).items():
            if inspect.isfunction(member) and (not name.startswith("__") or name == "__call__"):
                overridden.setdefault(name, member)
    checked = 0
    for name, member in overridden.items():
        theirs = _ray_method(ours, name)
        if theirs is None:
            continue  # the product's own hook (e.g. stops_waiting), not an override
        assert _parameters(member) == _parameters(theirs), f"{ours.__name__}.{name} vs Ray's {theirs.__qualname__}"
        checked += 1
    assert checked, f"{ours.__name__} overrides no Ray method"


def test_the_budget_schedulers_choose_through_the_mixin():
    """Tune calls choose_trial_to_run(tune_controller) on every scheduler it drives; the mixin's must
    come before Ray's own in each budget scheduler."""
    from ray.tune.schedulers import TrialScheduler
    assert _parameters(TrialScheduler.choose_trial_to_run) == _parameters(ray_compat.StopsWaitingTrials.choose_trial_to_run)
    for cls in (budget.BudgetFIFO, budget.BudgetASHA, budget.BudgetPBT):
        assert cls.choose_trial_to_run is ray_compat.StopsWaitingTrials.choose_trial_to_run, cls


def test_the_controller_methods_the_schedulers_call_are_tunes():
    """What StopsWaitingTrials calls on Tune's controller, and what the search simulator's stand-in
    (bench/replay.Controller) answers for it, are TuneController's methods with these parameters."""
    from ray.tune.execution.tune_controller import TuneController
    sys.path.insert(0, str(ROOT))
    from bench.replay import Controller
    for name in ("get_trials", "stop_trial", "get_live_trials", "pause_trial", "_schedule_trial_save"):
        assert [p for p, _ in _parameters(getattr(TuneController, name))] == \
            [p for p, _ in _parameters(getattr(Controller, name))], name


def test_the_simulators_pending_trial_cap_is_tunes(monkeypatch):
    """bench/replay.max_pending mirrors TuneController's private _get_max_pending_trials: the
    ConcurrencyLimiter's limit for a searcher, 200 or 1.1 x the cluster's CPUs for a random generator."""
    import optuna
    from ray.tune.execution import tune_controller
    from ray.tune.search.basic_variant import BasicVariantGenerator
    from ray.tune.search.optuna import OptunaSearch
    sys.path.insert(0, str(ROOT))
    from bench.replay import as_search_alg, max_pending
    monkeypatch.delenv("TUNE_MAX_PENDING_TRIALS_PG", raising=False)
    for cpus in (4, 256):
        monkeypatch.setattr(tune_controller.ray, "cluster_resources", lambda cpus=cpus: {"CPU": float(cpus)})
        variants = BasicVariantGenerator()
        assert max_pending(variants, cpus) == tune_controller._get_max_pending_trials(variants), cpus
    tpe = as_search_alg(OptunaSearch(space={"lr": optuna.distributions.FloatDistribution(1e-4, 1e-1)},
                                     metric="score", mode="max"), concurrency=3)
    assert max_pending(tpe, 8) == tune_controller._get_max_pending_trials(tpe) == 3


def test_tune_takes_our_trial_console_callback_in_place_of_its_own(monkeypatch):
    """budget.ReportsStartedTrials is Tune's TrialProgressCallback made silent on trials that never
    ran: it works only while Tune adds its own console callback just when the run has none, in Ray's
    older console flow, which ray_session.quiet picks by RAY_AIR_NEW_OUTPUT=0."""
    from ray.tune.experimental.output import get_air_verbosity
    from ray.tune.progress_reporter import TrialProgressCallback
    from ray.tune.utils.callback import _create_default_callbacks
    monkeypatch.setenv("RAY_AIR_NEW_OUTPUT", "0")
    assert get_air_verbosity(0) is None and get_air_verbosity(2) is None
    ours = budget.ReportsStartedTrials(metric="score")
    consoles = [c for c in _create_default_callbacks([ours], metric="score") if isinstance(c, TrialProgressCallback)]
    assert consoles == [ours]


def _trial(trial_id="t"):
    from ray.tune.experiment import Trial
    return Trial("x", trial_id=trial_id, stub=True, config={"lr": 0.1})


def test_a_trial_has_started_once_tune_set_it_running():
    from ray.tune.experiment import Trial
    trial = _trial()
    trial.last_result  # reading it fills it in: no witness of a run
    assert not ray_compat.trial_started(trial)
    trial.set_status(Trial.PENDING)
    assert not ray_compat.trial_started(trial)
    trial.set_status(Trial.RUNNING)
    assert ray_compat.trial_started(trial)
    trial.set_status(Trial.PAUSED)
    assert ray_compat.trial_started(trial)


def test_a_trial_that_found_bad_input_fails_at_once_and_one_whose_worker_died_is_retried(monkeypatch):
    from ray.exceptions import RayActorError, RayTaskError
    from ray.tune.experiment import Trial
    from bertclf.errors import UserError
    monkeypatch.setattr(Trial, "local_path", None)  # a stub trial has no folder for its error file
    ray_compat.fail_at_once(UserError)
    ray_compat.fail_at_once(UserError)  # every Tuner of a search asks: installed once
    bad, died, then_bad = _trial("bad"), _trial("died"), _trial("then_bad")
    for trial in (bad, died, then_bad):
        trial.max_failures = 1
    user_error = RayTaskError("run_in_trial", "Traceback ...", UserError("--device cuda: no CUDA here"))
    bad.handle_error(user_error)
    died.handle_error(RayActorError())
    assert not bad.should_recover() and died.should_recover()
    then_bad.handle_error(RayActorError())
    then_bad.max_failures = 2
    then_bad.handle_error(user_error)  # retried after its worker died, then found bad input
    assert not then_bad.should_recover()


def test_a_kept_last_result_is_the_trials_last_result():
    trial = _trial()
    ray_compat.keep_last_result(trial, {"score": 0.5, "training_iteration": 1})
    assert trial.last_result["score"] == 0.5


def test_the_latest_checkpoint_result_is_the_newest_registered():
    from ray.train._internal.session import _TrainingResult
    trial = _trial()
    assert ray_compat.latest_checkpoint_result(trial) is None
    saved = _TrainingResult(checkpoint="position", metrics={"training_iteration": 1})
    trial.run_metadata.checkpoint_manager.register_checkpoint(saved)  # what PBT's exploit leads to
    assert ray_compat.latest_checkpoint_result(trial) is saved and saved.checkpoint == "position"


def test_pbt_logs_and_state_repr_are_what_we_switch():
    from ray.tune.schedulers import FIFOScheduler, PopulationBasedTraining
    from ray.tune.schedulers.pbt import _PBTTrialState
    pbt = PopulationBasedTraining(time_attr="epoch", metric="score", mode="max",
                                  hyperparam_mutations={"lr": [0.1, 0.2]})
    assert pbt._log_config is True  # the constructor's log_config
    ray_compat.skip_policy_logs(pbt)
    assert pbt._log_config is False
    ray_compat.skip_policy_logs(FIFOScheduler())  # nothing to switch off
    ray_compat.short_pbt_state_repr()
    assert repr(_PBTTrialState(_trial())) == "_PBTTrialState"


def test_an_optuna_search_keeps_the_optuna_trial_of_each_suggestion():
    import optuna
    from ray.tune.search.optuna import OptunaSearch
    searcher = OptunaSearch(space={"lr": optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True)},
                            metric="score", mode="max", sampler=optuna.samplers.RandomSampler(seed=0))
    assert ray_compat.optuna_trial_of(searcher, "a") is None
    config = searcher.suggest("a")
    asked = ray_compat.optuna_trial_of(searcher, "a")
    assert isinstance(asked, optuna.trial.Trial) and asked.params == config
    searcher.on_trial_complete("a", {"score": 0.7, "training_iteration": 1})
    assert ray_compat.optuna_trial_of(searcher, "a") is asked  # kept after it completes
    told = asked.study.trials[asked.number]
    assert told.state == optuna.trial.TrialState.COMPLETE and told.value == 0.7
    assert ray_compat.optuna_trial_of(searcher, "never") is None
    assert ray_compat.optuna_study_of(searcher) == (asked.study, [asked])
    assert ray_compat.optuna_told(searcher, "a") and not ray_compat.optuna_told(searcher, "never")
    again = asked.study.ask()
    ray_compat.optuna_retry(searcher, "a", again)
    assert ray_compat.optuna_trial_of(searcher, "a") is again and not ray_compat.optuna_told(searcher, "a")
    searcher.on_trial_complete("a", {"score": 0.8, "training_iteration": 1})
    assert asked.study.trials[again.number].value == 0.8


def test_an_optuna_trial_closed_unrun_is_pruned_in_the_study_and_the_next_suggestion_asks_anew():
    import optuna
    from ray.tune.search.optuna import OptunaSearch
    searcher = OptunaSearch(space={"lr": optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True)},
                            metric="score", mode="max", sampler=optuna.samplers.RandomSampler(seed=0))
    first = searcher.suggest("a")
    asked = ray_compat.optuna_trial_of(searcher, "a")
    ray_compat.close_optuna_trial_unrun(searcher, "a")
    assert ray_compat.optuna_trial_of(searcher, "a") is None
    assert asked.study.trials[asked.number].state == optuna.trial.TrialState.PRUNED
    assert searcher.suggest("a") != first and ray_compat.optuna_trial_of(searcher, "a").number == asked.number + 1


def test_mlflow_callback_holds_a_run_for_each_started_trial(tmp_path):
    from mlflow.tracking import MlflowClient
    from ray.air.integrations.mlflow import MLflowLoggerCallback
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    callback = MLflowLoggerCallback(tracking_uri=uri, experiment_name="x")
    callback.setup()
    trial = _trial()
    assert ray_compat.mlflow_run_of(callback, trial) is None
    callback.log_trial_start(trial)
    run_id = ray_compat.mlflow_run_of(callback, trial)
    assert MlflowClient(uri).get_run(run_id).data.tags["trial_name"] == str(trial)
    callback.log_trial_end(trial)


def test_outside_a_trial_no_stop_is_requested():
    from ray.train._internal import session
    assert session.get_session() is None
    assert not ray_compat.trial_stop_requested()
    from ray.train._internal.storage import StorageContext
    assert isinstance(inspect.getattr_static(StorageContext, "trial_working_directory"), property)


@pytest.mark.ray
def test_in_a_running_ray_and_trial_the_hooks_answer(tmp_path):
    """One local Ray: the raylet this driver started, and a Tune trial's own session."""
    import ray
    from ray import tune
    ray.init(num_cpus=1, include_dashboard=False, **ray_compat.local_init_options(), log_to_driver=False)
    try:
        raylet = ray_compat.raylet_process()
        assert raylet.poll() is None and "raylet" in " ".join(raylet.args)
        kill = ray._private.worker._global_node.kill_all_processes
        assert {"check_alive", "allow_graceful"} <= set(inspect.signature(kill).parameters)

        def trial(config):
            from ray.train._internal.session import get_session
            # a checkpoint folder written before Tune restarted the trial with an index that lags behind it
            (Path(get_session().storage.trial_fs_path) / "checkpoint_000000" / "best").mkdir(parents=True)
            ray_compat.fresh_checkpoint_names()
            with tempfile.TemporaryDirectory() as folder:
                (Path(folder) / "weights").write_text("this check's")
                tune.report({"folder": ray_compat.trial_working_directory(), "stop": ray_compat.trial_stop_requested(),
                             "event": isinstance(get_session().stop_event, threading.Event)},
                            checkpoint=tune.Checkpoint.from_directory(folder))

        grid = tune.Tuner(trial, run_config=tune.RunConfig(storage_path=str(tmp_path), name="hooks")).fit()
        assert grid[0].error is None, grid[0].error
        metrics = grid[0].metrics
        assert metrics["event"] is True and metrics["stop"] is False  # the event exists, and is not set
        assert "hooks" in metrics["folder"] and Path(metrics["folder"]).is_dir()
        # the new checkpoint has a folder of its own: nothing of the older one (its best/) is mixed in
        assert Path(grid[0].checkpoint.path).name == "checkpoint_000001"
        assert sorted(p.name for p in Path(grid[0].checkpoint.path).iterdir() if not p.name.startswith(".")) == ["weights"]
        # where Tune staged the experiment's state before uploading it (space_reserve writes it again)
        staged = Path(ray_compat.driver_staging_folder("hooks"))
        assert list(staged.glob("experiment_state-*.json")) and (staged / Path(grid[0].path).name / "result.json").is_file()
        assert ray_compat.driver_staging_folder("no-such-experiment") is None
    finally:
        ray.shutdown()


def test_a_kill_by_rays_memory_monitor_is_found_inside_ray_trains_errors():
    """What the refit and a trial of several workers read to say 'out of memory' in one line: Ray
    Train's ControllerError and WorkerGroupError, and a trial's RayTaskError, carry the OutOfMemoryError."""
    from ray.exceptions import OutOfMemoryError, RayTaskError
    from ray.train import ControllerError, WorkerGroupError
    killed = OutOfMemoryError("4 worker(s) were killed due to the node running low on memory.")
    assert ray_compat.ended_by_memory_monitor(killed)
    assert ray_compat.ended_by_memory_monitor(ControllerError(killed))
    assert ray_compat.ended_by_memory_monitor(WorkerGroupError("rank 1 failed", {0: ValueError("x"), 1: killed}))
    assert ray_compat.ended_by_memory_monitor(RayTaskError("run_refit", "Traceback ...", ControllerError(killed)))
    assert not ray_compat.ended_by_memory_monitor(ControllerError(ValueError("lr must be positive")))
    assert not ray_compat.ended_by_memory_monitor(WorkerGroupError("rank 0 failed", {0: RuntimeError("nan")}))


@pytest.mark.ray
@pytest.mark.parametrize("above_gb", [1.5, -0.5], ids=["while it runs", "as it starts"])
def test_a_trial_that_rays_memory_monitor_ends_fails_once_and_the_tuner_goes_on(tmp_path, monkeypatch, above_gb):
    """The monitor's threshold set 1.5 GB above the machine's use now, and a trial that allocates past
    it; or set below the use now, so that the trial's actor is ended as it starts. Its Tuner returns the
    trial as failed, with OUT_OF_MEMORY as its error's last line, and does not run it again
    (max_failures=1 would retry a worker that died)."""
    import psutil
    import ray
    from ray import tune
    memory = psutil.virtual_memory()
    threshold = (memory.total - memory.available + above_gb * 1e9) / memory.total
    monkeypatch.setenv("RAY_memory_usage_threshold", f"{threshold:.4f}")
    monkeypatch.setenv("RAY_memory_monitor_refresh_ms", "100")
    starts = tmp_path / "starts"
    ray.init(num_cpus=1, include_dashboard=False, **ray_compat.local_init_options(), log_to_driver=False)
    try:
        def trial(config):
            import time
            with open(starts, "a") as f:
                f.write("start\n")
            held = []
            for _ in range(24):  # up to 6 GB, 256 MB at a time
                held.append(bytearray(256 * 2 ** 20))
                time.sleep(0.2)
            tune.report({"held_gb": len(held) / 4})

        ray_compat.trial_out_of_memory_fails_the_trial()
        ray_compat.trial_out_of_memory_fails_the_trial()  # every Tuner of a search asks: installed once
        ray_compat.fail_at_once(ValueError)
        grid = tune.Tuner(trial, run_config=tune.RunConfig(storage_path=str(tmp_path), name="memory",
                                                           failure_config=tune.FailureConfig(max_failures=1))).fit()
        assert grid[0].error is not None, grid[0].metrics
        assert str(grid[0].error).strip().splitlines()[-1] == ray_compat.OUT_OF_MEMORY
        assert (starts.read_text().count("start") if starts.exists() else 0) <= 1  # failed at once, not retried
    finally:
        ray.shutdown()


def test_ray_init_still_takes_the_node_address_that_keeps_a_local_ray_on_loopback():
    import ray
    from ray._private import worker
    assert set(ray_compat.local_init_options()) == {"_node_ip_address"}
    source = inspect.getsource(worker.init)
    assert 'kwargs.pop("_node_ip_address"' in source and "resolve_ip_for_localhost(_node_ip_address)" in source
    assert ray.init is worker.init


def test_tune_still_skips_its_sigint_handler_on_the_variable_and_stops_on_sigusr1():
    """interrupts relies on both: Tune installs no SIGINT handler while TUNE_DISABLE_SIGINT_HANDLER is
    set, and installs its stop handler on TUNE_STOP_SIGNAL all the same."""
    import signal
    from ray.tune import tune
    source = inspect.getsource(tune._setup_signal_catching)
    assert 'os.getenv("TUNE_DISABLE_SIGINT_HANDLER", "0")' in source
    assert "signal.signal(signal.SIGUSR1, signal_interrupt_tune_run)" in source
    assert ray_compat.TUNE_STOP_SIGNAL == signal.SIGUSR1
    if threading.current_thread() is threading.main_thread():
        before = {n: signal.getsignal(n) for n in (signal.SIGINT, signal.SIGUSR1)}
        saved = ray_compat.tune_sigint_setting()
        try:
            ray_compat.keep_tune_off_sigint()
            tune._setup_signal_catching()
            assert signal.getsignal(signal.SIGINT) is before[signal.SIGINT]
            assert signal.getsignal(signal.SIGUSR1) is not before[signal.SIGUSR1]
        finally:
            ray_compat.restore_tune_sigint(saved)
            for number, handler in before.items():
                signal.signal(number, handler)


def test_tune_still_reads_the_variable_that_picks_its_older_console_flow(monkeypatch):
    from ray.tune.experimental.output import get_air_verbosity
    monkeypatch.setenv("RAY_AIR_NEW_OUTPUT", "1")  # restored after the test, whatever the hook writes
    assert get_air_verbosity(0) is not None
    ray_compat.old_console_flow()
    assert get_air_verbosity(0) is None and get_air_verbosity(2) is None


def test_the_errors_rays_driver_prints_go_where_the_search_says(monkeypatch, capsys):
    """ray.log takes what Ray's driver prints of its cluster's errors (a raylet that died: 20 lines of
    its log), which listen_error_messages hands to print_to_stdstream, looked up at each message."""
    import ray._private.worker as worker
    monkeypatch.setattr(worker, "print_to_stdstream", worker.print_to_stdstream)  # put back afterwards
    source = inspect.getsource(worker.listen_error_messages)
    assert "print_to_stdstream(" in source and '"lines": [error_message]' in source
    written = []
    ray_compat.send_ray_errors_to(written.append)
    worker.print_to_stdstream({"lines": ["Raylet is terminated.", "[state-dump] ..."], "pid": "raylet",
                               "is_err": False}, ignore_prefix=False)
    assert written == ["(raylet) Raylet is terminated.\n(raylet) [state-dump] ...\n"]
    assert capsys.readouterr() == ("", "")
