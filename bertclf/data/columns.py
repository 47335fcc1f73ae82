"""Which columns of a table hold the text, the second text of a pair, and the label.

Named by the user (--text_column, --text_pair_column, --label_column), or found by their header names;
a delimited file's first row is a header when it names a known column, or when it cannot be data (its
value in a label-like column occurs nowhere else in that column). A headerless file must have two
columns, one of them label-like (a few short values that repeat): label first (the Yelp / Amazon
polarity layout) or text first (also when both look alike, as in a tiny file). Anything else is refused with the header and the option to pass.
"""
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import pandas as pd

from ..errors import UserError

TEXT_COLUMNS = ("text", "document", "review", "sentence", "content")
LABEL_COLUMNS = ("label", "sentiment", "polarity", "labels", "class", "score", "rating")
# header pairs of sentence-pair tasks (GLUE's MRPC/RTE/QNLI/QQP, NLI): first text, second text
PAIR_COLUMNS = (("sentence1", "sentence2"), ("question", "sentence"), ("premise", "hypothesis"),
                ("question1", "question2"), ("text_a", "text_b"), ("text", "text_pair"))
LABEL_MAX_CHARS = 50  # a longer value in a label column is a text that landed there
LABEL_MAX_WORDS = 6


@dataclass(frozen=True)
class ColumnNames:
    """The columns a user named; None: found from the header."""
    text: Optional[str] = None
    pair: Optional[str] = None
    label: Optional[str] = None
    labels: Optional[Tuple[str, ...]] = None  # several 0/1 columns, one per label (multi-label)

    @classmethod
    def of(cls, config) -> "ColumnNames":
        labels = tuple(n.strip() for n in config.label_columns.split(",")) if config.label_columns else None
        return cls(config.text_column, config.text_pair_column, config.label_column, labels)

    @classmethod
    def from_dict(cls, values: dict) -> "ColumnNames":
        """The names to_dict wrote (a saved model's metadata)."""
        return cls(**{**values, "labels": tuple(values["labels"]) if values.get("labels") else None})

    def to_dict(self) -> dict:
        return {"text": self.text, "pair": self.pair, "label": self.label,
                **({"labels": list(self.labels)} if self.labels else {})}


@dataclass(frozen=True)
class Columns:
    """Where the chosen columns are in a table's frames, and their names for messages."""
    text: object  # a frame's column key (a name, or a position in a headerless file)
    pair: object
    label: object
    header: Optional[List[str]]  # a delimited file's header row (skipped as data); None: named format or none
    names: dict  # "text"/"pair"/"label" -> the name shown in messages

    @property
    def has_header_row(self) -> bool:
        return self.header is not None


def _norm(value) -> str:
    return str(value).strip().lower()


