"""Scores from a confusion matrix equal scikit-learn's on the examples themselves."""
import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score, f1_score, matthews_corrcoef

from bertclf.tasks.classification.metrics import confusion, per_class, scores


def test_scores_from_a_confusion_matrix_match_sklearn_on_an_imbalanced_set():
    rng = np.random.default_rng(0)
    y = rng.choice(3, size=200, p=[0.8, 0.15, 0.05])
    pred = np.where(rng.random(200) < 0.7, y, rng.choice(3, size=200))
    got = scores(confusion(y, pred, 3))
    assert got["accuracy"] == pytest.approx((y == pred).mean())
    assert got["macro_f1"] == pytest.approx(f1_score(y, pred, average="macro"))
    assert got["weighted_f1"] == pytest.approx(f1_score(y, pred, average="weighted"))
    assert got["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, pred))
    assert got["mcc"] == pytest.approx(matthews_corrcoef(y, pred))


def test_always_the_majority_label_scores_high_accuracy_but_low_macro_f1():
    y = np.array([0] * 90 + [1] * 10)
    got = scores(confusion(y, np.zeros(100, dtype=int), 2))
    assert got["accuracy"] == pytest.approx(0.9) and got["balanced_accuracy"] == pytest.approx(0.5)
    assert got["macro_f1"] < 0.5 and got["mcc"] == 0.0


def test_per_class_names_labels_as_written():
    rows = per_class(confusion([0, 0, 1, 1], [0, 1, 1, 1], 2), ["negative", "positive"])
    assert rows[0] == {"label": "negative", "precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3), "support": 2}
    assert rows[1]["label"] == "positive" and rows[1]["recall"] == 1.0
