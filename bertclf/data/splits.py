"""Train and validation examples with their label ids: label order, a stratified held-out slice, subsets.

Labels are named as written in every message (never by their index).
"""
import random
from dataclasses import dataclass
from functools import partial
from typing import Callable, List, Optional, Sequence

from ..errors import UserError
from .columns import ColumnNames
from .examples import Examples, read_examples
from .file_rows import scan_examples
from .label_shapes import check_one_class_per_text
from .label_values import Label, label_order, label_text
from .leaks import leak_note


def build_label_names(examples: Examples, option: str = "train_path") -> List[Label]:
    """Deterministic label order (label_values.label_order); saved with the model so predictions map back.
    UserError for a column that is no single-label classes (label_shapes)."""
    where = f"--{option} {examples.source}"
    names = label_order(examples.labels)
    if len(names) < 2:
        raise UserError(f"{where}: only one label ({label_text(names[0])!r}) in "
                        f"{len(examples)} rows; a classifier needs at least two")
    check_one_class_per_text(examples.labels, where, examples.column_names.get("label", "label"))
    return names


def encode_labels(examples: Examples, names: Sequence[Label], option: str) -> List[int]:
    index = {name: i for i, name in enumerate(names)}
    ids = []
    for row, label in enumerate(examples.labels, 1):
        if label not in index:
            where = option if " " in option else f"--{option}"
            raise UserError(f"{where} {examples.source}: label {label_text(label)!r} (example {row}) is not "
                            f"among the training labels {[label_text(n) for n in names]}")
        ids.append(index[label])
    return ids


def stratified_split(labels: Sequence[int], fraction: float, seed: int, names: Sequence[Label] = None,
                     note: Callable[[str], None] = lambda message: None):
    """(train indices, held-out indices): `fraction` of each label, chosen by `seed`.

    A label with too few examples to hold one out (and keep one to train on) stays whole in train;
    `note` says so, naming it by `names`."""
    rng = random.Random(seed)
    train, held = [], []
    by_label = {}
    for i, label in enumerate(labels):
        by_label.setdefault(label, []).append(i)
    for label in sorted(by_label):
        members = by_label[label]
        rng.shuffle(members)
        n_held = max(1, round(len(members) * fraction))
        if n_held >= len(members):
            shown = names[label] if names is not None else label
            note(f"warning: label {label_text(shown)!r} has only {len(members)} example(s): all kept in train, none "
                 f"held out to validate on (its validation scores leave it out; pass --valid_path to score it)")
            n_held = 0
        held += members[:n_held]
        train += members[n_held:]
    return sorted(train), sorted(held)


def stratified_folds(labels: Sequence[int], k: int, seed: int, names: Sequence[Label] = None) -> List[int]:
    """Each row's fold (0 .. k-1), chosen by `seed`: each label's rows shuffled and dealt round the folds,
    each label starting where the one before left off, so that folds differ in size by one row at most.
    `names` given (classes): UserError for a label with fewer rows than folds, named by its name, since
    some fold would validate without it; None (strata of numbers): such a stratum is dealt as it comes."""
    rng = random.Random(seed)
    by_label = {}
    for i, label in enumerate(labels):
        by_label.setdefault(label, []).append(i)
    folds, dealt = [0] * len(labels), 0
    for label in sorted(by_label):
        members = by_label[label]
        if names is not None and len(members) < k:
            raise UserError(f"label {label_text(names[label])!r} has only {len(members)} example(s), fewer than "
                            f"cv_folds {k}: every fold must validate on it; choose cv_folds {max(2, len(members))} "
                            f"or fewer, or a single split (cv_folds 0)")
        rng.shuffle(members)
        for i in members:
            folds[i] = dealt % k
            dealt += 1
    return folds


def seeded_subset(n: int, size, seed: int) -> List[int]:
    if size is None or size >= n:
        return list(range(n))
    return sorted(random.Random(seed).sample(range(n), size))


@dataclass(frozen=True)
class LabelCoding:
    """How a task reads a label column: the names saved with the model, each row's value, and how a
    held-out slice is drawn from train. CLASSES (one class per text) unless a task says otherwise."""
    classes: bool  # the column holds classes: read_examples checks that it does, and a note names a class
    names: Callable[[Examples, str], List[Label]]  # (train examples, option) -> the names
    encode: Callable[[Examples, Sequence[Label], str], list]  # (examples, names, option) -> each row's value
    # (train's values, fraction, seed, names, note) -> (train indices, held-out indices)
    split: Callable[[list, float, int, Sequence[Label], Callable[[str], None]], tuple]
    # (train's values, k, seed, names) -> each row's fold in 0 .. k-1 (cv_folds), by the same stratification
    folds: Callable[[list, int, int, Sequence[Label]], List[int]] = stratified_folds
    split_name: str = "stratified"  # how `split` holds out, for the log
    label_sep: Optional[str] = None  # each row's label is a set: its label column split on label_sep (CheckedRows)


