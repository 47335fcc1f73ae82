"""Room held on the storage's disk while the trials run, so that a disk filled during them still
leaves the search's state and its finished trials whole.

Tune writes its state, the searcher's and each trial's result.json in a staging folder of the driver
(under Ray's session folder), then uploads the whole folder to the experiment folder, overwriting
each file in place; on a full disk an upload fails part-way (Tune logs it and goes on), leaving files
cut short there: a finished trial's result.json, or the experiment state a --resume reads, which
then lacks the trials that failed on the full disk. So the trials run with a reserve file in the
experiment folder; when they end on a full disk, the reserve is given back and the staged files are
written over the uploaded ones, each whole (written aside, then renamed)."""
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import List

from bertclf.atomic import atomic_path

from . import ray_compat, space

RESERVE = ".full-disk-reserve"  # in the experiment folder, while the trials run


@contextmanager
def reserved(experiment: str, trials: int, places: List[str]):
    """Hold space.reserve_size(trials) bytes in the (local) experiment folder while the block runs; when it
    ends on a full disk, restore Tune's staged files there, whole, and raise space.DiskFull (told while
    the disk is still full: an error that shows a full disk only as what it broke is known by the full
    folder). A folder on object storage holds nothing: it does not fill."""
    if "://" in experiment:
        yield
        return
    reserve = Path(experiment) / RESERVE
    try:
        with open(reserve, "wb") as f:  # zeros, written: a sparse file would hold no room
            f.write(bytes(space.reserve_size(trials)))
        yield
    except Exception as error:
        full = space.told(error, places)
        if not isinstance(full, space.DiskFull):
            raise
        reserve.unlink(missing_ok=True)
        restore_staged(experiment)
        raise full from error
    finally:
        reserve.unlink(missing_ok=True)


def restore_staged(experiment: str) -> None:
    """Write every file Tune staged for `experiment` over its uploaded copy, each whole."""
    staged = ray_compat.driver_staging_folder(Path(experiment).name)
    if staged is None:
        return
    for source in Path(staged).rglob("*"):
        if source.is_file():
            with atomic_path(Path(experiment) / source.relative_to(staged)) as target:
                shutil.copyfile(source, target)
