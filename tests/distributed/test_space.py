"""Disk space: the estimate before Ray starts, the refusal and the warning, and a full disk during the
search told as one line."""
import errno
import json
import os
import pickle
import signal
import sqlite3
import subprocess
from collections import namedtuple

import optuna
import pytest

from bert_hpo_distributed import search_lock, space
from bert_hpo_distributed.plan import SearchOptions, make_plan
from bertclf.errors import UserError
from bertclf.models.encoders import load_model_config
from tests.helpers import lines_until, read_csv, run, search_cmd, start_search, write_imdb_like

Usage = namedtuple("Usage", "total used free")


@pytest.fixture
def plan(tmp_path):
    made = make_plan(SearchOptions(search="imdb", smoke_test=True, output_dir=str(tmp_path / "out")),
                     lambda message: None, [])
    yield made
    search_lock.release()


def test_the_estimate_counts_every_trials_kept_checkpoints_from_the_models_size(plan):
    needs = space.needs(plan, [])
    params = next(iter(plan.models.values())).facts.parameters
    checkpoints = next(n for n in needs if "checkpoint" in n.what)
    # a fine-tuned checkpoint: the weights and AdamW's two moments, 4 bytes each; 4 trials keep one each
    assert checkpoints.size == 4 * params * 12 and checkpoints.folder == plan.storage, needs
    export = next(n for n in needs if "export" in n.what)
    assert export.size == params * 4 and export.folder == str(plan.out_dir)
    held = next(n for n in needs if "state" in n.what)  # room for Tune's state on a full disk (space_reserve)
    assert held.size == space.reserve_size(4) and held.folder == plan.storage


def _plan(tmp_path, *overrides):
    return make_plan(SearchOptions(search="imdb", smoke_test=True, output_dir=str(tmp_path / "out"),
                                   overrides=list(overrides)), lambda message: None, [])


def test_a_lora_trial_is_costed_as_its_adapters_and_head_not_the_encoder(tmp_path):
    """A LoRA checkpoint holds the adapters, the head and their optimizer moments (bertclf/checkpoint.py)."""
    try:
        plan = _plan(tmp_path, "space.mode={choice: [lora]}", "fixed.lora_r=4", "fixed.lora_targets=attention+ffn")
    finally:
        search_lock.release()
    model = next(iter(plan.models.values()))
    config = plan.spec.trial_config(next(plan.spec.corners()))
    widths = dict(model.facts.adapter_widths)
    assert config.pooling == "mean" and config.layers == "last" and widths["attention+ffn"] > widths["attention"] > 0
    head = load_model_config(model.source).hidden_size * space.MLP_HIDDEN + space.MLP_HIDDEN * 2
    assert space.checkpoint_size(plan) == (4 * widths["attention+ffn"] + head) * 12
    assert space.checkpoint_size(plan) < model.facts.parameters * 12  # the encoder as a fine-tune would hold it


def test_a_boost_head_on_chunks_is_costed_at_twice_the_feature_size(tmp_path):
    """Truncation chunks pool a text's windows by mean and max: its head reads 2 x the features."""
    sizes = {}
    for truncation in ("head", "chunks"):
        try:
            plan = _plan(tmp_path / truncation, "space.mode={choice: [boost]}", "fixed.head=mlp", "fixed.doc_stride=16",
                         f"space.truncation={{choice: [{truncation}]}}")
        finally:
            search_lock.release()
        sizes[truncation] = space.checkpoint_size(plan)
    features = load_model_config(next(iter(plan.models.values())).source).hidden_size
    assert sizes["head"] == (features * space.MLP_HIDDEN + space.MLP_HIDDEN * 2) * 12
    assert sizes["chunks"] == (2 * features * space.MLP_HIDDEN + space.MLP_HIDDEN * 2) * 12


