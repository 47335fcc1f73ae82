"""cv_folds (bertclf/folds.py): each fold trained and validated once, the running mean reported after each,
a resume starting at the next fold; the single run's table of folds."""
import json

import pytest

from bertclf.folds import FOLDS_FILE, STD, finished_folds, train_folds
from tests.helpers import run_cli


def test_each_fold_reports_the_running_mean_and_a_resume_starts_at_the_next(config_for, tmp_path):
    config = config_for(valid_path=None, cv_folds=3, n_epochs=2)
    reports, saved = [], tmp_path / "fold1"

    def report(metrics, save):
        reports.append(metrics)
        if len(reports) == 1:
            save(saved)
    result = train_folds(config, report)
    assert [r["folds_done"] for r in reports] == [1, 2, 3]
    assert [r["epoch"] for r in reports] == [2, 4, 6]  # the scheduler's clock: epochs of the folds done
    firsts = [f["valid_accuracy"] for f in result["folds"]]
    assert reports[0]["best_valid_accuracy"] == pytest.approx(firsts[0])
    assert reports[1]["best_valid_accuracy"] == pytest.approx(sum(firsts[:2]) / 2)
    assert result["scores"]["best_valid_accuracy"] == pytest.approx(sum(firsts) / 3)
    assert result["scores"]["best_valid_accuracy" + STD] >= 0
    assert [r["done_reason"] for r in reports] == ["", "", "completed"]
    # the first fold's checkpoint: its model and the finished folds; a resume trains folds 2 and 3 only
    assert json.loads((saved / FOLDS_FILE).read_text())[0]["valid_accuracy"] == firsts[0]
    assert len(finished_folds(saved)) == 1
    resumed = []
    again = train_folds(config, lambda metrics, save: resumed.append(metrics), resume_from=saved)
    assert [r["folds_done"] for r in resumed] == [2, 3]
    assert [f["valid_accuracy"] for f in again["folds"]] == pytest.approx(firsts)  # deterministic from the seed


def test_a_stop_from_outside_ends_the_folds_unscored(config_for):
    reports = []
    result = train_folds(config_for(valid_path=None, cv_folds=3, n_epochs=1), lambda m, s: reports.append(m),
                         should_stop=lambda: len(reports) >= 1)
    assert result["stopped"] and len(result["folds"]) == 1 and len(reports) == 1


def test_single_run_prints_each_fold_and_the_mean(capsys, toy, tmp_path):
    code, err, out = run_cli(capsys, "--train_path", toy["train"], "--bert_name", toy["model"], "--max_length", "32",
                             "--n_epochs", "1", "--cv_folds", "3", "--progress", "False", "--precision", "fp32",
                             "--save_path", str(tmp_path / "runs"), "--cache_dir", str(tmp_path / "cache"))
    assert code == 0, err
    rows = [line for line in out.splitlines() if line.startswith("| ")]
    assert [r.split("|")[1].strip() for r in rows[1:]] == ["1", "2", "3", "mean ± std"]
    assert "±" in rows[-1].split("|")[3] and any("no model saved" in line for line in err)
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("argv, said", [
    (["--cv_folds", "1"], "--cv_folds: expected 0 (one held-out split) or a number of folds of at least 2, got 1"),
    (["--cv_folds", "3", "--valid_path", "VALID"], "--cv_folds 3 validates on folds of train: a --valid_path file"),
])
def test_bad_folds_are_one_error_line(capsys, toy, argv, said):
    argv = [toy["valid"] if a == "VALID" else a for a in argv]
    code, err, out = run_cli(capsys, "--train_path", toy["train"], "--bert_name", toy["model"], *argv)
    assert code == 2 and len(err) == 1 and err[0].startswith(f"error: {said}")
