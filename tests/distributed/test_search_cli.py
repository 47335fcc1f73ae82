"""The search's command line (distributed/search_cli.py): the one-command form for your own files."""
import pytest

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


def test_an_interruption_without_text_still_says_what_was_kept(monkeypatch, capsys):
    """An exception is truthy however empty its text: the fallback line was never used."""
    import argparse
    from bert_hpo_distributed import search, search_cli
    def interrupted(opts):
        raise KeyboardInterrupt()
    monkeypatch.setattr(search, "run_search", interrupted)
    monkeypatch.setattr(search_cli, "search_options", lambda args: None)
    assert search_cli.run(argparse.Namespace()) == 130
    assert capsys.readouterr().err.strip() == ("interrupted: the finished trials are kept; run the same "
                                               "command with --resume")


def test_each_interruption_of_the_search_says_what_was_kept():
    from bert_hpo_distributed import interrupts
    interrupts.start()
    interrupts._received.append(2)
    try:
        with pytest.raises(interrupts.Interrupted, match="the finished trials are kept"):
            interrupts.check()
        with pytest.raises(interrupts.Interrupted, match="its outputs are written"):
            with interrupts.deferred():
                interrupts._received.append(15)
    finally:
        interrupts._received.clear()
        interrupts.finish()
