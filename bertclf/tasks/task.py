"""What a task is: `Task`, everything that differs between kinds of problem (its inputs, model and
loss, evaluation, test scores, prediction, portable copy), and `Training`, a task bound to one
run's inputs and model: what the training loop needs of it, and nothing more.

Code outside a task's folder asks these methods, never the task's name."""
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Callable, Dict, List, Optional, Tuple

from torch import nn


def metric_test_key(metric: str) -> str:
    """The key of a test score (score_test's result) that matches a valid metric: valid_macro_f1 -> macro_f1."""
    return metric.removeprefix("valid_")


class Training(ABC):
    """A task bound to one run: its model, and the batches, loss and checks of that run's inputs."""
    kind: str  # the task's name
    metrics: List[str]  # valid metrics reported at each check; the first picks the best check
    model: nn.Module
    meta: dict  # saved beside the weights (labels, lengths, task options)
    minimised: Tuple[str, ...] = ()  # metrics where lower is better (an error, such as rmse)

    @property
    def metric(self) -> str:
        return self.metrics[0]

    def decision(self, check: Optional[dict]) -> dict:
        """What the model saved of the check with these metrics decides by, beyond its weights (a
        threshold tuned at that check), for its metadata; {} when nothing."""
        return {}

    def rank_score(self, metrics: dict) -> float:
        """The chosen metric of a check's `metrics`, higher is better (a minimised metric negated)."""
        value = metrics[self.metric]
        return -value if self.metric in self.minimised else value

    @property
    @abstractmethod
    def train_lengths(self) -> List[int]:
        """One length per training item (a text, or a QA window), for length grouping."""

    @property
    @abstractmethod
    def parallel_inputs(self) -> bool:
        """Whether --num_workers processes may build the batches."""

    @abstractmethod
    def batch_inputs(self, split: str) -> Callable:
        """A picklable function: indices of `split` -> the model's keyword inputs."""

    def pieces(self, indices: List[int]) -> List[List[int]]:
        """Train items `indices` (this worker's part of a micro-batch) as the forward passes that run them,
        each a list of items whose losses add up to the micro-batch's: one pass unless the items are long."""
        return [indices]

    @abstractmethod
    def loss(self, outputs, indices):
        """The loss of the model's outputs on train items `indices`, summed over the batch."""

    @abstractmethod
    def evaluate(self, run, rank: int, world: int, reduce) -> dict:
        """{"valid_loss", *metrics} over this worker's share of the valid split; run(batches) yields
        (indices, model output); reduce sums a list of floats over the workers."""

    @abstractmethod
    def degenerate(self, metrics: dict) -> bool:
        """True when the metrics of the first checks say the run is learning nothing."""


@dataclass
class PortableForm:
    """A saved model as its copies for elsewhere take it (bertclf.portable)."""
    module: nn.Module  # what the ONNX copy exports
    outputs: Tuple[str, ...]  # the ONNX copy's output names
    axes: Dict[str, dict]  # their dynamic axes ({axis: name}), beside the inputs' batch and sequence
    # outputs -> the probabilities two runtimes must agree on
    probabilities: Callable
    config: object  # the transformers config saved beside a copy
    two_texts: bool  # reads two texts: token types are an input where the encoder takes them
    # reads windows of texts (truncation chunks): doc_index, each window's text, is an input, and the
    # outputs are one row per text
    documents: bool
    # () -> (transformers' own model holding the weights, None), or (None, why there is none)
    transformers_copy: Callable[[], tuple]


