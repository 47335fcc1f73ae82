"""Seed repeats (distributed/repeats.py) and tracking (distributed/tracking.py: trial.log, TensorBoard,
MLflow) in one smoke search, whose console states the plan before the long work.

Each test that starts Ray runs the search in a subprocess, which stops its Ray also on failure.
"""
import json
from pathlib import Path

import pytest

from tests.helpers import run, search_cmd, write_imdb_like


@pytest.mark.ray
def test_smoke_search_with_repeats_tracks_every_trial_and_states_the_plan_first(tmp_path):
    data = write_imdb_like(tmp_path / "data")
    out = tmp_path / "out" / "ux"
    proc = run(search_cmd(data, tmp_path / "out", "--name", "ux", "--repeats", "2", "--set", "smoke.repeat_top=2",
                          "--mlflow"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    console = proc.stderr
    # the plan (with the data sizes), the feature passes' estimate and when each runs come before the trials
    plan = console.index("search ux: 4 trials of imdb (216 train / 24 valid")
    assert plan < console.index("frozen-feature pass(es)") < console.index("feature passes on demand") < \
        console.index("[bert-hpo] trial ")
    assert "then the best 2 again with 2 seeds each" in console[plan:plan + 400]
    assert "repeats: the best 2 configuration(s) x 2 seeds: 4 runs" in console
    # each repeat's run is scored on test, the winner's too: the best model's export is not scored again
    assert "test: all 100 examples of" in console and "scored before with these weights" in console, console[-3000:]

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
