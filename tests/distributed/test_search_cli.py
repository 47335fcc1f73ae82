"""The search's command line (distributed/search_cli.py): the one-command form for your own files."""
import re

import pytest

from bert_hpo_distributed.search_cli import search_options
from bert_hpo_distributed.spec.load import load_spec
from bertclf.errors import UserError
from tests.helpers import ROOT


def test_the_one_command_form_becomes_overrides():
    from launch import parse  # the one parser: a search reads the single run's data options
    args = parse(["--search", "classify", "--train_path", "a b.csv", "--test_path", "t.csv", "--label_column", "1",
                  "--set", "num_samples=2"])[3]
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


def test_cv_folds_on_the_command_line_is_the_specs_fixed_cv_folds():
    from launch import parse
    opts = search_options(parse(["--search", "imdb", "--cv-folds", "5"])[3])
    assert opts.overrides == ["fixed.cv_folds=5"] and load_spec(opts.search, opts.overrides).cv_folds == 5
    assert search_options(parse(["--search", "imdb"])[3]).overrides == []  # not given: the spec's


def test_cv_folds_0_switches_off_a_specs_folds_as_its_set_twin_does(tmp_path):
    """0 is one held-out split (valid_fraction) whatever the spec says; 1 is refused by both in one line."""
    from launch import parse
    spec = tmp_path / "folds.yaml"
    spec.write_text((ROOT / "search_spaces" / "classify.yaml").read_text().replace("\nfixed:\n", "\nfixed:\n  cv_folds: 5\n"))
    assert load_spec(str(spec)).cv_folds == 5
    for argv in (["--cv-folds", "0"], ["--cv_folds", "0"], ["--set", "fixed.cv_folds=0"]):
        opts = search_options(parse(["--search", str(spec), *argv])[3])
        assert load_spec(opts.search, opts.overrides).cv_folds == 0, argv
    errors = []
    for argv in (["--cv-folds", "1"], ["--set", "fixed.cv_folds=1"]):
        opts = search_options(parse(["--search", str(spec), *argv])[3])
        with pytest.raises(UserError) as e:
            load_spec(opts.search, opts.overrides)
        errors.append(str(e.value))
    assert errors[0] == errors[1] and "\n" not in errors[0] and "expected 0 (one held-out split)" in errors[0]


@pytest.mark.parametrize("sets, said", [
    (["fixed.cv_folds=1"], "--cv_folds: expected 0 (one held-out split) or a number of folds of at least 2, got 1"),
    (["fixed.cv_folds=3", "files.train=t.csv", "files.valid=v.csv"],
     "cv_folds 3 validates on folds of train: the valid file v.csv would not be read"),
    (["fixed.cv_folds=3", "scheduler.type=pbt"], "cv_folds 3 with scheduler.type pbt"),
    (["space.cv_folds.choice=[3, 5]"], "space.cv_folds: decides which examples are validated on"),
    (["fixed.cv_folds=3", "space.precision={choice: [fp32, int8]}"],
     "cv_folds 3 with precision int8: the int8 copy is checked on a valid split"),
    (["fixed.cv_folds=3", "fixed.precision=int8"], "cv_folds 3 with precision int8"),
])
def test_bad_folds_in_a_spec_are_one_error_before_ray(sets, said):
    from bertclf.errors import UserError
    with pytest.raises(UserError, match=re.escape(said)):
        load_spec("imdb", sets)
