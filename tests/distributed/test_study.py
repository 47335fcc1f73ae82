"""The search's Optuna study in a database: the checks before Ray starts, and the study as the
dashboard shows it (optuna-dashboard on 127.0.0.1, read through its HTTP API and a headless browser)."""
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest

from bert_hpo_distributed.plan import SearchOptions
from bert_hpo_distributed.spec.load import load_spec
from bert_hpo_distributed import study as study_module
from bert_hpo_distributed.study import MAKER_ATTR, check_study, study_said, study_storage
from bertclf.errors import UserError
from tests.helpers import ROOT, run


def plan_of(tmp_path, *sets, **options):
    return SimpleNamespace(opts=SearchOptions(search="imdb", **options), spec=load_spec("imdb", list(sets)),
                           out_dir=tmp_path / "imdb", name="imdb")


def test_the_study_is_sqlite_in_the_output_folder_unless_a_url_is_given(tmp_path):
    plan = plan_of(tmp_path)
    check_study(plan)
    assert (tmp_path / "imdb" / "optuna.db").is_file()
    assert study_said(plan) == (f"study: Optuna study imdb in sqlite:///{tmp_path}/imdb/optuna.db; watch it live: "
                                f"optuna-dashboard sqlite:///{tmp_path}/imdb/optuna.db")
    elsewhere = plan_of(tmp_path, study_storage=f"sqlite:///{tmp_path / 'shared.db'}")
    check_study(elsewhere)
    assert (tmp_path / "shared.db").is_file() and f"in sqlite:///{tmp_path}/shared.db;" in study_said(elsewhere)


@pytest.mark.parametrize("url, reason", [
    ("sqlite:////no/such/folder/optuna.db", "unable to open database file"),
    ("nosuchdialect://user:secret@host/db", "Can't load plugin"),
    ("not a url", "Could not parse"),
])
def test_a_storage_that_cannot_be_opened_is_one_line_naming_the_option(tmp_path, url, reason):
    with pytest.raises(UserError) as e:
        check_study(plan_of(tmp_path, study_storage=url))
    said = str(e.value)
    assert said.startswith("--study-storage ") and reason in said and "\n" not in said, said
    assert "secret" not in said  # a password in the URL is not printed


def test_a_new_search_needs_its_study_name_free_and_a_resume_needs_its_study(tmp_path):
    import optuna
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    with pytest.raises(UserError, match="no study imdb there to continue"):
        check_study(plan_of(tmp_path, study_storage=url, resume=True))
    earlier = optuna.create_study(study_name="imdb", storage=url)
    earlier.tell(earlier.ask(), 0.5)  # an earlier search's trial
    with pytest.raises(UserError, match="holds a study imdb already .* optuna delete-study --study-name imdb"):
        check_study(plan_of(tmp_path, study_storage=url))
    check_study(plan_of(tmp_path, study_storage=url, resume=True))


def test_pbt_has_no_study_and_refuses_a_study_storage(tmp_path):
    plan = plan_of(tmp_path, "scheduler.type=pbt")
    check_study(plan)
    assert study_storage(plan) is None and not (tmp_path / "imdb").exists()
    assert study_said(plan) == "study: none (PBT draws its population at random: no Optuna study to watch)"
    with pytest.raises(UserError, match="^--study-storage sqlite:///x.db: a PBT search has no Optuna study"):
        check_study(plan_of(tmp_path, "scheduler.type=pbt", study_storage="sqlite:///x.db"))


def test_the_search_refuses_a_storage_it_cannot_open_before_ray_starts(tmp_path):
    out = tmp_path / "out"
    proc = run([sys.executable, str(ROOT / "launch.py"), "--search", "imdb", "--smoke-test", "--output-dir", str(out),
                "--study-storage", "sqlite:////no/such/folder/optuna.db"])
    assert proc.returncode == 2, proc.stderr[-3000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: --study-storage sqlite:////no/such/folder/optuna.db: cannot open"), proc.stderr
    assert "Traceback" not in proc.stderr and "Ray" not in proc.stderr and not (out / "imdb-smoke" / "trials").exists()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def study_of_three_trials(url: str) -> None:
    """A study as a search writes it: three trials through the search's own searcher."""
    from bert_hpo_distributed.searchers import search_algorithm
    import optuna
    spec = load_spec("imdb", profile=["cpu", "smoke"])
    searcher = search_algorithm(spec, 3, [], storage=optuna.storages.RDBStorage(url), study_name="imdb-smoke").searcher
    for i, trial in enumerate(["a", "b", "c"]):
        searcher.suggest(trial)
        searcher.on_trial_result(trial, {spec.score_key: 0.5 + i / 10, "training_iteration": 1})
        searcher.on_trial_complete(trial, {spec.score_key: 0.6 + i / 10, "training_iteration": 2})


def wait_for(url: str, proc, timeout: float = 120) -> bytes:
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.read()
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"optuna-dashboard did not answer {url}")


