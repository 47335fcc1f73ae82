"""Regression's inputs: texts (or text pairs) with a number each, read, split (the held-out slice keeps the
shares of train's score range) and tokenised as a classifier's are; the test split as a saved model expects.

The numbers are kept as written: the model learns them standardised (target_mean, target_scale of
train's), and its predictions are turned back into the file's units."""
from dataclasses import dataclass
from typing import List

from ...data.columns import ColumnNames
from ...data.examples import Examples, read_examples
from ...data.label_values import label_text
from ...data.splits import LabelCoding, load_splits, stratified_folds, stratified_split
from ...errors import UserError
from ..classification.inputs import ClassificationInputs, inputs_of
from ..classification.inputs import prepare_test as classification_test

STRATA = 10  # the held-out slice keeps train's share of each tenth of the score range (by rank)
MIN_PER_STRATUM = 10  # fewer strata for a small train file, so that each can give one row to valid


@dataclass
class RegressionInputs(ClassificationInputs):
    """ClassificationInputs whose `labels` are each split's numbers (float) and whose one `label_names`
    entry names the one output: the label column."""

    @property
    def target_mean(self) -> float:
        return float(self.labels["train"].double().mean())

    @property
    def target_scale(self) -> float:
        """Train's standard deviation (1 where every number is the same: nothing to scale)."""
        return float(self.labels["train"].double().std(unbiased=False)) or 1.0

    def check_test_file(self, path) -> List[str]:
        """A test file read as the model will read it (its columns, pairs, a number per row): UserError if not."""
        examples = read_examples(path, "test data", ColumnNames.from_dict(self.columns), need_pair=self.pairs,
                                 classes=False)
        numbers(examples, self.label_names, "test data")
        return []


def output_name(examples: Examples, option: str) -> List[str]:
    """The one output's name: the label column's. UserError when every number is the same (nothing to learn)."""
    column = examples.column_names.get("label", "label")
    if len(set(examples.labels)) < 2:
        raise UserError(f"--{option} {examples.source}: column {column!r} holds one number "
                        f"({label_text(examples.labels[0])}) in all {len(examples)} rows; a regression needs "
                        f"several")
    return [column]


def numbers(examples: Examples, names, option: str) -> List[float]:
    """Each row's number; UserError naming the file, row and column of a value that is not a number."""
    where = option if " " in option else f"--{option}"
    for label, row in zip(examples.labels, examples.rows):
        if isinstance(label, str):
            column = examples.column_names.get("label", "label")
            raise UserError(f"{where} {examples.source}: row {row}: column {column!r} holds {label[:40]!r}, not a "
                            f"number; --task regression reads one number per row (e.g. 3.8)")
    return [float(v) for v in examples.labels]


def score_strata(values: List[float]) -> List[int]:
    """Each value's stratum: its rank's share of the range, in as many strata as the rows fill (STRATA)."""
    k = max(1, min(STRATA, len(values) // MIN_PER_STRATUM))
    order = sorted(range(len(values)), key=values.__getitem__)
    strata = [0] * len(values)
    for rank, i in enumerate(order):
        strata[i] = rank * k // len(values)
    return strata


def score_split(values: List[float], fraction: float, seed: int, names, note) -> tuple:
    """(train indices, held-out indices): splits.stratified_split over score_strata (no class to name)."""
    return stratified_split(score_strata(values), fraction, seed, None, note)


def score_folds(values: List[float], k: int, seed: int, names) -> List[int]:
    """Each row's fold (cv_folds): splits.stratified_folds over score_strata, each fold's numbers spread
    as train's are."""
    return stratified_folds(score_strata(values), k, seed)


SCORES = LabelCoding(classes=False, names=output_name, encode=numbers, split=score_split, folds=score_folds)


def prepare(config, tokenizer, log) -> RegressionInputs:
    """Read, split and tokenise (token ids made here, cached)."""
    splits = load_splits(config.train_path, config.valid_path, valid_fraction=config.valid_fraction,
                         seed=config.seed, columns=ColumnNames.of(config), max_train_samples=config.max_train_samples,
                         max_valid_samples=config.max_valid_samples, coding=SCORES, cv_folds=config.cv_folds)
    train = splits.train_labels
    shown = f"numbers {min(train):g} to {max(train):g} (mean {sum(train) / len(train):.4g})"
    return inputs_of(splits, config, tokenizer, log, shown, make=RegressionInputs)


def prepare_test(path, meta, tokenizer, cache_dir, max_examples=None) -> RegressionInputs:
    """The test split tokenised as the model was trained (a seeded subset when max_examples is set)."""
    return classification_test(path, meta, tokenizer, cache_dir, max_examples, coding=SCORES, make=RegressionInputs)
