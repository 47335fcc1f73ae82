"""Where each named data set lives on disk: the data folder's files, in every layout we accept."""
import os
from pathlib import Path
from typing import Dict, Optional

from .errors import UserError

DATA_DIR_ENV = "BERT_HPO_DATA_DIR"

# For each data set and split: the file names accepted, first match wins (.gz optional for files).
LAYOUTS = {
    "imdb": {"train": ["imdb_train.csv", "aclImdb/train", "train.csv"],
             "test": ["imdb_test.csv", "aclImdb/test", "test.csv"]},
    "nsmc": {"train": ["nsmc_train.tsv", "ratings_train.txt"],
             "test": ["nsmc_test.tsv", "ratings_test.txt"]},
}
HOMES = {
    "imdb": "the IMDB archive aclImdb_v1.tar.gz from ai.stanford.edu/~amaas/data/sentiment/ "
            "(unpacked: aclImdb/train, aclImdb/test) or imdb_train.csv.gz / imdb_test.csv.gz",
    "nsmc": "ratings_train.txt and ratings_test.txt from github.com/e9t/nsmc",
}


def default_data_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "bert-hpo" / "data"


def data_dir(explicit: Optional[str] = None) -> Path:
    return Path(explicit or os.environ.get(DATA_DIR_ENV) or default_data_dir())


def find_file(folder: Path, names) -> Optional[Path]:
    for name in names:
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.exists():
                return candidate
    return None


def resolve(name: str, explicit_dir: Optional[str] = None) -> Dict[str, Path]:
    """{"train": path, "test": path} for a named data set; a clear error when it is not there."""
    if name not in LAYOUTS:
        raise UserError(f"unknown data set {name!r}; known: {', '.join(sorted(LAYOUTS))}")
    folder = data_dir(explicit_dir)
    found = {split: find_file(folder, names) for split, names in LAYOUTS[name].items()}
    missing = [split for split, path in found.items() if path is None]
    if missing:
        raise UserError(f"{name}: no {'/'.join(missing)} split in {folder} (looked for "
                        f"{', '.join(LAYOUTS[name][missing[0]])}, optionally .gz); download "
                        f"{HOMES[name]} into it, or point --data-dir / {DATA_DIR_ENV} at a folder "
                        f"that has them")
    return found
