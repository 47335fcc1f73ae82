"""Regression's model and loss: a classifier's head with one output on the (frozen or fine-tuned) encoder,
the squared error of the standardised numbers, and the Training the loop runs."""
from dataclasses import dataclass

from ..classification.model import ClassificationTraining
from ..classification.model import build as build_head
from .eval import METRICS, MINIMISED, degenerate, evaluate, standardised
from .inputs import RegressionInputs


@dataclass
class RegressionTraining(ClassificationTraining):
    """A one-output head bound to one run's inputs; the numbers standardised by train's mean and scale,
    saved in `meta` to undo at prediction."""
    inputs: RegressionInputs
    kind = "regression"
    minimised = MINIMISED

    def __post_init__(self):
        self.meta.update(target_mean=self.inputs.target_mean, target_scale=self.inputs.target_scale)
        self.targets = standardised(self.inputs.labels["train"], self.inputs.target_mean,
                                    self.inputs.target_scale).float()

    def loss(self, outputs, indices):
        targets = self.targets[indices].to(outputs.device)
        return ((outputs.float()[:, 0] - targets) ** 2).sum()

    def evaluate(self, run, rank, world, reduce) -> dict:
        return evaluate(self.inputs.tokens.get("valid"), self.inputs.labels.get("valid"), self.inputs.target_mean,
                        self.inputs.target_scale, self.eval_batch_size, run, rank, world, reduce)

    def degenerate(self, metrics) -> bool:
        return degenerate(metrics)


def build(config, inputs: RegressionInputs, encoder, device) -> RegressionTraining:
    return build_head(config, inputs, encoder, device, training=RegressionTraining, metrics=METRICS)
