"""The decision threshold of a two-class model tuned on valid for a metric that an uneven class balance moves
(macro-F1, balanced accuracy, MCC): the second label is predicted where its probability reaches the
threshold, which maximises the metric on the valid split; other models take the most probable label.

Every cut of the valid texts sorted by probability is scored at once from its counts (true and false
positives), so tuning costs one sort of the valid split."""
from typing import Optional

import numpy as np
import torch

THRESHOLD_METRICS = ("valid_macro_f1", "valid_balanced_accuracy", "valid_mcc")


def tunes_threshold(n_labels: int, metric: str) -> bool:
    return n_labels == 2 and metric in THRESHOLD_METRICS


def decide(probabilities: torch.Tensor, threshold: Optional[float] = None) -> torch.Tensor:
    """[N] label ids of [N, labels] probabilities: the second label where its probability reaches
    `threshold`, else the most probable label (threshold None)."""
    if threshold is None:
        return probabilities.argmax(-1)
    return (probabilities[:, 1] >= threshold).long()


def _ratio(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    return np.divide(top, bottom, out=np.zeros_like(top), where=bottom > 0)


def best_threshold(labels: np.ndarray, positive: np.ndarray, metric: str) -> float:
    """The threshold on the second label's probabilities `positive` [N] that maximises `metric` (one of
    THRESHOLD_METRICS) for the true label ids `labels` [N]: a midpoint between two neighbouring distinct
    probabilities (above all of them: nothing is positive; below: all are)."""
    order = np.argsort(-positive, kind="stable")
    p, y = positive[order].astype(np.float64), labels[order].astype(np.float64)
    cuts = np.concatenate([[0], np.flatnonzero(np.diff(p)) + 1, [len(p)]])  # predict the first k positive
    tp = np.concatenate([[0.0], np.cumsum(y)])[cuts]
    fp = cuts - tp
    pos, neg = y.sum(), len(y) - y.sum()
    fn, tn = pos - tp, neg - fp
    if metric == "valid_balanced_accuracy":
        score = (_ratio(tp, tp + fn) + _ratio(tn, tn + fp)) / 2
    elif metric == "valid_macro_f1":
        score = (_ratio(2 * tp, 2 * tp + fp + fn) + _ratio(2 * tn, 2 * tn + fn + fp)) / 2
    else:
        score = _ratio(tp * tn - fp * fn, np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)))
    k = cuts[int(np.argmax(score))]
    above = p[k - 1] if k > 0 else 1.0 + p[0]  # 1 + p: no probability reaches it
    below = p[k] if k < len(p) else 0.0
    return float((above + below) / 2)