CLASSES = LabelCoding(True, build_label_names, encode_labels, stratified_split)


@dataclass
class Splits:
    train: Examples  # or FileRows (load_splits(streamed=True)): the rows, not their texts
    valid: Examples
    train_labels: List[int]
    valid_labels: List[int]
    label_names: List[Label]
    valid_source: str  # "valid_path" or "held out of train"
    notes: List[str]  # what the log should say: skipped rows, labels kept out of validation, leaks
    train_keys: object = None  # int64 array: the train texts' hashes (leaks.text_key), to find them in a test file
    folds: Optional[List[int]] = None  # cv_folds: each train row's fold (valid is then empty)


def load_splits(train_path, valid_path, *, valid_fraction: float, seed: int, columns: ColumnNames = ColumnNames(),
                max_train_samples=None, max_valid_samples=None, dataset=None, streamed: bool = False,
                coding: LabelCoding = CLASSES, cv_folds: int = 0) -> Splits:
    """dataset: the shipped data set the files are given as (their labels read as its names).
    cv_folds >= 2: nothing is held out; each train row gets its fold (coding.folds, after the subset of
    max_train_samples) and the folds take turns as valid (ClassificationInputs.fold).
    streamed: the files are scanned (file_rows.scan_examples: every check, no texts kept) and the splits
    are FileRows, the same rows in the same order as the Examples read otherwise (a coding of classes only).
    coding: how the label column is read (LabelCoding)."""
    read = (partial(scan_examples, label_sep=coding.label_sep) if streamed else
            partial(read_examples, classes=coding.classes, label_sep=coding.label_sep))
    train = read(train_path, "train_path", columns, dataset=dataset)
    names = coding.names(train, "train_path")
    train_ids = coding.encode(train, names, "train_path")
    notes = list(train.notes)
    keep = list(range(len(train)))
    if valid_path:
        valid_file = read(valid_path, "valid_path", columns, need_pair=train.paired, dataset=dataset)
        valid_ids = coding.encode(valid_file, names, "valid_path")
        notes += valid_file.notes
        held = list(range(len(valid_file)))
        source = "valid_path"
    elif valid_fraction == 0 or cv_folds:
        valid_file, held, valid_ids = train, [], []
        source = (f"{cv_folds} folds of train, {coding.split_name}, seed {seed}" if cv_folds else
                  "none: all of train is trained on")
    else:
        keep, held = coding.split(train_ids, valid_fraction, seed, names, notes.append)
        if not held:
            raise UserError(f"--train_path {train.source}: no label has enough examples to hold {valid_fraction:.0%} "
                            f"out; pass --valid_path, or --valid_fraction 0 to train on all of it")
        valid_file, valid_ids = train, [train_ids[i] for i in held]
        train_ids = [train_ids[i] for i in keep]
        source = f"{valid_fraction:.0%} held out of train ({coding.split_name}, seed {seed})"
    full = (len(keep), len(held))
    picked = seeded_subset(len(keep), max_train_samples, seed)
    keep, train_ids = [keep[i] for i in picked], [train_ids[i] for i in picked]
    picked = seeded_subset(len(held), max_valid_samples, seed + 1)
    held, valid_ids = [held[i] for i in picked], [valid_ids[i] for i in picked]
    source += subset_note([("train", len(keep), full[0]), ("valid", len(held), full[1])])
    leak = leak_note(train.keys[keep], valid_file.keys[held], valid_file.rows[held], "valid")
    notes += [leak] if leak else []
    folds = fold_of_rows(coding, train_ids, cv_folds, seed, names, train.source) if cv_folds else None
    return Splits(train.subset(keep), valid_file.subset(held), train_ids, valid_ids, names, source, notes,
                  train.keys[keep], folds)


def fold_of_rows(coding: LabelCoding, ids: list, k: int, seed: int, names, source) -> List[int]:
    """Each train row's fold (coding.folds); UserError naming the file for a label too rare to be in
    every fold, or for fewer rows than folds."""
    try:
        folds = coding.folds(ids, k, seed, names)
    except UserError as e:
        raise UserError(f"--train_path {source}: {e}") from None
    if len(set(folds)) < k:
        raise UserError(f"--train_path {source}: {len(ids)} rows cannot fill cv_folds {k}: every fold needs a row "
                        f"to validate on")
    return folds


def subset_note(sizes) -> str:
    """'; train: a seeded subset of 2000 of 22500' for each (split, size used, size there) that is cut."""
    return "".join(f"; {split}: a seeded subset of {used} of {there}" for split, used, there in sizes if used < there)


def describe_test_data(used: int, there: int, what: str, path) -> str:
    """'2000 of the 25000 examples of test.csv (a seeded subset)' or 'all 25000 examples of test.csv'."""
    return (f"{used} of the {there} {what} of {path} (a seeded subset)" if used < there
            else f"all {there} {what} of {path}")
