"""LoRA (bertclf/models/lora.py): adapters on the layers each family has, found from the model; a LoRA run
that saves adapters and a merged encoder which predicts as evaluated; checkpoints of adapter size that
resume the run; bad options refused in one line."""
import json
import os
from pathlib import Path

import pytest

from bertclf.models.tiny_model import FAMILIES
from tests.helpers import sentiment_rows, train_keeping_checkpoints

pytest.importorskip("peft")


@pytest.mark.parametrize("family", list(FAMILIES))
def test_each_family_s_attention_and_feed_forward_layers_are_found_from_the_model(families, family):
    from transformers import AutoModel
    from bertclf.models.lora import target_modules
    encoder = AutoModel.from_pretrained(families[family])
    attention, every = target_modules(encoder, "attention"), target_modules(encoder, "attention+ffn")
    layers = encoder.config.num_hidden_layers
    assert len(attention) >= 4 * layers and set(attention) < set(every)  # q, k, v, out of each layer at least
    assert len(every) - len(attention) == 2 * layers  # the feed-forward's two
    assert not any("pooler" in name or "embeddings" in name for name in every)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_the_adapter_width_counts_the_parameters_peft_adds_per_unit_of_rank(families, family):
    from transformers import AutoModel
    from bertclf.models.lora import adapter_width, with_lora
    encoder = AutoModel.from_pretrained(families[family])
    width = adapter_width(encoder, "attention+ffn")
    wrapped = with_lora(encoder, r=3, alpha=6.0, dropout=0.0, which="attention+ffn")
    assert sum(p.numel() for p in wrapped.parameters() if p.requires_grad) == 3 * width > 0


def _size(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


@pytest.mark.parametrize("family", list(FAMILIES))
def test_each_family_trains_adapters_and_its_merged_model_predicts_as_evaluated(families, family, config_for, tmp_path,
                                                                               capsys):
    from launch import main
    from bertclf.train import train
    config = config_for(bert_name=families[family], n_epochs=2, max_train_samples=96, run_name=f"lora-{family}",
                        lora=True, lora_targets="attention+ffn", lr_main=1e-2)
    result = train(config)
    run_dir = Path(result["run_dir"])
    assert "LoRA (rank 8, alpha 16, adapters on attention+ffn), head" in capsys.readouterr().err
    assert (run_dir / "adapter" / "adapter_model.safetensors").is_file() and (run_dir / "encoder").is_dir()
    assert json.loads((run_dir / "adapter" / "adapter_config.json").read_text())["r"] == 8
    rows = sentiment_rows(80, seed=2)  # the toy set's valid rows
    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join(t for t, _ in rows), encoding="utf-8")
    assert main(["--predict", "--model", str(run_dir), "--input", str(texts)]) == 0
    predicted = [json.loads(line)["label"] for line in capsys.readouterr().out.splitlines()]
    assert sum(p == y for p, (_, y) in zip(predicted, rows)) / len(rows) == result["best"]["valid_accuracy"]


def test_only_the_adapters_and_the_head_train(config_for, toy):
    import torch
    from bertclf.models.encoders import load_encoder
    from bertclf.train import train
    result = train(config_for(lora=True, n_epochs=1))
    base = load_encoder(toy["model"]).state_dict()
    from bertclf.predict import load_model
    model, _, _ = load_model(result["run_dir"])
    changed = [k for k, v in model.encoder.state_dict().items() if not torch.equal(v, base[k])]
    assert changed and all(k.split(".")[-2] in ("query", "key", "value", "dense") and ".attention." in k
                           for k in changed)  # merged adapters change attention's weights alone


def test_a_checkpoint_holds_adapters_head_and_their_optimizer_state_and_resumes(config_for, tmp_path):
    from bertclf.train import train
    full, checkpoints = train_keeping_checkpoints(config_for(run_name="full", n_epochs=3, lora=True), tmp_path)
    folder = checkpoints[2]
    assert not (folder / "encoder").exists() and (folder / "adapter" / "adapter_model.safetensors").is_file()
    encoder_bytes = _size(Path(full["run_dir"]) / "encoder")
    assert _size(folder) < encoder_bytes / 2  # adapters, head and their Adam moments: not the encoder
    resumed = train(config_for(run_name="resumed", n_epochs=3, lora=True), resume_from=folder)
    assert [m["epoch"] for m in resumed["history"]] == [1, 2, 3]
    assert resumed["history"][2]["valid_loss"] == pytest.approx(full["history"][2]["valid_loss"], rel=1e-4)


def test_an_adapter_checkpoint_exports_a_merged_model_that_predicts_as_the_run(config_for, tmp_path):
    from bertclf.checkpoint import export_model
    from bertclf.predict import load_model
    from bertclf.tasks.classification.predict import predict_texts
    from bertclf.train import train
    saved = []
    result = train(config_for(n_epochs=1, lora=True), report=lambda metrics, save: saved.append(save(tmp_path / "c")))
    export_model(tmp_path / "c", tmp_path / "best_model")
    assert (tmp_path / "best_model" / "encoder" / "model.safetensors").is_file()
    texts = [t for t, _ in sentiment_rows(20, seed=2)]
    from_run = predict_texts(*load_model(result["run_dir"]), texts)
    from_checkpoint = predict_texts(*load_model(tmp_path / "c"), texts)  # adapters merged at load
    from_export = predict_texts(*load_model(tmp_path / "best_model"), texts)
    for a, b, c in zip(from_run, from_checkpoint, from_export):
        assert a["label"] == b["label"] == c["label"]
        assert a["probability"] == pytest.approx(b["probability"], abs=1e-5) == c["probability"]


@pytest.mark.parametrize("options, expected", [
    (["--lora", "True", "--lora_r", "0"], "error: --lora_r: expected a positive integer (the adapters' rank), got 0"),
    (["--lora", "True", "--bert_finetuning", "False"],
     "error: --lora True needs --bert_finetuning True: the adapters are trained in the encoder"),
    (["--lora", "True", "--lora_targets", "ffn"], "error: --lora_targets: expected attention | attention+ffn, got 'ffn'"),
])
def test_bad_lora_options_are_one_line(options, expected, toy, tmp_path, capsys):
    from launch import main
    assert main(["--train_path", toy["train"], "--bert_name", toy["model"], "--save_path", str(tmp_path),
                 *options]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [expected]
    assert not os.listdir(tmp_path)


def test_lora_without_peft_is_one_line(toy, tmp_path, capsys, monkeypatch):
    from launch import main
    monkeypatch.setattr("bertclf.config.peft_installed", lambda: False)
    assert main(["--train_path", toy["train"], "--bert_name", toy["model"], "--save_path", str(tmp_path),
                 "--lora", "True"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "error: --lora True needs the peft library: pip install 'bert-hpo[lora]'"]


def test_a_model_without_attention_layers_is_refused(config_for, tmp_path, monkeypatch):
    from bertclf.errors import UserError
    from bertclf.train import train
    monkeypatch.setattr("bertclf.models.encoder_facts.target_modules", lambda model, which: [])
    with pytest.raises(UserError, match="--lora_targets attention: .* has no linear modules of that kind"):
        train(config_for(lora=True))
