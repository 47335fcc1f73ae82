"""Labelled texts (or text pairs) read from a table, every row checked.

Policies, stated once: a row whose text is missing or blank is kept with an empty text (the model
sees only its special tokens) and counted in a note, so validation and test denominators stay those
of the published data sets; a row whose label is missing, or whose label is a long text (a text in
the label column, or a text with an unquoted delimiter) is an error naming the row; a row that
repeats the header (files concatenated with their headers) is skipped with a note.
"""
from array import array
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Iterator, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from ..errors import UserError
from .columns import ColumnNames, Columns, choose, indicator_columns, is_long_label
from .label_names import label_names_of
from .label_sets import indicator_set, label_set
from .label_shapes import check_one_class_per_text
from .label_values import Label, column_values, is_list, label_text, label_value
from .leaks import text_key
from .readers import open_table

UNIQUE_LABELS_FROM = 20  # rows: from here on, a label column in which every value differs is refused


@dataclass
class Examples:
    texts: List[str]
    labels: Optional[List[Label]]  # None: a table read without labels (texts to predict)
    source: str
    pairs: Optional[List[str]] = None  # the second text of each pair; None: single texts
    empty_texts: int = 0
    notes: List[str] = field(default_factory=list)  # what was skipped or kept, for the log
    column_names: dict = field(default_factory=dict)  # role -> the column's name in the file
    keys: np.ndarray = None  # int64: each example's text hash (leaks.text_key)
    rows: np.ndarray = None  # int64: each example's row in its file (1: the first record)

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def paired(self) -> bool:
        return self.pairs is not None

    def subset(self, indices: Sequence[int]) -> "Examples":
        def pick(values):
            return None if values is None else [values[i] for i in indices]
        empty = sum(1 for i in indices if not self.texts[i] or (self.pairs is not None and not self.pairs[i]))
        picked = np.asarray(indices, dtype=np.int64)
        return Examples(pick(self.texts), pick(self.labels), self.source, pick(self.pairs), empty,
                        list(self.notes), self.column_names, self.keys[picked], self.rows[picked])


def _text(value) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return value if isinstance(value, str) else str(value)


