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

Object storage (s3://, gs://, hdfs://) offers no lock: there the lock beside the output folder on
this machine still guards one machine; a lease object in the bucket is not built, so two machines
starting the same search into one bucket are not stopped.
"""
import fcntl
import json
import os
import socket
import time
from contextlib import contextmanager
from pathlib import Path
from typing import List, Optional

from bertclf.errors import UserError

_held: List[int] = []  # the open lock files of this process's search (their descriptors hold the locks)
_paths: List[Path] = []


def lock_path(folder) -> Path:
    folder = Path(folder)
    return folder.parent / f".{folder.name}.lock"


def hold(name: str, folders, notes: list) -> None:
    """Lock every folder of `folders` (local paths; URIs are skipped) for search `name` until
    release(); a UserError when another living process holds one; a note in `notes` for each stale
    lock taken over."""
    for folder in dict.fromkeys(str(f) for f in folders if "://" not in str(f)):
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
            raise UserError(f"search {name} is running ({_describe(holder)}); wait for it, or use --name") from None
        # the holder before us may have removed the file between our open and our lock: lock the file
        # that is at the path now, not a removed one
        if _same_file(fd, path):
            break
        os.close(fd)
    previous = _read(fd)
    if previous:
        notes.append(f"note: the lock of search {name} was held by a process that is gone "
                     f"({_describe(previous)}): taken over")
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps({"host": socket.gethostname(), "pid": os.getpid(),
                              "since": time.strftime("%Y-%m-%d %H:%M:%S")}).encode(), 0)
    _held.append(fd)
    _paths.append(path)


def release() -> None:
    """Remove and unlock every lock this process holds (the removal comes first: a waiting process
    that then locks the removed file sees it is not the path's file and opens the new one)."""
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


def _describe(holder: Optional[dict]) -> str:
    if not holder:
        return "its holder has not said who it is"
    return f"pid {holder.get('pid')} on {holder.get('host')}, since {holder.get('since')}"
