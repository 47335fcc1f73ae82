"""Multi-label inputs: classification's, read with a set of labels per text (labels.label_coding) and held as
[texts, labels] 0/1 rows."""
from dataclasses import dataclass
from functools import partial

from ...data.columns import ColumnNames
from ...data.splits import LabelCoding, load_splits
from ..classification import inputs as classification
from .labels import indicators, label_coding


@dataclass
class MultilabelInputs(classification.ClassificationInputs):
    """ClassificationInputs whose `labels` are [N, labels] float 0/1 rows, read with label_sep."""
    label_sep: str = "|"

    @property
    def label_coding(self) -> LabelCoding:
        return label_coding(self.label_sep)


def prepare(config, tokenizer, log) -> MultilabelInputs:
    """Read (each row's label set), split by iterative stratification and tokenise."""
    splits = load_splits(config.train_path, config.valid_path, valid_fraction=config.valid_fraction,
                         seed=config.seed, columns=ColumnNames.of(config), max_train_samples=config.max_train_samples,
                         max_valid_samples=config.max_valid_samples, dataset=config.dataset,
                         coding=label_coding(config.label_sep), cv_folds=config.cv_folds)
    inputs = classification.inputs_of(splits, config, tokenizer, log, f"labels {splits.label_names}",
                                      make=partial(MultilabelInputs, label_sep=config.label_sep),
                                      label_tensor=indicators)
    empty = int((inputs.labels["train"].sum(dim=1) == 0).sum())
    if empty:
        log(f"note: {empty} train text(s) carry none of the labels; they teach the model to say none")
    return inputs


def prepare_test(path, meta, tokenizer, cache_dir, max_examples=None) -> MultilabelInputs:
    return classification.prepare_test(path, meta, tokenizer, cache_dir, max_examples,
                                       coding=label_coding(meta["label_sep"]),
                                       make=partial(MultilabelInputs, label_sep=meta["label_sep"]),
                                       label_tensor=indicators)
