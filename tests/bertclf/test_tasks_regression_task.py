"""--task regression end to end (bertclf/tasks/regression/task.py): a single run learns to rank the numbers,
saves target mean and scale, --predict gives numbers in the file's units as the test scores measured them,
rmse picks the best check by its minimum, boost trains a head, and a table of words is one error line."""
import json

import pytest
import torch

from bertclf import predict as saved
from bertclf.tasks.regression.predict import predict_numbers
from bertclf.train import train
from launch import main
from tests.helpers import scored_rows, write_csv


@pytest.fixture
def scored(tmp_path, config_for):
    """A config_for of a regression on scored texts (pairs=True: text pairs)."""
    def make(pairs=False, **overrides):
        header = ["sentence1", "sentence2", "score"] if pairs else ["text", "score"]
        train_path = write_csv(tmp_path / "train.csv", scored_rows(200, 1, pairs), header)
        valid_path = write_csv(tmp_path / "valid.csv", scored_rows(60, 2, pairs), header)
        return config_for(task="regression", train_path=train_path, valid_path=valid_path, **overrides)
    return make


def test_a_run_learns_the_numbers_and_predicts_in_their_units(scored, tmp_path, capsys):
    result = train(scored(n_epochs=4))
    assert result["metric"] == "valid_spearman" and result["best"]["valid_spearman"] > 0.7
    assert {"valid_rmse", "valid_mae", "valid_pearson", "valid_r2"} <= set(result["best"])
    model, tokenizer, meta = saved.load_model(result["run_dir"])
    assert meta["task"] == "regression" and meta["label_names"] == ["score"]
    assert meta["target_mean"] == pytest.approx(sum(float(r[1]) for r in scored_rows(200, 1)) / 200)
    test_path = write_csv(tmp_path / "test.csv", scored_rows(40, 5), ["text", "score"])
    test = saved.score_model(result["run_dir"], saved.test_inputs(result["run_dir"], test_path, str(tmp_path / "c")),
                       cache_dir=str(tmp_path / "c"), device="cpu", precision="fp32")
    texts = [t for t, _ in scored_rows(40, 5)]
    truth = torch.tensor([float(s) for _, s in scored_rows(40, 5)])
    numbers = torch.tensor(predict_numbers(model, tokenizer, meta, texts))
    assert float(((numbers - truth) ** 2).mean().sqrt()) == pytest.approx(test["rmse"], abs=1e-4)
    assert main(["--predict", "--model", result["run_dir"], "--text", texts[0]]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["text"] == texts[0] and row["score"] == pytest.approx(float(numbers[0]), abs=1e-4)


def test_rmse_picks_the_check_with_the_lowest_error(scored):
    result = train(scored(metric="valid_rmse", n_epochs=3, evals_per_epoch=2))
    assert result["best"]["valid_rmse"] == min(m["valid_rmse"] for m in result["history"])


def test_pairs_boost_a_frozen_encoder(scored):
    result = train(scored(pairs=True, bert_finetuning=False, boost=True, n_epochs=2))
    _, _, meta = saved.load_model(result["run_dir"])
    assert meta["pairs"] and meta["cached_features"] and meta["target_scale"] > 1.0


def test_words_in_the_number_column_are_one_error_line(scored, capsys):
    config = scored()
    rows = scored_rows(50, 3)
    rows[9] = (rows[9][0], "very good")
    path = write_csv(config.train_path, rows, ["text", "score"])
    code = main(["--task", "regression", "--train_path", path, "--bert_name", config.bert_name,
                 "--save_path", config.save_path])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err == [f"error: --train_path {path}: row 11: column 'score' holds 'very good', not a "
                                 f"number; --task regression reads one number per row (e.g. 3.8)"]


def test_a_score_column_trained_as_classes_points_at_regression(scored, capsys):
    config = scored()
    code = main(["--train_path", config.train_path, "--bert_name", config.bert_name, "--save_path", config.save_path])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "like a score" in err[0] and "pass --task regression" in err[0]
