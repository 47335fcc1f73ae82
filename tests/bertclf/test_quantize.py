"""int8 copies (bertclf/quantize.py): the ONNX file quantised by onnxruntime holds int8 weights, is smaller and
answers close to fp32; torch's dynamic copy quantises the linear layers and leaves the model as it was."""
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import torch

from bertclf.portable import ONNX_PATH, write_portable
from bertclf.predict import load_model
from bertclf.quantize import dynamic_int8, quantize_dynamic_onnx
from bertclf.train import train


def test_the_onnx_copy_quantised_holds_int8_weights_and_answers_close(config_for, tmp_path):
    run_dir = train(config_for(n_epochs=1), log=lambda s: None)["run_dir"]
    write_portable(run_dir)
    fp32 = f"{run_dir}/{ONNX_PATH}"
    int8 = quantize_dynamic_onnx(fp32, tmp_path / "int8.onnx")
    assert int8 == tmp_path / "int8.onnx"
    kinds = {i.data_type for i in onnx.load(str(int8)).graph.initializer}
    assert onnx.TensorProto.INT8 in kinds and onnx.TensorProto.INT8 not in {
        i.data_type for i in onnx.load(fp32).graph.initializer}
    assert int8.stat().st_size < 0.8 * Path(fp32).stat().st_size
    ids = np.array([[2, 40, 41, 42, 3]], dtype=np.int64)
    feed = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
    outputs = [onnxruntime.InferenceSession(str(p)).run(None, feed)[0] for p in (fp32, int8)]
    assert 0 < np.abs(outputs[0] - outputs[1]).max() < 0.2  # rounded, not broken


def test_the_torch_copy_quantises_linear_layers_and_leaves_the_model(config_for):
    run_dir = train(config_for(n_epochs=1), log=lambda s: None)["run_dir"]
    model, _, _ = load_model(run_dir)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    copy = dynamic_int8(model)
    quantised = [m for m in copy.modules() if type(m).__name__ == "Linear" and "quantized" in type(m).__module__]
    assert quantised and not any("quantized" in type(m).__module__ for m in model.modules())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    ids = torch.tensor([[2, 40, 41, 42, 3]])
    with torch.no_grad():
        got, want = copy(ids, torch.ones_like(ids)), model(ids, torch.ones_like(ids))
    assert 0 < (got - want).abs().max() < 0.2
