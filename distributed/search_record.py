"""What a search was started with, and whether it finished, kept beside its trials (search.json in
the storage path): a resume reads it before Ray starts, because a restored Ray Tune search keeps the
trial count it began with and cannot be given another, and a finished search has nothing to resume."""
import json
from pathlib import Path
from typing import Optional

from bertclf.atomic import write_text

RECORD = "search.json"


def _filesystem(storage: str):
    import pyarrow.fs as pafs
    if "://" in storage:
        return pafs.FileSystem.from_uri(storage)
    return pafs.LocalFileSystem(), storage


class SearchFinishedAlready(Exception):
    """--resume of a search whose trials had all finished: nothing ran, its outputs stand as written
    (its trials' checkpoints may be deleted, so they are not exported again)."""


def finished_already(trials: int, out_dir: Path) -> SearchFinishedAlready:
    return SearchFinishedAlready(f"this search had finished already ({trials} trials, none run now): its "
                                 f"outputs are in {out_dir}")


def write_record(storage: str, num_samples: int, finished: Optional[int] = None, refit_pending: bool = False) -> None:
    """finished: the number of trials of a search that ended with its outputs written and no trial
    failed (a resume would run the failed ones again). refit_pending: the trials' outputs are written and
    the refit has not finished (it failed, or was interrupted): a resume runs it, even with no trial to run.
    Whole or not at all: a local file through bertclf.atomic (a full disk leaves no half record for a
    resume to read); an object store's put is whole by itself."""
    text = json.dumps({"num_samples": num_samples, **({"finished": finished} if finished is not None else {}),
                       **({"refit": "pending"} if refit_pending else {})})
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


def refit_pending(storage: str) -> bool:
    """Whether the search in `storage` wrote its trials' outputs and has a refit still to run."""
    return (read_record(storage) or {}).get("refit") == "pending"
