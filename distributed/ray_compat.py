"""Every private or version-sensitive piece of Ray that the search (and bench/replay.py) relies on,
in the product's words. Ray's internals change between releases without notice; keeping them here
makes one file to check when Ray moves, and tests/distributed/test_ray_compat.py fails when one of
them no longer holds. The rest of distributed/ uses Ray's public API and this module.

Each hook names the Ray internals it reads and the Ray release it was checked against
(pyproject.toml pins ray to the range the suite passed on). Ray is imported inside the functions:
importing this module starts nothing and costs nothing before Ray is needed."""
import os
import signal
from pathlib import Path
from typing import Optional

from .disk import CHECKPOINT_PREFIX


def trial_stop_requested() -> bool:
    """Whether Tune asked the running trial to stop (a scheduler pruned it), read in the trial's own
    process between optimizer steps, so that the actor is free for the next trial at once, not after
    the trial's next report. Ray: ray.train._internal.session.get_session() and the session's
    stop_event (a threading.Event Tune sets on stop). Checked against ray 2.60."""
    from ray.train._internal.session import get_session
    event = getattr(get_session(), "stop_event", None)
    return event is not None and event.is_set()


def trial_working_directory() -> str:
    """The running trial's working folder on its node, which Tune uploads to the trial's folder in
    storage (RunConfig's SyncConfig(sync_artifacts=True): at each checkpoint and when the trial ends).
    Not tune.get_context().get_trial_dir(): that is the driver's staging folder for an actor's first
    trial (reachable from the driver's machine only) and this working folder for later trials of a
    reused actor, which nothing copied without sync_artifacts: most trials had no trial.log. Ray:
    ray.train._internal.session.get_session().storage.trial_working_directory. Checked against ray
    2.60."""
    from ray.train._internal.session import get_session
    return get_session().storage.trial_working_directory


def fresh_checkpoint_names() -> None:
    """Makes the running trial's next checkpoints go to folders its trial folder does not hold yet.
    Tune names a trial's checkpoints checkpoint_000000, 1, ... from an index it hands the trial as it
    (re)starts it, and that index can lag behind the folders written: PBT restarts a trial at the
    report whose checkpoint was just written, before that checkpoint is counted; a resumed search
    restarts trials from a state saved before their last checkpoints. Tune then copies the new
    checkpoint's files into the older folder, which keeps what the new one lacks (the engine's best/:
    another check's model, exported as this one's) and is deleted with the older checkpoint
    (num_to_keep). Ray: ray.train._internal.session.get_session().storage: current_checkpoint_index
    (incremented before each checkpoint is written), trial_fs_path, storage_filesystem. Checked
    against ray 2.60."""
    import pyarrow.fs as pafs
    from ray.train._internal.session import get_session
    storage = get_session().storage
    found = storage.storage_filesystem.get_file_info(pafs.FileSelector(storage.trial_fs_path, allow_not_found=True))
    used = [int(i.base_name.removeprefix(CHECKPOINT_PREFIX)) for i in found if i.type == pafs.FileType.Directory
            and i.base_name.startswith(CHECKPOINT_PREFIX) and i.base_name.removeprefix(CHECKPOINT_PREFIX).isdigit()]
    storage.current_checkpoint_index = max([storage.current_checkpoint_index, *used])


def optuna_trial_of(searcher, trial_id: str):
    """The Optuna trial that a Tune OptunaSearch asked for `trial_id` (kept after it completes), None
    when the searcher never suggested that trial. Ray: OptunaSearch._ot_trials, a dict trial id ->
    optuna.trial.Trial. Checked against ray 2.60."""
    return searcher._ot_trials.get(trial_id)


def close_optuna_trial_unrun(searcher, trial_id: str) -> None:
    """Tell a Tune OptunaSearch's study that the Optuna trial it asked for `trial_id` was pruned, unrun, and
    forget it, so that its next suggest for `trial_id` asks the study anew. Ray: OptunaSearch._ot_study
    and _ot_trials (see optuna_trial_of). Checked against ray 2.60."""
    import optuna
    searcher._ot_study.tell(searcher._ot_trials.pop(trial_id), state=optuna.trial.TrialState.PRUNED)


