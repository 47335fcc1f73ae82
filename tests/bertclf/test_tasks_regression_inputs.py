"""Regression's inputs (bertclf/tasks/regression/inputs.py): numbers read as written, a value that is no number
refused naming file, row and column, the held-out slice spread over the score range."""
import pytest

from bertclf.data.columns import ColumnNames
from bertclf.data.splits import load_splits
from bertclf.errors import UserError
from bertclf.tasks.regression.inputs import SCORES, score_strata
from tests.helpers import scored_rows, write_csv


def test_scores_are_read_as_numbers_and_the_held_out_slice_spans_their_range(tmp_path):
    rows = scored_rows(200, seed=3)
    path = write_csv(tmp_path / "stsb.csv", rows, ["text", "score"])
    splits = load_splits(path, None, valid_fraction=0.2, seed=0, coding=SCORES)
    assert splits.label_names == ["score"] and len(splits.valid_labels) == 40
    assert all(isinstance(v, float) for v in splits.train_labels + splits.valid_labels)
    held = sorted(splits.valid_labels)
    assert held[3] < 0.5 and held[-4] > 4.0  # every tenth of the range gives its share, the ends too


def test_strata_cut_the_ranks_into_tenths_and_fewer_for_a_small_file():
    assert score_strata([float(v) for v in range(100, 0, -1)])[:11] == [9] * 10 + [8]
    assert set(score_strata([3.0, 1.0, 2.0])) == {0}


@pytest.mark.parametrize("value", ["high", "nan", "1,5"])
def test_a_value_that_is_no_number_names_file_row_and_column(tmp_path, value):
    rows = scored_rows(30, seed=1)
    rows[6] = (rows[6][0], value)
    path = write_csv(tmp_path / "scores.csv", rows, ["sentence", "rating"])
    with pytest.raises(UserError) as e:
        load_splits(path, None, valid_fraction=0.1, seed=0, coding=SCORES)
    assert str(e.value) == (f"--train_path {path}: row 8: column 'rating' holds {value!r}, not a number; "
                            f"--task regression reads one number per row (e.g. 3.8)")


def test_one_number_in_every_row_is_nothing_to_learn(tmp_path):
    path = write_csv(tmp_path / "flat.csv", [(t, "2.5") for t, _ in scored_rows(30)], ["text", "score"])
    with pytest.raises(UserError, match="column 'score' holds one number \\(2.5\\) in all 30 rows"):
        load_splits(path, None, valid_fraction=0.1, seed=0, columns=ColumnNames(label="score"), coding=SCORES)


def test_folds_of_numbers_spread_each_fold_over_the_range():
    from bertclf.tasks.regression.inputs import score_folds
    values = [i / 10 for i in range(100)]
    folds = score_folds(values, 4, seed=1, names=None)
    assert folds == score_folds(values, 4, seed=1, names=None) and sorted(set(folds)) == [0, 1, 2, 3]
    means = [sum(v for v, f in zip(values, folds) if f == k) / folds.count(k) for k in range(4)]
    assert max(means) - min(means) < 1.0  # strata dealt round the folds: no fold holds only the high scores