def test_a_folder_with_too_little_space_is_refused_naming_it_the_estimate_and_the_free_space(plan):
    needs = space.needs(plan, [])
    total = sum(n.size for n in needs)
    with pytest.raises(UserError) as refused:
        space.check_space(needs, print, free=lambda folder: Usage(10**12, 0, total - 1))
    line = str(refused.value)
    assert line.startswith(f"{plan.out_dir}: the search writes up to {space.megabytes(total)} there")
    assert f"only {space.megabytes(total - 1)} is free" in line and line.endswith("(--space-check warn)")


def test_space_check_warn_starts_a_search_the_estimate_refuses_with_a_warning(plan):
    """The estimate is an upper bound: --space-check warn says what a refusal would and goes on."""
    from bert_hpo_distributed.search_cli import search_options
    from launch import parse
    needs = space.needs(plan, [])
    total = sum(n.size for n in needs)
    said = []
    space.check_space(needs, said.append, refuse=False, free=lambda folder: Usage(10**12, 0, total - 1))
    assert len(said) == 1 and said[0].startswith(f"warning: {plan.out_dir}: the search writes up to ") \
        and said[0].endswith(f"only {space.megabytes(total - 1)} is free (--space-check warn: starting anyway)"), said
    args = parse(["--search", "imdb", "--space-check", "warn"])[3]
    assert search_options(args).space_check == "warn"
    assert search_options(parse(["--search", "imdb"])[3]).space_check == "refuse"


def test_a_folder_nearly_full_is_a_warning_and_else_the_estimate_is_said(plan):
    needs = space.needs(plan, [])
    total = sum(n.size for n in needs)
    said = []
    space.check_space(needs, said.append, free=lambda folder: Usage(10**12, 0, total * 3 // 2))
    assert len(said) == 1 and said[0].startswith(f"warning: {plan.out_dir}: the search writes up to ") \
        and "67% of" in said[0], said
    said.clear()
    space.check_space(needs, said.append, free=lambda folder: Usage(10**12, 0, total * 3))
    what = "; ".join(f"{n.what}: {space.megabytes(n.size)}" for n in needs)  # told before the trials, not only after
    assert said == [f"disk: up to {space.megabytes(total)} in {plan.out_dir} ({what}; {space.megabytes(total * 3)} free)"]


def test_a_full_disk_anywhere_is_one_line_naming_the_folder_and_resume(tmp_path):
    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp_path / "trials" / "state.json"))
    told = space.told(full, [str(tmp_path)])
    assert isinstance(told, space.DiskFull)
    assert str(told).startswith(f"no space left on the disk of {tmp_path / 'trials'} (") and "--resume" in str(told)
    try:  # Tune wraps what its workers raised: the cause is read
        raise RuntimeError("the trial failed") from full
    except RuntimeError as wrapped:
        assert isinstance(space.told(wrapped, [str(tmp_path)]), space.DiskFull)
    # a trial's error arrives as text
    text = RuntimeError(f"[Errno 28] No space left on device: '{tmp_path}/trial_1/checkpoint_0/head.safetensors'")
    assert f"disk of {tmp_path}/trial_1/checkpoint_0 (" in str(space.told(text, []))
    try:  # the Optuna study's SQLite database (study.py) says SQLITE_FULL, not ENOSPC
        raise optuna.exceptions.StorageInternalError("An exception is raised during the commit.") from \
            sqlite3.OperationalError("database or disk is full")
    except optuna.exceptions.StorageInternalError as study:
        assert str(space.told(study, [str(tmp_path)])).startswith(f"no space left on the disk of {tmp_path} (")
    other = ValueError("something else")
    assert space.told(other, [str(tmp_path)]) is other


def test_a_trial_that_failed_for_a_full_disk_ends_the_search(tmp_path):
    Result = namedtuple("Result", "error")
    space.check_trials([Result(None), Result(ValueError("its own bug"))], [str(tmp_path)])
    with pytest.raises(space.DiskFull):
        space.check_trials([Result(None), Result(OSError(f"[Errno 28] {os.strerror(errno.ENOSPC)}"))], [str(tmp_path)])


