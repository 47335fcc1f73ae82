"""Start or join Ray; local Ray stays on 127.0.0.1 (dashboard included) unless asked otherwise.

Ray's own console output (its banner, Tune's tables, the workers' logs) is shown with --verbose
only: a search prints its own plan and progress, and each trial logs to its own folder. The errors
Ray's cluster publishes (a raylet that died, with pages of its log) go to a log file, ray.log in
the search's output folder: the search says in one line what happened."""
import logging
import os
import sys
import threading
import time
from pathlib import Path
from typing import Optional

from . import ray_compat

RAY_LOG = "ray.log"  # in the output folder: the errors Ray's cluster published, unless --verbose


def loopback_environment() -> None:
    # Without this, Ray advertises the machine's interface address and opens its ports there.
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # num_to_keep forces a state snapshot per checkpoint; with seconds-long trials Tune warns each time
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    os.environ.setdefault("RAY_TRAIN_ENABLE_V2_MIGRATION_WARNINGS", "0")


def worker_environment() -> dict:
    """Environment for every task and actor of the search, on every node (a cluster's workers do not
    inherit the driver's environment)."""
    env = {"TOKENIZERS_PARALLELISM": "false",
           # actor reuse waits this long for the previous trial's thread; a pruned trial stops within
           # one optimizer step (ray_compat.trial_stop_requested), and a step can take long on a CPU
           "TUNE_FUNCTION_THREAD_TIMEOUT_S": "120",
           # glibc's arenas, one per thread up to 8 a core, each keeping the garbage of freed tensors:
           # two bound an encoder pass's memory (bertclf/heap.py)
           "MALLOC_ARENA_MAX": os.environ.get("MALLOC_ARENA_MAX", "2")}
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_ENDPOINT", "BERT_HPO_OFFLINE"):
        if name in os.environ:
            env[name] = os.environ[name]
    return {"env_vars": env}


def quiet(verbose: bool) -> None:
    # Tune logs every failed trial's traceback at ERROR: the search prints one line per trial instead
    level = logging.INFO if verbose else logging.CRITICAL
    for name in ("ray.tune", "ray.train", "ray.data"):
        logging.getLogger(name).setLevel(level)
    if not verbose:  # Tune's newer console output prints its banner even at verbosity 0
        ray_compat.old_console_flow()


def start(address=None, num_cpus=None, dashboard_host="127.0.0.1", verbose=False,
          resume_hint: str = "run the same command with --resume", log_folder: Optional[Path] = None) -> bool:
    """Connect to `address`, or start a local Ray; True when this call started it (it is then
    watched: see watch_raylet). log_folder: where RAY_LOG goes (without it, and with verbose, Ray
    prints its cluster's errors)."""
    loopback_environment()
    quiet(verbose)
    import ray
    if ray.is_initialized():
        return False
    level = logging.INFO if verbose else logging.ERROR
    if address:
        ray.init(address=address, log_to_driver=verbose, logging_level=level, runtime_env=worker_environment())
        log_errors(log_folder, verbose)
        return False
    # The dashboard process also reaps the worker groups of trials that ASHA stops early;
    # without it a stopped TorchTrainer trial's reservation leaked (tested in tests/distributed/test_search.py).
    ray.init(num_cpus=num_cpus, include_dashboard=True, dashboard_host=dashboard_host,
             **ray_compat.local_init_options(), log_to_driver=verbose, logging_level=level,
             runtime_env=worker_environment())
    log_errors(log_folder, verbose)
    watch_raylet(resume_hint, log_folder)
    return True


def log_errors(folder: Optional[Path], verbose: bool) -> None:
    """The errors Ray's cluster publishes appended to folder/RAY_LOG (made at the first)."""
    if folder is None or verbose:
        return

    def write(text: str) -> None:
        try:
            Path(folder).mkdir(parents=True, exist_ok=True)
            with open(Path(folder) / RAY_LOG, "a", encoding="utf-8") as f:
                f.write(text)
        except OSError:  # a full disk: the search's own line says so; Ray's listener must not end on it
            pass
    ray_compat.send_ray_errors_to(write)


_stopping = threading.Event()  # set by stop(): the raylet ends on purpose


def watch_raylet(resume_hint: str, log_folder: Optional[Path] = None) -> None:
    """When the local raylet dies under the search (the OOM killer picks it), Ray publishes the last
    lines of its log (to RAY_LOG in log_folder: log_errors) and its core worker ends this process with
    exit 1 seconds later. A watcher gets there first: one error line that says what happened, where
    Ray's account of it is, and how to continue; Ray's processes stopped, exit 2. The finished trials
    are on disk, and --resume continues the search."""
    raylet = ray_compat.raylet_process()

    def watch():
        while raylet.poll() is None:
            time.sleep(0.2)
        if _stopping.is_set():
            return
        logged = Path(log_folder or ".") / RAY_LOG
        log = f"; Ray's own account: {logged}" if log_folder and logged.exists() else ""
        print(f"error: Ray stopped under the search (its raylet ended, exit {raylet.returncode}: killed for "
              f"memory?{log}); the finished trials are kept: {resume_hint}", file=sys.stderr, flush=True)
        ray_compat.kill_local_ray()
        os._exit(2)
    threading.Thread(target=watch, daemon=True, name="raylet-watch").start()


def stop(started: bool) -> None:
    if not started:  # nothing to stop, and no Ray to import (a search that ended before Ray)
        return
    import ray
    if ray.is_initialized():
        _stopping.set()
        ray.shutdown()


def cpus_each(tasks: int = 1, free_now: bool = False) -> float:
    """The most CPUs each of `tasks` CPU tasks can ask for and still be placed: the cluster's CPUs
    (or those free now) shared out, never more than its largest node has: the sum over nodes is no
    node's size, and a request above every node waits forever."""
    import ray
    pool = ray.available_resources() if free_now else ray.cluster_resources()
    largest = max((n["Resources"].get("CPU", 0) for n in ray.nodes() if n["Alive"]), default=1)
    return max(1.0, min(pool.get("CPU", 1) // tasks, largest))
