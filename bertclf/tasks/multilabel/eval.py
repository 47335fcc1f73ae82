"""Multi-label evaluation: the loss, the thresholds tuned and the scores on the valid split at a check, the
chance-level test of a run learning nothing, and the scores of a saved model (at its saved thresholds) on
a test split, label by label."""

import numpy as np
import torch
import torch.nn.functional as F

from ...batching import eval_batches
from ..classification.eval import test_outputs
from .inputs import MultilabelInputs
from .metrics import MINIMISED, SCORES, per_label, scores, tune_thresholds

METRICS = tuple(f"valid_{name}" for name in SCORES)  # any of them can be the search's; micro-F1 by default
MINIMISED_METRICS = tuple(f"valid_{name}" for name in MINIMISED)
CHANCE_MARGIN = 0.05  # mean average precision this close to the labels' frequency is a ranking at random


def valid_probabilities(tokens, labels, batch_size: int, run, rank: int, world: int, reduce):
    """(summed loss, [N, labels] probabilities) over the valid split (labels [N, labels] 0/1): this
    worker's share of the batches, the others' added by `reduce`, so every worker holds them all."""
    n, n_labels = labels.shape
    loss_sum, probabilities = 0.0, np.zeros((n, n_labels))
    for indices, logits in run(eval_batches(tokens.lengths.tolist(), batch_size)[rank::world]):
        loss_sum += F.binary_cross_entropy_with_logits(logits, labels[indices], reduction="sum").item()
        probabilities[indices] = torch.sigmoid(logits).numpy()
    totals = reduce([loss_sum, *probabilities.reshape(-1).tolist()])
    return totals[0], np.asarray(totals[1:]).reshape(n, n_labels)


def evaluate(tokens, labels, batch_size: int, run, rank: int, world: int, reduce):
    """(thresholds tuned on valid, {"valid_loss", every METRICS at those thresholds})."""
    loss_sum, probabilities = valid_probabilities(tokens, labels, batch_size, run, rank, world, reduce)
    truth = labels.numpy()
    thresholds = tune_thresholds(truth, probabilities)
    return thresholds, {"valid_loss": loss_sum / len(truth),
                        **{f"valid_{k}": v for k, v in scores(truth, probabilities, thresholds).items()}}


def chance_loss(labels) -> float:
    """The loss per text of answering each label's frequency in `labels` ([N, labels]), learning nothing."""
    p = labels.float().mean(dim=0).clamp(1e-6, 1 - 1e-6)
    return float(-(p * p.log() + (1 - p) * (1 - p).log()).sum())


def degenerate(labels, metrics: dict) -> bool:
    """A mean average precision within CHANCE_MARGIN of a random ranking's (each label's frequency in
    the valid split, labels [N, labels]), and a training loss that has not left the chance level."""
    present = labels.sum(dim=0) > 0
    random_ranking = float(labels.float().mean(dim=0)[present].mean()) if present.any() else 0.0
    return (metrics["valid_mean_average_precision"] <= random_ranking + CHANCE_MARGIN
            and metrics["train_loss"] >= 0.97 * chance_loss(labels))


def test_scores(model, meta, inputs: MultilabelInputs, **run) -> dict:
    """Every SCORES on inputs' test split at the model's saved thresholds; `labels` (names), `per_class`
    (per label: precision, recall, F1, support, threshold); `examples`. run: as classification's."""
    truth, names = inputs.labels["test"].numpy(), meta["label_names"]
    probabilities = np.zeros(truth.shape)
    for indices, logits in test_outputs(model, meta, inputs, **run):
        probabilities[indices] = torch.sigmoid(logits).numpy()
    thresholds = model.head.thresholds.cpu().numpy()
    return {**scores(truth, probabilities, thresholds), "examples": len(truth), "labels": list(names),
            "per_class": per_label(truth, probabilities, thresholds, names)}
