"""Where each named data set lives on disk (every layout we accept), fetched when it is not there."""
import os
from pathlib import Path
from typing import Dict, Optional

from ..errors import UserError
from ..paths import default_cache_dir

DATA_DIR_ENV = "BERT_HPO_DATA_DIR"
OFFLINE_ENV = "BERT_HPO_OFFLINE"  # 1: never download; say what to fetch and where

TASKS = {"imdb": "classification", "nsmc": "classification", "korquad": "qa"}

# For each data set and split: the file names accepted, first match wins (.gz optional for files).
LAYOUTS = {
    "imdb": {"train": ["imdb_train.csv", "aclImdb/train", "train.csv"],
             "test": ["imdb_test.csv", "aclImdb/test", "test.csv"]},
    "nsmc": {"train": ["nsmc_train.tsv", "ratings_train.txt"],
             "test": ["nsmc_test.tsv", "ratings_test.txt"]},
    "korquad": {"train": ["KorQuAD_v1.0_train.json"], "test": ["KorQuAD_v1.0_dev.json"]},
}


def data_dir(explicit: Optional[str] = None) -> Path:
    return Path(explicit or os.environ.get(DATA_DIR_ENV) or Path(default_cache_dir()) / "data")


def find_file(folder: Path, names) -> Optional[Path]:
    for name in names:
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.exists():
                return candidate
    return None


def lookup(name: str, folder: Path) -> Dict[str, Optional[Path]]:
    return {split: find_file(folder, names) for split, names in LAYOUTS[name].items()}


def resolve(name: str, explicit_dir: Optional[str] = None, *, download: bool = True,
            need=("train", "test"), progress: bool = True) -> Dict[str, Path]:
    """{split: path} for a named data set, downloading what is missing (unless download=False)."""
    from .download import SOURCES, fetch
    if name not in LAYOUTS:
        raise UserError(f"unknown data set {name!r}; known: {', '.join(sorted(LAYOUTS))}")
    folder = data_dir(explicit_dir)
    found = lookup(name, folder)
    if any(found[split] is None for split in need):
        offline = not download or os.environ.get(OFFLINE_ENV, "") not in ("", "0")
        if offline and all((folder / s.file).exists() for s in SOURCES[name]):
            offline = False  # everything is here already (e.g. an archive to unpack): no network needed
        if offline:
            missing = [split for split in need if found[split] is None]
            urls = " and ".join(s.url for s in SOURCES[name])
            raise UserError(f"{name}: no {'/'.join(missing)} split in {folder} (looked for "
                            f"{', '.join(LAYOUTS[name][missing[0]])}, optionally .gz) and downloads are "
                            f"off; download {urls} into it, or point --data-dir / {DATA_DIR_ENV} at a "
                            f"folder that has the files")
        fetch(name, folder, progress=progress)
        found = lookup(name, folder)
    missing = [split for split in need if found[split] is None]
    if missing:
        raise UserError(f"{name}: the download did not produce {'/'.join(missing)} in {folder}")
    return {split: path for split, path in found.items() if path is not None}
