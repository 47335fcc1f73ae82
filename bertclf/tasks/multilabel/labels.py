"""Multi-label label sets: their order, their indicator rows, and a held-out split by iterative
stratification (Sechidis et al. 2011), so that every label with examples to spare reaches valid, rare ones
included; a `LabelCoding` for data.splits.load_splits."""
import random
from typing import Callable, List, Sequence

import numpy as np
import torch

from ...data.examples import Examples
from ...data.splits import LabelCoding
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


def iterative_parts(ids: Sequence[tuple], shares: Sequence[float], seed: int, n_labels: int) -> np.ndarray:
    """Each row's part (an index of `shares`): each label's share of every part as close to the part's
    share as the sets allow (iterative stratification, Sechidis et al. 2011: the rarest label's rows are
    placed first, each in the part that still wants most of that label)."""
    rng = random.Random(seed)
    matrix = indicators(ids, n_labels).numpy().astype(bool)
    parts = range(len(shares))
    wanted = np.array(shares) * len(ids)  # rows each part still wants
    wanted_label = np.outer(shares, matrix.sum(axis=0))  # [part, label]
    part = np.full(len(ids), -1)
    left = matrix.copy()
    while left.any():
        counts = left.sum(axis=0)
        label = min(np.flatnonzero(counts), key=lambda k: (counts[k], rng.random()))
        rows = np.flatnonzero(left[:, label])
        for row in rng.sample(list(rows), len(rows)):
            target = max(parts, key=lambda j: (wanted_label[j, label], wanted[j], rng.random()))
            part[row], left[row] = target, False
            wanted[target] -= 1
            wanted_label[target] -= matrix[row]
    for row in rng.sample(list(np.flatnonzero(part < 0)), int((part < 0).sum())):  # texts without labels
        target = max(parts, key=lambda j: (wanted[j], rng.random()))
        part[row] = target
        wanted[target] -= 1
    return part


def iterative_split(ids: Sequence[tuple], fraction: float, seed: int, names: Sequence[Label],
                    note: Callable[[str], None] = lambda message: None):
    """(train indices, held-out indices): `fraction` of the rows by iterative_parts. A label on one row
    only stays in train; `note` says so."""
    part = iterative_parts(ids, [1 - fraction, fraction], seed, len(names))
    matrix = indicators(ids, len(names)).numpy().astype(bool)
    for label in np.flatnonzero(matrix.sum(axis=0) == 1):
        part[matrix[:, label]] = 0
        note(f"warning: label {label_text(names[label])!r} has only 1 example: kept in train, none held out to "
             f"validate on (pass --valid_path to score it)")
    return np.flatnonzero(part == 0).tolist(), np.flatnonzero(part == 1).tolist()


def iterative_folds(ids: Sequence[tuple], k: int, seed: int, names: Sequence[Label]) -> List[int]:
    """Each row's fold (cv_folds): k equal parts by iterative_parts. A label on fewer rows than folds is
    missing from some folds' valid; its score there is what the metric makes of a label with no text."""
    return iterative_parts(ids, [1 / k] * k, seed, len(names)).tolist()


def label_coding(label_sep: str) -> LabelCoding:
    """A set of labels per text, its column split on label_sep."""
    return LabelCoding(True, label_names, encode_sets, iterative_split, iterative_folds, "iterative stratification",
                       label_sep)
