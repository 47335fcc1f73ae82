"""A file given as a shipped data set (IMDB, NSMC) has its labels named as that data set's, whether it
holds the ids (0/1) or the names: in the model, its predictions, its test scoring and every message."""
import json

import pytest

from launch import main  # the user-facing parser
from bertclf.data.examples import read_examples
from bertclf.data.label_names import LABEL_NAMES
from bertclf.errors import UserError
from bertclf.predict import score_model
from bertclf.predict import test_inputs as read_test  # (not collected as a test)
from tests.helpers import sentiment_rows, write_csv

AS_IDS = {"neg": 0, "pos": 1}
AS_NAMES = {"neg": "negative", "pos": "positive"}


def rows(n, seed, names):
    return [(text, names[label]) for text, label in sentiment_rows(n, seed)]


def acl_folder(root, n, seed):
    """An aclImdb split folder (pos/, neg/ of one review per file), the layout IMDB's download has."""
    for k, (text, label) in enumerate(sentiment_rows(n, seed)):
        folder = root / label
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{k}_5.txt").write_text(text, encoding="utf-8")
    return str(root)


@pytest.mark.parametrize("dataset", sorted(LABEL_NAMES))
@pytest.mark.parametrize("names", [AS_IDS, AS_NAMES, {"neg": "0", "pos": "positive"}], ids=["ids", "names", "mixed"])
def test_ids_and_names_read_as_the_data_sets_names(tmp_path, dataset, names):
    path = write_csv(tmp_path / "train.csv", rows(10, 0, names), ["text", "label"])
    assert sorted(set(read_examples(path, dataset=dataset).labels)) == ["negative", "positive"]


def test_nsmc_tsv_ids_read_as_names(tmp_path):
    path = tmp_path / "ratings_train.txt"
    path.write_text("id\tdocument\tlabel\n1\t재미없다\t0\n2\t최고의 영화\t1\n", encoding="utf-8")
    assert read_examples(path, dataset="nsmc").labels == ["negative", "positive"]
    assert read_examples(path).labels == [0, 1]  # your own data: as written


@pytest.mark.parametrize("label, message", [
    ("2", "label 2 is outside the 2 class names ['negative', 'positive'] that imdb has"),
    ("neg", "label 'neg' is none of the class names ['negative', 'positive'] that imdb has (nor their ids 0 to 1); "
            "labels of your own: leave out --dataset imdb (a search: a spec without dataset:, or --search classify)"),
])
def test_a_label_of_no_name_is_an_error_naming_the_file(tmp_path, label, message):
    path = write_csv(tmp_path / "train.csv", [("good", "1"), ("bad", label)], ["text", "label"])
    with pytest.raises(UserError, match=r"^--train_path .*train\.csv: " + message.replace("(", r"\(")
                       .replace(")", r"\)").replace("[", r"\[").replace("]", r"\]")):
        read_examples(path, dataset="imdb")


def test_an_unknown_data_set_is_one_error(toy, capsys):
    assert main(["--train_path", toy["train"], "--dataset", "mnist"]) == 2
    assert capsys.readouterr().err.strip() == ("error: --dataset: expected one of imdb, nsmc (the shipped data set "
                                               "whose layout the files have) or none for your own data, got 'mnist'")


def test_ids_in_train_and_names_in_valid_and_test_are_one_set_of_labels(toy, tmp_path, capsys):
    """A single run on your IMDB-layout CSV (0/1), validated on a file with the names, scored on an
    aclImdb test folder or a 0/1 test CSV, predicts the names: every path names the labels alike."""
    train = write_csv(tmp_path / "train.csv", rows(320, 1, AS_IDS), ["text", "label"])
    valid = write_csv(tmp_path / "valid.csv", rows(80, 2, AS_NAMES), ["text", "label"])
    args = ["--train_path", train, "--valid_path", valid, "--dataset", "imdb", "--bert_name", toy["model"],
            "--max_length", "32", "--n_epochs", "1", "--save_path", str(tmp_path / "runs"), "--run_name", "r",
            "--cache_dir", str(tmp_path / "c"), "--progress", "False", "--precision", "fp32"]
    assert main(args) == 0
    assert "labels ['negative', 'positive']" in capsys.readouterr().err
    model = tmp_path / "runs" / "r"
    meta = json.loads((model / "bert_hpo_model.json").read_text())
    assert meta["label_names"] == ["negative", "positive"] and meta["dataset"] == "imdb"
    want = {text: meta["label_names"].index(AS_NAMES[label]) for text, label in sentiment_rows(40, 3)}
    for test in (acl_folder(tmp_path / "aclImdb" / "test", 40, 3),
                 write_csv(tmp_path / "test.csv", rows(40, 3, AS_IDS), ["text", "label"])):
        inputs = read_test(model, test, tmp_path / "c")
        texts = read_examples(test, "test data", need_labels=False).texts
        assert dict(zip(texts, inputs.labels["test"].tolist())) == want  # each review its own label, not swapped
        assert score_model(model, inputs, cache_dir=tmp_path / "c")["examples"] == 40
    assert main(["--predict", "--model", str(model), "--text", "a superb and wonderful film"]) == 0
    assert json.loads(capsys.readouterr().out)["label"] in ("negative", "positive")
