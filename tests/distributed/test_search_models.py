"""The model as a search choice, end to end on a local Ray: two non-BERT families, each with its own
ranges and limit."""
import json
import os

import pytest


@pytest.mark.ray
def test_a_search_chooses_between_two_non_bert_families_with_their_own_ranges(families, toy, tmp_path):
    """bert_name as a choice (DistilBERT, no pooler, and RoBERTa, 514 positions), pooling left to the
    recipe, DistilBERT with its own lr_main range: every model resolved and limit-checked before Ray,
    each trial trained on its model's inputs, the model column in the results, the winner scored,
    refit and predicting."""
    import csv
    import subprocess
    import sys
    import yaml
    from tests.helpers import ROOT
    distil, roberta = families["distilbert"], families["roberta"]
    spec = {"name": "two-models", "num_samples": 3, "seed": 0, "startup_trials": 3,
            "scheduler": {"type": "none"}, "resources": {"cpus_per_worker": 1}, "refit": True,
            "files": {"train": toy["train"], "valid": toy["valid"], "test": toy["valid"]},
            "fixed": {"n_epochs": 1, "batch_size": 16, "lr": 3e-3, "precision": "fp32", "degenerate_check": False},
            "space": {"bert_name": {"choice": [distil, roberta]}, "lr_main": {"loguniform": [1e-4, 1e-3]},
                      "max_length": {"choice": [32, 513]}},
            "per_model": {distil: {"lr_main": {"loguniform": [2e-3, 3e-3]}}}}
    path = tmp_path / "two-models.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    proc = subprocess.run([sys.executable, str(ROOT / "launch.py"), "--search", str(path), "--output-dir",
                           str(tmp_path / "out"), "--num-cpus", "2"], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    # 513 is above both models' limits (RoBERTa: 514 positions, 512 usable): dropped for each, before Ray
    assert f"warning: space.max_length [513] dropped for {roberta}: above its limit of 512 positions" in proc.stderr
    assert "the first token's hidden state (no pooler)" in proc.stderr  # the plan line: DistilBERT's cls
    assert "recipe: 2 checks per epoch, head+tail truncation" in proc.stderr  # the spec's degenerate_check wins
    assert "search two-models:" in proc.stderr
    with open(tmp_path / "out" / "two-models" / "results.csv", newline="") as f:
        trials = list(csv.DictReader(f))
    assert {t["bert_name"] for t in trials} == {distil, roberta}
    for t in trials:
        low, high = (2e-3, 3e-3) if t["bert_name"] == distil else (1e-4, 1e-3)
        assert low <= float(t["lr_main"]) <= high and t["max_length"] == "32"
    best = max(trials, key=lambda t: float(t["best_valid_accuracy"]))
    out = tmp_path / "out" / "two-models"
    for folder in ("best_model", "refit_model"):  # the refit trains the winner's model again
        assert json.loads((out / folder / "bert_hpo_model.json").read_text())["bert_name"] == best["bert_name"]
    assert "test accuracy" in (out / "results.md").read_text() and "Refit of the best" in (out / "results.md").read_text()
    predicted = subprocess.run([sys.executable, str(ROOT / "launch.py"), "--predict", "--model", str(out / "best_model"),
                                "--text", "a superb film"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert predicted.returncode == 0 and json.loads(predicted.stdout.splitlines()[0])["label"] in ("neg", "pos")
