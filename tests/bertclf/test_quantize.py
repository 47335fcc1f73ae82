import numpy as np
import onnxruntime
import torch

from bertclf.quantize import quantize_dynamic_onnx


def test_a_quantised_copy_is_smaller_runs_and_stays_close(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(256, 256), torch.nn.ReLU(), torch.nn.Linear(256, 2)).eval()
    x = torch.randn(4, 256)
    src = tmp_path / "model.onnx"
    torch.onnx.export(model, (x,), str(src), input_names=["x"], output_names=["y"], dynamo=False)
    dst = quantize_dynamic_onnx(src, tmp_path / "int8" / "model.onnx")
    assert dst == tmp_path / "int8" / "model.onnx" and dst.stat().st_size < src.stat().st_size / 2
    got = onnxruntime.InferenceSession(str(dst), providers=["CPUExecutionProvider"]).run(None, {"x": x.numpy()})[0]
    expected = model(x).detach().numpy()
    assert np.abs(got - expected).max() < 0.25 * np.abs(expected).max()  # int8 rounds: near, not equal
