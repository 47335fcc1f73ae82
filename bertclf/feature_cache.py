"""Boost mode: the frozen encoder's pooled vectors, computed once and kept on disk in fp16.

One encoder pass over a split yields every (pooling, layers) variant asked for, and each variant is
cached on its own under (weights fingerprint, variant, token ids fingerprint). The token ids
already encode the tokenizer, max_length, truncation and the data, so any change to those is a new
entry.
"""
import time

import torch
from tqdm.auto import tqdm

from .batching import eval_batches, pad_batch
from .model import autocast, pool, uses_pooler
from .tensor_cache import cached_together, digest


PROGRESS_EVERY_S = 30


def frozen_features(encoder, tokens, variants, *, encoder_id: str, device, bf16: bool, batch_size: int,
                    cache_dir, pad_id: int, progress: bool, desc: str, log=None):
    """({(pooling, layers): features [N, dim] fp16 on CPU}, variants computed in this call).
    log: given, receives a line every PROGRESS_EVERY_S seconds of a pass: texts done and the time
    left, extrapolated from the tokens done (the longest texts go first)."""
    keys = {v: digest("features-v2", encoder_id, list(v), tokens.fingerprint()) for v in variants}

    def compute(missing):
        was_training = encoder.training
        encoder.eval()
        hidden_states = any(layers == "last4" for _, layers in missing)
        outputs = {v: [] for v in missing}
        lengths = tokens.lengths.tolist()
        batches = eval_batches(lengths, batch_size)
        started = last_line = time.perf_counter()
        texts_done, tokens_done, tokens_all = 0, 0, max(1, sum(lengths))
        with torch.inference_mode(), autocast(device, bf16):
            for idx in tqdm(batches, desc=desc, disable=not progress, unit="batch"):
                if log is not None and time.perf_counter() - last_line >= PROGRESS_EVERY_S and tokens_done:
                    last_line, spent = time.perf_counter(), time.perf_counter() - started
                    log(f"{desc}: {texts_done} of {len(lengths)} texts in {spent:.0f} s, "
                        f"~{spent * (tokens_all - tokens_done) / tokens_done:.0f} s left")
                ids, mask = pad_batch(tokens, idx, pad_id, multiple=8 if device.type == "cuda" else 1)
                ids, mask = ids.to(device), mask.to(device)
                out = encoder(input_ids=ids, attention_mask=mask, output_hidden_states=hidden_states)
                for v in missing:
                    outputs[v].append((idx, pool(out, mask, *v).float().cpu().to(torch.float16)))
                texts_done += len(idx)
                tokens_done += sum(lengths[i] for i in idx)
        encoder.train(was_training)
        result = {}
        for v, parts in outputs.items():
            features = torch.empty((len(tokens), parts[0][1].shape[1]), dtype=torch.float16)
            for idx, values in parts:
                features[torch.tensor(idx)] = values
            result[v] = {"features": features}
        return result

    if any(uses_pooler(*v) for v in variants) and getattr(encoder, "pooler", None) is None:
        raise ValueError("the [CLS] pooler is needed for pooling cls on the last layer")
    entries, computed = cached_together(cache_dir, "features", keys, compute)
    return {v: entries[v]["features"] for v in variants}, computed
