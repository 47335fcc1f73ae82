"""Labelled texts from CSV/TSV files (optionally gzipped) or the aclImdb folder layout.

Policies, stated once: a row whose text is missing or blank is kept with an empty text (the
model sees only [CLS] [SEP]) and counted in a warning, so validation and test denominators stay
those of the published data sets; a row whose label is missing is an error naming the row.
"""
import csv
import gzip
import io
import random
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import List, Sequence, Union

from .errors import UserError

TEXT_COLUMNS = ("text", "document", "review", "sentence", "content")
LABEL_COLUMNS = ("label", "sentiment", "polarity", "labels", "class")

Label = Union[int, str]


@dataclass
class Examples:
    texts: List[str]
    labels: List[Label]
    source: str
    empty_texts: int = 0

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, indices: Sequence[int]) -> "Examples":
        return Examples([self.texts[i] for i in indices], [self.labels[i] for i in indices],
                        self.source, sum(1 for i in indices if not self.texts[i]))


def _open_text(path: Path, option: str):
    try:
        raw = path.read_bytes()
        if path.suffix == ".gz":
            raw = gzip.decompress(raw)
        return raw.decode("utf-8-sig")
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise UserError(f"--{option} {path}: cannot read ({e.__class__.__name__}: {e})") from None
    except UnicodeDecodeError as e:
        raise UserError(f"--{option} {path}: not UTF-8 text ({e.reason} at byte {e.start})") from None


def _read_aclimdb(folder: Path, option: str) -> Examples:
    texts, labels = [], []
    for label in ("neg", "pos"):
        for file in sorted((folder / label).glob("*.txt"), key=lambda p: p.name):
            texts.append(file.read_text(encoding="utf-8"))
            labels.append(label)
    if not texts:
        raise UserError(f"--{option} {folder}: aclImdb split folder has no pos/*.txt or neg/*.txt files")
    return Examples(texts, labels, str(folder))


def _find_columns(header: List[str]):
    names = [h.strip().lower() for h in header]
    text = next((i for i, n in enumerate(names) if n in TEXT_COLUMNS), None)
    label = next((i for i, n in enumerate(names) if n in LABEL_COLUMNS), None)
    return text, label


