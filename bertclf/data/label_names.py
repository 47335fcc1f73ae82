"""The label names of the shipped classification data sets: what their label ids (0, 1, ...) read as,
the one place that maps them. A file given as one of these data sets (its published file, an
aclImdb folder, or a user's file of the same layout) has its labels read as these names on every
path: training, search, test scoring, prediction and every table, whether it holds the ids or the
names already."""
from typing import Dict, List, Optional

LABEL_NAMES: Dict[str, List[str]] = {
    "imdb": ["negative", "positive"],  # aclImdb's neg/pos folders; the CSVs' 0/1
    "nsmc": ["negative", "positive"],  # NSMC's label column: 0 negative, 1 positive
}


def label_names_of(dataset: Optional[str]) -> Optional[List[str]]:
    """The names of `dataset`'s label ids (index = id); None for your own data (dataset None)."""
    return None if dataset is None else LABEL_NAMES[dataset]
