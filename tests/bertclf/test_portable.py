"""A saved classifier loads without bert-hpo (transformers where the head maps, ONNX always) and
predicts what --predict predicts, for single texts and text pairs; a QA model's ONNX copy gives its
start and end logits."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bertclf.tasks.classification.predict import predict_texts
from bertclf.predict import load_model
from bertclf.portable import write_portable
from bertclf.train import train
from tests.helpers import REFUSE_PROJECT, sentiment_rows, write_csv

LOAD_WITHOUT_PROJECT = REFUSE_PROJECT + r"""
import json
import numpy as np, onnxruntime
from transformers import AutoConfig, AutoTokenizer, pipeline
folder, texts, pairs = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
tokenizer = AutoTokenizer.from_pretrained(folder + "/onnx")
labels = AutoConfig.from_pretrained(folder + "/onnx").id2label
session = onnxruntime.InferenceSession(folder + "/onnx/model.onnx")
batch = tokenizer(texts, pairs, truncation=True, padding=True, return_tensors="np")
def probabilities(feed):
    logits = session.run(None, feed)[0]
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    return probs / probs.sum(-1, keepdims=True)
inputs = [i.name for i in session.get_inputs()]
probs = probabilities({k: batch[k] for k in inputs})
out = {"onnx_inputs": inputs, "onnx": [[labels[int(p.argmax())], float(p.max())] for p in probs]}
if "token_type_ids" in inputs:  # the input is used: without the pair's token types the model answers otherwise
    feed = {k: batch[k] for k in inputs}
    feed["token_type_ids"] = np.zeros_like(feed["token_type_ids"])
    out["types_matter"] = float(np.abs(probabilities(feed) - probs).max())
try:
    classify = pipeline("text-classification", model=folder + "/hf", device="cpu")
    asked = texts if pairs is None else [{"text": t, "text_pair": p} for t, p in zip(texts, pairs)]
    out["hf"] = [[r["label"], r["score"]] for r in classify(asked, truncation=True)]
except OSError:
    out["hf"] = None
out["project_imported"] = any(m.split(".")[0] == "bertclf" for m in sys.modules)
print(json.dumps(out))
"""

TEXTS = ["a wonderful and superb film", "boring awful plot", "the movie was a story",
         " ".join(["the plot with actors was great and the story was long on sunday evening"] * 6)]


@pytest.mark.parametrize("options, maps", [
    (dict(), True),  # the original's model: pooled [CLS], linear head, fine-tuned
    (dict(pooling="mean", head="mlp", truncation="tail"), False),
    (dict(bert_finetuning=False, boost=True, pooling="mean+max", layers="last4"), False),
    (dict(bert_finetuning=False), True),  # frozen encoder: its weights come from bert_name
    (dict(lora=True, lora_targets="attention+ffn"), True),  # LoRA: the adapters merged into the saved encoder
    # boost trained the head on fp16-rounded features: only ONNX (which rounds too) predicts the same
    (dict(bert_finetuning=False, boost=True), False),
])
def test_portable_copies_predict_as_the_project_does(config_for, options, maps):
    run_dir = train(config_for(n_epochs=1, **options))["run_dir"]
    info = write_portable(run_dir)
    assert (info.hf is not None) == maps and info.onnx is not None
    assert (info.why_not_hf is None) == maps
    saved = json.loads((Path(run_dir) / "onnx" / "tokenizer_config.json").read_text())
    assert saved["model_max_length"] == 32 and "local_files_only" not in saved  # loads anywhere, cut as trained
    loaded = load_without_project(run_dir, TEXTS)
    assert loaded["onnx_inputs"] == ["input_ids", "attention_mask"]
    expected = [[r["label"], r["probability"]] for r in predict_texts(*load_model(run_dir), TEXTS)]
    for name in ("onnx", "hf") if maps else ("onnx",):
        assert_same(loaded[name], expected, name)
    if not maps:
        assert loaded["hf"] is None


def load_without_project(run_dir, texts, pairs=None) -> dict:
    done = subprocess.run([sys.executable, "-I", "-c", LOAD_WITHOUT_PROJECT, run_dir, json.dumps(texts),
                           json.dumps(pairs)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert not loaded["project_imported"]
    return loaded


def assert_same(got, expected, name):
    assert len(got) == len(expected)
    for (label, p), (want_label, want_p) in zip(got, expected):
        assert label == want_label and p == pytest.approx(want_p, abs=1e-4), name


PAIRS = ["a wonderful and superb film", "awful", "boring awful plot that went on and on " * 3, "the story"]


@pytest.mark.parametrize("options, maps", [(dict(), True), (dict(pooling="mean", head="mlp"), False)])
def test_a_pair_model_is_portable_with_token_types(config_for, tmp_path, options, maps):
    header = ["sentence1", "sentence2", "label"]
    rows = [(f"about the film number {i}", text, label) for i, (text, label) in enumerate(sentiment_rows(240, 3))]
    run_dir = train(config_for(train_path=write_csv(tmp_path / "pairs.csv", rows, header), valid_path=None,
                               n_epochs=5, **options))["run_dir"]
    info = write_portable(run_dir)
    assert info.onnx_inputs == ["input_ids", "attention_mask", "token_type_ids"] and info.why_not_onnx is None
    assert (info.hf is not None) == maps
    texts = ["about the film"] * len(PAIRS)
    loaded = load_without_project(run_dir, texts, PAIRS)
    assert loaded["onnx_inputs"] == info.onnx_inputs and loaded["types_matter"] > 1e-3
    expected = [[r["label"], r["probability"]] for r in predict_texts(*load_model(run_dir), texts, pairs=PAIRS)]
    for name in ("onnx", "hf") if maps else ("onnx",):
        assert_same(loaded[name], expected, name)


QA_WITHOUT_PROJECT = r"""
import json, sys
import numpy as np, onnxruntime
from transformers import AutoTokenizer
folder, questions, contexts = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
tokenizer = AutoTokenizer.from_pretrained(folder + "/onnx")
session = onnxruntime.InferenceSession(folder + "/onnx/model.onnx")
batch = tokenizer(questions, contexts, truncation="only_second", padding=True, return_tensors="np")
start, end = session.run(None, {i.name: batch[i.name] for i in session.get_inputs()})
print(json.dumps({"inputs": [i.name for i in session.get_inputs()], "outputs": [o.name for o in session.get_outputs()],
                  "input_ids": batch["input_ids"].tolist(), "attention_mask": batch["attention_mask"].tolist(),
                  "token_type_ids": batch["token_type_ids"].tolist(),
                  "start": start.tolist(), "end": end.tolist()}))
