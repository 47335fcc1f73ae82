"""Ctrl-C (SIGINT), SIGTERM and SIGHUP mean one thing in every phase of a search, from reading the
data to the refit: stop, keep what finished, say so in one line, exit 128 + the signal's number
(130, 143, 129). SIGTERM is what Slurm, Kubernetes, a spot reclaim or `timeout` send before SIGKILL.

Three owners compete for these signals, and the search's handler wins each time:
- Ray's core worker installs a C++ handler for SIGTERM in ray.init (a stack dump, then abort, exit
  134): install() again after Ray starts.
- Ray Tune installs its own SIGINT handler in every Tuner.fit and leaves it there afterwards (ray
  issue 37737), so that a later Ctrl-C (test scoring, export, refit) only sets a flag nobody reads.
  install() sets TUNE_DISABLE_SIGINT_HANDLER (ray_compat), so Tune installs none; while a Tuner runs
  (stopping_tune), the first signal of any kind is passed to Tune's other stop signal, SIGUSR1:
  Tune stops the trials in flight and saves the experiment state, as it does for its own Ctrl-C.
- A second signal, or any signal outside a Tuner, raises Interrupted where the search is.
- Ray's shutdown resets SIGTERM to its default action (its core worker's shutdown, before Ray's
  processes are stopped): the handler is installed again after it, and a signal noted during it is
  raised only once it is over (deferred). A SIGTERM between that reset and the end of the shutdown
  still ends the process by the default action (status -15, no line); Tune's state is saved by then.
A SIGKILL leaves Tune's last periodic state, which --resume reads (a trial whose newest checkpoint
was deleted is run again: search.fit).
"""
import os
import signal
import sys
import threading
from contextlib import contextmanager

from . import ray_compat

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_received = []  # the signals received, first first
_tune_running = threading.Event()
_deferring = threading.Event()


class Interrupted(KeyboardInterrupt):
    """A signal asked the search to stop: a KeyboardInterrupt, so that every phase that cleans up
    after Ctrl-C cleans up after SIGTERM and SIGHUP too; its text says what was kept."""


_before = {}  # what start() found: the handlers and TUNE_DISABLE_SIGINT_HANDLER, for finish()


def start() -> None:
    """A search begins: no signal seen yet (an earlier search in this process may have seen one);
    the caller's handlers and Tune's setting are kept for finish()."""
    _received.clear()
    if threading.current_thread() is threading.main_thread():
        _before.update({number: signal.getsignal(number) for number in SIGNALS},
                       tune=ray_compat.tune_sigint_setting())
    install()


def finish() -> None:
    """The search has ended: the handlers and TUNE_DISABLE_SIGINT_HANDLER are the caller's again."""
    if not _before:
        return
    ray_compat.restore_tune_sigint(_before.pop("tune"))
    for number, handler in _before.items():
        signal.signal(number, handler)
    _before.clear()


def install() -> None:
    """The search's handler for SIGINT, SIGTERM and SIGHUP (signal handlers belong to the main
    thread: elsewhere, as in a test's thread, nothing is changed)."""
    if threading.current_thread() is not threading.main_thread():
        return
    ray_compat.keep_tune_off_sigint()
    for number in SIGNALS:
        signal.signal(number, _handle)


def _handle(number, frame):
    first = not _received
    _received.append(number)
    if _deferring.is_set():
        return
    if first and _tune_running.is_set():
        os.kill(os.getpid(), ray_compat.TUNE_STOP_SIGNAL)  # Tune stops the trials and saves its state, then fit returns
        return
    # where the search knows more (how many trials ran), it says so: interrupts.kept, search.fit
    raise Interrupted("the finished trials are kept")


@contextmanager
def stopping_tune():
    """Around a Tuner.fit(): the first signal stops the Tuner (its state saved), fit returns, and
    received() says so; the search's handler is the one installed afterwards."""
    install()
    _tune_running.set()
    try:
        yield
    finally:
        _tune_running.clear()
        install()


@contextmanager
def deferred():
    """Around Ray's shutdown: a signal is noted, not raised (a shutdown cut short leaves Ray's
    processes behind), and raised once the block has ended, unless the search is ending already (an
    exception on its way out, as in a finally: it says what happened, and the exit status is still
    the signal's); the handler is installed again afterwards, for the shutdown resets SIGTERM to its
    default action."""
    ending = sys.exc_info()[0] is not None
    arrived = len(_received)
    _deferring.set()
    try:
        yield
    finally:
        _deferring.clear()
        install()
    if len(_received) > arrived and not ending:
        raise Interrupted("as Ray shut down after the search: its outputs are written")


@contextmanager
def kept(what: str):
    """A signal (or Ctrl-C) in the block ends the search as Interrupted(what): what was kept."""
    try:
        yield
    except KeyboardInterrupt:
        raise Interrupted(what) from None


def received() -> bool:
    return bool(_received)


def check() -> None:
    """Raise Interrupted if a signal arrived (one that stopped a Tuner, which then returned)."""
    if _received:
        raise Interrupted("the finished trials are kept")


def exit_code() -> int:
    """128 + the number of the first signal received (130 for Ctrl-C when none was seen here: a
    KeyboardInterrupt raised by Python's own handler)."""
    return 128 + (_received[0] if _received else signal.SIGINT)