class Task(ABC):
    """One kind of problem, as the engine, the search and the model copies see it."""
    name: str
    metrics: Tuple[str, ...]  # valid metrics a run reports; the first is the default to rank by
    minimised: Tuple[str, ...] = ()  # those where lower is better (an error, such as rmse); the others are maximised
    # results-table columns after results_table.RUN_COLUMNS: (title, metric key, format)
    columns: Tuple[Tuple[str, str, str], ...]
    test_columns: Tuple[Tuple[str, str, str], ...]  # the same for score_test's scores
    # how-a-text-is-read options this task uses (a search's recipe sets only these): truncation of a
    # long text, pooling of the token vectors
    text_options: Tuple[str, ...] = ()
    # whether a search may leave the texts in their files for its workers to tokenise (prepare's streamed)
    streams_texts: bool = False
    # the scores of score_test that results.md lists, with a per-class table, where the task has classes
    report_scores: Tuple[str, ...] = ()
    reads_label_sets: bool = False  # a set of labels per text: --label_sep, --label_columns
    has_classes: bool = False  # its labels are classes: it takes class_weight, a smoke slice balances them

    def purpose(self, meta) -> str:
        """What a saved model (`meta`) does, as a model card says it after "it": 'classifies a text as one of
        neg, pos'."""
        return f"a {self.name} model"

    def mode(self, metric: str) -> str:
        """"min" or "max": how the best check, a search's trials and its table judge `metric`."""
        return "min" if metric in self.minimised else "max"

    def check_options(self, config) -> None:
        """Raise on options this task cannot take, each a one-line error (TrainConfig checks the rest)."""

    def describe_test(self, scores: dict, metric: Optional[str] = None) -> str:
        """The test scores in words, the one of `metric` (a valid metric the run maximised) first, as the
        headline, then the task's usual ones: 'test macro f1 0.8790 / test accuracy 0.9012',
        'test F1 90.10 / test EM 81.20'; without `metric`, the task's: 'test accuracy 0.9012'."""
        columns = list(self.test_columns)
        key = metric_test_key(metric) if metric else None
        if key in scores:
            headline = [c for c in columns if c[1] == key] or [(f"test {key.replace('_', ' ')}", key, "{:.4f}")]
            columns = headline + [c for c in columns if c[1] != key]
        return " / ".join(f"{title} {fmt.format(scores[key])}" for title, key, fmt in columns)

    @abstractmethod
    def prepare(self, config, tokenizer, log, streamed: bool = False):
        """The run's inputs: data read, split and tokenised (`inputs.description` says what). streamed:
        the texts left in their files for tokenisers elsewhere; True is asked only of a task that
        streams_texts (a search's spec refuses tokenize_on: workers for another), the others ignore it."""

    def with_features(self, inputs, config, encoder, device, bf16: bool, variants, log, progress=None,
                      threads=None) -> dict:
        """{variant: inputs with those frozen features} (boost); a task that cannot be boosted refuses
        boost in check_options, so this is never asked of it."""
        raise NotImplementedError(f"{self.name} has no frozen features")

    @abstractmethod
    def build(self, config, inputs, encoder, device) -> Training:
        """The task bound to this run: model and loss on `inputs`."""

    @abstractmethod
    def prepare_test(self, path, meta, tokenizer, cache_dir, max_examples=None):
        """The test split of `path` read and tokenised as the saved model (`meta`) expects."""

    @abstractmethod
    def score_test(self, model, meta, inputs, *, device, bf16: bool, batch_size: int, cache_dir) -> dict:
        """{score name: value, "examples": count} of a saved model on prepare_test's inputs."""

    @abstractmethod
    def model_from_meta(self, encoder, meta) -> nn.Module:
        """A saved model's architecture on `encoder`, its weights still to be loaded."""

    @abstractmethod
    def predict(self, args, model, tokenizer, meta) -> list:
        """One JSON-able row per request of `launch.py --predict`, by the loaded model."""

    @abstractmethod
    def portable_form(self, model, meta) -> PortableForm:
        """The loaded model as its ONNX (and transformers) copies take it."""

    @abstractmethod
    def onnx_usage(self, name: str, copy_path: PurePosixPath, copies, meta) -> List[str]:
        """Lines of a model card: reading the ONNX copy at name/copy_path (e.g. best_model/onnx/model.onnx)
        with onnxruntime, a Python snippet that runs as written beside the model folder `name`;
        copies: write_portable's answer (the copy's input names, its difference to this project's)."""

    def hf_usage(self, name: str, copy_folder: str, copies, meta) -> List[str]:
        """Lines of a model card: loading the transformers copy in name/copy_folder, a Python snippet that
        runs as written beside the model folder `name`, or why there is none (copies.why_not_hf); this
        default is a task without transformers' classes for its model."""
        if not copies.why_not_hf:
            return []
        return [f"Not as a transformers class: {copies.why_not_hf}." + (" Use ONNX below." if copies.onnx else ""),
                ""]

    @abstractmethod
    def predict_example(self, meta) -> str:
        """The options of an example `launch.py --predict` with this model."""