@pytest.mark.skipif(shutil.which("optuna-dashboard", path=str(Path(sys.executable).parent)) is None,
                    reason="optuna-dashboard is not installed (pip install 'bert-hpo[dashboard]')")
def test_the_dashboard_lists_every_trial_of_the_study(tmp_path):
    """The command the console shows, on 127.0.0.1: its API lists the trials, and a headless Chromium
    (where one is installed) renders them."""
    import json
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    study_of_three_trials(url)
    port = free_port()
    dashboard = subprocess.Popen([str(Path(sys.executable).parent / "optuna-dashboard"), url, "--host", "127.0.0.1",
                                  "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        studies = json.loads(wait_for(f"http://127.0.0.1:{port}/api/studies", dashboard))["study_summaries"]
        assert [s["study_name"] for s in studies] == ["imdb-smoke"]
        study = json.loads(wait_for(f"http://127.0.0.1:{port}/api/studies/{studies[0]['study_id']}", dashboard))
        trials = study["trials"]
        assert [(t["number"], t["state"], t["values"]) for t in trials] == [
            (0, "Complete", [0.6]), (1, "Complete", [0.7]), (2, "Complete", [0.8])]
        assert [t["intermediate_values"] for t in trials] == [
            [{"step": 1, "value": a}, {"step": 2, "value": b}] for a, b in ((0.5, 0.6), (0.6, 0.7), (0.7, 0.8))]
        assert [{a["key"]: a["value"] for a in t["user_attrs"]}["tune_trial"] for t in trials] == ["a", "b", "c"]
        browser = shutil.which("chromium") or shutil.which("chromium-browser")
        if browser:
            page = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=20000",
                                   "--dump-dom", f"http://127.0.0.1:{port}/dashboard/studies/"
                                                 f"{studies[0]['study_id']}/trials"],
                                  capture_output=True, text=True, timeout=180).stdout
            assert "imdb-smoke" in page and all(f"Trial {n}" in page for n in range(3)), page[-2000:]
    finally:
        dashboard.terminate()
        dashboard.wait(timeout=30)


def maker_of(url: str) -> dict:
    import optuna
    return optuna.load_study(study_name="imdb", storage=url).user_attrs.get(MAKER_ATTR)


def test_a_study_left_with_no_trial_asked_is_made_again_by_a_new_search(tmp_path, monkeypatch):
    """A search that failed before its first trial left its study (its first point queued, nothing
    asked; no maker recorded, as by hand): the same command starts again, in a study made afresh; a study
    with an asked trial stays."""
    import optuna
    monkeypatch.setattr(study_module, "MAKER_GRACE_S", 0.1)
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    left = optuna.create_study(study_name="imdb", storage=url)
    left.enqueue_trial({"lr": 1e-3})
    said = check_study(plan_of(tmp_path, study_storage=url))
    assert said.startswith("study: sqlite:///") and "held a study imdb with no trial asked" in said
    ran = optuna.load_study(study_name="imdb", storage=url)
    assert ran.trials == [] and maker_of(url)["pid"] == os.getpid()  # made again, by this search
    ran.tell(ran.ask(), state=optuna.trial.TrialState.PRUNED)
    with pytest.raises(UserError, match="holds a study imdb already"):
        check_study(plan_of(tmp_path, study_storage=url))
    assert check_study(plan_of(tmp_path, study_storage=url, resume=True)) == ""


