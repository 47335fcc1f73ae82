"""SIGINT, SIGTERM and SIGHUP stop a search the same way in every phase: real processes, signalled at
a console line, then --resume."""
import os
import signal
import time

import pytest

from bert_hpo_distributed import interrupts, ray_compat
from tests.helpers import lines_until, read_csv, run, search_cmd, start_search, write_imdb_like

LONG = ["--max-concurrent", "1", "--set", "smoke.num_samples=4", "--set", "smoke.fixed.n_epochs=8",
        "--set", "smoke.space.mode.choice=[finetune]"]


def signalled(cmd, marker: str, signals, kill_after: float = 0.0):
    """(exit status, stderr lines): the search signalled (one a second) once stderr shows `marker`;
    kill_after: SIGKILL to its process group that many seconds after the last signal, if still alive."""
    proc = start_search(cmd)
    try:
        lines = lines_until(proc, marker)
        assert proc.poll() is None, "\n".join(lines[-20:])
        for i, number in enumerate(signals):
            time.sleep(1.0 if i else 0.0)
            os.kill(proc.pid, number)
        if kill_after:
            time.sleep(kill_after)
            os.killpg(proc.pid, signal.SIGKILL)
        lines += proc.communicate(timeout=180)[1].splitlines()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return proc.returncode, lines


