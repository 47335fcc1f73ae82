"""The held-out validation split (bertclf/data/splits.py)."""
import pytest

from bertclf.data.splits import load_splits, stratified_folds, stratified_split
from bertclf.errors import UserError
from tests.helpers import write_csv


def test_held_out_split_is_stratified_seeded_and_disjoint(toy):
    a = load_splits(toy["train"], None, valid_fraction=0.25, seed=3)
    b = load_splits(toy["train"], None, valid_fraction=0.25, seed=3)
    assert a.valid.texts == b.valid.texts
    assert len(a.valid) == 80 and a.valid_labels.count(0) == a.valid_labels.count(1)
    assert set(a.valid.texts).isdisjoint(a.train.texts) or len(set(a.train.texts)) < len(a.train.texts)
    train_idx, held_idx = stratified_split([0] * 10 + [1] * 10, 0.2, 0)
    assert not set(train_idx) & set(held_idx) and len(held_idx) == 4


def test_folds_are_stratified_balanced_and_seeded():
    labels = [0] * 30 + [1] * 12 + [2] * 5
    folds = stratified_folds(labels, 5, seed=7)
    assert folds == stratified_folds(labels, 5, seed=7) and folds != stratified_folds(labels, 5, seed=8)
    sizes = [folds.count(k) for k in range(5)]
    assert max(sizes) - min(sizes) <= 1
    for label, n in ((0, 30), (1, 12), (2, 5)):  # each fold holds its share of every label, the rare one included
        per_fold = [sum(1 for y, f in zip(labels, folds) if y == label and f == k) for k in range(5)]
        assert max(per_fold) - min(per_fold) <= 1 and sum(per_fold) == n


def test_a_class_rarer_than_the_folds_is_one_error_naming_it(tmp_path):
    rows = [(f"text {i}", "common") for i in range(20)] + [("rare one", "Rare Label"), ("rare two", "Rare Label")]
    path = write_csv(tmp_path / "train.csv", rows)
    with pytest.raises(UserError, match=r"--train_path .*train\.csv: label 'Rare Label' has only 2 example\(s\), "
                                        r"fewer than cv_folds 3.*choose cv_folds 2 or fewer"):
        load_splits(path, None, valid_fraction=0.1, seed=0, cv_folds=3)
    splits = load_splits(path, None, valid_fraction=0.1, seed=0, cv_folds=2)
    assert len(splits.valid) == 0 and len(splits.train) == 22 and "2 folds of train" in splits.valid_source
    assert sorted(f for f, y in zip(splits.folds, splits.train_labels) if y == splits.label_names.index("Rare Label")) \
        == [0, 1]
