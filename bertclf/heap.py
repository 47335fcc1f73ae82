"""The C heap's free memory given back to the system: glibc's malloc_trim, where the C library is glibc.

glibc keeps what freed tensors held in its arenas (one per thread that allocated, up to 8 a core) and,
under batches of many shapes, reuses little of it, so the peak of a long encoder pass grows with the
texts it reads. bench/pass_memory.py (6,000 IMDB reviews in 256-token windows, six feature variants,
2 threads, one process): 3.48 GB left alone, 3.04 GB trimmed every TRIM_EVERY_S seconds, 3% slower. A
search's FeaturePasses actor runs a thread per waiting trial, so a search's Ray workers also get two
arenas (distributed/ray_session.py; bench/results/pass_memory/README.md). The training loop trims too:
fine-tuning `chunks` on all of IMDB (512-token windows, 2 gloo workers) grew each worker to 7-8 GB, most of it
free heap that one malloc_trim took to 2-4 GB (bench/results/imdb_chunks/README.md). Trimming after every batch
would make the next batch fault the pages in again.
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
