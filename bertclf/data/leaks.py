"""Texts of a validation or test split that are also train texts (a leak: their scores overstate how
the model does on new texts).

Each example is kept as an 8-byte hash of its text (and pair) with runs of whitespace made one space,
so a 400,000-row file costs 3.2 MB and one pass; rows whose text is blank never count as shared.
"""
import hashlib
from typing import Optional

import numpy as np

BLANK = 0  # the key of a blank text: never a leak
SHOWN_ROWS = 5


def text_key(text: str, pair: Optional[str] = None) -> int:
    """The example's hash (int64); BLANK for a blank text."""
    normal = " ".join(text.split()) + ("" if pair is None else "\x1f" + " ".join(pair.split()))
    if not normal.strip("\x1f"):
        return BLANK
    return int.from_bytes(hashlib.blake2b(normal.encode("utf-8"), digest_size=8).digest(), "little", signed=True)


def leak_note(train_keys: np.ndarray, keys: np.ndarray, rows: np.ndarray, what: str) -> Optional[str]:
    """'note: 15 of the 20 valid texts ...' naming the first rows (`rows`: each example's row in its
    file), or None when no text of `keys` is also in train."""
    shared = np.isin(keys, train_keys) & (keys != BLANK)
    count = int(shared.sum())
    if not count:
        return None
    first = ", ".join(str(int(r)) for r in rows[shared][:SHOWN_ROWS]) + (" ..." if count > SHOWN_ROWS else "")
    return (f"note: {count} of the {len(keys)} {what} texts also appear in train (the same text, whitespace "
            f"aside; row {first}): their scores overstate how the model does on new texts")
