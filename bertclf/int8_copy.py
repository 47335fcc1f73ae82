"""The int8 copy of a classifier's ONNX file (precision int8), kept only where it scores as well as fp32.

Quantisation can cost accuracy silently (optimum#151: F1 0.83 -> 0.66), so nothing is assumed: the fp32
ONNX copy and its int8 quantisation (quantize.quantize_dynamic_onnx) are both run on the valid split, in
onnxruntime, and the int8 file is written beside the fp32 one (onnx/model_int8.onnx) only when its valid
metric is at most `tolerance` points (hundredths) below fp32's; otherwise the fp32 copy alone ships. Both
copies decide as the model card's snippet and --predict do: at the model's tuned threshold where it has one."""
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Optional

import torch

from .batching import text_batches, token_inputs
from .config import INT8_TOLERANCE
from .models.model_io import read_meta
from .portable import ONNX_FILE, ONNX_FOLDER
from .quantize import quantize_dynamic_onnx
from .tasks.classification.eval import decided_confusion
from .tasks.classification.metrics import scores
from .tasks.task import metric_test_key

INT8_FILE = "model_int8.onnx"
INT8_PATH = PurePosixPath(ONNX_FOLDER, INT8_FILE)  # inside a model folder


@dataclass(frozen=True)
class Int8Check:
    """Both copies' valid metric, as onnxruntime runs them, and their files' sizes."""
    metric: str
    fp32: float
    int8: float
    tolerance: float  # points
    fp32_mb: float
    int8_mb: float

    @property
    def change(self) -> float:
        """int8's metric less fp32's, in points."""
        return 100 * (self.int8 - self.fp32)

    @property
    def kept(self) -> bool:
        return -self.change <= self.tolerance + 1e-9

    def describe(self, shipped: bool = True) -> str:
        """One sentence for the console and the model card: both numbers, and which copy ships; shipped False:
        of a model folder scored and then removed, which copy would ship (nothing is kept there)."""
        numbers = (f"{self.metric} int8 {self.int8:.4f}, fp32 {self.fp32:.4f} ({self.change:+.2f} points; "
                   f"tolerance {self.tolerance:g})")
        if self.kept and shipped:
            return (f"int8 copy kept as {INT8_PATH} ({self.int8_mb:.1f} MB beside fp32's {self.fp32_mb:.1f} MB): "
                    f"{numbers}")
        if self.kept:
            return (f"int8 copy passes its check, so int8 would ship ({self.int8_mb:.1f} MB against fp32's "
                    f"{self.fp32_mb:.1f} MB): {numbers}")
        return (f"int8 copy {'not kept' if shipped else 'fails its check'}: it scores more than {self.tolerance:g} "
                f"points below fp32 on valid, so the fp32 copy ({self.fp32_mb:.1f} MB) "
                f"{'ships' if shipped else 'would ship'} alone: {numbers}")


def check_int8(model_dir, inputs, metric: str, tolerance: float = INT8_TOLERANCE,
               batch_size: int = 64) -> Int8Check:
    """Quantise model_dir/onnx/model.onnx, score both copies on inputs' valid split (ClassificationInputs of
    the model's data, tokenised as it reads them) by `metric` (valid_accuracy, ...), and keep the int8 file
    as model_dir/onnx/model_int8.onnx only when within `tolerance` points; a file of an earlier check is
    replaced or removed."""
    folder = Path(model_dir) / ONNX_FOLDER
    fp32, target = folder / ONNX_FILE, folder / INT8_FILE
    staged = folder / f".{INT8_FILE}.partial-{os.getpid()}"
    threshold = read_meta(model_dir).get("threshold")
    try:
        quantize_dynamic_onnx(fp32, staged)
        found = [onnx_metric(path, inputs, metric, batch_size, threshold=threshold) for path in (fp32, staged)]
        check = Int8Check(metric=metric, fp32=found[0], int8=found[1], tolerance=tolerance,
                          fp32_mb=fp32.stat().st_size / 2**20, int8_mb=staged.stat().st_size / 2**20)
        if check.kept:
            os.replace(staged, target)
        else:
            target.unlink(missing_ok=True)
        return check
    finally:
        staged.unlink(missing_ok=True)


def onnx_metric(path: Path, inputs, metric: str, batch_size: int = 64, split: str = "valid", *,
                threshold: Optional[float]) -> float:
    """`metric` (valid_accuracy, ...) of the ONNX classifier at `path` on inputs' `split`, each text decided as
    the shipped model decides: the second label where its probability reaches `threshold` (the model's tuned
    one, its meta's), the most probable label where that is None."""
    import onnxruntime
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    tokens = inputs.tokens[split]

    def outputs():
        for indices in text_batches(tokens, batch_size):
            feed = token_inputs(tokens, inputs.pad_id, 1, indices)
            yield indices, torch.from_numpy(session.run(None, {n: feed[n].numpy() for n in names})[0])
    matrix = decided_confusion(outputs(), inputs.labels[split], len(inputs.label_names), threshold)
    return float(scores(matrix)[metric_test_key(metric)])
