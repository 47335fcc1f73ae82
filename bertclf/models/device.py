"""The device a run uses, and its precision (bf16 autocast or fp32)."""
import os
from contextlib import nullcontext

import torch

from ..errors import UserError


def pick_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)) % torch.cuda.device_count())
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {name}: torch {torch.__version__} cannot use CUDA here "
                        f"({cuda_problem()}); use --device cpu")
    return torch.device(name)


def cuda_problem() -> str:
    if torch.version.cuda is None:
        return "it is a CPU-only build of torch: install the build for your CUDA version"
    return f"a CUDA {torch.version.cuda} build that finds no usable GPU: check the NVIDIA driver"


def cpu_has_bf16() -> bool:
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def uses_bf16(precision: str, device: torch.device) -> bool:
    """auto: bf16 on CUDA, and on CPUs with native bf16 (AVX512-BF16 / AMX), where bench/README.md
    measures it faster than fp32; fp32 elsewhere."""
    if precision != "auto":
        return precision == "bf16"
    return device.type == "cuda" or cpu_has_bf16()


def autocast(device: torch.device, bf16: bool):
    return torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else nullcontext()
