"""One search per folder: a search holds an exclusive OS file lock (fcntl.flock) for its whole life,
taken before anything is checked against its folder and before Ray starts, so that the same command
run twice (two terminals, a scheduler retrying a job that still runs) cannot put two searches into
one folder: the second is told who holds it and stops.

The lock file is `.NAME.lock` beside the search's output folder (and beside its storage folder when
that is another local folder), not inside it: taking the lock creates no search folder, so a search
refused or interrupted before its trials leaves nothing that would block the same command. The file
holds the holder's host, pid and start time for the refusal line; it is removed when the search
ends. A file left by a process that is gone (SIGKILL, a lost machine) holds no OS lock any more: it
is taken over, with a note.

Object storage offers no file lock: an s3:// storage is held by a lease object in the bucket
(search_lease), beside the lock of the output folder on this machine. gs:// and hdfs:// storage
is not held: there only the output folder on this machine is locked.
"""
import fcntl
import json
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import List, Optional

from . import search_lease
from .lock_holder import me, refused, taken_over

_held: List[int] = []  # the open lock files of this process's search (their descriptors hold the locks)
_paths: List[Path] = []
_leases: List[search_lease.Lease] = []  # the lease objects of this process's search (s3:// storage)


def lock_path(folder) -> Path:
    folder = Path(folder)
    return folder.parent / f".{folder.name}.lock"


def hold(name: str, folders, notes: list) -> None:
    """Lock every folder of `folders` (local paths, or s3:// URIs by a lease; other URIs are skipped)
    for search `name` until release(); a UserError when another living process holds one; a note in
    `notes` for each stale lock taken over."""
    for folder in dict.fromkeys(str(f) for f in folders):
        if folder.startswith("s3://"):
            if search_lease.lease_place(folder) not in [(lease.bucket, lease.key) for lease in _leases]:
                _leases.append(search_lease.take(name, folder, notes))
        elif "://" not in folder:
            _take(name, lock_path(folder), notes)


@contextmanager
def holding(name: str, folders, notes: list):
    """hold() for a search's preparation: the locks outlive the block, unless it raises (a search that
    fails before it runs frees its folders at once)."""
    hold(name, folders, notes)
    try:
        yield
    except BaseException:
        release()
        raise


def _take(name: str, path: Path, notes: list) -> None:
    if path in _paths:  # this process's search holds it already (a plan made twice in one process)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(path)
            os.close(fd)
            raise refused(name, holder) from None
        # the holder before us may have removed the file between our open and our lock: lock the file
        # that is at the path now, not a removed one
        if _same_file(fd, path):
            break
        os.close(fd)
    previous = _read(fd)
    if previous:
        notes.append(taken_over(name, previous, "a process that is gone"))
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(me()).encode(), 0)
    _held.append(fd)
    _paths.append(path)


def release() -> None:
    """Remove and unlock every lock this process holds (the removal comes first: a waiting process
    that then locks the removed file sees it is not the path's file and opens the new one), and
    every lease this process holds."""
    while _leases:
        search_lease.release(_leases.pop())
    while _held:
        fd, path = _held.pop(), _paths.pop()
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        os.close(fd)


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


def _read(fd: int) -> Optional[dict]:
    try:
        return json.loads(os.pread(fd, 4096, 0).decode() or "null")
    except ValueError:
        return None


def _holder(path: Path) -> Optional[dict]:
    """What the holder wrote; it writes just after it locks, so an empty file is read again briefly."""
    for _ in range(20):
        try:
            holder = json.loads(path.read_text() or "null")
        except (OSError, ValueError):
            holder = None
        if holder:
            return holder
        time.sleep(0.05)
    return None

