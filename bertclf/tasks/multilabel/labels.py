"""Multi-label label sets: their order, their indicator rows, and a held-out split by iterative
stratification (Sechidis et al. 2011, the `iterative-stratification` package), so that every label with
examples to spare reaches valid, rare ones included; a `LabelKind` for data.splits.load_splits."""
from typing import Callable, List, Sequence

import numpy as np
import torch
from iterstrat.ml_stratifiers import MultilabelStratifiedShuffleSplit

from ...data.examples import Examples
from ...data.splits import LabelKind
from ...data.label_values import Label, label_order, label_text
from ...errors import UserError


def label_names(examples: Examples, option: str = "train_path") -> List[Label]:
    """The labels of every row's set, in label_values.label_order; UserError for fewer than two, or for
    a file in which no text has a label."""
    names = label_order(label for labels in examples.labels for label in labels)
    where = f"--{option} {examples.source}"
    if len(names) < 2:
        shown = f"only the label {label_text(names[0])!r}" if names else "no label at all"
        raise UserError(f"{where}: {shown} in {len(examples)} rows; multi-label needs at least two labels "
                        f"(is --label_sep right, or --label_columns?)")
    return names


def encode_sets(examples: Examples, names: Sequence[Label], option: str) -> List[tuple]:
    """Each row's label indices; UserError for a label train does not have."""
    index = {name: i for i, name in enumerate(names)}
    ids = []
    for row, labels in enumerate(examples.labels, 1):
        unknown = [label for label in labels if label not in index]
        if unknown:
            where = option if " " in option else f"--{option}"
            raise UserError(f"{where} {examples.source}: label {label_text(unknown[0])!r} (example {row}) is not "
                            f"among the training labels {[label_text(n) for n in names]}")
        ids.append(tuple(index[label] for label in labels))
    return ids


def indicators(ids: Sequence[tuple], n_labels: int) -> torch.Tensor:
    """[rows, n_labels] float 0/1: row i has 1 at each of ids[i]."""
    matrix = torch.zeros(len(ids), n_labels)
    for row, labels in enumerate(ids):
        matrix[row, list(labels)] = 1.0
    return matrix


def iterative_split(ids: Sequence[tuple], fraction: float, seed: int, names: Sequence[Label],
                    note: Callable[[str], None] = lambda message: None):
    """(train indices, held-out indices): `fraction` of the rows, each label's share as close to
    `fraction` as the sets allow. A label on one row only stays in train; `note` says so."""
    matrix = indicators(ids, len(names)).numpy()
    splitter = MultilabelStratifiedShuffleSplit(n_splits=1, test_size=fraction, random_state=seed)
    train, held = next(splitter.split(np.zeros(len(ids)), matrix))
    single = matrix.sum(axis=0) == 1
    moved = [i for i in held if matrix[i, single].any()]
    for label in np.flatnonzero(single):
        note(f"warning: label {label_text(names[label])!r} has only 1 example: kept in train, none held out to "
             f"validate on (pass --valid_path to score it)")
    train, held = sorted([*train, *moved]), sorted(set(held) - set(moved))
    return [int(i) for i in train], [int(i) for i in held]


def label_kind(label_sep: str) -> LabelKind:
    return LabelKind(label_sep, label_names, encode_sets, iterative_split, "iterative stratification")