def read_examples(path, option: str = "train_path") -> Examples:
    """Read one data set; every problem is a UserError naming the option, the file and the row."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"--{option} {path}: no such file or folder")
    if path.is_dir():
        if (path / "pos").is_dir() or (path / "neg").is_dir():
            return _read_aclimdb(path, option)
        raise UserError(f"--{option} {path}: a folder must be an aclImdb split (with pos/ and neg/ "
                        f"sub-folders, e.g. aclImdb/train)")
    content = _open_text(path, option)
    if not content.strip():
        raise UserError(f"--{option} {path}: the file is empty")
    kind = path.name[:-3] if path.name.endswith(".gz") else path.name
    if kind.endswith((".tsv", ".txt")):
        # NSMC and other TSVs carry bare quote characters: read them literally.
        reader = csv.reader(io.StringIO(content), delimiter="\t", quoting=csv.QUOTE_NONE)
    else:
        reader = csv.reader(io.StringIO(content))
    csv.field_size_limit(sys.maxsize)
    try:
        first = next(reader)
        text_col, label_col = _find_columns(first)
        if text_col is None and label_col is None:
            if len(first) != 2:
                raise UserError(
                    f"--{option} {path}: row 1 has {len(first)} columns and no header; expected a "
                    f"header naming a text column ({'/'.join(TEXT_COLUMNS)}) and a label column "
                    f"({'/'.join(LABEL_COLUMNS)}), or two columns text,label without a header")
            text_col, label_col, rows = 0, 1, [(1, first)]
        elif text_col is None or label_col is None:
            missing = "text" if text_col is None else "label"
            wanted = TEXT_COLUMNS if text_col is None else LABEL_COLUMNS
            raise UserError(f"--{option} {path}: header {first} has no {missing} column "
                            f"(expected one of {', '.join(wanted)})")
        else:
            rows = []
        texts, labels, empty = [], [], 0
        need = max(text_col, label_col) + 1
        for line, row in rows + [(reader.line_num, r) for r in reader]:
            if not row:
                continue
            if len(row) < need:
                raise UserError(f"--{option} {path}: row {line} has {len(row)} column(s), expected {need}")
            label = row[label_col].strip()
            if not label or label.lower() in ("nan", "none", "null"):
                raise UserError(f"--{option} {path}: row {line} has no label")
            text = row[text_col]
            if not text.strip():
                text, empty = "", empty + 1
            texts.append(text)
            labels.append(label)
    except csv.Error as e:
        raise UserError(f"--{option} {path}: malformed CSV near row {reader.line_num}: {e}") from None
    if not texts:
        raise UserError(f"--{option} {path}: the file has a header but no rows")
    if all(_is_int(lab) for lab in labels):
        labels = [int(lab) for lab in labels]
    return Examples(texts, labels, str(path), empty)


def _is_int(text: str) -> bool:
    try:
        int(text)
        return True
    except ValueError:
        return False


def build_label_names(examples: Examples, option: str = "train_path") -> List[Label]:
    """Deterministic label order (sorted); saved with the model so predictions map back."""
    names = sorted(set(examples.labels))
    if len(names) < 2:
        raise UserError(f"--{option} {examples.source}: only one label ({names[0]!r}) in "
                        f"{len(examples)} rows; a classifier needs at least two")
    return names


def encode_labels(examples: Examples, names: Sequence[Label], option: str) -> List[int]:
    index = {name: i for i, name in enumerate(names)}
    ids = []
    for row, label in enumerate(examples.labels, 1):
        if label not in index:
            raise UserError(f"--{option} {examples.source}: label {label!r} (example {row}) is not "
                            f"among the training labels {list(names)}")
        ids.append(index[label])
    return ids


def stratified_split(labels: Sequence[int], fraction: float, seed: int):
    """(train indices, held-out indices): `fraction` of each label, chosen by `seed`."""
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
            raise UserError(f"cannot hold out {fraction:.0%} of label {label}: only {len(members)} "
                            f"example(s); pass --valid_path or a smaller --valid_fraction")
        held += members[:n_held]
        train += members[n_held:]
    return sorted(train), sorted(held)


def seeded_subset(n: int, size, seed: int) -> List[int]:
    if size is None or size >= n:
        return list(range(n))
    return sorted(random.Random(seed).sample(range(n), size))


@dataclass
class Splits:
    train: Examples
    valid: Examples
    train_labels: List[int]
    valid_labels: List[int]
    label_names: List[Label]
    valid_source: str  # "valid_path" or "held out of train"


def load_splits(train_path, valid_path, *, valid_fraction: float, seed: int,
                max_train_samples=None, max_valid_samples=None) -> Splits:
    train = read_examples(train_path, "train_path")
    names = build_label_names(train, "train_path")
    train_ids = encode_labels(train, names, "train_path")
    if valid_path:
        valid = read_examples(valid_path, "valid_path")
        valid_ids = encode_labels(valid, names, "valid_path")
        source = "valid_path"
    elif valid_fraction == 0:
        valid, valid_ids = train.subset([]), []
        source = "none: all of train is trained on"
    else:
        keep, held = stratified_split(train_ids, valid_fraction, seed)
        valid, valid_ids = train.subset(held), [train_ids[i] for i in held]
        train, train_ids = train.subset(keep), [train_ids[i] for i in keep]
        source = f"{valid_fraction:.0%} held out of train (stratified, seed {seed})"
    full = (len(train), len(valid))
    picked = seeded_subset(len(train), max_train_samples, seed)
    train, train_ids = train.subset(picked), [train_ids[i] for i in picked]
    picked = seeded_subset(len(valid), max_valid_samples, seed + 1)
    valid, valid_ids = valid.subset(picked), [valid_ids[i] for i in picked]
    source += subset_note([("train", len(train), full[0]), ("valid", len(valid), full[1])])
    return Splits(train, valid, train_ids, valid_ids, names, source)


def subset_note(sizes) -> str:
    """'; train: a seeded subset of 2000 of 22500' for each (split, size used, size there) that is cut."""
    return "".join(f"; {split}: a seeded subset of {used} of {there}" for split, used, there in sizes if used < there)


def describe_test_data(used: int, there: int, what: str, path) -> str:
    """'2000 of the 25000 examples of test.csv (a seeded subset)' or 'all 25000 examples of test.csv'."""
    return (f"{used} of the {there} {what} of {path} (a seeded subset)" if used < there
            else f"all {there} {what} of {path}")
