"""Who holds a search's folder: the record a lock file or a lease object holds (host, pid, start
time), and the lines that name it, the same for both kinds of lock (and for the driver that made a
search's Optuna study: study.py)."""
import os
import socket
import time
from typing import Optional

from bertclf.errors import UserError


def me() -> dict:
    """This process's record, written when it takes a lock."""
    return {"host": socket.gethostname(), "pid": os.getpid(), "since": time.strftime("%Y-%m-%d %H:%M:%S")}


def running(pid: int) -> bool:
    """Whether a process of this host runs with id `pid` (another user's counts: it cannot be signalled)."""
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def describe(holder: Optional[dict]) -> str:
    if not holder:
        return "its holder has not said who it is"
    return f"pid {holder.get('pid')} on {holder.get('host')}, since {holder.get('since')}"


def refused(name: str, holder: Optional[dict]) -> UserError:
    return UserError(f"search {name} is running ({describe(holder)}); wait for it, or use --name")


def taken_over(name: str, holder: Optional[dict], why: str) -> str:
    return f"note: the lock of search {name} was held by {why} ({describe(holder)}): taken over"
