"""Fetch a named data set from its official home: progress bar, checksum, retries, atomic rename.

A file is streamed into a temporary sibling, hashed on the way, and renamed into place only when
it is complete and its checksum matches; a bad checksum leaves nothing behind. Archives are
unpacked into a temporary folder (tar's "data" filter refuses absolute paths and links out of the
tree) and moved into place whole.
"""
import hashlib
import os
import shutil
import tarfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from tqdm.auto import tqdm

from ..errors import UserError

MIRROR_ENV = "BERT_HPO_MIRROR"  # a base URL that serves the same file names (a company mirror)


@dataclass(frozen=True)
class Source:
    url: str
    file: str  # name in the data folder
    checksum: Optional[str]  # "sha256:<hex>" or "md5:<hex>" as published; None where none exists
    unpack: bool = False  # a .tar.gz unpacked in the data folder


SOURCES = {
    "imdb": [Source("https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz", "aclImdb_v1.tar.gz",
                    "md5:7c2ac02c03563afcf9b574c7e56c153a", unpack=True)],
    "nsmc": [Source("https://raw.githubusercontent.com/e9t/nsmc/master/ratings_train.txt", "ratings_train.txt",
                    "sha256:e03b7d14e9e41be8d464a28057cd25d7396c53e67aa7fd5f7e552c59b0ee2940"),
             Source("https://raw.githubusercontent.com/e9t/nsmc/master/ratings_test.txt", "ratings_test.txt",
                    "sha256:8ac9f64052f11dbf6ae0acb5e038f03d90a76f0eda7820cfb3a92d02edfcebda")],
    "korquad": [Source("https://korquad.github.io/dataset/KorQuAD_v1.0_train.json", "KorQuAD_v1.0_train.json",
                       "sha256:40d5115879a701751781df721d901abfa736d8db5f89000f2619433f39bf2dd2"),
                Source("https://korquad.github.io/dataset/KorQuAD_v1.0_dev.json", "KorQuAD_v1.0_dev.json",
                       "sha256:25ffeb51e6c51ec02c071b60a10188e10005c144110f0d876b26079d80a35bdf")],
}


def source_url(source: Source) -> str:
    mirror = os.environ.get(MIRROR_ENV)
    return f"{mirror.rstrip('/')}/{source.file}" if mirror else source.url


def download(source: Source, folder: Path, *, retries: int = 3, timeout: float = 60,
             progress: bool = True) -> Path:
    """Download one file into `folder`; returns its path. UserError when it cannot be had."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / source.file
    url = source_url(source)
    algorithm, expected = source.checksum.split(":", 1) if source.checksum else (None, None)
    partial = folder / f".{source.file}.partial-{os.getpid()}"
    last_error = None
    for attempt in range(1, retries + 1):
        try:
            digest = hashlib.new(algorithm) if algorithm else None
            with urllib.request.urlopen(url, timeout=timeout) as response, open(partial, "wb") as out:
                total = int(response.headers.get("Content-Length") or 0) or None
                with tqdm(total=total, unit="B", unit_scale=True, desc=f"downloading {source.file}",
                          disable=not progress) as bar:
                    while chunk := response.read(1 << 20):
                        out.write(chunk)
                        if digest:
                            digest.update(chunk)
                        bar.update(len(chunk))
            if digest and digest.hexdigest() != expected:
                partial.unlink(missing_ok=True)
                raise UserError(f"{url}: checksum mismatch ({algorithm} {digest.hexdigest()}, expected "
                                f"{expected}); the file was discarded")
            os.replace(partial, target)
            return target
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as e:
            partial.unlink(missing_ok=True)
            last_error = getattr(e, "reason", e)
            if isinstance(e, urllib.error.HTTPError) and e.code < 500:
                break  # a 404 will not heal on retry
            if attempt < retries:
                time.sleep(min(2 ** attempt, 10))
    raise UserError(f"could not download {url} ({last_error}); download it by hand into {folder} "
                    f"(or point --data-dir / BERT_HPO_DATA_DIR at a folder that has it)")


def unpack(archive: Path, folder: Path) -> None:
    """Unpack a .tar.gz into `folder`, each top-level entry moved into place only when complete."""
    staging = folder / f".unpack-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(staging, filter="data")
        for entry in staging.iterdir():
            target = folder / entry.name
            if target.exists():
                shutil.rmtree(target) if target.is_dir() else target.unlink()
            os.replace(entry, target)
    except (tarfile.TarError, OSError) as e:
        raise UserError(f"{archive}: cannot unpack ({e}); delete it and run again to download it anew") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def fetch(name: str, folder: Path, *, progress: bool = True, sources=None) -> None:
    """Download (and unpack) what `name` needs into `folder`, skipping what is already there."""
    for source in (sources or SOURCES)[name]:
        path = folder / source.file
        if not path.exists():
            path = download(source, folder, progress=progress)
        if source.unpack:
            unpack(path, folder)
