"""A multi-label model's ONNX and transformers copies give --predict's probabilities and, at the thresholds
saved beside them, its label sets; the model card's snippets run as written and print those sets."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bertclf.config import TrainConfig
from bertclf.portable import ONNX_PATH, write_portable
from bertclf.predict import load_model
from bertclf.smoke import genre_rows
from bertclf.tasks import TASKS
from bertclf.tasks.multilabel.predict import predict_sets
from bertclf.train import train
from tests.helpers import REFUSE_PROJECT, write_csv

# Outside the project, as a user of the copies runs them.
LOAD_WITHOUT_PROJECT = REFUSE_PROJECT + r"""
import json
import numpy as np, onnxruntime, torch
from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer
folder, texts = sys.argv[1], json.loads(sys.argv[2])
out = {}
config = AutoConfig.from_pretrained(folder + "/onnx")
tokenizer = AutoTokenizer.from_pretrained(folder + "/onnx")
session = onnxruntime.InferenceSession(folder + "/onnx/model.onnx")
batch = tokenizer(texts, truncation=True, padding=True, return_tensors="np")
logits = session.run(None, {i.name: batch[i.name] for i in session.get_inputs()})[0]
out["onnx"] = (1 / (1 + np.exp(-logits))).tolist()
model = AutoModelForSequenceClassification.from_pretrained(folder + "/hf")
with torch.no_grad():
    out["hf"] = torch.sigmoid(model(**tokenizer(texts, truncation=True, padding=True, return_tensors="pt")).logits).tolist()
out["problem_type"] = model.config.problem_type
out["labels"] = [config.id2label[i] for i in range(len(config.id2label))]
out["thresholds"] = config.thresholds
print(json.dumps(out))
"""

TEXTS = ["ghost the city blood night old man film", "funny the joke town fight man chase woman", "the old man",
         "an example text"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    from bertclf.models.tiny_model import build_tiny_bert
    root = tmp_path_factory.mktemp("films")
    rows = genre_rows(120, 1)
    path = write_csv(root / "train.csv", [(t, "|".join(g)) for t, g in rows], ["text", "genres"])
    model = build_tiny_bert(root / "tiny_bert", [t for t, _ in rows] + TEXTS)
    result = train(TrainConfig(task="multilabel", train_path=path, label_column="genres", valid_fraction=0.25,
                               bert_name=model, max_length=24, n_epochs=1, lr=1e-2, lr_main=5e-3,
                               save_path=str(root / "runs"), run_name="r", cache_dir=str(root / "cache"),
                               progress=False, precision="fp32"))
    return result["run_dir"]


def test_the_copies_give_the_probabilities_and_sets_of_predict(run_dir):
    copies = write_portable(run_dir)
    assert copies.onnx is not None and copies.hf is not None, (copies.why_not_onnx, copies.why_not_hf)
    model, tokenizer, meta = load_model(run_dir)
    expected = predict_sets(model, tokenizer, meta, TEXTS)
    done = subprocess.run([sys.executable, "-I", "-c", LOAD_WITHOUT_PROJECT, run_dir, json.dumps(TEXTS)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert loaded["problem_type"] == "multi_label_classification" and loaded["labels"] == meta["label_names"]
    assert loaded["thresholds"] == {name: pytest.approx(float(t), abs=1e-4)
                                    for name, t in zip(meta["label_names"], model.head.thresholds)}
    for copy in ("onnx", "hf"):
        for probabilities, want in zip(loaded[copy], expected):
            assert probabilities == pytest.approx(list(want["probabilities"].values()), abs=1e-4), copy
            chosen = {name for name, p in zip(loaded["labels"], probabilities) if p >= loaded["thresholds"][name]}
            assert chosen == set(want["labels"]), copy


@pytest.mark.parametrize("usage", ["onnx_usage", "hf_usage"])
def test_the_cards_snippets_run_as_written_and_apply_the_thresholds(run_dir, usage):
    copies = write_portable(run_dir)
    model, tokenizer, meta = load_model(run_dir)
    task, name = TASKS["multilabel"], "r"
    lines = task.onnx_usage(name, ONNX_PATH, copies, meta) if usage == "onnx_usage" else \
        task.hf_usage(name, "hf", copies, meta)
    assert usage == "onnx_usage" or any("threshold" in line for line in lines)
    code = "\n".join(lines[lines.index("```python") + 1:lines.index("```", lines.index("```python") + 1)])
    done = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, timeout=300,
                          cwd=str(Path(run_dir).parent))
    assert done.returncode == 0, done.stderr[-2000:]
    want = sorted(predict_sets(model, tokenizer, meta, ["an example text"])[0]["labels"])
    assert sorted(eval(done.stdout.strip().splitlines()[-1])) == want
