"""The decision threshold (bertclf/tasks/classification/threshold.py): tuned on valid to the metric's best
cut, saved with the model of the best check, used by --predict and the test score."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from bertclf import predict as saved
from bertclf.tasks.classification.metrics import confusion, scores
from bertclf.tasks.classification.predict import predict_texts
from bertclf.tasks.classification.threshold import best_threshold, decide
from bertclf.train import train
from tests.helpers import sentiment_rows, write_csv


@pytest.mark.parametrize("metric", ["valid_macro_f1", "valid_balanced_accuracy", "valid_mcc"])
def test_the_threshold_is_the_best_cut_of_every_one(metric):
    rng = np.random.default_rng(0)
    y = (rng.random(300) < 0.1).astype(int)
    p = np.clip(0.05 + 0.3 * y + rng.normal(0, 0.1, 300), 0, 1)
    score = lambda t: scores(confusion(y, (p >= t).astype(int), 2))[metric.removeprefix("valid_")]
    tuned = best_threshold(y, p, metric)
    assert score(tuned) == pytest.approx(max(score(t) for t in [*np.unique(p), 2.0]))
    assert score(tuned) > score(0.5)


def test_decide_takes_the_most_probable_label_without_a_threshold():
    probs = torch.tensor([[0.7, 0.3], [0.2, 0.8]])
    assert decide(probs).tolist() == [0, 1] and decide(probs, 0.25).tolist() == [1, 1]


def test_a_two_class_run_by_macro_f1_saves_the_threshold_predict_uses(config_for, tmp_path):
    result = train(config_for(metric="valid_macro_f1", n_epochs=1))
    best = result["best"]
    meta = json.loads((Path(result["run_dir"]) / "bert_hpo_model.json").read_text())
    assert meta["threshold"] == best["valid_threshold"]
    model, tokenizer, meta = saved.load_model(result["run_dir"])
    texts = [t for t, _ in sentiment_rows(40, seed=7)]
    meta_high = {**meta, "threshold": 1.5}  # no probability reaches it: the first label everywhere
    assert {r["label"] for r in predict_texts(model, tokenizer, meta_high, texts)} == {meta["label_names"][0]}
    path = write_csv(tmp_path / "test.csv", sentiment_rows(40, seed=7))
    test = saved.score_model(result["run_dir"], saved.test_inputs(result["run_dir"], path, str(tmp_path / "c")),
                             cache_dir=str(tmp_path / "c"), device="cpu", precision="fp32")
    predicted = [r["label"] for r in predict_texts(model, tokenizer, meta, texts)]
    truth = [label for _, label in sentiment_rows(40, seed=7)]
    assert test["accuracy"] == pytest.approx(np.mean([p == t for p, t in zip(predicted, truth)]))


def test_accuracy_keeps_the_most_probable_label(config_for):
    result = train(config_for(n_epochs=1))
    assert "valid_threshold" not in result["best"]
    assert "threshold" not in json.loads((Path(result["run_dir"]) / "bert_hpo_model.json").read_text())
