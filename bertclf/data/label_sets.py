"""What one row's cells mean as a set of labels (multi-label data), whichever reader they came through:

- a delimited cell (MovieLens' `Action|Comedy`, split on the separator the user names),
- a list cell (JSON Lines' `["Action", "Comedy"]`, a Parquet or `datasets` list, or such a list written
  out as text in a CSV cell),
- or several 0/1 columns, one per label (`--label_columns action,comedy`): a column's name is its label.

Each part is a label as label_values reads a single one (so `1` and `1.0` are one label). An empty cell,
an empty list, or a row of 0s is the empty set: a text with none of the labels is data, not a missing
label (most comments of a toxicity set carry no label)."""
import ast
import json
from typing import Optional, Sequence, Tuple

from .label_values import Label, is_list, label_value

TRUE_CELLS = {"1", "true", "yes"}
FALSE_CELLS = {"0", "false", "no", ""}


def listed(text: str) -> Optional[list]:
    """The items of a list written as text (`["a", "b"]`, Python's `['a', 'b']`); None for other text."""
    text = text.strip()
    if not (text.startswith("[") and text.endswith("]")):
        return None
    for parse in (json.loads, ast.literal_eval):
        try:
            value = parse(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            continue
        return value if isinstance(value, list) else None
    return None


def label_set(value, sep: str) -> Tuple[Label, ...]:
    """The distinct labels a cell holds, in their written order."""
    if isinstance(value, str) and listed(value) is not None:
        value = listed(value)
    if is_list(value):
        parts = [label_value(v) for v in list(value)]
    elif isinstance(value, str):
        parts = [label_value(p) for p in value.split(sep)]
    else:
        parts = [label_value(value)]
    return tuple(dict.fromkeys(p for p in parts if p is not None))


def indicator(value) -> Optional[bool]:
    """A 0/1 cell as a bool (0, 1, 0.0, 1.0, True, False, yes, no; empty is 0); None for anything else."""
    cell = label_value(value)
    if cell is None:
        return False
    text = str(cell).lower()
    if text in TRUE_CELLS:
        return True
    return False if text in FALSE_CELLS else None


def indicator_set(values: Sequence, names: Sequence[str]) -> Tuple[Label, ...]:
    """The labels (column names) whose cell says 1; ValueError naming the first column that is no 0/1."""
    chosen = []
    for value, name in zip(values, names):
        on = indicator(value)
        if on is None:
            raise ValueError(f"column {name!r} holds {str(value)[:40]!r}, not 0 or 1")
        if on:
            chosen.append(label_value(name))
    return tuple(chosen)
