"""Regression's evaluation: the standardised squared error and the scores (metrics.SCORES) of the valid
split at a check, the test of a run learning nothing, and the scores of a saved model on a test split.
A score is in the target's units: a prediction is the model's output * target_scale + target_mean."""
import torch

from ...batching import text_batches
from ..classification.eval import test_outputs
from .metrics import ERRORS, SCORES, scores

METRICS = tuple(f"valid_{name}" for name in SCORES)  # spearman ranks the checks by default
MINIMISED = tuple(f"valid_{name}" for name in ERRORS)
# a run whose valid predictions explain this little of the variance (R²), with a training loss still
# near the variance itself (standardised: 1), learns nothing
DEGENERATE_R2 = 0.02


def standardised(targets: torch.Tensor, mean: float, scale: float) -> torch.Tensor:
    return (targets.double() - mean) / scale


def evaluate(tokens, targets, mean: float, scale: float, batch_size: int, run, rank: int, world: int, reduce) -> dict:
    """{"valid_loss" (mean squared error of the standardised numbers), "valid_spearman", ...: every METRICS}
    over the valid split (tokens, targets [N]), this worker's share of the batches run by `run(batches)`; the
    workers' predictions meet in `reduce` (each adds its own at their places, zeros elsewhere), so every
    score, the rank correlation too, is exact."""
    predicted = torch.zeros(len(targets), dtype=torch.float64)
    for indices, outputs in run(text_batches(tokens, batch_size)[rank::world]):
        predicted[indices] = outputs[:, 0].double()
    predicted = torch.tensor(reduce(predicted.tolist()), dtype=torch.float64)
    loss = float(((predicted - standardised(targets, mean, scale)) ** 2).mean())
    found = scores(targets.double().numpy(), (predicted * scale + mean).numpy())
    return {"valid_loss": loss, **{f"valid_{k}": v for k, v in found.items()}}


def degenerate(metrics: dict) -> bool:
    """Almost none of the valid variance explained, and a training loss still near the variance."""
    return metrics["valid_r2"] <= DEGENERATE_R2 and metrics["train_loss"] >= 0.97


def test_scores(model, meta, inputs, *, device, bf16: bool, batch_size: int, cache_dir) -> dict:
    """Scores on inputs' test split (metrics.SCORES, in the target's units); `examples`."""
    targets = inputs.labels["test"].double()
    predicted = torch.zeros(len(targets), dtype=torch.float64)
    for indices, outputs in test_outputs(model, meta, inputs, device=device, bf16=bf16, batch_size=batch_size,
                                         cache_dir=cache_dir):
        predicted[indices] = outputs[:, 0].double()
    predicted = predicted * meta["target_scale"] + meta["target_mean"]
    return {**scores(targets.numpy(), predicted.numpy()), "examples": len(targets)}