def assert_resumes(cmd, out):
    resumed = run(cmd + ["--resume"], timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    trials = read_csv(out / "imdb-smoke" / "results.csv")
    assert len(trials) == 4 and all(t["status"] != "error" for t in trials), trials


@pytest.mark.ray
def test_sigterm_mid_trials_saves_the_state_says_so_in_one_line_and_resumes(tmp_path):
    """SIGTERM to the driver alone (Ctrl-C to the whole process group: test_search.py; SIGHUP takes the
    same handler: test_each_signal_stops_a_running_tuner_and_raises_outside_one)."""
    out = tmp_path / "out"
    cmd = search_cmd(write_imdb_like(tmp_path / "data"), out, *LONG)
    status, lines = signalled(cmd, "trial 1/4", [signal.SIGTERM])
    text = "\n".join(lines)
    assert status == 143, text[-3000:]
    assert lines[-1].startswith("interrupted: ") and " of 4 trials finished and are kept in " in lines[-1] \
        and lines[-1].endswith("; run the same command with --resume"), text[-3000:]
    assert "*** SIGTERM received" not in text and "Traceback" not in text, text[-3000:]
    assert_resumes(cmd, out)


@pytest.mark.ray
def test_a_second_sigterm_then_sigkill_still_leaves_a_state_that_resumes(tmp_path):
    out = tmp_path / "out"
    cmd = search_cmd(write_imdb_like(tmp_path / "data"), out, *LONG)
    status, lines = signalled(cmd, "trial 1/4", [signal.SIGTERM, signal.SIGTERM], kill_after=3.0)
    text = "\n".join(lines)
    # -15: the second landed in Ray's shutdown after its core worker reset SIGTERM to the default
    assert status in (143, -15, -9), text[-3000:]
    assert "*** SIGTERM received" not in text, text[-3000:]
    assert_resumes(cmd, out)


@pytest.mark.ray
def test_ctrl_c_after_the_trials_stops_the_search(tmp_path):
    """Tune's SIGINT handler stayed installed after the trials (ray-project/ray#37737) and swallowed a
    Ctrl-C in the outputs: the signal here lands while the best model is scored and the outputs written."""
    out = tmp_path / "out"
    cmd = search_cmd(write_imdb_like(tmp_path / "data"), out)
    status, lines = signalled(cmd, "test: scoring", [signal.SIGINT])
    text = "\n".join(lines)
    assert status == 130, text[-3000:]
    assert lines[-1].startswith("interrupted: ") and lines[-1].endswith("run the same command with --resume"), text
    assert not any("done in" in line for line in lines) and "Traceback" not in text, text[-3000:]


@pytest.mark.ray
def test_sigterm_in_the_seed_repeats_stops_them_and_the_search(tmp_path):
    out = tmp_path / "out"
    cmd = search_cmd(write_imdb_like(tmp_path / "data"), out, "--repeats", "2", "--set", "smoke.repeat_top=2")
    status, lines = signalled(cmd, "repeats: the best", [signal.SIGTERM])
    text = "\n".join(lines)
    assert status == 143, text[-3000:]
    assert lines[-1] == (f"interrupted: after the trials (4 of 4 ran; they are kept in {out / 'imdb-smoke' / 'trials'}); "
                         f"run the same command with --resume"), text[-3000:]
    assert "*** SIGTERM received" not in text and "Traceback" not in text, text[-3000:]


def test_the_exit_status_is_128_and_the_first_signal(monkeypatch):
    monkeypatch.setattr(interrupts, "_received", [])
    assert interrupts.exit_code() == 130  # Python's own KeyboardInterrupt
    monkeypatch.setattr(interrupts, "_received", [signal.SIGTERM, signal.SIGINT])
    assert interrupts.exit_code() == 143
    with pytest.raises(interrupts.Interrupted):
        interrupts.check()


@pytest.mark.parametrize("number", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_each_signal_stops_a_running_tuner_and_raises_outside_one(monkeypatch, number):
    monkeypatch.setattr(interrupts, "_received", [])
    monkeypatch.delenv("TUNE_DISABLE_SIGINT_HANDLER", raising=False)  # install() sets it
    previous = {n: signal.getsignal(n) for n in interrupts.SIGNALS}
    forwarded = []
    real_kill = os.kill
    try:
        interrupts.install()
        # were the handler missing, the signal below would end this test process
        assert signal.getsignal(number) is interrupts._handle
        monkeypatch.setattr(os, "kill", lambda pid, sent: forwarded.append(sent) if pid == os.getpid()
                            and sent == ray_compat.TUNE_STOP_SIGNAL else real_kill(pid, sent))
        try:
            with interrupts.stopping_tune():  # the first signal stops the Tuner, which then returns
                signal.raise_signal(number)
        except KeyboardInterrupt:
            pytest.fail("a signal while a Tuner runs was raised instead of stopping the Tuner")
        assert forwarded == [ray_compat.TUNE_STOP_SIGNAL] and interrupts.received()
        monkeypatch.setattr(interrupts, "_received", [])
        with pytest.raises(KeyboardInterrupt):  # outside a Tuner: raised where the search is
            signal.raise_signal(number)
        assert interrupts.exit_code() == 128 + number
    finally:
        for kind, handler in previous.items():
            signal.signal(kind, handler)


def test_a_signal_during_rays_shutdown_is_raised_once_it_is_over(monkeypatch):
    monkeypatch.setattr(interrupts, "_received", [])
    previous = {n: signal.getsignal(n) for n in interrupts.SIGNALS}
    finished = []
    try:
        interrupts.install()
        with pytest.raises(interrupts.Interrupted):
            with interrupts.deferred():
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(0.5)
                signal.signal(signal.SIGTERM, signal.SIG_DFL)  # what Ray's shutdown does
                finished.append(True)
        assert finished and signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
        with pytest.raises(ValueError):  # a search ending already ends as it was
            with interrupts.deferred():
                os.kill(os.getpid(), signal.SIGHUP)
                time.sleep(0.5)
                raise ValueError
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        os.environ.pop("TUNE_DISABLE_SIGINT_HANDLER", None)


def test_after_a_search_the_callers_handlers_and_tune_setting_are_back(tmp_path, monkeypatch):
    """start() installs the search's handlers; once run_search returns, a SIGTERM to the caller is the
    caller's again and Tune installs its own SIGINT handler again."""
    from bert_hpo_distributed import search
    from bertclf.errors import UserError

    def bad_plan(opts, say, created):
        raise UserError("a bad spec")
    monkeypatch.setattr(search, "make_plan", bad_plan)
    monkeypatch.delenv("TUNE_DISABLE_SIGINT_HANDLER", raising=False)
    before = {number: signal.getsignal(number) for number in interrupts.SIGNALS}
    with pytest.raises(UserError):
        search.run_search(search.SearchOptions(search="imdb"))
    after = {number: signal.getsignal(number) for number in interrupts.SIGNALS}
    leaked = "TUNE_DISABLE_SIGINT_HANDLER" in os.environ
    for number, handler in before.items():  # the suite's own handlers, whatever happened above
        signal.signal(number, handler)
    assert after == before and not leaked


def test_a_signal_during_the_shutdown_leaves_the_error_that_ends_the_search():
    """A full disk (or a bad input) already on its way out is what the search says, not the signal."""
    interrupts.start()
    try:
        with pytest.raises(OSError, match="No space left"):
            try:
                raise OSError(28, "No space left on device")
            finally:
                with interrupts.deferred():
                    interrupts._handle(signal.SIGTERM, None)
        assert interrupts.received()
    finally:
        interrupts._received.clear()
        interrupts.finish()
