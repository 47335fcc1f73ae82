"""Multi-label scores equal scikit-learn's; thresholds are tuned per label where a label has positives to
tune on, shared otherwise."""
import numpy as np
import pytest
from sklearn.metrics import f1_score, hamming_loss

from bertclf.tasks.multilabel.metrics import CANDIDATES, MIN_POSITIVES, per_label, scores, tune_thresholds


def test_scores_match_sklearn_at_the_thresholds():
    rng = np.random.default_rng(0)
    truth = (rng.random((100, 4)) < 0.3).astype(int)
    probabilities = np.clip(truth * 0.5 + rng.random((100, 4)) * 0.6, 0, 1)
    thresholds = np.array([0.5, 0.6, 0.4, 0.5])
    decided = (probabilities >= thresholds).astype(int)
    got = scores(truth, probabilities, thresholds)
    assert got["micro_f1"] == pytest.approx(f1_score(truth, decided, average="micro"))
    assert got["macro_f1"] == pytest.approx(f1_score(truth, decided, average="macro"))
    assert got["samples_f1"] == pytest.approx(f1_score(truth, decided, average="samples", zero_division=1))
    assert got["hamming_loss"] == pytest.approx(hamming_loss(truth, decided))
    assert got["subset_accuracy"] == pytest.approx((decided == truth).all(axis=1).mean())
    assert 0.5 < got["mean_average_precision"] <= 1.0


def test_a_text_without_labels_rightly_given_none_is_a_perfect_answer():
    truth = np.array([[1, 0], [0, 0]])
    assert scores(truth, truth * 0.8 + 0.1, np.array([0.5, 0.5]))["samples_f1"] == 1.0


def test_a_perfect_ranking_scores_one_whatever_the_thresholds():
    truth = np.array([[1, 0], [0, 1], [1, 1], [0, 0]])
    got = scores(truth, truth * 0.3 + 0.1, np.array([0.9, 0.9]))
    assert got["mean_average_precision"] == 1.0 and got["micro_f1"] == 0.0 and got["hamming_loss"] == 0.5


def test_thresholds_are_tuned_per_label_and_shared_for_a_rare_label():
    rng = np.random.default_rng(1)
    truth = np.zeros((200, 3), dtype=int)
    truth[:60, 0] = 1  # label 0: positives score about 0.3, negatives about 0.1
    truth[60:120, 1] = 1  # label 1: positives about 0.8, negatives about 0.6
    truth[120:122, 2] = 1  # label 2: two positives, too few to tune on
    probabilities = np.zeros((200, 3))
    probabilities[:, 0] = np.where(truth[:, 0], 0.3, 0.1) + rng.random(200) * 0.04
    probabilities[:, 1] = np.where(truth[:, 1], 0.8, 0.6) + rng.random(200) * 0.04
    probabilities[:, 2] = np.where(truth[:, 2], 0.95, 0.02)
    thresholds = tune_thresholds(truth, probabilities)
    assert 0.1 < thresholds[0] <= 0.3 and 0.6 < thresholds[1] <= 0.8
    assert truth[:, 2].sum() < MIN_POSITIVES
    micro = [f1_score(truth, (probabilities >= t).astype(int), average="micro") for t in CANDIDATES]
    assert thresholds[2] == pytest.approx(CANDIDATES[int(np.argmax(micro))])  # the one of all labels together
    assert thresholds[2] != pytest.approx(CANDIDATES[0])  # not its own best F1 on two positives (any would do)
    assert scores(truth, probabilities, thresholds)["micro_f1"] == 1.0


def test_per_label_rows_name_labels_as_written_with_their_thresholds():
    truth = np.array([[1, 0], [1, 1], [0, 1]])
    rows = per_label(truth, np.array([[0.9, 0.1], [0.2, 0.7], [0.1, 0.8]]), np.array([0.5, 0.6]), ["NONE", 1.5])
    assert rows[0] == {"label": "NONE", "precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3), "support": 2,
                       "threshold": 0.5}
    assert rows[1]["label"] == 1.5 and rows[1]["f1"] == 1.0 and rows[1]["threshold"] == pytest.approx(0.6)
