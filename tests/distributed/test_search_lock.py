"""One search per folder: the same command while a search holds its folder is refused before Ray
starts; a lock left by a process that is gone is taken over."""
import os
import signal
import subprocess
import sys
import time

import pytest

from bert_hpo_distributed import search_lock
from bertclf.errors import UserError
from tests.helpers import ROOT, search_cmd

HOLDER = ("import sys, time; from bert_hpo_distributed.search_lock import hold; "
          "hold('imdb-smoke', [sys.argv[1]], []); print('held', flush=True); time.sleep(120)")


@pytest.fixture
def holder(tmp_path):
    """A process that holds the lock of tmp_path/out/imdb-smoke, as a running search does."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path / "out" / "imdb-smoke")], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    yield proc
    proc.kill()
    proc.wait()


@pytest.mark.parametrize("extra", [[], ["--resume"]])
def test_the_same_search_while_one_runs_is_refused_before_ray(tmp_path, holder, extra):
    started = time.perf_counter()
    done = subprocess.run(search_cmd(tmp_path / "data", tmp_path / "out", *extra), cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    assert done.returncode == 2, done.stderr[-3000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: search imdb-smoke is running (pid {holder.pid} on "), lines
    assert lines[0].endswith("); wait for it, or use --name"), lines
    assert time.perf_counter() - started < 60  # refused at once, no Ray started
    assert not (tmp_path / "out" / "imdb-smoke").exists()


def test_a_lock_whose_holder_is_gone_is_taken_over_with_a_note(tmp_path):
    folder = tmp_path / "out" / "s"
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    os.kill(proc.pid, signal.SIGKILL)  # it leaves its lock file behind
    proc.wait()
    assert search_lock.lock_path(folder).exists()
    notes = []
    search_lock.hold("s", [folder], notes)
    try:
        assert len(notes) == 1 and f"pid {proc.pid} on " in notes[0] and notes[0].endswith(": taken over"), notes
        again = subprocess.run([sys.executable, "-c", HOLDER, str(folder)], cwd=ROOT, capture_output=True, text=True,
                               timeout=60)
        assert f"search imdb-smoke is running (pid {os.getpid()} on " in again.stderr, again.stderr[-2000:]
    finally:
        search_lock.release()
    assert not search_lock.lock_path(folder).exists()


def test_a_released_lock_is_taken_without_a_note(tmp_path):
    notes = []
    search_lock.hold("s", [tmp_path / "a", "gs://bucket/s"], notes)  # gs:// is not held
    search_lock.release()
    search_lock.hold("s", [tmp_path / "a"], notes)
    search_lock.release()
    assert notes == [] and not list(tmp_path.iterdir())


def test_a_lock_held_elsewhere_in_this_process_is_refused(tmp_path):
    """flock belongs to an open file: a second open of the same lock conflicts even in one process."""
    import fcntl
    path = search_lock.lock_path(tmp_path / "a")
    fd = os.open(path, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        with pytest.raises(UserError, match="search a is running"):
            search_lock.hold("a", [tmp_path / "a"], [])
    finally:
        os.close(fd)



def test_a_ray_shutdown_that_fails_still_releases_the_lock(tmp_path, monkeypatch):
    from bert_hpo_distributed import interrupts, ray_session, search
    folder = tmp_path / "out" / "imdb-smoke"

    def plan_then_fail(opts, say, created):
        search_lock.hold("imdb-smoke", [folder], [])
        raise UserError("a bad spec")

    def failed_shutdown(started):
        raise RuntimeError("Ray's shutdown failed")
    monkeypatch.setattr(search, "make_plan", plan_then_fail)
    monkeypatch.setattr(ray_session, "stop", failed_shutdown)
    try:
        with pytest.raises(RuntimeError, match="shutdown failed"):
            search.run_search(search.SearchOptions(search="imdb"))
        released = not search_lock.lock_path(folder).exists() and not search_lock._held
    finally:
        search_lock.release()
        interrupts.finish()
    assert released
