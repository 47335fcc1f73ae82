"""Multi-label scores by scikit-learn, from the true label sets and the model's probabilities ([N, labels]
arrays), and the decision thresholds tuned on them.

The scores: micro-F1 (every decision counts the same), macro-F1 (every label counts the same), samples-F1
(every text counts the same), subset accuracy (the whole set right), Hamming loss (the share of wrong
decisions; lower is better) and mean average precision (macro over the labels with a positive: a ranking
score, free of thresholds); per label: precision, recall, F1, support and threshold."""
import warnings
from typing import List, Sequence

import numpy as np
from sklearn.metrics import (accuracy_score, average_precision_score, f1_score, hamming_loss,
                             precision_recall_fscore_support)

SCORES = ("micro_f1", "macro_f1", "samples_f1", "subset_accuracy", "hamming_loss", "mean_average_precision")
MINIMISED = ("hamming_loss",)
# A label with fewer valid positives than this gets the one threshold tuned on all labels together: an F1
# tuned on two or three positives is noise.
MIN_POSITIVES = 5
CANDIDATES = np.round(np.arange(0.05, 0.96, 0.05), 2)  # the thresholds tried


def scores(truth: np.ndarray, probabilities: np.ndarray, thresholds: np.ndarray) -> dict:
    """Every SCORES of the decisions probabilities >= thresholds (one per label)."""
    truth = truth.astype(np.int64)
    decided = (probabilities >= thresholds).astype(np.int64)
    with warnings.catch_warnings():  # a label without positives: sklearn warns, the averages leave it at 0
        warnings.simplefilter("ignore")
        return {"micro_f1": float(f1_score(truth, decided, average="micro", zero_division=0)),
                "macro_f1": float(f1_score(truth, decided, average="macro", zero_division=0)),
                # a text without labels, rightly given none, is answered perfectly
                "samples_f1": float(f1_score(truth, decided, average="samples", zero_division=1)),
                "subset_accuracy": float(accuracy_score(truth, decided)),
                "hamming_loss": float(hamming_loss(truth, decided)),
                "mean_average_precision": mean_average_precision(truth, probabilities)}


def mean_average_precision(truth: np.ndarray, probabilities: np.ndarray) -> float:
    """Average precision averaged over the labels that have a positive (0.0 when none has)."""
    present = truth.sum(axis=0) > 0
    if not present.any():
        return 0.0
    return float(average_precision_score(truth[:, present], probabilities[:, present], average="macro"))


def _counts(truth: np.ndarray, probabilities: np.ndarray):
    """([candidates, labels] true positives, [candidates, labels] decided positives, [1, labels] positives)
    of each label at each candidate threshold."""
    decided = probabilities[None, :, :] >= CANDIDATES[:, None, None]
    positive = truth.astype(bool)[None]
    tp = (decided & positive).sum(axis=1)
    return tp, decided.sum(axis=1), positive.sum(axis=1)


def tune_thresholds(truth: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """One threshold per label: the candidate of best F1 on these texts for a label with MIN_POSITIVES
    positives; for the others, the one candidate of best micro-F1 over all labels together."""
    tp, predicted, positives = _counts(truth, probabilities)
    per_label = 2 * tp / np.maximum(predicted + positives, 1)
    micro = 2 * tp.sum(axis=1) / np.maximum(predicted.sum(axis=1) + positives.sum(axis=1), 1)
    shared = CANDIDATES[int(np.argmax(micro))]
    chosen = CANDIDATES[np.argmax(per_label, axis=0)]
    return np.where(positives[0] >= MIN_POSITIVES, chosen, shared).astype(np.float32)


def per_label(truth: np.ndarray, probabilities: np.ndarray, thresholds: np.ndarray, names: Sequence) -> List[dict]:
    """One row per label, named as written: precision, recall, F1, support (true texts) and threshold."""
    decided = (probabilities >= thresholds).astype(np.int64)
    precision, recall, f1, support = precision_recall_fscore_support(truth.astype(np.int64), decided,
                                                                     average=None, zero_division=0)
    return [{"label": names[i], "precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
             "support": int(support[i]), "threshold": float(thresholds[i])} for i in range(len(names))]
