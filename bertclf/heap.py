"""The C heap's free memory given back to the system: glibc's malloc_trim, where the C library is glibc.

glibc keeps what freed tensors held in its arenas (one per thread that allocated, up to 8 a core), and
under batches of many shapes it reuses little of it: an encoder pass over 12,000 IMDB reviews cut into
windows (all-MiniLM-L6-v2, 256 tokens, six feature variants, 2 threads; bench/pass_memory.py) peaked at
7.6 GB with 1.8 GB live, and the peak grows with the texts read. Trimmed every TRIM_EVERY_S seconds it
peaked at 5.3 GB; with two arenas as well (MALLOC_ARENA_MAX=2, which a search's Ray workers get:
distributed/ray_session.py) at 3.9 GB, 4% slower than neither. Trimming after every batch was 10-28%
slower: the pages given back are faulted in again.
"""
import ctypes
import ctypes.util
import os
import time
from typing import Optional

TRIM_EVERY_S = 10.0

_TRIM = getattr(ctypes.CDLL(ctypes.util.find_library("c")), "malloc_trim", None) if os.name == "posix" else None


def trim_heap() -> None:
    """Give the heap's free pages back now (nothing where the C library has no malloc_trim)."""
    if _TRIM is not None:
        _TRIM(0)


class PeriodicTrim:
    """tick() after each unit of a long loop: trim_heap() once every `every` seconds (TRIM_EVERY_S)."""

    def __init__(self, every: Optional[float] = None):
        self.every, self.last = TRIM_EVERY_S if every is None else every, time.perf_counter()

    def tick(self) -> None:
        now = time.perf_counter()
        if now - self.last >= self.every:
            trim_heap()
            self.last = time.perf_counter()
