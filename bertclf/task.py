"""What the training loop needs to know about one kind of problem, and nothing more."""
from dataclasses import dataclass
from typing import Callable, List

from torch import nn


@dataclass
class Task:
    kind: str  # "classification" | "qa"
    metrics: List[str]  # valid metrics reported at each check; the first is maximised
    model: nn.Module
    train_lengths: List[int]  # one per training item (a text, or a QA window), for length grouping
    # batch_inputs(split) -> a picklable function: indices -> the model's keyword inputs
    batch_inputs: Callable[[str], Callable]
    parallel_inputs: bool  # whether --num_workers processes may build the batches
    # loss(model output, train indices) -> the loss summed over the batch
    loss: Callable
    # evaluate(run, rank, world, reduce) -> {"valid_loss", *metrics}; run(batches) yields
    # (indices, model output); reduce sums a list of floats over the workers
    evaluate: Callable
    # degenerate(metrics of the first check) -> True when the run is learning nothing
    degenerate: Callable[[dict], bool]
    meta: dict  # saved beside the weights (labels, lengths, task options)

    @property
    def metric(self) -> str:
        return self.metrics[0]
