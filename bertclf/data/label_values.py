"""What one cell of a label column means, whichever reader it came through (CSV, TSV, JSON Lines,
Parquet, a `datasets` folder): the one place that decides it.

- Only an empty cell is a missing label: a blank string, a JSON null, an Arrow null or NaN. Words such
  as NONE, NA, null, nan or N/A are labels like any other (the SemEval stance labels FAVOR / AGAINST /
  NONE).
- A plain number is a number, so that one value is one label in every format and every file: `1`, `1.0`
  and `1.00` in a CSV, 1 in Parquet and 1.0 in JSON are the label 1. A plain number is an optional
  minus sign, digits without a leading zero, and optionally a point and digits. Its written form: a whole
  number without a point (`1`), any other in its shortest form (`2.50` shows as `2.5`).
- Any other value is text exactly as written, less leading and trailing whitespace (a cell's padding,
  which the layout of a delimited file puts there, not the annotator): codes such as `007`, `1e3`, `+1`
  keep their spelling; a typed boolean reads as pandas writes it to a CSV (`True`, `False`).
"""
import re
from decimal import Decimal
from typing import Iterable, List, Optional, Union

import numpy as np

Label = Union[int, float, str]
PLAIN_NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?")


def label_value(value) -> Optional[Label]:
    """The label a cell holds (see the module's rules); None for an empty cell."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, np.floating):  # its shortest decimals: a float32's 0.1, not 0.10000000149011612
        return _number(float(str(value)))
    if isinstance(value, float):
        return _number(value)
    text = str(value).strip()
    if not text:
        return None
    if not PLAIN_NUMBER.fullmatch(text):
        return text
    exact = Decimal(text)  # a whole number of any length stays exact: 17-digit ids must not merge
    return int(exact) if exact == exact.to_integral_value() else float(exact)


def _number(value: float) -> Union[int, float]:
    return int(value) if value.is_integer() else value


def is_list(value) -> bool:
    """A cell holding several values (a JSON or Parquet list): several labels of one text."""
    return isinstance(value, (list, tuple, dict, np.ndarray))


def label_text(label: Label) -> str:
    """A label's written form, as every message, table and file shows it."""
    return repr(label) if isinstance(label, float) else str(label)


def label_order(labels: Iterable[Label]) -> List[Label]:
    """The distinct labels in their saved order: numbers by value, then texts in code-point order."""
    return sorted(set(labels), key=lambda label: (isinstance(label, str), label))


def column_values(series) -> list:
    """A frame column's cells for label_value: Python values, but a float32 column's (Parquet's) as
    NumPy's float32, whose decimals label_value keeps."""
    return list(series.to_numpy()) if series.dtype == np.float32 else series.tolist()
