"""The record of a lock's holder and the lines naming it, the same for a lock file and a lease."""
import os
import socket
import subprocess
import sys

from bert_hpo_distributed.lock_holder import me, refused, running, taken_over


def test_the_refusal_names_the_holder_and_the_way_out():
    holder = me()
    assert holder["pid"] == os.getpid() and holder["host"] == socket.gethostname()
    assert str(refused("imdb", holder)) == (f"search imdb is running (pid {os.getpid()} on {socket.gethostname()}, "
                                            f"since {holder['since']}); wait for it, or use --name")
    assert "its holder has not said who it is" in str(refused("imdb", None))


def test_the_takeover_note_says_why():
    note = taken_over("imdb", {"pid": 7, "host": "h", "since": "t"}, "a process that is gone")
    assert note == "note: the lock of search imdb was held by a process that is gone (pid 7 on h, since t): taken over"


def test_a_process_runs_until_it_has_exited():
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    assert running(os.getpid()) and not running(int(ended.stdout))
