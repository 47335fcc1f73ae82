"""--time-budget (distributed/budget.py): no trial starts after it, running ones stop at their next
check; a bad budget (or repeat count) is one line before Ray.

Each test that starts Ray runs the search in a subprocess, which stops its Ray also on failure.
"""
import re
import subprocess
import sys

import pytest

from bert_hpo_distributed import budget
from bert_hpo_distributed.spec.load import load_spec
from tests.helpers import ROOT, read_csv, run, search_cmd, write_imdb_like


def test_bad_budget_or_repeats_is_one_line_before_ray(tmp_path):
    for extra, expected in ((["--time-budget", "0"], "error: --time-budget 0: expected a positive number"),
                            (["--repeats", "1"], "error: --repeats 1: expected 0 (no repeats) or a number"),
                            (["--set", "repeats=1"], "repeats: expected 0 (no repeats) or a number of seeds"),
                            (["--set", "time_budget=-5"], "time_budget: expected a positive number")):
        proc = subprocess.run([sys.executable, str(ROOT / "launch.py"), "--search", "imdb", "--smoke-test",
                               "--output-dir", str(tmp_path), *extra], cwd=ROOT, capture_output=True, text=True)
        assert proc.returncode == 2, proc.stderr[-2000:]
        assert expected in proc.stderr and "Traceback" not in proc.stderr, proc.stderr[-2000:]
        assert "ray" not in proc.stderr.lower().replace("array", "")


@pytest.mark.ray
def test_time_budget_starts_no_new_trial_and_stops_running_ones_at_their_next_check(tmp_path):
    data = write_imdb_like(tmp_path / "data")
    # 1000 epochs a trial (seconds each), 20 trials asked for, all 20 in flight but two running (2 CPUs),
    # as on a cluster whose trials wait for nodes: only the budget ends them, and the 18 waiting do not
    # start after it. The budget counts from the trials' start; 60 s leaves room for a slow first check
    proc = run(search_cmd(data, tmp_path / "out", "--name", "budget", "--time-budget", "60",
                          "--set", "smoke.num_samples=20", "--set", "smoke.fixed.n_epochs=1000", "--set", "smoke.fixed.early_stop=-1",
                          "--set", "scheduler.type=none", "--set", "smoke.space.mode.choice=[finetune]",
                          "--max-concurrent", "20"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    trials = read_csv(tmp_path / "out" / "budget" / "results.csv")
    assert len(trials) in (1, 2), trials  # the second may not have started (its actor) by the budget
    assert all(t["status"] == "stopped (time budget)" and 1 <= int(t["epochs_run"]) < 1000 for t in trials)
    n = len(trials)
    assert (f"time budget: {n} of 20 trials ran, {n} of them stopped early by it; {20 - n} proposed before it "
            f"ran out did not start") in proc.stderr
    assert len(re.findall(r"^\[bert-hpo\] trial \d+/20 ", proc.stderr, re.M)) == n  # a line per trial that ran
    assert "Last result" not in proc.stdout + proc.stderr  # nothing from Ray on the trials that did not start
    results = (tmp_path / "out" / "budget" / "results.md").read_text()
    assert "stopped (time budget)" in results and "test accuracy" in results
    assert (tmp_path / "out" / "budget" / "best_model" / "head.safetensors").exists()



def test_after_the_budget_the_scheduler_starts_nothing_and_stops_the_waiting_trials():
    """What keeps a cluster's pending trials from starting after the budget, without Ray running."""
    from ray.tune.experiment import Trial

    from bert_hpo_distributed.searchers import scheduler

    class Controller:  # the two calls Tune's controller lends a scheduler here
        def __init__(self, trials):
            self.trials, self.stopped = trials, []

        def get_trials(self):
            return self.trials

        def stop_trial(self, trial):
            self.stopped.append(trial.trial_id)

    def trial(trial_id, status, ran):
        made = Trial("x", trial_id=trial_id, stub=True)
        made.status = status
        made.run_metadata.start_time = 1.0 if ran else None  # what Tune sets when a trial first runs
        made.last_result  # reading it fills in trial_id: no witness of a run
        return made
    trials = [trial("new", Trial.PENDING, False), trial("paused", Trial.PAUSED, True),
              trial("running", Trial.RUNNING, True)]
    now = [0.0]
    try:
        for kind in ("none", "asha", "pbt"):
            spec = load_spec("imdb", [f"scheduler.type={kind}"], profile=["cpu", "smoke"])
            sched, controller = scheduler(spec, max_epochs=4), Controller(trials)
            spent = budget.start(10.0, 0.0, clock=lambda: now[0])
            now[0] = 9.0
            if kind == "none":
                assert sched.choose_trial_to_run(controller) is trials[0]  # FIFO's choice while time is left
            now[0] = 10.0
            assert sched.choose_trial_to_run(controller) is None, kind
            assert controller.stopped == ["new", "paused"], kind  # the running one stops at its next check
            assert spent.unstarted == {"new"} and spent.stopped == {"paused"}, kind
    finally:
        budget.start(None, 0.0)


def test_mlflow_ends_only_the_runs_of_trials_that_started(tmp_path):
    from bert_hpo_distributed.mlflow_callback import StartedTrials
    callback = StartedTrials(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}", experiment_name="x")
    callback.setup()
    callback.log_trial_end(object())  # never started: no run, nothing to end (Ray's own raises KeyError)