class CheckedRows:
    """One table's rows, every one checked as it is read, a chunk of the reader's rows at a time: iterating
    yields (texts, pairs or None, labels as written or None) per chunk and reads the file anew each time.
    After a full pass: `columns`, `count` (examples kept), `empty_rows` (their indices, 0-based, whose text
    or pair is blank) and `notes`. Every problem is a UserError naming the option, the file and the row.

    need_pair: True / False when a saved model decides; None: pairs where the header has them.
    label_sep: each row's label is a set (label_sets): of its label column split on label_sep, or of the
    0/1 columns asked.labels."""

    def __init__(self, path, option: str = "train_path", asked: ColumnNames = ColumnNames(), *,
                 need_labels: bool = True, need_pair=None, label_sep: Optional[str] = None):
        self.table = open_table(path, option)
        # a table read without labels (texts to predict) holds the text columns only, whatever the model's label
        self.asked = asked if need_labels else replace(asked, label=None, labels=None)
        self.need_labels, self.need_pair = need_labels, need_pair
        self.label_sep = label_sep
        self.columns: Optional[Columns] = None
        self.label_keys = None  # the frame keys of asked.labels' 0/1 columns
        self.count, self.empty_rows, self.repeated = 0, [], []
        self.keys, self.rows = array("q"), array("q")

    @property
    def where(self) -> str:
        return self.table.where

    def __iter__(self) -> Iterator[Tuple[List[str], Optional[List[str]], Optional[List[Label]]]]:
        where, columns = self.where, None
        self.count, self.empty_rows, self.repeated = 0, [], []
        self.keys, self.rows = array("q"), array("q")
        seen = {}  # label -> its first object: a label column holds a few values, and a row keeps a reference
        for first_row, frame in self.table.chunks():
            if columns is None:
                if frame.empty:
                    break
                columns = self.columns = choose(self.table, frame, self.asked, need_pair=self.need_pair,
                                                need_label=self.need_labels and not self.asked.labels)
                if self.need_labels and self.asked.labels:
                    self.label_keys = indicator_columns(columns, list(frame.columns), self.asked.labels, where)
                    columns = self.columns = replace(columns, names={**columns.names,
                                                                     "label": ", ".join(self.asked.labels)})
                if columns.has_header_row:
                    frame, first_row = frame.iloc[1:], first_row + 1
            repeats = _repeats_header(frame, columns)
            text_values = frame[columns.text].tolist()
            pair_values = frame[columns.pair].tolist() if columns.pair is not None else None
            label_values = self._label_cells(frame) if self.need_labels else None
            texts, pairs, labels = [], [] if pair_values is not None else None, [] if self.need_labels else None
            for k, raw in enumerate(text_values):
                row = first_row + k
                if repeats is not None and repeats[k]:
                    self.repeated.append(row)
                    continue
                text = _text(raw)
                pair = _text(pair_values[k]) if pair_values is not None else None
                if not text.strip() or (pair is not None and not pair.strip()):
                    self.empty_rows.append(self.count + len(texts))
                    text, pair = text if text.strip() else "", pair if pair is None or pair.strip() else ""
                if self.need_labels:
                    label = self._label(label_values[k], row)
                    labels.append(seen.setdefault(label, label))
                texts.append(text)
                self.keys.append(text_key(text, pair))
                self.rows.append(row)
                if pair is not None:
                    pairs.append(pair)
            self.count += len(texts)
            yield texts, pairs, labels
        if columns is None or not self.count:
            raise UserError(f"{where}: no rows" + (" after the header" if columns is not None else ""))

    def _label_cells(self, frame) -> list:
        """The label cells of a chunk's rows: one per row, a tuple of the 0/1 columns' with asked.labels."""
        if self.label_keys is not None:
            return list(zip(*(frame[key].tolist() for key in self.label_keys)))
        return column_values(frame[self.columns.label])

    def _label(self, value, row: int):
        """The label of the cell `value` on `row` (label_values), or its set of labels (label_sets) with
        label_sep; UserError for a missing one, several where one is read, or a text."""
        if self.label_keys is not None:
            try:
                return indicator_set(value, self.asked.labels)
            except ValueError as e:
                raise UserError(f"{self.where}: row {row}: {e} (--label_columns)") from None
        column = self.columns.names["label"]
        if self.label_sep is not None:
            labels = label_set(value, self.label_sep)
            for label in labels:
                self._check_short(label, row, column)
            return labels
        if is_list(value):
            raise UserError(f"{self.where}: row {row}: the label in column {column!r} is a list ({str(value)[:40]}): "
                            f"several labels per text are read with --task multilabel")
        label = label_value(value)
        if label is None:
            raise UserError(f"{self.where}: row {row} has no label (column {column!r})")
        self._check_short(label, row, column)
        return label

    def _check_short(self, label: Label, row: int, column: str) -> None:
        if isinstance(label, str) and is_long_label(label):
            raise UserError(f"{self.where}: row {row}: the label {label[:40] + '...'!r} in column {column!r} is a "
                            f"text, not a label; is --label_column right, or does a text hold an unquoted delimiter?")

    def file_keys(self) -> Tuple[np.ndarray, np.ndarray]:
        """After a full pass: (each example's text hash, its row in the file), for leaks.leak_note."""
        return np.frombuffer(self.keys, dtype=np.int64), np.frombuffer(self.rows, dtype=np.int64)

    def notes(self) -> List[str]:
        """What the pass skipped, for the log."""
        if not self.repeated:
            return []
        shown = ", ".join(map(str, self.repeated[:5])) + (" ..." if len(self.repeated) > 5 else "")
        return [f"{self.where}: skipped {len(self.repeated)} row(s) repeating the header (row {shown})"]

    def meant(self, labels: List[Label], dataset: Optional[str]) -> List[Label]:
        """A full pass's labels as the file means them (see _named_labels); UserError for a column that
        is no label column. dataset: the shipped data set the file is given as (label_names.LABEL_NAMES):
        its labels read as that data set's names, whether written as ids or as names; any other label is
        an error."""
        shipped = label_names_of(dataset)
        name = partial(_named_labels, class_names=shipped or self.table.class_names.get(self.columns.label),
                       where=self.where, declared=f"{dataset} has" if shipped else "the data set declares",
                       remedy=f"; labels of your own: leave out --dataset {dataset} (a search: a spec without "
                              f"dataset:, or --search classify)" if shipped else "")
        if self.label_sep is not None or self.label_keys is not None:
            return [tuple(name(list(labels_of_row))) for labels_of_row in labels]
        labels = name(labels)
        if len(labels) >= UNIQUE_LABELS_FROM and len(set(labels)) == len(labels):
            check_one_class_per_text(labels, self.where, self.columns.names["label"])  # what it is, if known
            raise UserError(f"{self.where}: column {self.columns.names['label']!r} holds a different value in every "
                            f"one of its {len(labels)} rows: not a label column; pass --label_column NAME")
        return labels


