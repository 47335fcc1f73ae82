"""The one batched inference loop: a model (or a frozen encoder) over batches of example indices,
without gradients, under bf16 autocast when asked. Validation, test scoring, prediction and the
boost feature pass all run through it."""
import sys
from typing import Iterable, Iterator, List, Sequence, Tuple

import torch

from .models.device import autocast


def pad_multiple(device: torch.device) -> int:
    """Pad a batch's length to a multiple of this: 8 on CUDA, where tensor cores want it, else 1."""
    return 8 if device.type == "cuda" else 1


def bars_shown(progress: bool) -> bool:
    """Progress bars only on a terminal: piped or into a file, a bar's redraws would fill the log."""
    return progress and sys.stderr.isatty()


def run_batches(module, batches: Iterable[Sequence[int]], inputs: Iterable[dict], *, device, bf16: bool,
                **kwargs) -> Iterator[Tuple[List[int], dict, object]]:
    """(indices, inputs on `device`, module(**inputs, **kwargs)) for each batch, in order.

    batches: lists of example indices; inputs: the model inputs of each batch, in the same order
    (tensors on the CPU, e.g. token_inputs' input_ids/attention_mask [B, T]). The module runs in
    eval mode and is put back in its former mode when the loop ends. Outputs stay where the module
    left them (on `device`, in bf16 under autocast): callers move what they keep."""
    was_training = module.training
    module.eval()
    try:
        with torch.inference_mode():
            for indices, batch in zip(batches, inputs):
                batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
                with autocast(device, bf16):
                    yield indices, batch, module(**batch, **kwargs)
    finally:
        module.train(was_training)