def optuna_study_of(searcher):
    """(the Optuna study of a Tune OptunaSearch, the Optuna trials it asked for Tune's trials). Ray:
    OptunaSearch._ot_study, _ot_trials (a dict trial id -> optuna.trial.Trial). Checked against ray
    2.60."""
    return searcher._ot_study, list(searcher._ot_trials.values())


def optuna_told(searcher, trial_id: str) -> bool:
    """Whether a Tune OptunaSearch has told its study how `trial_id` ended (it then ignores the trial's
    reports). Ray: OptunaSearch._completed_trials, a set of trial ids. Checked against ray 2.60."""
    return trial_id in searcher._completed_trials


def optuna_retry(searcher, trial_id: str, asked) -> None:
    """Makes a Tune OptunaSearch report `trial_id` to the Optuna trial `asked` from now on, as a trial
    not ended yet. Ray: OptunaSearch._ot_trials, _completed_trials. Checked against ray 2.60."""
    searcher._ot_trials[trial_id] = asked
    searcher._completed_trials.discard(trial_id)


def trial_started(trial) -> bool:
    """Whether a Tune Trial ever ran. Ray: trial.run_metadata.start_time, set by Trial.set_status
    when the trial first becomes RUNNING (its last_result property is no witness: reading it fills
    it). Checked against ray 2.60."""
    return trial.run_metadata.start_time is not None


def mlflow_run_of(callback, trial) -> Optional[str]:
    """The MLflow run id that Ray's MLflowLoggerCallback opened for `trial` (in log_trial_start),
    None when it opened none. Ray: MLflowLoggerCallback._trial_runs, a dict Trial -> run id.
    Checked against ray 2.60."""
    return callback._trial_runs.get(trial)


class StopsWaitingTrials:
    """A mixin for a Tune TrialScheduler (first in the bases): while `stops_waiting()` says so, the
    scheduler chooses no trial to run and stops every trial waiting to start (PENDING) or to go on
    (PAUSED, as PBT leaves them), telling `stopped_waiting(trial_id, started)` of each (started: it
    ran before). The class using it defines both. Ray: TrialScheduler.choose_trial_to_run(
    tune_controller), TuneController.get_trials() and stop_trial(trial) (a PENDING or PAUSED trial
    is removed from the scheduler and completed in the searcher), Trial.status. Checked against ray
    2.60."""

    def choose_trial_to_run(self, tune_controller):
        if not self.stops_waiting():
            return super().choose_trial_to_run(tune_controller)
        from ray.tune.experiment import Trial
        for trial in list(tune_controller.get_trials()):
            if trial.status in (Trial.PENDING, Trial.PAUSED):
                self.stopped_waiting(trial.trial_id, trial_started(trial))
                tune_controller.stop_trial(trial)
        return None


def out_of_memory_said(ended: str = "the trial's process") -> str:
    """The line a trial fails with when Ray's memory monitor ended `ended` (its process, its workers)."""
    return (f"out of memory: Ray's memory monitor ended {ended}, the machine's memory nearly full (Ray's figures "
            f"in error.txt); a smaller batch_size, max_length or max_chunks, or fewer trials at once "
            f"(--max-concurrent), needs less")


OUT_OF_MEMORY = out_of_memory_said()


def out_of_memory(error, actor_id=None):
    """The error a trial gets for Ray's OutOfMemoryError `error`: a RayActorError (its actor is gone)
    whose message is Ray's account then OUT_OF_MEMORY (error.txt's last line, the console's), which
    fail_at_once's hook does not retry: the same configuration needs the same memory again."""
    from ray.exceptions import RayActorError
    told = RayActorError(actor_id, f"{str(error).strip()}\n{OUT_OF_MEMORY}")
    told.fails_at_once = True
    return told


_NOT_RETRIED = set()  # the ids of the Tune trials whose last error is one fail_at_once names


