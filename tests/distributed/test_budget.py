"""--time-budget (distributed/budget.py): no trial starts after it, running ones stop at their next
check; a bad budget (or repeat count) is one line before Ray.

Each test that starts Ray runs the search in a subprocess, which stops its Ray also on failure.
"""
import subprocess
import sys

import pytest

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
