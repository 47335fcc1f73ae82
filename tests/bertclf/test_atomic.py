"""Files and folders written whole or not at all, with the user's umask (bertclf/atomic.py)."""
import pytest


def test_atomic_writes_leave_no_temp_file_and_respect_the_umask(tmp_path):
    import os
    import stat
    from bertclf.atomic import atomic_path, write_text
    write_text(tmp_path / "a.md", "x")
    assert stat.S_IMODE(os.stat(tmp_path / "a.md").st_mode) == 0o666 & ~_current_umask()
    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "b.md") as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.md"]


def test_atomic_folder_appears_whole_or_not_at_all(tmp_path):
    import os
    import stat
    from bertclf.atomic import atomic_folder
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "old.txt").write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_folder(tmp_path / "run") as staging:
            (staging / "new.txt").write_text("half")
            raise RuntimeError("interrupted")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"] and os.listdir(tmp_path / "run") == ["old.txt"]
    with atomic_folder(tmp_path / "run") as staging:
        (staging / "new.txt").write_text("whole")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"] and os.listdir(tmp_path / "run") == ["new.txt"]
    assert stat.S_IMODE(os.stat(tmp_path / "run").st_mode) == 0o777 & ~_current_umask()


def _current_umask():
    import os
    mask = os.umask(0)
    os.umask(mask)
    return mask
