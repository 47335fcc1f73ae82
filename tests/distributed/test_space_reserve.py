"""The room held while the trials run, and Tune's staged files written whole over the uploads a full
disk cut short."""
import errno
import os

import pytest

from bert_hpo_distributed import ray_compat, space, space_reserve


@pytest.fixture
def staged(tmp_path, monkeypatch):
    """Tune's staging folder: the experiment state and a finished trial's results, whole."""
    folder = tmp_path / "session" / "driver_artifacts"
    (folder / "trial_1").mkdir(parents=True)
    (folder / "experiment_state-1.json").write_text('{"trials": 4}')
    (folder / "trial_1" / "result.json").write_text('{"done": true}\n')
    monkeypatch.setattr(ray_compat, "driver_staging_folder", lambda name: str(folder) if name == "trials" else None)
    return folder


def test_the_trials_run_with_room_held_in_the_experiment_folder_and_give_it_back(tmp_path, staged):
    experiment = tmp_path / "out" / "trials"
    experiment.mkdir(parents=True)
    with space_reserve.reserved(str(experiment), 4, [str(tmp_path)]):
        held = experiment / space_reserve.RESERVE
        assert held.stat().st_size == space.reserve_size(4) and held.stat().st_blocks * 512 >= space.reserve_size(4)
    assert not held.exists()
    assert sorted(p.name for p in experiment.iterdir()) == []  # a search that ended well: nothing rewritten


def test_trials_ended_on_a_full_disk_leave_tunes_state_and_results_whole(tmp_path, staged):
    experiment = tmp_path / "out" / "trials"
    (experiment / "trial_1").mkdir(parents=True)
    (experiment / "experiment_state-1.json").write_text('{"tri')  # uploads the full disk cut short
    (experiment / "trial_1" / "result.json").write_text("")
    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(experiment / "trial_2" / "checkpoint_000001"))
    with pytest.raises(space.DiskFull):
        with space_reserve.reserved(str(experiment), 4, [str(tmp_path)]):
            raise full
    assert (experiment / "experiment_state-1.json").read_text() == '{"trials": 4}'
    assert (experiment / "trial_1" / "result.json").read_text() == '{"done": true}\n'
    assert not (experiment / space_reserve.RESERVE).exists()
    assert not list(experiment.rglob("*.tmp")), list(experiment.rglob("*"))


def test_other_errors_leave_the_uploads_alone(tmp_path, staged):
    experiment = tmp_path / "out" / "trials"
    experiment.mkdir(parents=True)
    with pytest.raises(ValueError):
        with space_reserve.reserved(str(experiment), 4, [str(tmp_path)]):
            raise ValueError("a trial's own bug")
    assert list(experiment.iterdir()) == []



def test_an_error_that_shows_the_full_disk_only_as_what_it_broke_is_the_full_disk(tmp_path, staged, monkeypatch):
    """Tune reading back an error file the full disk cut short (EOFError) is told while the disk is full:
    once the reserve is given back, the folder has room and would not say why."""
    from collections import namedtuple
    experiment = tmp_path / "out" / "trials"
    experiment.mkdir(parents=True)
    usage = namedtuple("Usage", "total used free")
    monkeypatch.setattr(space.shutil, "disk_usage", lambda folder: usage(10**9, 10**9, 100))
    with pytest.raises(space.DiskFull) as told:
        with space_reserve.reserved(str(experiment), 4, [str(tmp_path)]):
            raise EOFError("Ran out of input")
    assert str(told.value).endswith("run the same command with --resume")
    assert (experiment / "experiment_state-1.json").read_text() == '{"trials": 4}'
