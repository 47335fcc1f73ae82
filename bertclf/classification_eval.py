"""Classification's evaluation: loss and accuracy on the valid split at a check, the chance-level test
of a run learning nothing, and the accuracy of a saved model on a test split."""
import math
from functools import partial

import torch
import torch.nn.functional as F

from .batching import eval_batches, feature_inputs, token_inputs
from .classification_inputs import ClassificationInputs
from .feature_cache import frozen_features
from .inference import pad_multiple, run_batches
from .encoders import encoder_fingerprint


def evaluate(tokens, labels, batch_size: int, run, rank: int, world: int, reduce) -> dict:
    """{"valid_loss", "valid_accuracy"} over the valid split (tokens, labels [N]), this worker's share of
    the batches run by `run(batches)`, summed over the workers by `reduce`."""
    loss_sum = correct = count = 0.0
    for indices, logits in run(eval_batches(tokens.lengths.tolist(), batch_size)[rank::world]):
        y = labels[indices]
        loss_sum += F.cross_entropy(logits, y, reduction="sum").item()
        correct += (logits.argmax(-1) == y).sum().item()
        count += len(indices)
    loss_sum, correct, count = reduce([loss_sum, correct, count])
    return {"valid_loss": loss_sum / count, "valid_accuracy": correct / count}


def degenerate(labels, n_labels: int, metrics: dict) -> bool:
    """Accuracy within two standard errors of always answering the majority label of `labels` (the
    valid split's [N]), and a training loss that has not left the chance level ln(n_labels)."""
    majority = torch.bincount(labels).max().item() / len(labels)
    noise = 2 * math.sqrt(majority * (1 - majority) / len(labels))
    return metrics["valid_accuracy"] <= majority + noise and metrics["train_loss"] >= 0.97 * math.log(n_labels)


def test_accuracy(model, meta, inputs: ClassificationInputs, *, device, bf16: bool, batch_size: int, cache_dir) -> dict:
    """Accuracy on inputs' test split; a frozen encoder's features go through the feature cache."""
    tokens, y = inputs.tokens["test"], inputs.labels["test"]
    model.to(device)
    batches = eval_batches(tokens.lengths.tolist(), batch_size)
    if meta["cached_features"]:  # as in training: the frozen encoder's features, through the cache
        variant = (meta["pooling"], meta["layers"])
        features, _ = frozen_features(model.encoder, tokens, [variant], encoder_id=encoder_fingerprint(model.encoder),
                                      device=device, bf16=bf16, batch_size=batch_size, cache_dir=cache_dir,
                                      pad_id=inputs.pad_id, progress=False, desc="test features")
        make = partial(feature_inputs, features[variant])
    else:
        make = partial(token_inputs, tokens, inputs.pad_id, pad_multiple(device))
    correct = 0
    for indices, _, logits in run_batches(model, batches, map(make, batches), device=device, bf16=bf16):
        correct += (logits.float().argmax(-1).cpu() == y[indices]).sum().item()
    return {"accuracy": correct / len(y), "examples": len(y)}
