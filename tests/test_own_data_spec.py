"""A spec for your own files: no dataset (or custom), files and columns; the metric any of five; --set works."""
import pytest

from bert_hpo_distributed.search_cli import search_options
from bert_hpo_distributed.spec import load_spec
from bertclf.errors import UserError


def test_columns_and_metric_become_every_trials_options(tmp_path):
    spec = load_spec("classify", ["files.train=a.csv", "columns={text: comment, pair: other, label: target}",
                                  "metric=valid_balanced_accuracy"])
    config = spec.trial_config(spec.default_point())
    assert (config.text_column, config.text_pair_column, config.label_column) == ("comment", "other", "target")
    assert spec.metric == config.metric == "valid_balanced_accuracy" and spec.dataset == "custom"
    assert spec.data_label == "train a.csv"


def test_fixed_column_options_can_be_set():
    spec = load_spec("imdb", ["fixed.text_column=review", "fixed.label_column=sentiment"])
    assert spec.trial_config({}).text_column == "review"


@pytest.mark.parametrize("overrides, message", [
    (["files.train=a.csv", "columns.txt=x"], "columns: expected a mapping of text, pair, label"),
    (["files.train=a.csv", "metric=valid_f1"], "is scored by valid_accuracy or valid_macro_f1"),
    (["files.train=a.csv", "fixed.metric=valid_mcc"], "fixed.metric: not a training option a search can fix"),
])
def test_bad_own_data_specs_are_one_error(overrides, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace("{", r"\{").replace("}", r"\}")
                       .replace(".", r"\.")):
        load_spec("classify", overrides)


def test_own_data_without_files_is_refused_before_anything_runs(tmp_path):
    from bert_hpo_distributed.plan import SearchOptions, _data
    with pytest.raises(UserError, match=r"your own data needs files: \{train: \.\.\., test: \.\.\.\} \(or --train_path"):
        _data(SearchOptions(search="classify"), load_spec("classify"), tmp_path)


def test_every_metric_is_accepted_for_a_named_data_set():
    for metric in ("valid_accuracy", "valid_macro_f1", "valid_weighted_f1", "valid_balanced_accuracy", "valid_mcc"):
        assert load_spec("imdb", [f"metric={metric}"]).metric == metric


def test_the_one_command_form_becomes_overrides():
    from launch import build_parser  # the one parser: a search reads the single run's data options
    parser, _, _ = build_parser()
    args = parser.parse_args(["--search", "classify", "--train_path", "a b.csv", "--test_path", "t.csv",
                                      "--label_column", "1", "--set", "num_samples=2"])
    opts = search_options(args)
    assert opts.overrides == ['files.train="a b.csv"', 'files.test="t.csv"', 'columns.label="1"', "num_samples=2"]
    spec = load_spec(opts.search, opts.overrides)
    assert spec.files == {"train": "a b.csv", "test": "t.csv"} and spec.trial_config({}).label_column == "1"
