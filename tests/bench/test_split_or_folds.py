"""bench/split_or_folds.py on synthetic features: each side spends the same fits, one split scores each
trial once on a tenth of the rows, folds score it on up to five and ASHA cuts most after the first, and
the pick refit on all rows is scored on test."""
import sys

import torch

from tests.helpers import ROOT

sys.path.insert(0, str(ROOT))

from bench.split_or_folds import picked_on_test  # noqa: E402


def overlapping(n: int, seed: int):
    """Two overlapping classes of 8-dimensional points (means 0.5 apart in each dimension: about 76% for
    the best linear head), so that configurations score differently and ASHA has trials to cut."""
    generator = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    return torch.randn(n, 8, generator=generator) + 0.5 * y[:, None], y


def test_both_sides_spend_the_budget_and_their_pick_scores_on_test():
    train, test = overlapping(200, 0), overlapping(400, 1)
    split = picked_on_test(train, test, 100, seed=0, side="split", budget=15)
    folds = picked_on_test(train, test, 100, seed=0, side="folds", budget=15)
    assert split["fits"] == folds["fits"] == 15
    assert split["trials"] == 15 and split["pruned"] == 0  # one fit a trial, nothing cut
    assert 3 <= folds["trials"] < 15 and folds["pruned"] >= 1  # five fits a complete trial, ASHA cuts after one
    for side in (split, folds):
        assert set(side["params"]) == {"lr", "weight_decay", "epochs"}
        assert side["test_accuracy"] > 0.65, side  # chance is 0.5
