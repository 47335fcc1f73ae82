"""Classification's evaluation: loss and the scores (accuracy, F1s, balanced accuracy, MCC) on the valid
split at a check, the chance-level test of a run learning nothing, and the scores of a saved model on a
test split (with per-class scores and the confusion matrix)."""
import math
from functools import partial
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F

from ...batching import feature_inputs, text_batches, token_inputs
from ...feature_cache import FrozenEncoder
from ...inference import pad_multiple, run_batches
from ...models.encoders import encoder_fingerprint
from .inputs import ClassificationInputs, text_features
from .metrics import SCORES, confusion, per_class, scores
from .threshold import best_threshold, decide

METRICS = tuple(f"valid_{name}" for name in SCORES)  # any of them can be maximised; accuracy by default


def evaluate(tokens, labels, n_labels: int, batch_size: int, run, rank: int, world: int, reduce,
             tuned: Optional[str] = None) -> dict:
    """{"valid_loss", "valid_accuracy", "valid_macro_f1", ...: every METRICS} over the valid split (tokens,
    labels [N] of n_labels classes), this worker's share of the batches run by `run(batches)`; the workers'
    losses and confusion matrices are summed by `reduce`, so every score is exact. tuned: a metric of
    threshold.THRESHOLD_METRICS (two labels): the scores are those of the threshold that maximises it,
    "valid_threshold" (the workers' probabilities meet in `reduce`, each at its places, zeros elsewhere)."""
    loss_sum, matrix = 0.0, np.zeros((n_labels, n_labels), dtype=np.int64)
    positive = np.zeros(len(labels) if tuned else 0)
    for indices, logits in run(text_batches(tokens, batch_size)[rank::world]):
        y = labels[indices]
        loss_sum += F.cross_entropy(logits, y, reduction="sum").item()
        matrix += confusion(y.numpy(), logits.argmax(-1).cpu().numpy(), n_labels)
        if tuned:
            positive[indices] = logits.float().softmax(-1)[:, 1].cpu().numpy()
    totals = reduce([loss_sum, *matrix.reshape(-1).tolist(), *positive.tolist()])
    matrix = np.asarray(totals[1:1 + n_labels * n_labels]).reshape(n_labels, n_labels)
    found = {"valid_loss": totals[0] / matrix.sum()}
    if tuned:
        positive = np.asarray(totals[1 + n_labels * n_labels:])
        found["valid_threshold"] = best_threshold(labels.numpy(), positive, tuned)
        matrix = confusion(labels.numpy(), (positive >= found["valid_threshold"]).astype(np.int64), n_labels)
    return {**found, **{f"valid_{k}": v for k, v in scores(matrix).items()}}


def degenerate(labels, n_labels: int, metrics: dict) -> bool:
    """Accuracy within two standard errors of always answering the majority label of `labels` (the
    valid split's [N]), and a training loss that has not left the chance level ln(n_labels)."""
    majority = torch.bincount(labels).max().item() / len(labels)
    noise = 2 * math.sqrt(majority * (1 - majority) / len(labels))
    return metrics["valid_accuracy"] <= majority + noise and metrics["train_loss"] >= 0.97 * math.log(n_labels)


def test_outputs(model, meta, inputs: ClassificationInputs, *, device, bf16: bool, batch_size: int, cache_dir):
    """(indices, outputs) of the model over inputs' test split, batch by batch; a frozen encoder's features go
    through the feature cache, as in training."""
    tokens = inputs.tokens["test"]
    model.to(device)
    batches = text_batches(tokens, batch_size)
    if meta["cached_features"]:  # as in training: the frozen encoder's features, through the cache
        variant = (meta["pooling"], meta["layers"])
        frozen = FrozenEncoder(model.encoder, encoder_fingerprint(model.encoder), device, bf16, batch_size, cache_dir)
        features, _ = text_features(frozen, tokens, inputs.pad_id, [variant], "test features")
        make = partial(feature_inputs, features[variant])
    else:
        make = partial(token_inputs, tokens, inputs.pad_id, pad_multiple(device))
    for indices, _, outputs in run_batches(model, batches, map(make, batches), device=device, bf16=bf16):
        yield indices, outputs.float().cpu()


def test_scores(model, meta, inputs: ClassificationInputs, *, device, bf16: bool, batch_size: int, cache_dir) -> dict:
    """Scores on inputs' test split (at the saved model's threshold where it has one): accuracy, macro_f1,
    weighted_f1, balanced_accuracy, mcc; `labels` (names),
    `confusion` [true][predicted] counts and `per_class` precision/recall/F1/support; `examples`."""
    y = inputs.labels["test"]
    names = meta["label_names"]
    outputs = test_outputs(model, meta, inputs, device=device, bf16=bf16, batch_size=batch_size, cache_dir=cache_dir)
    matrix = decided_confusion(outputs, y, len(names), meta.get("threshold"))
    return {**scores(matrix), "examples": len(y), "labels": list(names), "confusion": matrix.tolist(),
            "per_class": per_class(matrix, names)}


def decided_confusion(outputs, labels, n_labels: int, threshold: Optional[float]) -> np.ndarray:
    """The confusion matrix [true][predicted] of (indices, logits) batches `outputs` against `labels` [N], each
    text decided as the saved model decides (threshold.decide: the second label where its probability reaches
    the model's tuned `threshold`, else the most probable label): the scores --predict's answers earn."""
    matrix = np.zeros((n_labels, n_labels), dtype=np.int64)
    for indices, logits in outputs:
        matrix += confusion(labels[indices].numpy(), decide(logits.float().softmax(-1), threshold).numpy(), n_labels)
    return matrix
