"""Rare classes (bertclf/tasks/classification/weights.py): class weights from train's counts, refused where a
task has no classes, saved with the model; the warning when accuracy ranks a rare class."""
import json
from pathlib import Path

import pytest
import torch

from bertclf.config import TrainConfig
from bertclf.errors import UserError
from bertclf.tasks import check_task_options
from bertclf.tasks.classification.weights import class_weights, rare_class_warning
from bertclf.train import train
from tests.helpers import sentiment_rows, write_csv


def test_balanced_weighs_each_class_alike_and_sqrt_halfway():
    labels = torch.tensor([0] * 90 + [1] * 10)
    assert class_weights(labels, 2, "none") is None
    assert class_weights(labels, 2, "balanced").tolist() == pytest.approx([100 / 180, 100 / 20])
    assert class_weights(labels, 2, "sqrt").tolist() == pytest.approx([(100 / 180) ** 0.5, 5 ** 0.5])
    assert torch.isfinite(class_weights(labels, 3, "balanced")).all()  # a class the subset left out


def test_an_unknown_weighting_and_a_task_without_classes_are_one_line():
    with pytest.raises(UserError, match=r"^--class_weight: expected none \| balanced \| sqrt, got 'inverse'$"):
        TrainConfig(class_weight="inverse")
    with pytest.raises(UserError, match="--class_weight: expected none: --task regression has no classes to weigh"):
        check_task_options(TrainConfig(task="regression", class_weight="balanced"))


def test_a_rare_class_under_accuracy_is_warned_with_the_metric_to_use():
    labels = [0] * 97 + [1] * 3
    warning = rare_class_warning(labels, ["ham", "spam"], None)
    assert warning.startswith("warning: the smallest class, 'spam', is 3.0% of train") and "valid_macro_f1" in warning
    assert rare_class_warning(labels, ["ham", "spam"], "valid_macro_f1") is None
    assert rare_class_warning([0] * 20 + [1], ["a", "b"], "valid_accuracy") is not None
    assert rare_class_warning([0] * 18 + [1] * 2, ["a", "b"], None) is None  # 10%: not rare


def test_weights_change_the_training_and_are_saved(config_for, tmp_path, capsys):
    rows = sentiment_rows(200, seed=4)
    rare = [r for r in rows if r[1] == "neg"][:4] + [r for r in rows if r[1] == "pos"]
    path = write_csv(tmp_path / "rare.csv", rare)
    plain = train(config_for(train_path=path, n_epochs=1, run_name="plain"))
    weighted = train(config_for(train_path=path, n_epochs=1, run_name="weighted", class_weight="balanced"))
    assert plain["history"][0]["train_loss"] != weighted["history"][0]["train_loss"]
    meta = json.loads((Path(weighted["run_dir"]) / "bert_hpo_model.json").read_text())
    assert meta["class_weight"] == "balanced" and meta["class_weights"] == pytest.approx([13.0, 0.52], abs=1e-3)
    assert "warning: the smallest class, 'neg', is 3.8% of train" in capsys.readouterr().err
