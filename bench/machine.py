"""The machine a benchmark ran on, in words: every recorded figure names its hardware.

The training precision matters for the figures: `precision: auto` trains under bf16 autocast on CPUs
with native bf16 (AVX512-BF16 / AMX) and in fp32 on the others, about twice as slow, so timings are
compared only between runs of one precision.
"""
import os
from pathlib import Path

import torch

from bertclf.models.device import cpu_has_bf16


def describe() -> str:
    """e.g. "2 cores, AMD EPYC, torch CPU capability AVX2, fp32 training, no GPU"."""
    info = Path("/proc/cpuinfo")
    names = [line.split(":", 1)[1].strip() for line in info.read_text().splitlines()
             if line.startswith("model name")] if info.exists() else []
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"{os.cpu_count()} cores, {names[0] if names else 'unknown CPU'}, torch CPU capability "
            f"{torch.backends.cpu.get_cpu_capability()}, {'bf16' if cpu_has_bf16() else 'fp32'} training, {gpu}")
