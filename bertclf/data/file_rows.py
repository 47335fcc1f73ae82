"""Texts left in their files: a data set searched without the driver ever holding all of its texts.

A first pass (`scan_examples`) reads a table chunk by chunk, checking every row as `read_examples`
does, and keeps only what is small: the labels, the row count, the rows with an empty text. The label
order and the splits are decided from those (splits.load_splits), so a split is a set of rows of a file
(`FileRows`), and a second pass (`stream_texts`) reads the texts again, chunk by chunk, for a tokeniser
elsewhere. Both passes go through the same reader; the second one checks that the file still holds
what the first one counted.
"""
from dataclasses import dataclass, field
from typing import Dict, Iterator, List, Optional, Tuple

import numpy as np

from ..errors import UserError
from .columns import ColumnNames
from .examples import CheckedRows
from .label_values import Label


@dataclass
class FileRows:
    """A split's texts without the texts: examples `rows` (sorted indices, in file order, among the
    `examples` the file holds) of the table at `path`, read as `option` with the columns `asked`."""
    path: str
    option: str
    asked: ColumnNames
    need_pair: Optional[bool]  # as the first pass read the file (None: pairs where the header has them)
    rows: np.ndarray  # int64 [N]
    examples: int
    empty_texts: int
    column_names: dict
    paired: bool

    def __len__(self) -> int:
        return len(self.rows)


@dataclass
class Scan:
    """What the first pass over a table keeps: labels as the file means them, no texts."""
    labels: List[Label]
    source: str
    option: str
    asked: ColumnNames
    need_pair: Optional[bool]
    paired: bool
    empty_rows: np.ndarray  # int64: the examples whose text (or pair) is blank
    notes: List[str] = field(default_factory=list)
    column_names: dict = field(default_factory=dict)
    keys: np.ndarray = None  # int64: each example's text hash (leaks.text_key)
    rows: np.ndarray = None  # int64: each example's row in its file

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, indices) -> FileRows:
        rows = np.asarray(indices, dtype=np.int64)
        return FileRows(self.source, self.option, self.asked, self.need_pair, rows, len(self),
                        int(np.isin(rows, self.empty_rows).sum()), self.column_names, self.paired)


def scan_examples(path, option: str = "train_path", asked: ColumnNames = ColumnNames(), *, need_pair=None,
                  dataset: Optional[str] = None, label_sep: Optional[str] = None) -> Scan:
    """The first pass: every row checked as read_examples checks it (the same UserErrors), the labels
    kept, each chunk's texts dropped once checked."""
    rows = CheckedRows(path, option, asked, need_pair=need_pair, label_sep=label_sep)
    labels = []
    for _, _, chunk_labels in rows:
        labels += chunk_labels
    return Scan(rows.meant(labels, dataset), str(path), option, asked, need_pair, rows.columns.pair is not None,
                np.asarray(rows.empty_rows, dtype=np.int64), rows.notes(), rows.columns.names, *rows.file_keys())


def stream_texts(splits: Dict[str, FileRows], size: int) -> Iterator[Tuple[str, List[str], Optional[List[str]]]]:
    """(split, texts, pairs or None) of `size` texts (a split's last piece: the rest), each split's in
    order: one pass over each file, serving every split drawn from it (train and the valid rows held
    out of it). Holds one reader chunk and less than `size` texts per split; UserError if a file no
    longer holds the examples the first pass counted."""
    by_file = {}
    for split, part in splits.items():
        by_file.setdefault((part.path, part.option), []).append(split)
    for names in by_file.values():
        first = splits[names[0]]
        reader = CheckedRows(first.path, first.option, first.asked, need_pair=first.need_pair)
        waiting = {split: ([], [] if splits[split].paired else None) for split in names}
        for texts, pairs, _ in reader:
            begin = reader.count - len(texts)  # the chunk's first example
            for split in names:
                rows = splits[split].rows
                lo, hi = np.searchsorted(rows, [begin, reader.count])
                held, held_pairs = waiting[split]
                held += [texts[i - begin] for i in rows[lo:hi]]
                if held_pairs is not None:
                    held_pairs += [pairs[i - begin] for i in rows[lo:hi]]
                while len(held) >= size:
                    yield split, held[:size], held_pairs[:size] if held_pairs is not None else None
                    del held[:size]
                    if held_pairs is not None:
                        del held_pairs[:size]
        if reader.count != first.examples:
            raise UserError(f"{reader.where}: changed while being read: {reader.count} examples now, "
                            f"{first.examples} in the first pass")
        for split in names:
            held, held_pairs = waiting[split]
            if held:
                yield split, held, held_pairs
