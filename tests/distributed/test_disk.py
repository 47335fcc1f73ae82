"""The checkpoints deleted after the export, with the disk the search wrote (distributed/disk.py)."""
import pytest

from bert_hpo_distributed.disk import describe_disk, tidy_storage


@pytest.mark.parametrize("keep", [False, True])
def test_checkpoints_deleted_after_export_unless_kept(tmp_path, keep):
    out = tmp_path / "search"
    for trial in ("trial_a", "trial_b"):
        checkpoint = out / "trials" / trial / "checkpoint_000003"
        checkpoint.mkdir(parents=True)
        (checkpoint / "head.safetensors").write_bytes(b"x" * 1000)
        (out / "trials" / trial / "result.json").write_bytes(b"y" * 10)
    (out / "best_model").mkdir()
    (out / "best_model" / "head.safetensors").write_bytes(b"z" * 500)
    disk = tidy_storage(out, str(out), keep_checkpoints=keep)
    assert disk == {"written": 2520, "checkpoints": 2000, "deleted": not keep}
    assert bool(list(out.glob("trials/*/checkpoint_*"))) == keep
    assert (out / "best_model" / "head.safetensors").exists() and (out / "trials" / "trial_a" / "result.json").exists()
    line = describe_disk(disk)
    assert line.startswith("the search wrote 0.0 MB")
    assert ("were deleted" in line) != keep and ("--keep-checkpoints" in line)
