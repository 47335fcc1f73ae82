"""Multi-label inputs: classification's, read with a set of labels per text (labels.label_kind) and held as
[texts, labels] 0/1 rows."""
from dataclasses import dataclass, fields

from ...data.splits import LabelKind
from ..classification import inputs as classification
from .labels import indicators, label_kind


@dataclass
class MultilabelInputs(classification.ClassificationInputs):
    """ClassificationInputs whose `labels` are [N, labels] float 0/1 rows, read with label_sep."""
    label_sep: str = "|"

    @property
    def label_kind(self) -> LabelKind:
        return label_kind(self.label_sep)


def _multilabel(inputs, label_sep: str) -> MultilabelInputs:
    return MultilabelInputs(**{f.name: getattr(inputs, f.name) for f in fields(inputs)}, label_sep=label_sep)


def prepare(config, tokenizer, log) -> MultilabelInputs:
    """Read (each row's label set), split by iterative stratification and tokenise."""
    inputs = classification.prepare(config, tokenizer, log, kind=label_kind(config.label_sep), label_tensor=indicators)
    empty = int((inputs.labels["train"].sum(dim=1) == 0).sum())
    if empty:
        log(f"note: {empty} train text(s) carry none of the labels; they teach the model to say none")
    return _multilabel(inputs, config.label_sep)


def prepare_test(path, meta, tokenizer, cache_dir, max_examples=None) -> MultilabelInputs:
    inputs = classification.prepare_test(path, meta, tokenizer, cache_dir, max_examples,
                                         kind=label_kind(meta["label_sep"]), label_tensor=indicators)
    return _multilabel(inputs, meta["label_sep"])