def fail_at_once(error_type) -> None:
    """A Tune trial that raises `error_type` (bad input it found: running it again finds the same), or
    whose actor Ray's memory monitor ended (out_of_memory), fails at once; FailureConfig.max_failures
    retries every other error (a worker or node that died).
    Ray: Trial.handle_error(exc), called with the trial's error (a RayTaskError whose .cause is the
    exception the trial raised) just before Trial.should_recover() decides on a retry. Checked
    against ray 2.60."""
    from ray.exceptions import OutOfMemoryError, RayTaskError
    from ray.tune.experiment import Trial
    if getattr(Trial.handle_error, "fails_at_once", None) is error_type:  # installed by an earlier Tuner
        return
    handle_error, should_recover = Trial.handle_error, Trial.should_recover

    def handle(self, exc=None):
        if isinstance(exc, OutOfMemoryError):  # the monitor ended the trial's actor as it started
            exc = out_of_memory(exc)
        handle_error(self, exc)
        if (isinstance(exc, RayTaskError) and isinstance(exc.cause, error_type)) or getattr(exc, "fails_at_once", False):
            _NOT_RETRIED.add(self.trial_id)
        else:
            _NOT_RETRIED.discard(self.trial_id)

    def recover(self):
        return self.trial_id not in _NOT_RETRIED and should_recover(self)
    handle.fails_at_once = error_type
    Trial.handle_error, Trial.should_recover = handle, recover


def ended_by_memory_monitor(error) -> bool:
    """Whether `error` is, or carries, Ray's OutOfMemoryError: the memory monitor ended a process of
    the run (Ray Train's ControllerError holds it as controller_failure, its WorkerGroupError per
    worker as worker_failures, a RayTaskError as cause). Checked against ray 2.60."""
    from ray.exceptions import OutOfMemoryError
    seen, todo = set(), [error]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, OutOfMemoryError):
            return True
        todo += [getattr(e, "controller_failure", None), getattr(e, "cause", None), e.__cause__, e.__context__,
                 *(getattr(e, "worker_failures", None) or {}).values()]
    return False


def trial_out_of_memory_fails_the_trial() -> None:
    """A trial whose process Ray's memory monitor ended while it ran fails as a trial (out_of_memory),
    and the search goes on; without this Tuner.fit raised 'Caught unexpected exception' and ended the
    search with a traceback: Tune's actor manager takes only a RayActorError (the actor died) or a
    RayTaskError (the trial raised) from a trial's task, and Ray reports the monitor's kill as an
    OutOfMemoryError, which is neither (a kill as the actor starts reaches Trial.handle_error as it is:
    fail_at_once's hook). Ray: ray.air.execution._internal.actor_manager.RayActorManager.
    _actor_task_failed(tracked_actor_task, exception). Checked against ray 2.60."""
    from ray.air.execution._internal.actor_manager import RayActorManager
    from ray.exceptions import OutOfMemoryError
    if getattr(RayActorManager._actor_task_failed, "out_of_memory_fails_the_trial", False):
        return
    task_failed = RayActorManager._actor_task_failed

    def failed(self, tracked_actor_task, exception):
        if isinstance(exception, OutOfMemoryError):
            exception = out_of_memory(exception, tracked_actor_task._tracked_actor.actor_id)
        task_failed(self, tracked_actor_task, exception)
    failed.out_of_memory_fails_the_trial = True
    RayActorManager._actor_task_failed = failed


def raylet_process():
    """The local raylet's process (a subprocess.Popen) of the Ray this driver started. Ray:
    ray._private.worker._global_node.all_processes["raylet"][0].process. Checked against ray 2.60."""
    import ray
    return ray._private.worker._global_node.all_processes["raylet"][0].process


def driver_staging_folder(experiment_name: str) -> Optional[str]:
    """The folder where this driver's Tune staged the files of experiment `experiment_name` (its state,
    the searcher's, each trial's results) before uploading them to storage; the newest when several
    Tuners of that name ran in this Ray session, None when none did. Ray: StorageContext
    .experiment_driver_staging_path, <session folder>/artifacts/<start time>/<name>/driver_artifacts,
    and ray._private.worker._global_node.get_session_dir_path(). Checked against ray 2.60."""
    import ray
    session = Path(ray._private.worker._global_node.get_session_dir_path())
    found = sorted(session.glob(f"artifacts/*/{experiment_name}/driver_artifacts"), key=lambda p: p.stat().st_mtime)
    return str(found[-1]) if found else None


