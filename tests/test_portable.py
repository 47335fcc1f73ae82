"""A saved classifier loads without bert-hpo (transformers where the head maps, ONNX always) and
predicts what --predict predicts."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bertclf.classification_predict import predict_texts
from bertclf.predict import load_model
from bertclf.portable import write_portable
from bertclf.train import train

# Run with `python -I` (no PYTHONPATH, so no worktree) and an import hook that refuses the project's
# packages: the editable install would otherwise still find them.
LOAD_WITHOUT_PROJECT = r"""
import json, sys
class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("bertclf", "bert_hpo_distributed"):
            raise ImportError("the portable model must not need " + name)
sys.meta_path.insert(0, Refuse())
import numpy as np, onnxruntime
from transformers import AutoConfig, AutoTokenizer, pipeline
folder, texts = sys.argv[1], json.loads(sys.argv[2])
tokenizer = AutoTokenizer.from_pretrained(folder + "/onnx")
labels = AutoConfig.from_pretrained(folder + "/onnx").id2label
session = onnxruntime.InferenceSession(folder + "/onnx/model.onnx")
batch = tokenizer(texts, truncation=True, padding=True, return_tensors="np")
logits = session.run(None, {k: batch[k] for k in ("input_ids", "attention_mask")})[0]
probs = np.exp(logits - logits.max(-1, keepdims=True))
probs /= probs.sum(-1, keepdims=True)
out = {"onnx": [[labels[int(p.argmax())], float(p.max())] for p in probs]}
try:
    classify = pipeline("text-classification", model=folder + "/hf", device="cpu")
    out["hf"] = [[r["label"], r["score"]] for r in classify(texts)]
except OSError:
    out["hf"] = None
out["project_imported"] = any(m.split(".")[0] == "bertclf" for m in sys.modules)
print(json.dumps(out))
"""

TEXTS = ["a wonderful and superb film", "boring awful plot", "the movie was a story",
         " ".join(["the plot with actors was great and the story was long on sunday evening"] * 6)]


@pytest.mark.parametrize("options, maps", [
    (dict(), True),  # the seed's model: pooled [CLS], linear head, fine-tuned
    (dict(pooling="mean", head="mlp", truncation="tail"), False),
    (dict(bert_finetuning=False, boost=True, pooling="mean+max", layers="last4"), False),
    (dict(bert_finetuning=False), True),  # frozen encoder: its weights come from bert_name
    # boost trained the head on fp16-rounded features: only ONNX (which rounds too) predicts the same
    (dict(bert_finetuning=False, boost=True), False),
])
def test_portable_copies_predict_as_the_project_does(config_for, options, maps):
    run_dir = train(config_for(n_epochs=1, **options))["run_dir"]
    info = write_portable(run_dir)
    assert (info["hf"] is not None) == maps and info["onnx"] is not None
    assert (info["why_not_hf"] is None) == maps
    saved = json.loads((Path(run_dir) / "onnx" / "tokenizer_config.json").read_text())
    assert saved["model_max_length"] == 32 and "local_files_only" not in saved  # loads anywhere, cut as trained
    done = subprocess.run([sys.executable, "-I", "-c", LOAD_WITHOUT_PROJECT, run_dir, json.dumps(TEXTS)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert not loaded["project_imported"]
    expected = [[r["label"], r["probability"]] for r in predict_texts(*load_model(run_dir), TEXTS)]
    for name in ("onnx", "hf") if maps else ("onnx",):
        for (label, p), (want_label, want_p) in zip(loaded[name], expected):
            assert label == want_label and p == pytest.approx(want_p, abs=1e-4), name
    if not maps:
        assert loaded["hf"] is None


def test_a_failed_export_is_reported_not_raised(config_for, monkeypatch):
    import torch
    run_dir = train(config_for(n_epochs=1, pooling="mean"))["run_dir"]

    def refuse(*args, **kwargs):
        raise RuntimeError("Exporting the operator 'aten::foo' to ONNX opset version 17 is not supported.")
    monkeypatch.setattr(torch.onnx, "export", refuse)
    info = write_portable(run_dir)
    assert info["onnx"] is None and info["why_not_onnx"] == (
        "the export failed: Exporting the operator 'aten::foo' to ONNX opset version 17 is not supported.")
    assert not [p.name for p in Path(run_dir).iterdir() if p.name.startswith((".onnx", "onnx"))]  # nothing half-written
