"""What a user sees around a search: a time budget, seed repeats, tracking (trial.log, TensorBoard,
MLflow), and a console that states the plan before the long work.

Each test that starts Ray runs the search in a subprocess, which stops its Ray also on failure.
"""
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_search import ROOT, read_csv, run, search_cmd, write_imdb_like


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
def test_ctrl_c_before_the_trials_keeps_nothing_and_says_to_run_the_command_again(tmp_path):
    """Ctrl-C while the driver prepares (reading, tokenising, before Ray and the Tuner): nothing to resume."""
    out = tmp_path / "out"
    proc = subprocess.Popen(search_cmd(write_imdb_like(tmp_path / "data"), out), cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONUNBUFFERED="1"),
                            start_new_session=True)
    try:
        first = proc.stderr.readline()  # the plan's first note: the data are read next, Ray starts after them
        assert first.startswith("[bert-hpo] "), first
        assert (out / "imdb-smoke").is_dir()  # the smoke slice is written there already
        os.killpg(proc.pid, signal.SIGINT)
        output = first + proc.communicate(timeout=120)[1]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, output[-3000:]
    assert output.splitlines()[-1] == ("interrupted before any trial started: nothing was kept; run the same "
                                       "command to start the search again"), output[-3000:]
    assert "--resume" not in output and "Traceback" not in output
    assert not (out / "imdb-smoke").exists()  # no folder left to block the same command


@pytest.mark.ray
def test_time_budget_starts_no_new_trial_and_stops_running_ones_at_their_next_check(tmp_path):
    data = write_imdb_like(tmp_path / "data")
    # 1000 epochs a trial (seconds each), 20 trials asked for, two at a time: only the budget ends
    # them. The budget counts from the trials' start; 60 s leaves room for a slow first check on a loaded machine
    proc = run(search_cmd(data, tmp_path / "out", "--name", "budget", "--time-budget", "60",
                          "--set", "smoke.num_samples=20", "--set", "smoke.fixed.n_epochs=1000", "--set", "smoke.fixed.early_stop=-1",
                          "--set", "scheduler.type=none", "--set", "smoke.space.mode.choice=[finetune]"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    trials = read_csv(tmp_path / "out" / "budget" / "results.csv")
    assert len(trials) in (1, 2), trials  # on a slow start the searcher proposes the second after the budget
    assert all(t["status"] == "stopped (time budget)" and 1 <= int(t["epochs_run"]) < 1000 for t in trials)
    n = len(trials)
    assert f"time budget: {n} of 20 trials ran, {n} of them stopped early by it" in proc.stderr
    results = (tmp_path / "out" / "budget" / "results.md").read_text()
    assert "stopped (time budget)" in results and "test accuracy" in results
    assert (tmp_path / "out" / "budget" / "best_model" / "head.safetensors").exists()


@pytest.mark.ray
def test_smoke_search_with_repeats_tracks_every_trial_and_states_the_plan_first(tmp_path):
    import json
    data = write_imdb_like(tmp_path / "data")
    out = tmp_path / "out" / "ux"
    proc = run(search_cmd(data, tmp_path / "out", "--name", "ux", "--repeats", "2", "--set", "smoke.repeat_top=2",
                          "--mlflow"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    console = proc.stderr
    # the plan (with the data sizes) and the feature passes' estimate come before the passes run
    plan = console.index("search ux: 4 trials of imdb (216 train / 24 valid")
    assert plan < console.index("frozen-feature pass(es)") < console.index("feature pass 1 of 2 (")
    assert "then the best 2 again with 2 seeds each" in console[plan:plan + 400]
    assert "repeats: the best 2 configuration(s) x 2 seeds: 4 runs" in console
    assert "test: scoring all 100 examples of" in console

    trials = sorted((out / "trials").glob("trial_*"))
    assert len(trials) == 4
    for trial in trials:  # every trial's own log and Ray's TensorBoard events
        assert "training:" in (trial / "trial.log").read_text(), trial.name
        assert list(trial.glob("events.out.tfevents.*")), trial.name

    results = (out / "results.md").read_text()
    assert "Data: 216 train / 24 valid (10% held out of train" in results
    assert "## Seed repeats" in results and "±" in results
    assert "(all 100 examples of test.csv)" in results
    assert "train_seed" in json.loads((out / "best_model" / "search_config.json").read_text())["trial"]

    from mlflow.tracking import MlflowClient
    client = MlflowClient(f"sqlite:///{out / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("ux")
    runs = client.search_runs([experiment.experiment_id])
    assert sorted(r.info.run_name for r in runs) == [t.name for t in trials]  # one run per trial
    for r in runs:
        assert set(r.data.params) >= {"lr", "max_length", "mode"}
        epochs = json.loads((out / "trials" / r.info.run_name / "result.json").read_text().splitlines()[-1])["epoch"]
        assert len(client.get_metric_history(r.info.run_id, "valid_accuracy")) == epochs  # a point per check
    best = [r for r in runs if r.data.tags.get("best_trial") == "true"]
    assert len(best) == 1
    assert "head.safetensors" in [Path(a.path).name for a in client.list_artifacts(best[0].info.run_id, "best_model")]
