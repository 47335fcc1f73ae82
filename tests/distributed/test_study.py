"""The search's Optuna study in a database: the checks before Ray starts, and the study as the
dashboard shows it (optuna-dashboard on 127.0.0.1, read through its HTTP API and a headless browser)."""
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
from bert_hpo_distributed.study import check_study, study_said, study_storage
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


def test_a_study_left_with_no_trial_asked_is_made_again_by_a_new_search(tmp_path):
    """A search that failed before its first trial left its study (its first point queued, nothing
    asked): the same command starts again, in a study made afresh; a study with an asked trial stays."""
    import optuna
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    left = optuna.create_study(study_name="imdb", storage=url)
    left.enqueue_trial({"lr": 1e-3})
    said = check_study(plan_of(tmp_path, study_storage=url))
    assert said.startswith("study: sqlite:///") and "held a study imdb with no trial asked" in said
    assert "imdb" not in {s.study_name for s in optuna.get_all_study_summaries(url)}
    ran = optuna.create_study(study_name="imdb", storage=url)
    ran.tell(ran.ask(), state=optuna.trial.TrialState.PRUNED)
    with pytest.raises(UserError, match="holds a study imdb already"):
        check_study(plan_of(tmp_path, study_storage=url))
    assert check_study(plan_of(tmp_path, study_storage=url, resume=True)) == ""
