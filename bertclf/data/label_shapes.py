"""A label column that holds something other than one class per text: scores, sets of labels, or more
classes than its rows can teach. Each is refused with one UserError naming the file and the column,
what the column looks like and what to do, before any training, rather than trained as hundreds of
classes. Sets of labels are read by --task multilabel, a score column by --task regression; this check is of
a column read as one class per text."""
from collections import Counter
from typing import List, Optional

from ..errors import UserError
from .label_sets import listed
from .label_values import Label, label_text

# Half-star ratings (0.5 ... 5.0) are ten classes; more distinct fractional numbers than this are a score.
MAX_FRACTIONAL_CLASSES = 10
LABEL_SEP = "|"  # the separator of label sets (MovieLens' Action|Comedy)
# Below this many classes a column is learnable whatever its counts (a tiny file's 4 rows of 3 labels).
DOUBTFUL_CLASSES_FROM = 20
# A classifier learns a class from its examples: with fewer than two rows per class on average, or with
# most classes on one row only (which a held-out split can neither train nor score), an integer column
# is an id or a count, not classes.
MIN_ROWS_PER_CLASS = 2


def check_one_class_per_text(labels: List[Label], where: str, column: str) -> None:
    """UserError when `labels` (a train column's, as label_values reads them) are no single-label classes."""
    distinct = Counter(labels)
    problem = _score(distinct) or _label_sets(distinct) or _too_many_classes(distinct, len(labels))
    if problem:
        raise UserError(f"{where}: column {column!r} {problem}")


def _score(distinct: Counter) -> Optional[str]:
    numbers = [v for v in distinct if not isinstance(v, str)]
    if len(numbers) < len(distinct) or len(numbers) <= MAX_FRACTIONAL_CLASSES or \
            all(isinstance(v, int) for v in numbers):
        return None
    return (f"holds {len(numbers)} distinct numbers between {label_text(min(numbers))} and "
            f"{label_text(max(numbers))}, like a score, not classes: pass --task regression to learn the number "
            f"(a search: task: regression in its spec), or bin the scores into a few classes in a column of their own "
            f"and pass it with --label_column NAME")


def _parts(label: Label) -> Optional[list]:
    """The labels a value joins (Action|Comedy, ["a", "b"], ['a', 'b']); None for a single label."""
    if not isinstance(label, str):
        return None
    if label.startswith("[") and label.endswith("]"):
        items = listed(label)
        return None if items is None else [str(v) for v in items]
    return [p.strip() for p in label.split(LABEL_SEP)] if LABEL_SEP in label else None


def _label_sets(distinct: Counter) -> Optional[str]:
    """Values that join labels, and share them: 'Action|Comedy' and 'Action|Drama' (one label holding a
    '|' among others is a label as written)."""
    joined = {label: parts for label in distinct if (parts := _parts(label))}
    part_counts = Counter(p for parts in joined.values() for p in set(parts))
    shared = [p for p, n in part_counts.items() if n > 1 or p in distinct]
    if len(joined) < 2 or not shared:
        return None
    example = next(iter(joined))
    sep = "," if example.startswith("[") else LABEL_SEP
    return (f"holds sets of labels, not one class per text: {len(joined)} of its {len(distinct)} distinct values "
            f"join labels (e.g. {example[:40]!r}, sharing {shared[0][:20]!r} with others); read them as sets with "
            + ("--task multilabel (a search: task: multilabel)" if sep == "," else
               f"--task multilabel --label_sep '{sep}' (a search: task: multilabel)"))


def _too_many_classes(distinct: Counter, rows: int) -> Optional[str]:
    if len(distinct) < DOUBTFUL_CLASSES_FROM or not all(isinstance(v, int) for v in distinct):
        return None
    single = sum(1 for n in distinct.values() if n == 1)
    if len(distinct) * MIN_ROWS_PER_CLASS <= rows and single * 2 <= len(distinct):
        return None
    return (f"holds {len(distinct)} distinct integers in {rows} rows ({single} of them on one row only): more "
            f"classes than a classifier can learn from these rows; this project reads one class per text: is "
            f"--label_column right (an id or a count?), else group the values into fewer classes in a column of "
            f"their own")
