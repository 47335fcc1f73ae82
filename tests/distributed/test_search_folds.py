"""A search with cv_folds end to end on a local Ray: every trial scored on the mean over its folds, a poor
trial pruned after its first fold, results with mean ± std, the refit on all of train; an interrupted
search resumes at the next fold; a class rarer than the folds is one error before Ray starts."""
import os
import re
import signal
import subprocess

import pytest

from tests.helpers import ROOT, read_csv, run, search_cmd, sentiment_rows, write_imdb_like
from tests.distributed.test_search import running_trial_with_checkpoint, wait_for_finished_trials

pytestmark = pytest.mark.ray


def test_folds_score_the_mean_prune_a_poor_first_fold_and_refit(tmp_path):
    data = write_imdb_like(tmp_path / "data")
    # test_search's ASHA set-up: seed 6 draws good, good, hopeless (lr_main 1e-7), good, one at a time
    proc = run(search_cmd(data, tmp_path / "out", "--name", "folds", "--max-concurrent", "1", "--cv-folds", "3",
                          "--refit", "--set", "smoke.num_samples=4", "--set", "smoke.fixed.n_epochs=2",
                          "--set", "smoke.seed=6", "--set", "smoke.startup_trials=4", "--set", "smoke.fixed.lr=1.0e-7",
                          "--set", "smoke.space={lr_main: {choice: [0.003, 1.0e-7]}, mode: {choice: [finetune]}}"),
               timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "3 folds of train, stratified, seed 42" in proc.stderr
    trials = read_csv(tmp_path / "out" / "folds" / "results.csv")
    pruned = [t for t in trials if t["status"] == "pruned (asha)"]
    assert len(pruned) == 1 and float(pruned[0]["folds_done"]) == 1 and float(pruned[0]["lr_main"]) < 1e-6
    completed = [t for t in trials if t["status"] == "completed"]
    assert len(completed) == 3 and all(float(t["folds_done"]) == 3 for t in completed)
    assert all(float(t["best_valid_accuracy_std"]) >= 0 for t in completed)
    md = (tmp_path / "out" / "folds" / "results.md").read_text()
    assert "the mean over its 3 folds" in md and "(1 of 3 folds)" in md
    assert md.count(" ± ") >= 4  # each trial's score cell
    assert "Refit of the best configuration on all of train" in md


def test_an_interrupted_search_with_folds_resumes_at_the_next_fold(tmp_path):
    data = write_imdb_like(tmp_path / "data")
    out = tmp_path / "out"
    cmd = search_cmd(data, out, "--name", "resume", "--max-concurrent", "1", "--cv-folds", "3",
                     "--set", "smoke.num_samples=2", "--set", "smoke.fixed.n_epochs=2",
                     "--set", "smoke.space.mode.choice=[finetune]", "--set", "scheduler.type=none")
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"), start_new_session=True)
    try:
        running = running_trial_with_checkpoint(out / "resume" / "trials", timeout=900)  # a fold done, not all
        os.killpg(proc.pid, signal.SIGINT)
        output = proc.communicate(timeout=120)[0].decode()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130 and "--resume" in output, output[-3000:]
    resumed = run(cmd + ["--resume"], timeout=1200)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    trials = read_csv(out / "resume" / "results.csv")
    assert len(trials) == 2 and all(float(t["folds_done"]) == 3 for t in trials), trials
    # the folds the interrupted trial started: fold 1 once (Tune may restore the trial's folder, log
    # included, to the checkpoint's time), and never all three again from the first
    starts = re.findall(r"^fold (\d)/3: \d+ train", (running / "trial.log").read_text(), re.M)
    assert starts.count("1") <= 1 and starts != ["1", "2", "3"] and starts[-1] == "3", starts


def test_a_class_rarer_than_the_folds_is_one_error_before_ray(tmp_path):
    rows = sentiment_rows(40) + [("a rare one", "Odd Label"), ("another rare one", "Odd Label")]
    train = tmp_path / "train.csv"
    train.write_text("text,label\n" + "".join(f'"{t}",{y}\n' for t, y in rows))
    proc = run([*search_cmd(tmp_path, tmp_path / "out")[:2], "--search", "classify", "--train_path", str(train),
                "--smoke-test", "--cv-folds", "3", "--output-dir", str(tmp_path / "out")])
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr[-3000:]
    assert "label 'Odd Label' has only 2 example(s), fewer than cv_folds 3" in lines[0]
    assert "Traceback" not in proc.stderr
