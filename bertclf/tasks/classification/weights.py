"""Rare classes: the class weights of the training loss from train's counts (class_weight: none, balanced,
scikit-learn's rows / (classes x the class's rows), so each class weighs as much in total as any other, or
sqrt, the square root of balanced, halfway, gentler on a very rare class), and the warning when a rare class
is ranked by accuracy, which a model earns by ignoring it."""
from collections import Counter
from typing import List, Optional

import torch

from ...data.label_values import label_text

RARE_SHARE = 0.05  # a class under this share of train is one that accuracy lets a model ignore


def class_weights(labels: torch.Tensor, n_labels: int, how: str) -> Optional[torch.Tensor]:
    """[n_labels] weights of train's label ids `labels`, None for class_weight none. A class absent from
    train (a subset left it out) counts as one row, so that its weight stays finite."""
    if how == "none":
        return None
    counts = torch.bincount(labels, minlength=n_labels).clamp(min=1).double()
    balanced = len(labels) / (n_labels * counts)
    return (balanced if how == "balanced" else balanced.sqrt()).float()


def rare_class_warning(labels: List[int], names: List, metric: Optional[str]) -> Optional[str]:
    """A warning when the smallest class of train's label ids `labels` is under RARE_SHARE and `metric` (None:
    the task's default) is accuracy; None otherwise."""
    if metric not in (None, "valid_accuracy") or not labels:
        return None
    label, count = min(Counter(labels).items(), key=lambda item: item[1])
    if count >= RARE_SHARE * len(labels):
        return None
    return (f"warning: the smallest class, {label_text(names[label])!r}, is {count / len(labels):.1%} of train and "
            f"the metric is accuracy, which a model earns by never predicting it: rank by valid_macro_f1 (or "
            f"valid_balanced_accuracy, valid_mcc: --metric, a search's metric:), and consider --class_weight balanced")
