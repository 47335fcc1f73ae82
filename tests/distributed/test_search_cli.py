"""The search's command line (distributed/search_cli.py): the one-command form for your own files."""
from bert_hpo_distributed.search_cli import search_options
from bert_hpo_distributed.spec.load import load_spec


def test_the_one_command_form_becomes_overrides():
    from launch import build_parser  # the one parser: a search reads the single run's data options
    parser, _, _ = build_parser()
    args = parser.parse_args(["--search", "classify", "--train_path", "a b.csv", "--test_path", "t.csv",
                                      "--label_column", "1", "--set", "num_samples=2"])
    opts = search_options(args)
    assert opts.overrides == ['files.train="a b.csv"', 'files.test="t.csv"', 'columns.label="1"', "num_samples=2"]
    spec = load_spec(opts.search, opts.overrides)
    assert spec.files == {"train": "a b.csv", "test": "t.csv"} and spec.trial_config({}).label_column == "1"
