"""A regression model's copies (bertclf/tasks/regression/export.py): the ONNX and transformers copies, read as
the model card says (output * target_scale + target_mean from config.json), give --predict's numbers."""
import numpy as np
import onnxruntime
import pytest
from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

from bertclf.portable import write_portable
from bertclf.predict import load_model
from bertclf.tasks.regression.predict import predict_numbers
from bertclf.train import train
from tests.helpers import scored_rows, write_csv


@pytest.mark.parametrize("pairs", [False, True])
def test_copies_predict_the_numbers_predict_gives(config_for, tmp_path, pairs):
    header = ["sentence1", "sentence2", "score"] if pairs else ["text", "score"]
    path = write_csv(tmp_path / "train.csv", scored_rows(120, 1, pairs), header)
    run_dir = train(config_for(task="regression", train_path=path, valid_path=None, n_epochs=1))["run_dir"]
    copies = write_portable(run_dir)
    assert copies.onnx is not None and copies.hf is not None
    rows = scored_rows(6, 9, pairs)
    texts, second = [r[0] for r in rows], [r[1] for r in rows] if pairs else None
    expected = np.array(predict_numbers(*load_model(run_dir), texts, second))
    config = AutoConfig.from_pretrained(f"{run_dir}/hf")
    assert config.problem_type == "regression" and config.num_labels == 1
    tokenizer = AutoTokenizer.from_pretrained(f"{run_dir}/hf")
    hf = AutoModelForSequenceClassification.from_pretrained(f"{run_dir}/hf").eval()
    batch = tokenizer(texts, second, truncation=True, padding=True, return_tensors="pt")
    got = hf(**batch).logits[:, 0].detach().numpy() * config.target_scale + config.target_mean
    np.testing.assert_allclose(got, expected, atol=1e-4)
    session = onnxruntime.InferenceSession(f"{run_dir}/onnx/model.onnx")
    feed = tokenizer(texts, second, truncation=True, padding=True, return_tensors="np")
    output = session.run(None, {i.name: feed[i.name] for i in session.get_inputs()})[0][:, 0]
    np.testing.assert_allclose(output * config.target_scale + config.target_mean, expected, atol=1e-4)
