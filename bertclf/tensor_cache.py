"""A content-keyed, on-disk store of tensors (safetensors, written atomically).

Token ids and frozen features both live here, so a second run, or every trial of a search,
loads what the first one computed.
"""
import fcntl
import hashlib
import json
from pathlib import Path
from typing import Callable, Dict, Tuple

import torch
from safetensors.torch import load_file, save_file

from .atomic import atomic_path


def digest(*parts) -> str:
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, torch.Tensor):
            h.update(part.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
        elif isinstance(part, (bytes, bytearray)):
            h.update(part)
        else:
            h.update(json.dumps(part, sort_keys=True, default=str).encode())
        h.update(b"\x1f")
    return h.hexdigest()


def cached(cache_dir, kind: str, key: str,
           compute: Callable[[], Dict[str, torch.Tensor]]) -> Tuple[Dict[str, torch.Tensor], bool, Path]:
    """(tensors, hit, path): load `kind/key.safetensors`, or compute it and store it."""
    path = Path(cache_dir) / kind / f"{key}.safetensors"
    path.parent.mkdir(parents=True, exist_ok=True)
    # One process computes an entry; others asking for the same key meanwhile wait, then load it.
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.exists():
            try:
                return load_file(str(path)), True, path
            except Exception:  # a damaged entry is recomputed, never trusted
                path.unlink(missing_ok=True)
        tensors = {name: t.contiguous() for name, t in compute().items()}
        with atomic_path(path) as tmp:
            save_file(tensors, str(tmp))
        return tensors, False, path
