"""int8 copies of a model: its ONNX file quantised by onnxruntime's tools (what ships), and torch's dynamic
quantisation of the same linear layers (what a search's int8 trial scores each check on, a stand-in for
the ONNX copy that bench/int8.py measures against it).

Both are dynamic: the weights of every linear layer are stored as int8 and each activation is quantised
on the fly by its own range, so no calibration data is needed and nothing about the inputs is assumed.
The ONNX copy also stores its embeddings in int8 (a lookup: no arithmetic, only their rounding differs)."""
import copy
import logging
import warnings
from contextlib import contextmanager
from pathlib import Path

import torch


@contextmanager
def quiet_quantiser():
    """onnxruntime's quantisers quiet on the console: their advice to pre-process (shape inference) goes to
    the root logger, on every call."""
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


def quantize_dynamic_onnx(src: Path, dst: Path, **settings) -> Path:
    """Write `dst`: the ONNX model `src` with the weights of the operators onnxruntime quantises
    dynamically (MatMul, Gemm, Gather: the linear layers and the embeddings) in int8 (QInt8), the rest as
    it was; returns dst. `settings` are quantize_dynamic's other keywords (per_channel, reduce_range,
    op_types_to_quantize), which bench/int8.py measures; the shipped copy uses their defaults."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    dst = Path(dst)
    with quiet_quantiser():
        quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, **settings)
    return dst


def dynamic_int8(model: torch.nn.Module) -> torch.nn.Module:
    """A CPU copy of `model` whose nn.Linear layers compute with int8 weights and dynamically quantised
    int8 activations (torch's dynamic quantisation: the ONNX copy's scheme); `model` is left as it is."""
    cpu = copy.deepcopy(model).to("cpu").float().eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization's notice that it moves to torchao
        return torch.ao.quantization.quantize_dynamic(cpu, {torch.nn.Linear}, dtype=torch.qint8)
