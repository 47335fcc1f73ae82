"""launch.py: one parser for the three modes; every --help prints, options of another mode are refused."""
import subprocess
import sys

import pytest

from tests.helpers import ROOT


def launch(*args):
    return subprocess.run([sys.executable, str(ROOT / "launch.py"), *args], capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("args", [["--help"], ["--predict", "--help"], ["--search", "imdb", "--help"]])
def test_every_help_prints(args):
    proc = launch(*args)
    assert proc.returncode == 0 and "Traceback" not in proc.stdout + proc.stderr, proc.stderr
    for option in ("--search NAME", "--smoke-test", "--train_path", "--degenerate_check", "--predict"):
        assert option in proc.stdout
    # a default where there is one; the metavar says what a value is
    assert "(default: None)" not in proc.stdout and "(default: 256)" in proc.stdout
    assert "--max_length N, --max-length N" in proc.stdout and "--boost True|False" in proc.stdout


@pytest.mark.parametrize("args, expected", [
    (["--search", "imdb", "--lr", "0.1"], "--lr is not an option of --search"),
    (["--search", "imdb", "--lr", "0.001"], "--lr is not an option of --search"),  # its default, named all the same
    (["--train_path", "x.csv", "--smoke-test"], "--smoke-test is not an option of a single run"),
    # a single run's option that a spec states at its top level is refused with the --set that sets it
    (["--search", "classify", "--task", "multilabel"], "--task is not an option of --search (a search sets it with "
                                                       "--set task=multilabel)"),
    (["--search", "classify", "--label_sep", ";"], "(a search sets training options with --set fixed.label_sep=VALUE)"),
])
def test_an_option_of_another_mode_is_refused(args, expected):
    proc = launch(*args)
    assert proc.returncode == 2 and expected in proc.stderr and "Traceback" not in proc.stderr


def test_help_works_from_a_checkout_without_the_install():
    """`python -S` loads no site-packages (no editable install, no torch): launch.py finds bertclf and
    distributed/ (as bert_hpo_distributed) in its own folder, and --help needs nothing more."""
    for args in ([], ["--predict"], ["--search", "imdb"]):
        proc = subprocess.run([sys.executable, "-S", str(ROOT / "launch.py"), *args, "--help"], capture_output=True,
                              text=True, timeout=60)
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
        assert "--search NAME" in proc.stdout