def read_examples(path, option: str = "train_path", asked: ColumnNames = ColumnNames(), *,
                  need_labels: bool = True, need_pair=None, dataset: Optional[str] = None,
                  classes: bool = True, label_sep: Optional[str] = None) -> Examples:
    """Read one table, texts and all (CheckedRows: every problem is a UserError naming the option, the
    file and the row). dataset: see CheckedRows.meant. classes: False keeps the labels as written, for a
    task whose labels are values rather than classes (a score): no check that the column holds classes.
    label_sep: labels as sets (CheckedRows)."""
    rows = CheckedRows(path, option, asked, need_labels=need_labels, need_pair=need_pair, label_sep=label_sep)
    texts, pairs, labels = [], [], []
    for chunk_texts, chunk_pairs, chunk_labels in rows:
        texts += chunk_texts
        pairs += chunk_pairs or []
        labels += chunk_labels or []
    return Examples(texts, (rows.meant(labels, dataset) if classes else labels) if need_labels else None, str(path),
                    pairs if rows.columns.pair is not None else None, len(rows.empty_rows), rows.notes(),
                    rows.columns.names, *rows.file_keys())


def _repeats_header(frame: pd.DataFrame, columns: Columns):
    """A mask of the rows whose chosen columns repeat the header (None: no header row)."""
    if not columns.has_header_row:
        return None
    mask = None
    for key in (columns.text, columns.pair, columns.label):
        if key is not None:
            same = frame[key].astype(str).str.strip().str.lower() == columns.header[key].strip().lower()
            mask = same if mask is None else mask & same
    return mask.tolist()


def _named_labels(labels: List[Label], class_names, where: str, declared: str, remedy: str) -> List[Label]:
    """Labels as the file means them: as written (label_values), or with class_names (a `datasets`
    ClassLabel column's, or a shipped data set's) ids read as their names and names kept, anything
    else an error that says who `declared` the names."""
    if not class_names:
        return labels
    named = []
    for value in labels:
        if isinstance(value, int) and not 0 <= value < len(class_names):
            raise UserError(f"{where}: label {value} is outside the {len(class_names)} class names "
                            f"{class_names} that {declared}{remedy}")
        if not isinstance(value, int) and value not in class_names:
            raise UserError(f"{where}: label {label_text(value)!r} is none of the class names {class_names} that "
                            f"{declared} (nor their ids 0 to {len(class_names) - 1}){remedy}")
        named.append(class_names[value] if isinstance(value, int) else value)
    return named