"""


def test_a_qa_model_is_portable_as_start_and_end_logits(tmp_path):
    import torch
    from bertclf.config import TrainConfig
    from bertclf.smoke import synthetic_korquad
    from bertclf.data.squad import read_squad
    from bertclf.models.tiny_model import build_tiny_bert
    path = synthetic_korquad(tmp_path / "qa.json", 2)
    examples = read_squad(path)
    model_path = build_tiny_bert(tmp_path / "tiny", [e.context + " " + e.question for e in examples], vocab_size=300,
                                 hidden=64, intermediate=128)
    run_dir = train(TrainConfig(task="qa", train_path=str(path), valid_path=str(path), bert_name=model_path,
                                max_length=64, doc_stride=16, batch_size=8, n_epochs=2, save_path=str(tmp_path),
                                run_name="qa", cache_dir=str(tmp_path / "c"), progress=False, precision="fp32"),
                    log=lambda s: None)["run_dir"]
    info = write_portable(run_dir)
    assert info.onnx is not None and info.hf is None and info.why_not_hf
    assert info.onnx_inputs == ["input_ids", "attention_mask", "token_type_ids"]
    questions, contexts = [e.question for e in examples[:3]], [e.context for e in examples[:3]]
    done = subprocess.run([sys.executable, "-I", "-c", QA_WITHOUT_PROJECT, run_dir, json.dumps(questions),
                           json.dumps(contexts)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    got = json.loads(done.stdout)
    assert got["inputs"] == info.onnx_inputs and got["outputs"] == ["start_logits", "end_logits"]
    model, _, _ = load_model(run_dir)
    ids, mask, types = (torch.tensor(got[k]) for k in ("input_ids", "attention_mask", "token_type_ids"))
    assert types.max() == 1  # the context's tokens are type 1: the pair's types reached the model
    with torch.no_grad():
        logits = model(ids, mask, types)
    mask = mask.bool()
    for k, name in enumerate(("start", "end")):
        assert torch.allclose(torch.tensor(got[name])[mask], logits[..., k][mask], atol=1e-4), name


def test_a_failed_export_is_reported_not_raised(config_for, monkeypatch):
    import torch
    run_dir = train(config_for(n_epochs=1, pooling="mean"))["run_dir"]

    def refuse(*args, **kwargs):
        raise RuntimeError("Exporting the operator 'aten::foo' to ONNX opset version 17 is not supported.")
    monkeypatch.setattr(torch.onnx, "export", refuse)
    info = write_portable(run_dir)
    assert info.onnx is None and info.why_not_onnx == (
        "the export failed: Exporting the operator 'aten::foo' to ONNX opset version 17 is not supported.")
    assert not [p.name for p in Path(run_dir).iterdir() if p.name.startswith((".onnx", "onnx"))]  # nothing half-written


@pytest.mark.parametrize("family, options", [
    *((family, dict()) for family in ("bert", "distilbert", "electra", "roberta", "xlm-roberta", "deberta-v2")),
    ("bert", dict(bert_finetuning=False, boost=True)),  # the features of the cut encoder
    ("bert", dict(bert_finetuning=False)),  # a frozen encoder: cut again as it loads from bert_name
    ("roberta", dict(lora=True)),
])
def test_an_encoder_cut_to_one_layer_trains_exports_and_predicts_as_its_copies(families, family, options,
                                                                               config_for):
    from transformers import AutoConfig
    run_dir = Path(train(config_for(bert_name=families[family], encoder_layers=1, n_epochs=1, max_train_samples=64,
                                    **options), log=lambda s: None)["run_dir"])
    assert json.loads((run_dir / "bert_hpo_model.json").read_text())["encoder_layers"] == 1
    if (run_dir / "encoder").is_dir():  # a trained encoder's saved config says its count
        assert AutoConfig.from_pretrained(run_dir / "encoder").num_hidden_layers == 1
    model, _, _ = load_model(run_dir)
    assert model.encoder.config.num_hidden_layers == 1
    copies = write_portable(run_dir)  # each copy kept only where it predicts as --predict does
    assert copies.onnx is not None and copies.onnx_difference <= 1e-4, copies.why_not_onnx
    assert AutoConfig.from_pretrained(run_dir / "onnx").num_hidden_layers == 1
    if copies.hf is not None:
        assert AutoConfig.from_pretrained(run_dir / "hf").num_hidden_layers == 1