def test_a_new_search_takes_its_study_name_before_ray_and_its_searcher_goes_on_in_it(tmp_path):
    """check_study makes the study, with the search's objectives and its driver recorded, so that no other
    driver can take the name while this one prepares; the searcher then asks its trials there."""
    import optuna
    from bert_hpo_distributed.searchers import search_algorithm
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    plan = SimpleNamespace(opts=SearchOptions(search="imdb-deploy", study_storage=url), out_dir=tmp_path / "out",
                           spec=load_spec("imdb-deploy", profile=["cpu", "smoke"]), name="imdb")
    assert check_study(plan) == ""
    made = optuna.load_study(study_name="imdb", storage=url)
    assert made.directions == [optuna.study.StudyDirection.MAXIMIZE, optuna.study.StudyDirection.MINIMIZE]
    assert {k: maker_of(url)[k] for k in ("host", "pid")} == {"host": socket.gethostname(), "pid": os.getpid()}
    searcher = search_algorithm(plan.spec, 1, [], storage=optuna.storages.RDBStorage(url), study_name="imdb").searcher
    searcher.suggest("a")
    assert len(optuna.load_study(study_name="imdb", storage=url).trials) == 1
    assert [s.study_name for s in optuna.get_all_study_summaries(url)] == ["imdb"]


def test_a_second_driver_on_the_same_storage_leaves_the_first_one_s_study_alone(tmp_path):
    """Driver A (another output folder, the same storage and --name) made its study and has asked no trial
    yet: driver B refuses in one line naming the study, the storage and A, instead of removing A's study;
    once A's process has exited on this host, B makes the study again as its own."""
    import optuna
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    check_study(plan_of(tmp_path / "a", study_storage=url))
    made = optuna.load_study(study_name="imdb", storage=url)
    driver = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        a = {"host": socket.gethostname(), "pid": driver.pid, "since": "2026-01-02 03:04:05"}
        made.set_user_attr(MAKER_ATTR, a)
        with pytest.raises(UserError) as e:
            check_study(plan_of(tmp_path / "b", study_storage=url))
        assert str(e.value) == (f"--study-storage {url}: study imdb was made by another search that has not asked "
                                f"its first trial yet (pid {driver.pid} on {socket.gethostname()}, since "
                                f"2026-01-02 03:04:05); pass --name to start another")
        assert maker_of(url) == a
        elsewhere = {**a, "host": "another-host"}  # nothing here can tell whether it runs
        made.set_user_attr(MAKER_ATTR, elsewhere)
        with pytest.raises(UserError, match=f"pid {driver.pid} on another-host"):
            check_study(plan_of(tmp_path / "b", study_storage=url))
        assert maker_of(url) == elsewhere
    finally:
        driver.kill()
        driver.wait()
    made.set_user_attr(MAKER_ATTR, a)
    said = check_study(plan_of(tmp_path / "b", study_storage=url))
    assert "held a study imdb with no trial asked" in said and maker_of(url)["pid"] == os.getpid()


def test_a_study_found_before_its_maker_recorded_itself_is_left_alone(tmp_path, monkeypatch):
    """A driver records itself just after making its study: one found without a record is read again after
    the grace, and its maker, recorded meanwhile, keeps it."""
    import threading
    import optuna
    monkeypatch.setattr(study_module, "MAKER_GRACE_S", 1.0)
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    making = optuna.create_study(study_name="imdb", storage=url)
    recorded = threading.Timer(0.1, making.set_user_attr, (MAKER_ATTR, {"host": "another-host", "pid": 7}))
    recorded.start()
    with pytest.raises(UserError, match="study imdb was made by another search .*pid 7 on another-host"):
        check_study(plan_of(tmp_path, study_storage=url))
    recorded.join()


def test_a_name_taken_between_the_check_and_the_making_is_refused(tmp_path, monkeypatch):
    """Another driver makes the study just after this one found the name free: the making fails on the
    name, and says whose study it is."""
    import optuna
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    optuna.create_study(study_name="imdb", storage=url).set_user_attr(MAKER_ATTR, {"host": "another-host", "pid": 7})
    monkeypatch.setattr(optuna.storages.RDBStorage, "get_all_studies", lambda self: [])  # it found the name free
    with pytest.raises(UserError, match="study imdb was made by another search .*pid 7 on another-host"):
        check_study(plan_of(tmp_path, study_storage=url))
