"""A search's outputs (distributed/outputs.py): copied beside the trials in the storage path."""


def test_outputs_are_copied_beside_the_trials(tmp_path):
    from bert_hpo_distributed.outputs import copy_to_storage
    (tmp_path / "out" / "best_model" / "encoder").mkdir(parents=True)
    (tmp_path / "out" / "best_model" / "encoder" / "w.bin").write_bytes(b"w")
    (tmp_path / "out" / "results.md").write_text("r")
    copy_to_storage({"best_model": tmp_path / "out" / "best_model", "results.md": tmp_path / "out" / "results.md"},
                    f"file://{tmp_path}/storage/search")
    assert (tmp_path / "storage" / "search" / "best_model" / "encoder" / "w.bin").read_bytes() == b"w"
    assert (tmp_path / "storage" / "search" / "results.md").read_text() == "r"
