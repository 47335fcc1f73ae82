"""A content-keyed, on-disk store of tensors (safetensors, written atomically).

Token ids and frozen features both live here, so a second run, or every trial of a search,
loads what the first one computed.
"""
import fcntl
import hashlib
import json
from pathlib import Path
from typing import Any, Callable, Dict, Tuple

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
    entries, computed = cached_together(cache_dir, kind, {key: key}, lambda missing: {key: compute()})
    return entries[key], not computed, Path(cache_dir) / kind / f"{key}.safetensors"


def cached_together(cache_dir, kind: str, keys: Dict[Any, str], compute: Callable) -> Tuple[dict, list]:
    """({name: tensors}, names computed): entries that one computation yields together.

    keys: {name: cache key}. compute(missing names) -> {name: tensors} for the missing ones only,
    so what is cached already is never computed again. One process computes; others asking for the
    same entries meanwhile wait on the lock, then load them.
    """
    folder = Path(cache_dir) / kind
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{digest(sorted(keys.values()))}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        entries = {}
        for name, key in keys.items():
            path = folder / f"{key}.safetensors"
            if path.exists():
                try:
                    entries[name] = load_file(str(path))
                except Exception:  # a damaged entry is recomputed, never trusted
                    path.unlink(missing_ok=True)
        missing = [name for name in keys if name not in entries]
        if missing:
            for name, tensors in compute(missing).items():
                entries[name] = {k: t.contiguous() for k, t in tensors.items()}
                with atomic_path(folder / f"{keys[name]}.safetensors") as tmp:
                    save_file(entries[name], str(tmp))
        return entries, missing
