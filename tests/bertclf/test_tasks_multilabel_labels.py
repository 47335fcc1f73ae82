"""Label sets (bertclf/tasks/multilabel/labels.py): iterative stratification into a held-out split and
into cv_folds folds."""
import random

from bertclf.tasks.multilabel.labels import iterative_folds, iterative_split


def _sets(n=120, seed=0):
    rng = random.Random(seed)
    return [tuple(sorted(rng.sample(range(5), rng.randint(1, 2)))) for _ in range(n)] + [(5,), (5,), (5,)]


def test_folds_spread_every_label_the_rare_one_included_and_are_seeded():
    ids, names = _sets(), list("abcdef")
    folds = iterative_folds(ids, 3, seed=4, names=names)
    assert folds == iterative_folds(ids, 3, seed=4, names=names)
    sizes = [folds.count(k) for k in range(3)]
    assert max(sizes) - min(sizes) <= 0.1 * len(ids) / 3  # the labels come first: sizes are near, not equal
    rare = sorted(f for f, labels in zip(folds, ids) if 5 in labels)
    assert rare == [0, 1, 2]  # three texts of the rarest label: one in each fold's valid
    for label in range(5):
        per_fold = [sum(1 for f, labels in zip(folds, ids) if label in labels and f == k) for k in range(3)]
        assert max(per_fold) - min(per_fold) <= 2


def test_the_held_out_split_is_the_two_part_case():
    ids, names = _sets(seed=1), list("abcdef")
    train, held = iterative_split(ids, 0.25, seed=2, names=names)
    assert not set(train) & set(held) and len(train) + len(held) == len(ids)
    assert abs(len(held) - 0.25 * len(ids)) <= 2
