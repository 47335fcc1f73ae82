"""The held-out validation split (bertclf/data/splits.py)."""
from bertclf.data.splits import load_splits, stratified_split


def test_held_out_split_is_stratified_seeded_and_disjoint(toy):
    a = load_splits(toy["train"], None, valid_fraction=0.25, seed=3)
    b = load_splits(toy["train"], None, valid_fraction=0.25, seed=3)
    assert a.valid.texts == b.valid.texts
    assert len(a.valid) == 80 and a.valid_labels.count(0) == a.valid_labels.count(1)
    assert set(a.valid.texts).isdisjoint(a.train.texts) or len(set(a.train.texts)) < len(a.train.texts)
    train_idx, held_idx = stratified_split([0] * 10 + [1] * 10, 0.2, 0)
    assert not set(train_idx) & set(held_idx) and len(held_idx) == 4
