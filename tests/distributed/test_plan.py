"""A search of a shipped data set binds it: a user's files in its layout (0/1 ids in train, an aclImdb test
folder of names) read as one set of labels, named as the data set's, before any trial."""
import pytest

from bert_hpo_distributed.inputs import search_configs, tokenise
from bert_hpo_distributed.plan import SearchOptions, make_plan
from conftest import sentiment_rows, write_csv


@pytest.mark.parametrize("train_labels", [{"neg": 0, "pos": 1}, {"neg": "negative", "pos": "positive"}],
                         ids=["ids", "names"])
def test_a_users_imdb_files_read_as_imdbs_labels(tmp_path, train_labels):
    data = tmp_path / "data"
    data.mkdir()
    write_csv(data / "imdb_train.csv", [(t, train_labels[y]) for t, y in sentiment_rows(300, 1)], ["text", "label"])
    for k, (text, label) in enumerate(sentiment_rows(120, 2)):  # test: the aclImdb layout, pos/ and neg/
        (data / "aclImdb" / "test" / label).mkdir(parents=True, exist_ok=True)
        (data / "aclImdb" / "test" / label / f"{k}_5.txt").write_text(text, encoding="utf-8")
    plan = make_plan(SearchOptions(search="imdb", smoke_test=True, data_dir=str(data),
                                   output_dir=str(tmp_path / "out")), lambda line: None)
    configs = search_configs(plan.spec)
    assert {c.dataset for c in configs} == {"imdb"}
    groups = tokenise(plan, configs, lambda line: None)  # reads the test file too: its labels must be train's
    assert {tuple(inputs.label_names) for _, inputs, _ in groups} == {("negative", "positive")}
