"""An ONNX model quantised to int8: its weights stored as 8-bit integers, activations quantised on the fly
(onnxruntime's dynamic quantisation: no calibration data needed)."""
import logging
from pathlib import Path


def quantize_dynamic_onnx(src: Path, dst: Path) -> Path:
    """The ONNX model at `src` with its weights as QInt8, written to `dst`; returns `dst`."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    logging.disable(logging.WARNING)  # its advice to pre-process the model first, on every call
    try:
        quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8)
    finally:
        logging.disable(logging.NOTSET)
    return dst
