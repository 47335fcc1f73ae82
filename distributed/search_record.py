"""What a search was started with, kept beside its trials (search.json in the storage path): a
resume reads it before Ray starts, because a restored Ray Tune search keeps the trial count it
began with and cannot be given another."""
import json
from typing import Optional

from bertclf.atomic import write_text

RECORD = "search.json"


def _filesystem(storage: str):
    import pyarrow.fs as pafs
    if "://" in storage:
        return pafs.FileSystem.from_uri(storage)
    return pafs.LocalFileSystem(), storage


def write_record(storage: str, num_samples: int) -> None:
    """Whole or not at all: a local file through bertclf.atomic (a full disk leaves no half record for a
    resume to read); an object store's put is whole by itself."""
    text = json.dumps({"num_samples": num_samples})
    if "://" not in storage:
        write_text(f"{storage}/{RECORD}", text)
        return
    filesystem, root = _filesystem(storage)
    with filesystem.open_output_stream(f"{root.rstrip('/')}/{RECORD}") as f:
        f.write(text.encode())


def read_record(storage: str) -> Optional[dict]:
    """The record of the search in `storage`; None for a search started before records were kept."""
    import pyarrow.fs as pafs
    filesystem, root = _filesystem(storage)
    path = f"{root.rstrip('/')}/{RECORD}"
    if filesystem.get_file_info(path).type != pafs.FileType.File:
        return None
    with filesystem.open_input_stream(path) as f:
        return json.loads(f.read().decode())
