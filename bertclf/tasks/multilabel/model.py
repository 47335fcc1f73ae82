"""Multi-label's model and loss: classification's model, one sigmoid output per label, binary
cross-entropy, and its decision thresholds held in the head (a buffer: saved with the head's weights and
kept with the best check's); a saved model rebuilt from its metadata."""
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..classification import model as classification
from .eval import METRICS, MINIMISED_METRICS, degenerate, evaluate
from .inputs import MultilabelInputs

THRESHOLD = 0.5  # each label's until a check tunes them


@dataclass
class MultilabelTraining(classification.ClassificationTraining):
    """A multi-label classifier bound to one run: at each check its thresholds are tuned on valid."""
    inputs: MultilabelInputs
    kind = "multilabel"
    minimised = MINIMISED_METRICS

    def loss(self, logits, indices):
        labels = self.inputs.labels["train"][indices].to(logits.device)
        return F.binary_cross_entropy_with_logits(logits.float(), labels, reduction="sum")

    def evaluate(self, run, rank, world, reduce) -> dict:
        thresholds, metrics = evaluate(self.inputs.tokens.get("valid"), self.inputs.labels.get("valid"),
                                       self.eval_batch_size, run, rank, world, reduce)
        self.model.head.thresholds.copy_(torch.from_numpy(thresholds))
        return metrics

    def degenerate(self, metrics) -> bool:
        return degenerate(self.inputs.labels.get("valid"), metrics)


def with_thresholds(model, n_labels: int):
    """The model with a `thresholds` buffer in its head, each label's at THRESHOLD."""
    model.head.register_buffer("thresholds", torch.full((n_labels,), THRESHOLD))
    return model


def build(config, inputs: MultilabelInputs, encoder, device) -> MultilabelTraining:
    """Classification's head with a threshold per label, reporting METRICS; its metadata keeps label_sep."""
    training = classification.build(config, inputs, encoder, device, training=MultilabelTraining, metrics=METRICS)
    with_thresholds(training.model, len(inputs.label_names))
    training.meta["label_sep"] = inputs.label_sep
    return training


def model_from_meta(encoder, meta):
    """The saved model's architecture on `encoder`, its thresholds to be loaded with the head."""
    return with_thresholds(classification.model_from_meta(encoder, meta), len(meta["label_names"]))
