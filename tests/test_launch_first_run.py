"""A new user's first runs: the README's smoke command with nothing but the install, and every
failure known before the first trial ending in one `error:` line, fast, with no traceback."""
import json
import os
import subprocess
import sys
import time

import pytest

from tests.helpers import ROOT, read_csv, write_imdb_like

pytestmark = pytest.mark.ray


def launch(args, cwd, env=None, timeout=400):
    full_env = dict(os.environ, PYTHONUNBUFFERED="1", **(env or {}))
    for name, value in list(full_env.items()):
        if value is None:
            del full_env[name]
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, str(ROOT / "launch.py"), *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout)
    proc.seconds = time.perf_counter() - started
    return proc


def one_error_line(proc) -> str:
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr[-3000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, proc.stderr[-3000:]
    return errors[0]


def test_readme_smoke_command_needs_nothing_but_the_install(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = {"HOME": str(home), "BERT_HPO_DATA_DIR": None, "XDG_CACHE_HOME": None}
    proc = launch(["--search", "imdb", "--smoke-test", "--num-cpus", "2"], cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    assert proc.seconds < 180, f"the smoke search took {proc.seconds:.0f} s"
    out = tmp_path / "results" / "imdb-smoke"
    assert "no GPU" in proc.stderr and str(out) in proc.stderr
    # a screenful: the plan, a line per finished trial, the summary; no Ray tables, no epochs
    lines = proc.stderr.splitlines()
    assert len(lines) <= 30, proc.stderr
    assert all(line.startswith("[bert-hpo]") for line in lines if line.strip()), proc.stderr
    assert sum(line.startswith("[bert-hpo] trial ") for line in lines) == 4 and "epoch 1: train loss" not in proc.stderr
    assert not (home / ".cache" / "bert-hpo" / "data").exists()  # nothing was downloaded

    trials = read_csv(out / "results.csv")
    assert len(trials) == 4 and all(t["status"] != "error" and t["best_valid_accuracy"] for t in trials)
    accs = [float(t["best_valid_accuracy"]) for t in trials]
    assert accs == sorted(accs, reverse=True)
    md = (out / "results.md").read_text()
    assert "| BERT finetune | Max token Length | Best Epoch | train loss | valid loss | valid accuracy |" in md
    header = next(line for line in md.splitlines() if "BERT finetune" in line)
    table = [line for line in md.splitlines()  # the original's table (not the per-class one below it)
             if line.startswith("| ") and line != header and line.count("|") == header.count("|")]
    assert [float(line.split("|")[6]) for line in table] == [round(a, 4) for a in sorted(accs, reverse=True)]
    assert "re-scored once on the untouched test split (all 100 examples of test.csv)" in md
    assert "Data: 216 train / 24 valid (10% held out of train" in md
    assert (out / "trials_over_time.png").stat().st_size > 1000 and (out / "hyperparameters.png").stat().st_size > 1000

    # inputs (token ids, boost features) are prepared once and reach the trials through Ray's object
    # store: no trial reads the data or runs the encoder for features; a boost key's features are
    # computed by one Ray task when the first trial that needs them starts
    assert "prepared once" in proc.stderr
    # the plan, with the data sizes, the passes' estimate and which pass runs when, comes before the trials
    assert proc.stderr.index("search imdb-smoke: 4 trials of imdb (216 train / 24 valid") < \
        proc.stderr.index("frozen-feature pass(es)") < proc.stderr.index("boost: feature passes on demand: ") < \
        proc.stderr.index("[bert-hpo] trial ")
    for log in (out / "trials").glob("trial_*/trial.log"):
        assert not [line for line in log.read_text().splitlines() if line.startswith(("data:", "boost:"))]

    # the trials' checkpoints are gone once the best model is out, and the summary says what was written
    assert not list((out / "trials").glob("trial_*/checkpoint_*")) and list((out / "trials").glob("trial_*/result.json"))
    assert lines[-1].startswith("[bert-hpo] the search wrote ") and "were deleted after the export" in lines[-1]

    # the best model predicts; a model folder holds no trainer state
    assert not (out / "best_model" / "trainer_state.pt").exists()
    pred = launch(["--predict", "--model", str(out / "best_model"), "--text", "a wonderful and superb film"],
                  cwd=tmp_path, env=env, timeout=120)
    assert pred.returncode == 0, pred.stderr[-2000:]
    assert json.loads(pred.stdout.strip().splitlines()[0])["label"] in ("negative", "positive")  # IMDB labels read as words
    # its model card's ONNX snippet runs as written, beside the folder, without this project on the path
    card = (out / "best_model" / "README.md").read_text()
    assert "## How to load it" in card and "test accuracy" in card
    snippet = card.split("```python\n")[-1].split("```")[0].replace("an example text", "a wonderful and superb film")
    onnx = subprocess.run([sys.executable, "-I", "-c", snippet], cwd=out, capture_output=True, text=True, timeout=120)
    assert onnx.returncode == 0, onnx.stderr[-2000:]
    assert onnx.stdout.strip() == f"['{json.loads(pred.stdout.strip().splitlines()[0])['label']}']"


@pytest.mark.parametrize("args, expected", [
    (["--num-samples", "-3"], "--num-samples -3: expected a positive integer"),
    (["--max-concurrent", "0"], "--max-concurrent 0: expected a positive integer"),
    (["--smoke-test", "--set", "smoke.space.max_length.choice=[100000]"],
     "space.max_length: every choice [100000] is above"),
])
def test_what_no_trial_could_run_is_one_line_before_ray_starts(tmp_path, args, expected):
    proc = launch(["--search", "imdb", "--num-cpus", "2", *args], cwd=tmp_path)
    assert proc.returncode == 2
    assert expected in one_error_line(proc)
    assert proc.seconds < 60 and "search imdb" not in proc.stderr  # no search was started


def test_a_model_that_cannot_be_loaded_is_named_before_ray_starts(tmp_path):
    data = write_imdb_like(tmp_path / "data")
    proc = launch(["--search", "imdb", "--data-dir", str(data), "--set", "cpu.fixed.bert_name=bert-bsae-uncased"],
                  cwd=tmp_path, env={"HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 2
    line = one_error_line(proc)
    assert "bert-bsae-uncased" in line and "typo" in line and "offline" in line
    assert proc.seconds < 60


def test_a_search_in_which_every_trial_fails_fails(tmp_path):
    # trials that ask for CUDA on a machine without it: known only where the trial runs
    proc = launch(["--search", "imdb", "--smoke-test", "--num-cpus", "2", "--set", "smoke.fixed.device=cuda",
                   "--set", "smoke.space={lr_main: {loguniform: [3e-4, 3e-3]}}", "--set", "smoke.num_samples=3"],
                  cwd=tmp_path)
    assert proc.returncode == 1
    line = one_error_line(proc)
    assert "all 3 trials failed" in line and "--device cuda" in line and "error.txt" in line
    trials = read_csv(tmp_path / "results" / "imdb-smoke" / "results.csv")
    assert len(trials) == 3 and all(t["status"] == "error" and "--device cuda" in t["error"] for t in trials)
    # one line per failed trial on the console, naming its log; the tracebacks stay in the trial folders
    assert sum("error: --device cuda" in line and "error.txt" in line for line in proc.stderr.splitlines()) == 3
    # bad input fails a trial at once: running it again finds the same (max_failures retries dead workers)
    logs = [(tmp_path / "results" / "imdb-smoke" / "trials" / t["trial"] / "error.txt").read_text() for t in trials]
    assert all(log.count("Failure #") == 1 for log in logs), logs


def test_some_failed_trials_are_counted_in_the_summary(tmp_path):
    proc = launch(["--search", "imdb", "--smoke-test", "--num-cpus", "2", "--max-concurrent", "1",
                   "--set", "smoke.space={device: {choice: [cpu, cuda]}, max_length: {choice: [64, 100000]}}",
                   "--set", "smoke.num_samples=4", "--set", "smoke.startup_trials=4", "--set", "smoke.seed=3",
                   "--set", "scheduler.type=none", "--set", "smoke.fixed.n_epochs=1"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    # a choice no trial could run is dropped with a warning; the rule is documented in docs/search.md
    assert "warning: space.max_length [100000] dropped" in proc.stderr
    trials = read_csv(tmp_path / "results" / "imdb-smoke" / "results.csv")
    failed = [t for t in trials if t["status"] == "error"]
    assert 0 < len(failed) < 4 and all(t["device"] == "cuda" for t in failed)
    assert f"{len(failed)} of 4 trials failed" in proc.stderr