def label_like(values: pd.Series) -> bool:
    """A few short values that repeat: what a label column looks like."""
    values = values.astype(str).str.strip()
    distinct = values.nunique()
    return (len(values) > 0 and values.str.len().max() <= LABEL_MAX_CHARS
            and distinct <= max(2, min(100, len(values) // 2)))


def is_long_label(value: str) -> bool:
    return len(value) > LABEL_MAX_CHARS or len(value.split()) > LABEL_MAX_WORDS


def _looks_like_header(first: list, rows: pd.DataFrame) -> bool:
    """The first row cannot be data: in some label-like column its value occurs in no other row."""
    if len(rows) < 2:
        return False
    return any(label_like(rows[c]) and _norm(first[i]) not in set(rows[c].map(_norm))
               for i, c in enumerate(rows.columns))


def choose(table, sample: pd.DataFrame, asked: ColumnNames, *, need_label: bool, need_pair=None) -> Columns:
    """Columns of `table` from its first rows `sample`; UserError naming the header and the option to pass.

    need_pair: True/False when the model decides (a saved model takes pairs or not); None: found here."""
    where = table.where
    if table.named:
        return _by_name(list(sample.columns), list(sample.columns), None, asked, need_label, need_pair, where)
    first = [str(v) for v in sample.iloc[0].tolist()]
    known = {_norm(n) for n in (*TEXT_COLUMNS, *LABEL_COLUMNS, *(p for pair in PAIR_COLUMNS for p in pair))}
    asked_names = {_norm(n) for n in (asked.text, asked.pair, asked.label, *(asked.labels or ())) if n}
    named_here = {_norm(v) for v in first} & (known | asked_names)
    if named_here or _looks_like_header(first, sample.iloc[1:]):
        return _by_name(first, list(sample.columns), first, asked, need_label, need_pair, where)
    if asked_names:
        shown = ", ".join(f"--{o} {n}" for o, n in zip(("text_column", "text_pair_column", "label_column"),
                                                       asked.to_dict().values()) if n)
        raise UserError(f"{where}: {shown}: the first row {_short(first)} is not a header naming that column; "
                        f"add a header row")
    return _headerless(sample, first, need_label, where)


def indicator_columns(columns: Columns, keys: list, names: Sequence[str], where: str) -> list:
    """The frame keys of the 0/1 label columns `names` (--label_columns); UserError naming a missing one."""
    header = [str(h) for h in (columns.header if columns.has_header_row else keys)]
    lowered = [_norm(h) for h in header]
    for name in names:
        if _norm(name) not in lowered:
            raise UserError(f"{where}: --label_columns {name}: no such column in the header {_short(header)}")
    return [keys[lowered.index(_norm(name))] for name in names]


def _short(row: list) -> str:
    return "[" + ", ".join(repr(v if len(v) <= 30 else v[:27] + "...") for v in row) + "]"


def _by_name(header: list, keys: list, header_row, asked: ColumnNames, need_label, need_pair, where) -> Columns:
    lowered = [_norm(h) for h in header]

    def find(name):
        return lowered.index(_norm(name)) if _norm(name) in lowered else None

    chosen = {}
    for role, option in (("text", "text_column"), ("pair", "text_pair_column"), ("label", "label_column")):
        name = getattr(asked, role)
        if name:
            if find(name) is None:
                raise UserError(f"{where}: --{option} {name}: no such column in the header {_short(header)}")
            chosen[role] = find(name)
    if "text" not in chosen and "pair" not in chosen and need_pair is not False:
        for a, b in PAIR_COLUMNS:
            if find(a) is not None and find(b) is not None:
                chosen["text"], chosen["pair"] = find(a), find(b)
                break
    def first_found(names):
        return next((find(n) for n in names if find(n) is not None), None)

    for role, names in (("text", TEXT_COLUMNS), ("label", LABEL_COLUMNS)):
        if role not in chosen and first_found(names) is not None:
            chosen[role] = first_found(names)
    missing = [role for role in ("text", "label") if role not in chosen and (role == "text" or need_label)]
    if need_pair and "pair" not in chosen:
        missing.append("pair")
    if missing:
        options = {"text": ("--text_column", TEXT_COLUMNS), "label": ("--label_column", LABEL_COLUMNS),
                   "pair": ("--text_pair_column", ())}
        wanted = "; ".join(f"no {role} column" + (f" (known names: {', '.join(options[role][1])})"
                                                  if options[role][1] else " (the model takes sentence pairs)")
                           for role in missing)
        passes = " and ".join(f"{options[role][0]} NAME" for role in missing)
        raise UserError(f"{where}: the header {_short(header)} names {wanted}; pass {passes} "
                        f"(a search: --set fixed.{options[missing[0]][0][2:]}=NAME)")
    if need_pair is False and "pair" in chosen:
        del chosen["pair"]
    return Columns(text=keys[chosen["text"]], pair=keys[chosen["pair"]] if "pair" in chosen else None,
                   label=keys[chosen["label"]] if "label" in chosen else None, header=header_row,
                   names={role: str(header[i]) for role, i in chosen.items()})


def _headerless(sample: pd.DataFrame, first: list, need_label: bool, where: str) -> Columns:
    n = sample.shape[1]
    if n == 1 and not need_label:
        return Columns(text=sample.columns[0], pair=None, label=None, header=None, names={"text": "column 1"})
    if n == 2:
        like = [c for c in sample.columns if label_like(sample[c])]
        if like:  # both alike (a tiny file): text,label, the usual order
            label = like[0] if len(like) == 1 else sample.columns[1]
            text = next(c for c in sample.columns if c != label)
            return Columns(text=text, pair=None, label=label, header=None,
                           names={"text": f"column {text + 1}", "label": f"column {label + 1}"})
        raise UserError(f"{where}: no header, and neither of the 2 columns looks like a label (a few short values "
                        f"that repeat) more than the other; first row {_short(first)}. Add a header row naming "
                        f"them, e.g. text,label")
    raise UserError(f"{where}: the first row {_short(first)} is neither a header naming a text column "
                    f"({', '.join(TEXT_COLUMNS)}) and a label column ({', '.join(LABEL_COLUMNS)}) nor two columns "
                    f"text,label; add a header row and pass --text_column NAME --label_column NAME")