def reports_done(result_file) -> bool:
    """Whether a trial's result.json holds a final report (Tune appends to it in place: the full disk
    may have cut the running trial's last line short)."""
    for line in result_file.read_text().splitlines():
        try:
            if json.loads(line).get("done"):
                return True
        except ValueError:
            pass
    return False


def tmpfs_or_skip(folder, size: str):
    folder.mkdir(parents=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode:
        pytest.skip(f"no tmpfs here (mount needs root): {mounted.stderr.decode().strip()}")


@pytest.mark.ray
def test_a_disk_filled_during_the_trials_is_one_line_keeps_the_finished_trial_and_resumes(tmp_path):
    """Another job fills the disk after the first trial: one error line naming the folder and --resume,
    exit 1, no traceback; the finished trial is kept whole (Tune's uploads of its results, cut short
    by the full disk, are written again from the room held: space_reserve). Once space is freed,
    --resume runs the trials that failed on the full disk and completes the search."""
    out = tmp_path / "out"
    tmpfs_or_skip(out, "12m")
    try:
        cmd = search_cmd(write_imdb_like(tmp_path / "data"), out, "--max-concurrent", "1", "--set",
                         "smoke.num_samples=4", "--set", "smoke.fixed.n_epochs=8", "--set",
                         "smoke.space.mode.choice=[finetune]")
        proc = start_search(cmd)
        try:
            lines = lines_until(proc, "trial 1/4")
            with open(out / "ballast", "wb") as ballast:
                with pytest.raises(OSError):
                    while True:
                        ballast.write(b"\0" * 65536)
                        ballast.flush()
            lines += proc.communicate(timeout=300)[1].splitlines()
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        text = "\n".join(lines)
        assert proc.returncode == 1, text[-3000:]
        assert lines[-1].startswith(f"error: no space left on the disk of {out}") and lines[-1].endswith(
            "run the same command with --resume"), text[-3000:]
        assert "Traceback" not in text, text[-3000:]
        finished = [r for r in (out / "imdb-smoke" / "trials").glob("trial_*/result.json") if reports_done(r)]
        assert len(finished) >= 1, text[-3000:]
        (out / "ballast").unlink()
        resumed = run(cmd + ["--resume"], timeout=600)
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        trials = read_csv(out / "imdb-smoke" / "results.csv")
        assert len(trials) == 4 and all(t["status"] != "error" for t in trials), trials
    finally:
        subprocess.run(["umount", "-l", str(out)], capture_output=True)


def test_any_error_while_a_folder_of_the_search_is_full_is_the_full_disk(tmp_path, monkeypatch):
    """A full disk may show only as what it broke: Tune reading back an error file it cut short."""
    monkeypatch.setattr(space.shutil, "disk_usage", lambda folder: Usage(10**9, 10**9, 100))
    told = space.told(EOFError("Ran out of input"), [str(tmp_path)])
    assert isinstance(told, space.DiskFull) and str(told).startswith(f"no space left on the disk of {tmp_path} (")


def test_the_searchs_own_errors_pass_while_a_folder_is_full(tmp_path, monkeypatch):
    """A search finished already exits 0, an interrupted one 130, a bad input 2: a full folder does not
    make them a full disk."""
    from bert_hpo_distributed.outputs import SearchFailed
    from bert_hpo_distributed.search import SearchInterrupted
    from bert_hpo_distributed.search_record import SearchFinishedAlready
    monkeypatch.setattr(space.shutil, "disk_usage", lambda folder: Usage(10**9, 10**9, 100))
    for error in (SearchFinishedAlready("done"), SearchInterrupted("kept"), UserError("bad"), SearchFailed("all")):
        assert space.told(error, [str(tmp_path)]) is error
    assert isinstance(space.told(pickle.UnpicklingError("cut short"), [str(tmp_path)]), space.DiskFull)
