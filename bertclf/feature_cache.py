"""Boost mode: the frozen encoder's pooled vectors, computed once and kept on disk in fp16.

The key is (weights fingerprint, pooling, token ids fingerprint); the token ids already encode
the tokenizer, max_length, truncation and the data, so any change to those is a new entry.
"""
import torch
from tqdm.auto import tqdm

from .batching import eval_batches, pad_batch
from .tensor_cache import cached, digest


def frozen_features(model, tokens, *, encoder_id: str, device, batch_size: int, cache_dir,
                    pad_id: int, progress: bool, desc: str):
    """(features [N, hidden] fp16 on CPU, hit, path)."""
    key = digest("features-v1", encoder_id, model.pooling, tokens.fingerprint())

    def compute():
        encoder_mode = model.encoder.training
        model.encoder.eval()
        out = torch.empty((len(tokens), model.head.in_features), dtype=torch.float16)
        lengths = tokens.lengths.tolist()
        batches = eval_batches(lengths, batch_size)
        with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16,
                                                     enabled=device.type == "cuda"):
            for idx in tqdm(batches, desc=desc, disable=not progress, unit="batch"):
                ids, mask = pad_batch(tokens, idx, pad_id, multiple=8 if device.type == "cuda" else 1)
                feats = model.features(ids.to(device), mask.to(device))
                out[torch.tensor(idx)] = feats.float().cpu().to(torch.float16)
        model.encoder.train(encoder_mode)
        return {"features": out}

    tensors, hit, path = cached(cache_dir, "features", key, compute)
    return tensors["features"], hit, path
