"""Classification scores for real label distributions, computed by scikit-learn from a confusion matrix.

A confusion matrix is what several workers can add up (DDP sums it); every score is then exact. The
scores: accuracy, macro-F1 (each class counts the same), weighted F1 (by support), balanced accuracy
(mean recall) and Matthews' correlation coefficient; per class: precision, recall, F1, support.
"""
import warnings
from typing import List, Sequence

import numpy as np
from sklearn.metrics import (accuracy_score, balanced_accuracy_score, f1_score, matthews_corrcoef,
                             precision_recall_fscore_support)

SCORES = ("accuracy", "macro_f1", "weighted_f1", "balanced_accuracy", "mcc")


def confusion(y_true: Sequence[int], y_pred: Sequence[int], n_labels: int) -> np.ndarray:
    """[n_labels, n_labels] counts: row = true label, column = predicted label."""
    flat = np.asarray(y_true, dtype=np.int64) * n_labels + np.asarray(y_pred, dtype=np.int64)
    return np.bincount(flat, minlength=n_labels * n_labels).reshape(n_labels, n_labels)


def _weighted_pairs(matrix):
    """(true, predicted, count) of the matrix's non-empty cells: the examples as sklearn takes them."""
    matrix = np.asarray(matrix, dtype=np.float64)
    n = matrix.shape[0]
    true, pred = np.divmod(np.arange(n * n), n)
    counts = matrix.reshape(-1)
    keep = counts > 0
    return true[keep], pred[keep], counts[keep]


def scores(matrix) -> dict:
    """{accuracy, macro_f1, weighted_f1, balanced_accuracy, mcc} of a confusion matrix (classes that
    occur neither as truth nor as prediction are left out of the averages)."""
    true, pred, weight = _weighted_pairs(matrix)
    with warnings.catch_warnings():  # a class predicted but absent from the truth: sklearn warns, we accept
        warnings.simplefilter("ignore")
        return {"accuracy": float(accuracy_score(true, pred, sample_weight=weight)),
                "macro_f1": float(f1_score(true, pred, average="macro", sample_weight=weight, zero_division=0)),
                "weighted_f1": float(f1_score(true, pred, average="weighted", sample_weight=weight, zero_division=0)),
                "balanced_accuracy": float(balanced_accuracy_score(true, pred, sample_weight=weight)),
                "mcc": float(matthews_corrcoef(true, pred, sample_weight=weight))}


def per_class(matrix, names: Sequence) -> List[dict]:
    """One row per label, named as written: precision, recall, F1 and support (true examples)."""
    true, pred, weight = _weighted_pairs(matrix)
    labels = list(range(len(names)))
    precision, recall, f1, _ = precision_recall_fscore_support(true, pred, labels=labels, sample_weight=weight,
                                                               zero_division=0)
    support = np.asarray(matrix).sum(axis=1)
    return [{"label": names[i], "precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
             "support": int(support[i])} for i in labels]