def send_ray_errors_to(write) -> None:
    """Ray's driver prints the errors its cluster publishes (a raylet that died, with the last 20
    lines of its log; a worker killed for memory) to stdout as they arrive; `write(text)` gets each
    instead. Ray: ray._private.worker.print_to_stdstream(data, ignore_prefix), data {"lines",
    "pid", "is_err"}, looked up by listen_error_messages at each message (and registered for the
    workers' logs by ray.init when log_to_driver is set: call this after ray.init, without it).
    Checked against ray 2.60."""
    import ray._private.worker as worker

    def to_write(data, ignore_prefix: bool = False) -> None:
        write("".join(f"({data.get('pid')}) {line}\n" for line in data["lines"]))
    worker.print_to_stdstream = to_write


def kill_local_ray() -> None:
    """Kills every process of the Ray this driver started, at once (no graceful stop: its raylet is
    gone). Ray: ray._private.worker._global_node.kill_all_processes(check_alive, allow_graceful).
    Checked against ray 2.60."""
    import ray
    ray._private.worker._global_node.kill_all_processes(check_alive=False, allow_graceful=False)


def keep_last_result(trial, result: dict) -> None:
    """Records `result` as a Tune Trial's last report, as Tune's controller does (PBT reads it as
    trial.last_result); the search simulator plays the controller. Ray: trial.run_metadata
    .last_result. Checked against ray 2.60."""
    trial.run_metadata.last_result = result


def latest_checkpoint_result(trial):
    """The result object of a Tune Trial's latest checkpoint (its .checkpoint is what the trial
    saved, or after a PBT exploit its donor's), None before any; a new object per checkpoint. Ray:
    Trial.latest_checkpoint_result (a ray.train._internal _TrainingResult). Checked against ray 2.60."""
    return trial.latest_checkpoint_result


def skip_policy_logs(scheduler) -> None:
    """Turns off the policy log files PBT writes at each exploit (they need a Ray session; they change
    no decision); nothing for another scheduler. Ray: PopulationBasedTraining._log_config (its
    log_config argument). Checked against ray 2.60."""
    if hasattr(scheduler, "_log_config"):
        scheduler._log_config = False


def short_pbt_state_repr() -> None:
    """Gives PBT's per-trial state a constant repr. PBT formats every trial and its state into a
    debug message on every result whether or not debug logging is on; in the search simulator that
    string work was 60% of a replay, and the repr serves those messages only. Ray:
    ray.tune.schedulers.pbt._PBTTrialState. Checked against ray 2.60."""
    from ray.tune.schedulers.pbt import _PBTTrialState
    _PBTTrialState.__repr__ = lambda self: "_PBTTrialState"


def local_init_options() -> dict:
    """ray.init's options that keep a local Ray on the loopback address (its node, ports and
    dashboard), where otherwise it advertises the machine's interface address. Ray: ray.init's private
    keyword _node_ip_address. Checked against ray 2.60."""
    return {"_node_ip_address": "127.0.0.1"}


TUNE_STOP_SIGNAL = signal.SIGUSR1  # Tune's own stop: it stops the trials and saves its state, as for Ctrl-C


def keep_tune_off_sigint() -> None:
    """Tune installs no SIGINT handler in later Tuner.fit calls (it leaves its handler installed after
    fit: ray-project/ray#37737), while it still stops on TUNE_STOP_SIGNAL. Ray: the environment variable
    TUNE_DISABLE_SIGINT_HANDLER and the SIGUSR1 handler, both read by ray.tune.tune._setup_signal_catching.
    Checked against ray 2.60."""
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"


def tune_sigint_setting() -> Optional[str]:
    """The value keep_tune_off_sigint replaces (None: unset), for restore_tune_sigint."""
    return os.environ.get("TUNE_DISABLE_SIGINT_HANDLER")


def restore_tune_sigint(value: Optional[str]) -> None:
    if value is None:
        os.environ.pop("TUNE_DISABLE_SIGINT_HANDLER", None)
    else:
        os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = value


def old_console_flow() -> None:
    """Tune's older console output, which prints no banner at verbosity 0 and adds its own trial
    console callback only when the run has none (budget.ReportsStartedTrials). Ray: the environment
    variable RAY_AIR_NEW_OUTPUT=0, read by ray.tune.experimental.output.get_air_verbosity. Checked
    against ray 2.60."""
    os.environ["RAY_AIR_NEW_OUTPUT"] = "0"
